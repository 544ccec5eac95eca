"""Extract, parquet: a TLC file spooled to one temporary file, then read one record batch at a time.

Parquet keeps its schema in a footer, so the download is spooled to disk first: one file per
load, under :data:`SPOOL_DIR`, deleted on success and on failure; a killed load's file is swept
by the next load (its process is gone) or once older than the staging TTL. Each record batch is
matched to the spec's columns (specs.py: names, aliases, NULL for absent ones), cast to the
table's exact types and encoded in Postgres's binary COPY format by pgpq, for the same COPY
streams the csv.gz files feed (in CSV): both formats share one load path and give a trip the same
``unique_row_id``, which Postgres computes from the typed values (VendorID 1 from an int64 and "1"
from a CSV are both the integer 1; passenger_count 1.0 becomes the integer 1). Nothing is written
out as text for Postgres to parse back: make bench's case 7 measured the CSV round trip it
replaced (``ParquetCsvStream``, kept for that comparison). Memory stays at a batch, not the month.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from taxi_pipeline.extract.columns import file_columns
from taxi_pipeline.extract.errors import BadSourceFile, SourceError
from taxi_pipeline.extract.fetch import CHUNK_BYTES, Progress, open_source
from taxi_pipeline.extract.releases import TLC_LAYOUT
from taxi_pipeline.months import Month
from taxi_pipeline.specs import TaxiSpec

log = logging.getLogger(__name__)

SPOOL_DIR = Path(tempfile.gettempdir()) / "ny_taxi_spool"
BATCH_ROWS = 8_192  # ~2 MB of CSV a batch: the COPY queues hold a few (20M fhvhv rows: peak RSS 299 -> 282 MB, as fast;
# binary COPY at 32,768: 346 MB and no faster, make bench case 7)

_ARROW = {"text": "string", "integer": "int64", "double precision": "float64", "timestamp": "timestamp[us]"}
# Postgres's binary COPY reads each field with its column type's own receive function: the exact
# widths of the table's types (integer is int4).
_ARROW_BINARY = {**_ARROW, "integer": "int32"}


def _spool_path(spec: TaxiSpec, month: Month) -> Path:
    return SPOOL_DIR / f"{spec.taxi}_{month}_{os.getpid()}_{int(time.time())}.parquet"


def sweep_spool(max_age: timedelta) -> list[Path]:
    """Delete spooled files whose load is gone: its process no longer runs, or older than ``max_age``."""
    swept = []
    for path in SPOOL_DIR.glob("*.parquet"):
        try:
            pid, created = (int(part) for part in path.stem.rsplit("_", 2)[1:])
        except ValueError:
            continue
        if time.time() - created > max_age.total_seconds() or not _alive(pid):
            path.unlink(missing_ok=True)
            swept.append(path)
    if swept:
        log.info("swept %d spooled parquet file(s) left by killed loads: %s", len(swept), [p.name for p in swept])
    return swept


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs on this host (psutil, an Airflow dependency); a pid reused since only
    delays that file's sweep to the TTL."""
    import psutil

    return psutil.pid_exists(pid)


def _batches(parquet_file, columns: list[str]):
    """The file's record batches, one reader per row group: a single ``iter_batches`` over the whole
    file keeps ~50 MB per row group it has read until it ends (pyarrow 26: 545 MB after 8 of a
    20M-row file's 1M-row groups, 198 MB this way)."""
    for group in range(parquet_file.metadata.num_row_groups):
        yield from parquet_file.iter_batches(batch_size=BATCH_ROWS, columns=columns, row_groups=[group],
                                             use_threads=False)


