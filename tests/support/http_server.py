"""A local HTTP server for release files that can be told to misbehave, request by request.

It serves a directory laid out like the releases (``<taxi>/<taxi>_tripdata_YYYY-MM.csv.gz``,
see :mod:`tests.support.fake_tlc`) on ``127.0.0.1`` and an ephemeral port. Reliability tests
queue :class:`Fault` s per URL path; each request to that path consumes the next one, and once
the queue is empty the file is served normally. Every request is recorded in
:attr:`FixtureServer.requests` so tests can assert on retries.

    with FixtureServer(root) as server:
        server.add_faults("/green/green_tripdata_2019-01.csv.gz", Fault.status(503), Fault.reset_after(1024))
        url = server.url("/green/green_tripdata_2019-01.csv.gz")  # 503, then a reset, then the file
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

__all__ = ["Fault", "FixtureServer", "RequestRecord", "reset_connection"]

CHUNK = 64 * 1024
GZIP_TYPE = "application/gzip"
_HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>\n"
    b"<body><h1>Unicorn!</h1><p>This page is taking too long to load.</p></body></html>\n"
)
# Errors a client causes by going away mid-response (timeouts, resets): expected, not failures.
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


@dataclass(frozen=True)
class Fault:
    """One way to answer a single request badly. Build with the classmethods.

    ``status`` and ``html`` need no file; the others answer 404 if the path has no file.
    """

    kind: str  # "status" | "reset" | "stall" | "html" | "truncate"
    code: int = 200
    n_bytes: int = 0
    seconds: float = 0.0

    @classmethod
    def status(cls, code: int) -> Fault:
        """Answer ``code`` (500, 503, 404, ...) with a short text body instead of the file."""
        return cls("status", code=code)

    @classmethod
    def reset_after(cls, n_bytes: int) -> Fault:
        """Headers with the full Content-Length, ``n_bytes`` of the file, then a TCP reset."""
        return cls("reset", n_bytes=n_bytes)

    @classmethod
    def stall(cls, seconds: float, after_bytes: int = 0) -> Fault:
        """Headers and ``after_bytes`` of the file, then silence for ``seconds``, then the rest.

        A HEAD gets the headers, then the silence. The silence ends early (and the connection
        is dropped) when the server stops.
        """
        return cls("stall", n_bytes=after_bytes, seconds=seconds)

    @classmethod
    def html(cls) -> Fault:
        """200 with ``Content-Type: text/html`` and an error page, like a CDN or proxy in the way."""
        return cls("html")

    @classmethod
    def truncate(cls, n_bytes: int) -> Fault:
        """200 with ``Content-Length: n_bytes`` and only that much of the file: a clean HTTP
        response carrying a cut-off gzip stream."""
        return cls("truncate", n_bytes=n_bytes)


class RequestRecord(NamedTuple):
    """One request as the server answered it; ``status`` is what was sent (200 for a reset)."""

    method: str
    path: str
    status: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck handler must never keep the test process alive
    block_on_close = False
    fixture: FixtureServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints tracebacks to stderr; keep them for assertions instead.
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, _CLIENT_GONE):
            self.fixture.errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive threads at stop()
    timeout = 30  # socket timeout, so a client that stops reading cannot pin a thread forever

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature from the base class
        pass  # tests must stay quiet

    def do_GET(self) -> None:
        self._respond(body=True)

    def do_HEAD(self) -> None:
        self._respond(body=False)

    # --- helpers ---------------------------------------------------------------------------

    def _respond(self, *, body: bool) -> None:
        fixture = self.server.fixture
        path = unquote(urlsplit(self.path).path)
        fault = fixture._next_fault(path, self.command)
        file = fixture._resolve(path)
        try:
            if fault is not None and fault.kind == "status":
                self._send_text(path, fault.code, f"{fault.code} injected fault\n".encode(), "text/plain", body)
            elif fault is not None and fault.kind == "html":
                self._send_text(path, 200, _HTML_PAGE, "text/html; charset=utf-8", body)
            elif file is None:
                self._send_text(path, 404, b"404 not found\n", "text/plain", body)
            elif fault is None:
                self._send_file(path, file, body)
            elif fault.kind == "truncate":
                data = file.read_bytes()[: fault.n_bytes]
                self._send_text(path, 200, data, GZIP_TYPE, body)
            elif fault.kind == "reset":
                self._send_reset(path, file, fault.n_bytes, body)
            elif fault.kind == "stall":
                self._send_stalled(path, file, fault, body)
            else:  # pragma: no cover - Fault only has the kinds above
                raise ValueError(f"unknown fault kind {fault.kind!r}")
        except _CLIENT_GONE:
            self.close_connection = True

    def _start(self, path: str, status: int, content_type: str, length: int) -> None:
        # Record before sending, so a test that has read the status line always sees the record.
        self.server.fixture._record(self.command, path, status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send_text(self, path: str, status: int, data: bytes, content_type: str, body: bool) -> None:
        self._start(path, status, content_type, len(data))
        if body:
            self.wfile.write(data)

    def _send_file(self, path: str, file: Path, body: bool, skip: int = 0) -> None:
        """The file in CHUNK-sized writes; with ``skip`` the headers are already out."""
        if skip == 0:
            self._start(path, 200, GZIP_TYPE, file.stat().st_size)
        if not body:
            return
        with file.open("rb") as f:
            f.seek(skip)
            while chunk := f.read(CHUNK):
                self.wfile.write(chunk)

    def _send_reset(self, path: str, file: Path, n_bytes: int, body: bool) -> None:
        self._start(path, 200, GZIP_TYPE, file.stat().st_size)
        if body:
            with file.open("rb") as f:
                self.wfile.write(f.read(n_bytes))
        self._abort()

    def _send_stalled(self, path: str, file: Path, fault: Fault, body: bool) -> None:
        self._start(path, 200, GZIP_TYPE, file.stat().st_size)
        if body:
            with file.open("rb") as f:
                self.wfile.write(f.read(fault.n_bytes))
        # Waiting on the stop event (not sleeping) lets stop() end the stall at once.
        if self.server.fixture._stopping.wait(fault.seconds):
            self._abort()  # drop the client instead of finishing
            return
        self._send_file(path, file, body, skip=fault.n_bytes)

    def _abort(self) -> None:
        reset_connection(self)


def reset_connection(handler: BaseHTTPRequestHandler) -> None:
    """Close with SO_LINGER 0: the kernel sends RST, the client sees a reset/incomplete read."""
    # Let the bytes already written leave before the RST discards the send queue.
    time.sleep(0.05)
    conn: socket.socket = handler.connection
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # The fd only really closes once the makefile() reader is closed too. wfile is a plain
    # sendall() wrapper and stays open: the base class still flushes it after do_GET.
    handler.rfile.close()
    conn.close()
    handler.close_connection = True


class FixtureServer:
    """Serve ``root`` over HTTP on 127.0.0.1 with an ephemeral port; inject faults per path."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.errors: list[BaseException] = []  # unexpected handler exceptions (would be tracebacks)
        self._lock = threading.Lock()
        self._faults: dict[str, deque[tuple[frozenset[str] | None, Fault]]] = {}
        self._requests: list[RequestRecord] = []
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FixtureServer:
        if self._httpd is not None:
            raise RuntimeError("FixtureServer already started")
        self._stopping.clear()
        httpd = _Server(("127.0.0.1", 0), _Handler)  # loopback only, never 0.0.0.0
        httpd.fixture = self
        self._httpd = httpd
        # A short poll interval makes stop() return quickly.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="FixtureServer", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, wake stalled responses and close the listening socket. Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FixtureServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- addresses -----------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        if self._httpd is None:
            raise RuntimeError("FixtureServer is not running")
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, no trailing slash."""
        host, port = self.address
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        """Absolute URL for a path such as ``/green/green_tripdata_2019-01.csv.gz``."""
        return self.base_url + _normalize(path)

    def release_url(self, taxi: str, year: int, month: int) -> str:
        """URL of a release file in the fake_tlc layout."""
        return self.url(f"/{taxi}/{taxi}_tripdata_{year:04d}-{month:02d}.csv.gz")

    # --- faults and the request log ------------------------------------------------------------

    def add_faults(self, path: str, *faults: Fault, method: str | None = None) -> None:
        """Queue ``faults`` for ``path``; each request to it consumes the next one, in order.

        By default GET and HEAD both consume faults. With ``method="GET"`` the queued faults are
        only used by GETs (a HEAD meanwhile is served normally and leaves the queue alone).
        """
        methods = None if method is None else frozenset({method.upper()})
        with self._lock:
            queue = self._faults.setdefault(_normalize(path), deque())
            queue.extend((methods, fault) for fault in faults)

    def pending_faults(self, path: str) -> list[Fault]:
        """Faults still queued for ``path``."""
        with self._lock:
            return [fault for _, fault in self._faults.get(_normalize(path), ())]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request answered so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def count(self, path: str | None = None, *, method: str | None = None, status: int | None = None) -> int:
        """How many recorded requests match all the given filters."""
        wanted = None if path is None else _normalize(path)
        return sum(
            1
            for r in self.requests
            if (wanted is None or r.path == wanted)
            and (method is None or r.method == method.upper())
            and (status is None or r.status == status)
        )

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # --- used by the handler -------------------------------------------------------------------

    def _next_fault(self, path: str, method: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(path)
            if not queue:
                return None
            methods, fault = queue[0]
            if methods is not None and method not in methods:
                return None
            queue.popleft()
            return fault

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self._requests.append(RequestRecord(method, path, status))

    def _resolve(self, path: str) -> Path | None:
        """The file for a URL path, or None if missing or outside root (no ``..`` escapes)."""
        candidate = (self.root / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate


def _normalize(path: str) -> str:
    return path if path.startswith("/") else "/" + path
