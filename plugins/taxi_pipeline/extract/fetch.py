"""Extract: open a file's raw bytes (HTTP(S), ``file://`` or a local path) and report progress.

Network failures become :class:`SourceError` (retryable), a 404 or a missing mirror file
:class:`MonthNotPublished`; the bytes are handed out as they arrive, never held whole.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlparse

from taxi_pipeline.extract.errors import BadSourceFile, MonthNotPublished, SourceError, unreachable
from taxi_pipeline.extract.releases import local_path

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
PROGRESS_EVERY_SECONDS = 5.0


class RawStream(Protocol):
    def read(self, size: int) -> bytes: ...


@dataclass
class Opened:
    raw: RawStream
    size: int | None  # compressed bytes, when the source says


@contextmanager
def open_source(url: str, label: str, read_timeout: float, what: str = "a gzip file") -> Iterator[Opened]:
    """Open the raw stream of ``url``; ``label`` (e.g. ``green 2019-01``) goes into errors;
    an HTTP source that sends nothing for ``read_timeout`` seconds fails the attempt."""
    if urlparse(url).scheme in ("http", "https"):
        with _open_http(url, label, read_timeout, what) as opened:
            yield opened
        return
    path = local_path(url)
    if not path.is_file():
        raise MonthNotPublished(f"{label}: month not published: {path} does not exist in the mirror")
    with path.open("rb") as handle:
        yield Opened(raw=handle, size=path.stat().st_size)


@contextmanager
def _open_http(url: str, label: str, read_timeout: float, what: str) -> Iterator[Opened]:
    import requests  # heavy-ish; keep it out of DAG parsing

    try:
        response = requests.get(url, stream=True, timeout=(15, read_timeout))
    except requests.RequestException as exc:
        raise SourceError(f"{label}: {unreachable(url, exc)} for {url}") from exc
    with response:
        if response.status_code == 404:
            raise MonthNotPublished(f"{label}: month not published: HTTP 404 for {url}")
        if response.status_code >= 500 or response.status_code == 429:
            raise SourceError(f"{label}: HTTP {response.status_code} from {url} (will retry)")
        if response.status_code != 200:
            raise BadSourceFile(f"{label}: HTTP {response.status_code} from {url}")
        content_type = response.headers.get("Content-Type", "")
        if content_type.startswith("text/html"):
            raise BadSourceFile(f"{label}: {url} returned an HTML page ({content_type}), not {what}")
        length = response.headers.get("Content-Length")
        yield Opened(raw=_HttpRaw(response, url, label), size=int(length) if length else None)


class _HttpRaw:
    """``response.raw`` without transparent decoding; network errors become :class:`SourceError`."""

    def __init__(self, response, url: str, label: str) -> None:
        self._raw, self._url, self._label = response.raw, url, label

    def read(self, size: int) -> bytes:
        import requests
        import urllib3

        try:
            # read1: whatever has arrived (up to size), so gunzip and COPY keep pace with the network
            # instead of waiting for a full chunk; b"" only at the end of the body.
            return self._raw.read1(size, decode_content=False)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            raise SourceError(f"{self._label}: download of {self._url} broke off: {exc!r}") from exc


class Progress:
    """Logs bytes and rows done and the rate every few seconds, and one summary line at the end.

    It also takes the sha256 of the file as downloaded, on the bytes as they pass (no second read):
    the audit row records it, so a file that changed since it was loaded can be found.
    """

    def __init__(self, label: str, total_bytes: int | None, header_lines: int = 1) -> None:
        self.label, self.total_bytes, self.header_lines = label, total_bytes, header_lines
        self.compressed_bytes = self.csv_bytes = self.newlines = 0
        self._sha256 = hashlib.sha256()
        self.started = self._last_log = time.monotonic()

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def rows(self) -> int:
        return max(self.newlines - self.header_lines, 0)  # the header line is not a row

    def update(self, compressed: bytes, csv_chunk: bytes, rows: int | None = None) -> None:
        """``compressed``: the file's bytes just downloaded; ``csv_chunk``: the CSV they gave."""
        self.compressed_bytes += len(compressed)
        self._sha256.update(compressed)
        self.csv_bytes += len(csv_chunk)
        self.newlines += csv_chunk.count(b"\n") if rows is None else rows
        now = time.monotonic()
        if now - self._last_log >= PROGRESS_EVERY_SECONDS:
            self._last_log = now
            log.info("%s: %s", self.label, self.describe())

    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    def describe(self) -> str:
        mb = self.compressed_bytes / 1e6
        of = f"/{self.total_bytes / 1e6:.1f} MB ({100 * self.compressed_bytes / self.total_bytes:.0f}%)" if self.total_bytes else " MB"
        return (
            f"{mb:.1f}{of} downloaded, {self.csv_bytes / 1e6:.1f} MB csv, {self.rows:,} rows, "
            f"{self.rows / self.elapsed():,.0f} rows/s, {mb / self.elapsed():.1f} MB/s"
        )
