"""Extract: stream one month's csv.gz from its source and hand out CSV bytes.

The file is never held in memory or written to disk: compressed bytes are read in chunks,
gunzipped incrementally and handed to whoever reads (Postgres COPY, a GCS upload). The header is
checked against the taxi spec before a single data byte is handed out.

A file is an ``https://``/``http://`` URL, a ``file://`` URL or a local path (releases.py says
where a month's file is); parquet files go through source_parquet.py into the same CSV stream.
"""

from __future__ import annotations

import hashlib
import logging
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlparse

from taxi_pipeline.months import Month
from taxi_pipeline.releases import local_path
from taxi_pipeline.specs import TaxiSpec

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
PROGRESS_EVERY_SECONDS = 5.0


class SourceError(Exception):
    """The source could not be read (retryable: network, 5xx, timeouts)."""


class BadSourceFile(Exception):
    """The file is not what the spec says it is (not retryable: retrying reads the same bytes)."""


class MonthNotPublished(Exception):
    """The month does not exist at the source (HTTP 404 / missing file); not retryable."""


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
        raise SourceError(f"{label}: cannot reach {url}: {exc}") from exc
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


class CsvStream:
    """A file-like reader of the decompressed CSV *data* (header already checked and consumed).

    Pass it to ``cursor.copy_expert(sql, stream, size=...)`` or any ``read(size)`` consumer.
    Multi-member gzip files are handled; a stream that ends before the gzip end marker raises
    :class:`SourceError` rather than silently loading part of a month. Retryable: a proxy or CDN
    that cuts a body short and sends a Content-Length that agrees looks exactly like this, and the
    next request gets the whole file (measured in tests/e2e/test_e2e_chaos.py); a file truncated
    at the source fails every try at the same byte, which the last error names.
    """

    first_line = 2  # of the data, in the file (the header is line 1)

    def __init__(self, raw: RawStream, *, label: str, url: str, size: int | None) -> None:
        self._raw, self.label, self.url = raw, label, url
        self.columns: list[str | None] = []  # the spec's name of each field (file_columns)
        self.file_name = url.rsplit("/", 1)[-1]
        self._inflate = zlib.decompressobj(wbits=31)
        self._buffer = b""
        self._eof = False
        self.progress = Progress(label, size)

    def _pull(self) -> bytes:
        """Decompress the next chunk; b'' at the end of a complete gzip stream."""
        while not self._eof:
            compressed = self._raw.read(CHUNK_BYTES)
            if not compressed:
                if not self._inflate.eof:
                    raise SourceError(
                        f"{self.label}: {self.url} is truncated: the gzip stream ended after "
                        f"{self.progress.compressed_bytes:,} bytes without its end marker (will retry)"
                    )
                self._eof = True
                break
            try:
                data = self._inflate.decompress(compressed)
                while self._inflate.eof and self._inflate.unused_data:  # next gzip member
                    rest = self._inflate.unused_data
                    self._inflate = zlib.decompressobj(wbits=31)
                    data += self._inflate.decompress(rest)
            except zlib.error as exc:
                raise BadSourceFile(f"{self.label}: {self.url} is not a valid gzip file: {exc}") from exc
            self.progress.update(compressed, data)
            if data:
                return data
        return b""

    def read_header(self) -> list[str]:
        while b"\n" not in self._buffer:
            chunk = self._pull()
            if not chunk:
                break
            self._buffer += chunk
            if b"\n" not in self._buffer[: 1 << 16] and len(self._buffer) > 1 << 16:
                raise BadSourceFile(f"{self.label}: {self.url}: no header line in the first 64 KiB")
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8", errors="replace").strip("\r\n\ufeff ").split(",")

    # File-object protocol bits that readers such as pyarrow check for.
    closed = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._buffer:
            out, self._buffer = self._buffer, b""
            return out
        return self._pull()