class ParquetCsvStream:
    """``read()`` hands out the month's rows as CSV, one record batch per call (b'' at the end)."""

    first_line = 1  # COPY's line n is the file's row n
    copy_format = "csv"
    _arrow_types = _ARROW

    def __init__(self, parquet_file, columns: list[str | None], spec: TaxiSpec, filename: str, progress: Progress) -> None:
        import pyarrow as pa

        self.columns = [c for c in columns if c]
        self._source_names = [name for name, c in zip(parquet_file.schema_arrow.names, columns) if c]
        self._types = [pa.type_for_alias(self._arrow_types[spec.column(c).postgres_type]) for c in self.columns]
        self.schema = pa.schema([pa.field(c, kind) for c, kind in zip(self.columns, self._types)])
        self.batches = self._cast_batches(_batches(parquet_file, self._source_names))
        self.file_name, self.progress = filename, progress
        self.expected_rows = parquet_file.metadata.num_rows

    def read(self, size: int = -1) -> bytes:
        batch = next(self.batches, None)
        if batch is None:
            return b""
        data = self._encode(batch)
        self.progress.update(b"", data, rows=batch.num_rows)
        return data

    def _cast_batches(self, batches: Iterator) -> Iterator:
        """The file's record batches matched and cast to the table's types (``schema``), one at a
        time: what ``read()`` encodes. Kept apart so that a loader taking Arrow itself (make bench's
        ADBC and psycopg candidates) gets exactly the values our COPY gets."""
        import pyarrow as pa

        while True:
            try:
                batch = next(batches, None)
            except (OSError, pa.ArrowException) as exc:
                raise BadSourceFile(f"{self.file_name}: cannot read row {self.progress.rows + 1:,} on: {exc}") from exc
            if batch is None:
                return
            yield pa.RecordBatch.from_arrays(
                [self._cast(batch.column(i), name, kind) for i, (name, kind) in enumerate(zip(self.columns, self._types))],
                schema=self.schema)

    def _encode(self, batch) -> bytes:
        import pyarrow.csv as pacsv

        out = io.BytesIO()
        pacsv.write_csv(batch, out, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
        return out.getvalue()

    def _cast(self, array, name: str, kind):
        import pyarrow as pa

        if array.type == kind:
            return array
        try:
            # Timestamps: TLC writes microseconds, some files nanoseconds (of which TLC has none).
            return array.cast(kind, safe=not pa.types.is_timestamp(kind))
        except pa.ArrowException as exc:
            raise BadSourceFile(f"{self.file_name}, column {name}: {array.type} values do not fit {kind}: {exc}") from exc


class ParquetBinaryStream(ParquetCsvStream):
    """The same batches in Postgres's binary COPY format, encoded by pgpq (Rust): no text for this
    process to write nor for Postgres to parse. ``read()`` gives whole rows, a batch a call; each
    COPY stream sends ``header`` first and ``trailer`` last."""

    copy_format = "binary"
    _arrow_types = _ARROW_BINARY

    def __init__(self, *args, **kwargs) -> None:
        from pgpq import ArrowToPostgresBinaryEncoder

        super().__init__(*args, **kwargs)
        # Each COPY stream sends the header once; the trailer is a 16-bit -1 (Postgres's COPY docs).
        self.header, self.trailer = bytes(ArrowToPostgresBinaryEncoder(self.schema).write_header()), b"\xff\xff"

    def _encode(self, batch) -> bytes:
        from pgpq import ArrowToPostgresBinaryEncoder

        # An encoder buffers rows until finish(): one per batch gives the batch's rows now (its
        # header and trailer cut off), so memory stays at a batch and the streams get whole rows.
        encoder = ArrowToPostgresBinaryEncoder(self.schema)
        encoder.write_header()
        rows = bytes(encoder.write_batch(batch))
        return rows + bytes(encoder.finish())[:-len(self.trailer)]


@dataclass
class SpooledParquet:
    """A month's parquet file on local disk, opened, its columns matched to the spec (None: unknown)."""

    path: Path
    file: object  # pyarrow.parquet.ParquetFile
    columns: list[str | None]
    file_name: str
    progress: Progress


@contextmanager
def spool_parquet(url: str, spec: TaxiSpec, month: Month, *, read_timeout: float,
                  spool_ttl: timedelta = timedelta(hours=6)) -> Iterator[SpooledParquet]:
    """Download the month's parquet file to the spool, open it, check its columns; always deleted after."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    label, filename = f"{spec.taxi} {month}", TLC_LAYOUT.path(spec, month)
    SPOOL_DIR.mkdir(parents=True, exist_ok=True)
    sweep_spool(spool_ttl)
    path = _spool_path(spec, month)
    log.info("%s: downloading %s to %s", label, url, path)
    try:
        with open_source(url, label, read_timeout, what="a parquet file") as opened, path.open("wb") as spool:
            progress = Progress(label, opened.size, header_lines=0)
            while chunk := opened.raw.read(CHUNK_BYTES):
                spool.write(chunk)
                progress.update(chunk, b"")
        if opened.size is not None and progress.compressed_bytes != opened.size:
            # fewer bytes than the server announced: the transfer broke off (retryable)
            raise SourceError(f"{label}: {url} is truncated: {progress.compressed_bytes:,} of {opened.size:,} bytes (will retry)")
        try:
            # pre_buffer (pyarrow's default) reads each row group's column chunks whole, ~50 MB per
            # 1M-row group; a buffered stream reads page by page (a 4M-row fhvhv read: the arrow
            # pool's peak 68 -> 19 MB, the process's 167 -> 115 MB, as fast).
            parquet = pq.ParquetFile(path, buffer_size=1 << 16, pre_buffer=False)
        except (OSError, pa.ArrowException) as exc:
            raise BadSourceFile(f"{filename}: not a readable parquet file ({progress.compressed_bytes:,} bytes): {exc}") from exc
        columns = file_columns(parquet.schema_arrow.names, spec, filename, unknown="warn")
        log.info("%s: %s rows in %d row group(s), %.1f MB", label, f"{parquet.metadata.num_rows:,}",
                 parquet.metadata.num_row_groups, progress.compressed_bytes / 1e6)
        yield SpooledParquet(path, parquet, columns, filename, progress)
    finally:
        path.unlink(missing_ok=True)


PARQUET_STREAM = ParquetBinaryStream  # make bench's parquet case times ParquetCsvStream against it


@contextmanager
def open_month_parquet(url: str, spec: TaxiSpec, month: Month, *, read_timeout: float) -> Iterator[ParquetCsvStream]:
    """Spool the month's parquet file, check its columns, yield its rows as a COPY stream (binary);
    the spool is always deleted."""
    with spool_parquet(url, spec, month, read_timeout=read_timeout) as spooled:
        stream = PARQUET_STREAM(spooled.file, spooled.columns, spec, spooled.file_name, spooled.progress)
        yield stream
        if spooled.progress.rows != stream.expected_rows:
            raise BadSourceFile(f"{spooled.file_name}: read {spooled.progress.rows:,} rows, the footer says {stream.expected_rows:,}")
        log.info("%s: done: %s in %.1f s", f"{spec.taxi} {month}", spooled.progress.describe(), spooled.progress.elapsed())
