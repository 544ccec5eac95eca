"""Extract: one month's csv.gz as a stream of CSV bytes (for COPY) or of its checked gzip bytes (for GCS).

The file is never held in memory or written to disk: compressed bytes are read in chunks,
gunzipped incrementally and handed to whoever reads (Postgres COPY, a GCS upload). The header is
checked against the taxi spec before a single data byte is handed out.

Opening the bytes is fetch.py's; which columns are which is columns.py's; parquet files go through
parquet.py into the same CSV stream.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from taxi_pipeline.extract.columns import file_columns
from taxi_pipeline.extract.errors import BadSourceFile, SourceError
from taxi_pipeline.extract.fetch import CHUNK_BYTES, Progress, RawStream, open_source
from taxi_pipeline.months import Month
from taxi_pipeline.specs import TaxiSpec

log = logging.getLogger(__name__)

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
    copy_format = "csv"

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