def file_columns(columns: list[str], spec: TaxiSpec, filename: str, *, unknown: str = "error") -> list[str | None]:
    """Map a file's columns to the spec's (by name or alias, any case; specs.py): the spec name
    for each, None for one the spec does not know (``unknown="warn"``: logged and dropped; else an
    error). Raises :class:`BadSourceFile` naming the file and the columns if a required column is
    missing; the spec's other columns missing from the file load as NULL (logged)."""
    mapped = [(spec.find_column(name).name if spec.find_column(name) else None) for name in columns]
    names = [m for m in mapped if m]
    duplicated = sorted({m for m in names if names.count(m) > 1})
    extra = [c for c, m in zip(columns, mapped) if m is None]
    missing = [c for c in spec.required_columns if c not in names]
    problems = []
    if missing:
        problems.append(f"missing {missing}")
    if duplicated:
        problems.append(f"more than one column for {duplicated}")
    if extra and unknown == "error":
        problems.append(f"unexpected {extra}")
    if problems:
        raise BadSourceFile(f"{filename}: columns do not match the {spec.taxi} spec: {'; '.join(problems)}")
    if extra:
        log.warning("%s: columns the %s spec does not know, not loaded: %s (add them to specs.py to keep them)",
                    filename, spec.taxi, extra)
    absent = [c for c in spec.column_names if c not in names]
    if absent:
        log.info("%s: not in this file, loaded as NULL: %s", filename, ", ".join(absent))
    return mapped


@contextmanager
def _checked_stream(
    url: str, spec: TaxiSpec, month: Month, read_timeout: float, raw_wrapper=None
) -> Iterator[CsvStream]:
    """Open a month, check its header, yield the CSV stream; log a summary line at the end."""
    label = f"{spec.taxi} {month}"
    log.info("%s: streaming %s", label, url)
    with open_source(url, label, read_timeout) as opened:
        raw = raw_wrapper(opened.raw) if raw_wrapper else opened.raw
        stream = CsvStream(raw, label=label, url=url, size=opened.size)
        stream.file_name = spec.filename(month.year, month.month) + ".gz"
        stream.columns = file_columns(stream.read_header(), spec, stream.file_name)
        yield stream
    log.info("%s: done: %s in %.1f s", label, stream.progress.describe(), stream.progress.elapsed())


@contextmanager
def open_month_csv(url: str, spec: TaxiSpec, month: Month, *, read_timeout: float) -> Iterator[CsvStream]:
    """Open a month, check its header, and yield the decompressed data stream (for COPY)."""
    with _checked_stream(url, spec, month, read_timeout) as stream:
        yield stream


class _RecordingRaw:
    """Remembers the compressed chunks read through it, so they can be passed on unchanged."""

    def __init__(self, raw: RawStream) -> None:
        self._raw = raw
        self.chunks: list[bytes] = []

    def read(self, size: int) -> bytes:
        chunk = self._raw.read(size)
        if chunk:
            self.chunks.append(chunk)
        return chunk


class VerifiedGzipReader:
    """Hands out the month's *compressed* bytes unchanged (for an upload), checking them on the way.

    The header is checked against the spec before the first byte is handed out; every chunk is
    also gunzipped (and thrown away) so rows are counted and a truncated or corrupt stream raises
    before the reader reports its end -- an upload fed from it is never finalized with bad data.
    """

    def __init__(self, csv: CsvStream, recorder: _RecordingRaw) -> None:
        self._csv, self._recorder = csv, recorder
        self._position = 0

    @property
    def progress(self) -> Progress:
        return self._csv.progress

    @property
    def columns(self) -> list[str | None]:
        return self._csv.columns

    def read(self, size: int = -1) -> bytes:
        """Exactly ``size`` bytes (all, for -1) unless the stream ends first: upload clients take
        a short read for the end of the file."""
        parts, wanted = [], size if size >= 0 else float("inf")
        have = 0
        while have < wanted:
            if not self._recorder.chunks and not self._csv._pull() and not self._recorder.chunks:
                break  # end of a complete gzip stream (a truncated one raised instead)
            chunk = self._recorder.chunks.pop(0)
            if have + len(chunk) > wanted:
                cut = int(wanted - have)
                chunk, rest = chunk[:cut], chunk[cut:]
                self._recorder.chunks.insert(0, rest)
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        self._position += len(data)
        return data

    def tell(self) -> int:
        return self._position


@contextmanager
def open_month_gzip(url: str, spec: TaxiSpec, month: Month, *, read_timeout: float) -> Iterator[VerifiedGzipReader]:
    """Like :func:`open_month_csv`, but yields the verified compressed stream (for the GCS lake)."""
    recorders: list[_RecordingRaw] = []

    def record(raw: RawStream) -> _RecordingRaw:
        recorders.append(_RecordingRaw(raw))
        return recorders[-1]

    with _checked_stream(url, spec, month, read_timeout, raw_wrapper=record) as stream:
        yield VerifiedGzipReader(stream, recorders[0])

