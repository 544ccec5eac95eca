"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it receives, for the alert tests."""

from __future__ import annotations

import email
import email.policy
import json
import time
from email.message import EmailMessage

from tests.support.net import free_port


class SmtpServer:
    """``with SmtpServer() as smtp:`` -- ``smtp.conn_uri`` for AIRFLOW_CONN_<ID>, ``smtp.messages`` received."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self._controller = None

    @property
    def conn_uri(self) -> str:
        """An Airflow connection (JSON form): plain SMTP, no TLS, no login, one try."""
        return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": self.port,
                           "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0, "timeout": 10}})

    def __enter__(self) -> SmtpServer:
        from aiosmtpd.controller import Controller

        server = self

        class Keep:
            async def handle_DATA(self, _server, _session, envelope) -> str:
                server.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        self._controller = Controller(Keep(), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def wait_for(self, subject_part: str, timeout: float = 60) -> EmailMessage:
        """The first message whose subject contains ``subject_part``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages if subject_part in m["subject"]]
            if found:
                return found[0]
            time.sleep(0.2)
        raise AssertionError(f"no message with {subject_part!r} in its subject after {timeout} s; "
                             f"got {[m['subject'] for m in self.messages]}")

    @staticmethod
    def text(message: EmailMessage) -> str:
        return message.get_body(("html", "plain")).get_content()
