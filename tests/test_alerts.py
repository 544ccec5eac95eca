"""Alerts through Airflow's notifiers, against a real SMTP server on 127.0.0.1 (aiosmtpd) and the
real Postgres; runs with ``dag.test()``, whose task runner calls the task callbacks as a worker does
(the real scheduler's path: tests/e2e/test_e2e_scheduler_and_api.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from taxi_pipeline.specs import GREEN

from tests.support import fake_tlc
from tests.support.net import free_port
from tests.support.smtp_server import SmtpServer
from tests.test_postgres_pipeline import run_month, task_states

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

# Months no other test writes into the session's release directory (tests share it).
GOOD, BAD = (2021, 4), (2021, 5)


@pytest.fixture(scope="module")
def files(release_root: Path) -> None:
    fake_tlc.write_month(release_root, GREEN, *GOOD, 1_000, seed=3)
    bad = fake_tlc.release_path(release_root, "green", *BAD)
    bad.write_bytes(gzip.compress(b"VendorID,pickup,dropoff\r\n1,2,3\r\n", mtime=0))


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch):
    with SmtpServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_NY_TAXI_SMTP", server.conn_uri)
        monkeypatch.setenv("NY_TAXI_ALERT", "smtp")
        monkeypatch.setenv("NY_TAXI_ALERT_CONN_ID", "ny_taxi_smtp")
        monkeypatch.setenv("NY_TAXI_ALERT_TO", "data-team@example.com")
        yield server


def test_a_failed_task_sends_one_message_naming_dag_month_task_error_and_log(taxi_db, source, files, smtp):
    run = run_month("green", *BAD)
    assert str(run.state) == "failed" and task_states(run)["load_staging"] == "failed"
    message = smtp.wait_for("load_staging failed")
    assert message["subject"] == "[ny_taxi] postgres_taxi_green green 2021-05: load_staging failed"
    assert message["to"] == "data-team@example.com" and message["from"] == "ny-taxi@localhost"
    text = smtp.text(message)
    for line in ("DAG: postgres_taxi_green", "Month: green 2021-05", f"Run: {run.run_id}", "Failed task: load_staging (try 1)",
                 "Error: green_tripdata_2021-05.csv.gz: columns do not match the green spec: missing [",
                 "/dags/postgres_taxi_green/runs/"):
        assert line in text, text
    assert len(smtp.messages) == 1  # the tasks after it are upstream_failed: no message of their own


def test_the_success_summary_is_sent_when_asked(taxi_db, source, files, smtp, monkeypatch):
    monkeypatch.setenv("NY_TAXI_ALERT_ON_SUCCESS", "true")
    assert str(run_month("green", *GOOD).state) == "success"
    message = smtp.wait_for("green 2021-04")
    assert message["subject"] == "[ny_taxi] postgres_taxi_green green 2021-04: 1,000 rows inserted, 0 skipped, quality ok"
    assert len(smtp.messages) == 1


def test_no_success_summary_by_default_and_nothing_without_an_alert(taxi_db, source, files, smtp, monkeypatch):
    assert str(run_month("green", *GOOD).state) == "success"
    monkeypatch.setenv("NY_TAXI_ALERT", "none")
    assert str(run_month("green", *BAD).state) == "failed"
    assert smtp.messages == []


def test_smtp_down_is_logged_and_the_run_keeps_its_state(taxi_db, source, files, smtp, monkeypatch, caplog):
    smtp.port = free_port()  # nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_NY_TAXI_SMTP", smtp.conn_uri)
    monkeypatch.setenv("NY_TAXI_ALERT_ON_SUCCESS", "true")
    assert str(run_month("green", *GOOD).state) == "success"
    assert str(run_month("green", *BAD).state) == "failed"
    assert "could not send the smtp alert '[ny_taxi] postgres_taxi_green green 2021-04: 1,000 rows inserted" in caplog.text
    assert "could not send the smtp alert '[ny_taxi] postgres_taxi_green green 2021-05: load_staging failed'" in caplog.text


class _Inbox:
    """A real HTTP endpoint on 127.0.0.1 that keeps every POST body (a Slack webhook, an Apprise json:// target)."""

    def __init__(self) -> None:
        import http.server
        import threading

        inbox = self
        self.posts: list[tuple[str, dict]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                import json

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                inbox.posts.append((self.path, json.loads(body or b"{}")))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def inbox():
    box = _Inbox()
    yield box
    box.close()


@pytest.mark.parametrize("channel", ["slack", "apprise"])
def test_slack_and_apprise_are_chosen_by_configuration_alone(taxi_db, source, files, inbox, monkeypatch, channel):
    """A setting and a connection: the provider's notifier posts to a real endpoint on 127.0.0.1."""
    import json

    monkeypatch.setenv("NY_TAXI_ALERT", channel)
    monkeypatch.setenv("NY_TAXI_ALERT_CONN_ID", "team_chat")
    if channel == "slack":
        conn = {"conn_type": "slackwebhook", "host": f"http://127.0.0.1:{inbox.port}", "password": "T000/B000/XXXX"}
    else:
        conn = {"conn_type": "apprise", "extra": {"config": {"path": f"json://127.0.0.1:{inbox.port}/alerts"}}}
    monkeypatch.setenv("AIRFLOW_CONN_TEAM_CHAT", json.dumps(conn))
    assert str(run_month("green", *BAD).state) == "failed"
    [(path, body)] = inbox.posts
    text = body["text"] if channel == "slack" else f"{body['title']}\n{body['message']}"
    assert path == ("/T000/B000/XXXX" if channel == "slack" else "/alerts")
    assert "postgres_taxi_green green 2021-05: load_staging failed" in text
    assert "Failed task: load_staging (try 1)" in text and "Error: green_tripdata_2021-05.csv.gz: columns do not match" in text
