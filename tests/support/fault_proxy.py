"""An HTTP proxy that breaks requests at random, in front of a real file server.

Where :class:`tests.support.http_server.FixtureServer` plays a planned fault per path, this proxy
plays the network of a bad day: each GET it forwards to ``upstream`` (on 127.0.0.1) is answered
503, reset mid-body (RST after part of the body), truncated (the body cut short *and*
Content-Length saying so, so that only the gzip stream can tell), or passed through; HEADs get
only the 503s. The fates come from a seeded deck of 20 per method, reshuffled when used up, so
the rates hold exactly over every 20 requests instead of only on average. ``bytes_per_second``
throttles the bodies (a slow link: loads are in flight long enough to be hit by other chaos).
:attr:`FaultProxy.counts` says how many of each it played.

    with FaultProxy(server.base_url, reset=0.2, unavailable=0.1, truncate=0.1) as proxy:
        source_url = proxy.base_url
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from tests.support.http_server import reset_connection

__all__ = ["FaultProxy"]

CHUNK = 16 * 1024
DECK = 20
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client gone mid-response is the point of this server


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection, as the fixture server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass

    def do_GET(self) -> None:
        self._proxy(body=True)

    def do_HEAD(self) -> None:
        self._proxy(body=False)

    def _proxy(self, *, body: bool) -> None:
        proxy = self.server.proxy
        fault = proxy.draw(body)
        if fault == "unavailable":
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.send_header("Retry-After", "1")
            self.end_headers()
            return
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            upstream.request(self.command, self.path, headers=headers)
            response = upstream.getresponse()
            data = response.read() if body else b""
            length = int(response.getheader("Content-Length") or len(data))
            if fault in ("reset", "truncate") and response.status == 200 and len(data) > 1:
                cut = proxy.cut_point(len(data))
                if fault == "truncate":
                    data, length = data[:cut], cut
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if not body:
                return
            if fault == "reset" and response.status == 200 and len(data) > 1:
                self._write(data[:cut])
                reset_connection(self)
                return
            self._write(data)
        except _CLIENT_GONE:
            self.close_connection = True
        finally:
            upstream.close()

    def _write(self, data: bytes) -> None:
        rate = self.server.proxy.bytes_per_second
        for start in range(0, len(data), CHUNK):
            self.wfile.write(data[start:start + CHUNK])
            if rate:
                time.sleep(min(CHUNK, len(data) - start) / rate)



class FaultProxy:
    """Forward to ``upstream`` (an http://127.0.0.1:PORT base URL) on 127.0.0.1 and a free port,
    playing faults at these rates (fractions of requests, multiples of 1/20). HEAD requests get
    only 503s: they have no body to break."""

    def __init__(self, upstream: str, *, reset: float = 0.2, unavailable: float = 0.1,
                 truncate: float = 0.1, seed: int = 15, bytes_per_second: int = 0) -> None:
        parts = urlsplit(upstream)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"FaultProxy upstream must be on 127.0.0.1, got {upstream!r}")
        if reset + unavailable + truncate >= 1:
            raise ValueError("FaultProxy: the fault rates must leave some requests unharmed")
        self.upstream_host, self.upstream_port = parts.hostname, parts.port or 80
        self.rates = {"reset": reset, "unavailable": unavailable, "truncate": truncate}
        self.bytes_per_second = bytes_per_second
        self.counts: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._decks: dict[bool, list[str]] = {True: [], False: []}
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def draw(self, body: bool) -> str:
        """This request's fate: ``unavailable``, ``reset``, ``truncate`` or ``passed``."""
        with self._lock:
            deck = self._decks[body]
            if not deck:
                rates = self.rates if body else {"unavailable": self.rates["unavailable"]}
                deck.extend(name for name, rate in rates.items() for _ in range(round(rate * DECK)))
                deck.extend(["passed"] * (DECK - len(deck)))
                self._random.shuffle(deck)
            fate = deck.pop()
            self.counts[fate] += 1
            return fate

    def cut_point(self, length: int) -> int:
        """Where a broken body stops: somewhere in its middle 80%."""
        with self._lock:
            return max(1, min(length - 1, int(length * self._random.uniform(0.1, 0.9))))

    def start(self) -> FaultProxy:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.proxy = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="FaultProxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "FaultProxy not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"
