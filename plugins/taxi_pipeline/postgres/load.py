"""Load: stream one month from the source into this run's Postgres staging table with COPY.

The staging table is shaped like a partition of the main table. On a month's first load, COPY
computes each row's ``unique_row_id`` as it writes the row (a generated column), so every row is
written exactly once and the merge can attach the table as the month's partition (merge.py). When
the month already has a partition, the table is UNLOGGED and id-less: the merge only compares it
with that partition, hashing in parallel. The main table is not touched here.

Several COPY streams run at once (setting ``NY_TAXI_COPY_STREAMS``): the CSV is cut at record
boundaries into small pieces dealt out in turn to one connection per stream, so parsing and
hashing -- the server's work -- use more than one core, evenly, while this process only gunzips.
Errors still name the file's own line. A failed load drops its staging table; a killed one leaves
it to the teardown/sweep.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

from taxi_pipeline.months import Month
from taxi_pipeline.extract.releases import LocatedFile
from taxi_pipeline.run import MonthRun
from taxi_pipeline.settings import STAGING_SCHEMA
from taxi_pipeline.extract.csv_gz import CsvStream, open_month_csv
from taxi_pipeline.extract.errors import BadSourceFile
from taxi_pipeline.extract.fetch import CHUNK_BYTES
from taxi_pipeline.specs import TaxiSpec
from taxi_pipeline.sql_templates import render

log = logging.getLogger(__name__)

# The CSV goes out in pieces of about this size, to the streams in turn: equal shares, so the streams
# end together. Dealt out in the 3.5 MB the gunzip of a 1 MiB read gives, one stream of a 90k-row
# month (8 MB) got 58% of it. Not a queue the first free stream takes from: a COPY write returns
# once the socket holds the bytes, so at the end one backend worked alone for 40-190 ms a month
# (Postgres's statement log); in turn, first loads took 1.39x the floor against 1.47x (both
# versions alternating in one run, 4 repetitions).
_PIECE_BYTES = 256 << 10
_QUEUED_PIECES = 4  # per stream: memory stays at a few MB whatever the month's size
_ABORT = object()


@dataclass(frozen=True)
class StagedMonth:
    staging_table: str
    rows: int
    compressed_bytes: int
    sha256: str  # of the file as downloaded
    started_at: str  # ISO 8601, UTC: when the load began (the audit row's started_at)
    seconds: float
    with_ids: bool  # a first load's staging: ids computed, shaped to become the month's partition


def copy_error_message(
    exc: Exception, filename: str, file_line: Callable[[int], int] = lambda n: n + 1, columns: Sequence[str] = ()
) -> str:
    """Turn a COPY error into one line naming the file, the file's line and the column.

    ``file_line`` maps the line number COPY reports (it counts the data lines it received) to the
    file's line; by default the header is the only line COPY did not receive. ``columns``, the
    header's, name the column Postgres does not when a row has too many fields.
    """
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).splitlines()[0]
    context = getattr(diag, "context", None) or ""
    # Postgres says e.g. 'COPY green_2019_01_x, line 7, column fare_amount: "abc"'.
    where = ""
    first_context_line = context.splitlines()[0] if context else ""
    if ", line " in first_context_line:
        detail = first_context_line.split(", line ", 1)[1]
        number, _, rest = detail.partition(",")
        number = number.split(":")[0].strip()
        if number.isdigit():
            where = f", line {file_line(int(number))}"
        if "column " in rest:
            where += f", {rest.strip()}"
    if columns and primary.startswith("extra data after last expected column"):
        primary += f" ({columns[-1]}: the row has more than the header's {len(columns)} fields)"
    return f"{filename}{where}: {primary}"


def _complete_records(buffer: bytes) -> int:
    """Length of the longest prefix of ``buffer`` that ends a CSV record (0 if none).

    ``buffer`` starts at a record boundary. A newline ends a record unless it sits inside a quoted
    field, i.e. after an odd number of quote characters (an escaped quote is a doubled one).
    """
    end = buffer.rfind(b"\n")
    if end < 0 or b'"' not in buffer:
        return end + 1
    quotes = buffer.count(b'"', 0, end)
    while end >= 0 and quotes % 2:
        previous = buffer.rfind(b"\n", 0, end)
        quotes -= buffer.count(b'"', previous + 1, end)
        end = previous
    return end + 1


@dataclass(eq=False)
class _CopyStream:
    """One connection's COPY, fed from a small queue by its own thread."""

    conn: object
    sql: str
    # (data, its first line in the file, its lines)
    pieces: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=_QUEUED_PIECES))
    first_line: int = 2  # the data's first line in the file
    lines_taken: int = 0
    # (first COPY line of a piece, its line in the file): maps COPY's line numbers back.
    segments: list[tuple[int, int]] = field(default_factory=list)
    rows: int = 0
    error: BaseException | None = None
    thread: threading.Thread | None = None
    # A binary COPY's header and trailer, once per COPY (its pieces are whole rows); none for CSV.
    header: bytes = b""
    trailer: bytes = b""

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="copy-stream", daemon=True)
        self.thread.start()

    def file_line(self, copy_line: int) -> int:
        first, at = next((s for s in reversed(self.segments) if s[0] <= copy_line), (1, self.first_line))
        return at + copy_line - first

    def _run(self) -> None:
        fed = False  # the feeder's end marker was taken
        try:
            with self.conn.cursor() as cursor:
                # Staging is rebuilt from the source if lost: no need to wait for the WAL flush.
                cursor.execute("SET LOCAL synchronous_commit TO off")
                with cursor.copy(self.sql) as copy:
                    if self.header:
                        copy.write(self.header)
                    while (piece := self.pieces.get()) is not None:
                        if piece is _ABORT:
                            raise RuntimeError("load aborted")
                        data, file_line, lines = piece
                        self.segments.append((self.lines_taken + 1, file_line))
                        self.lines_taken += lines
                        copy.write(data)
                    fed = True
                    if self.trailer:
                        copy.write(self.trailer)
                self.rows = cursor.rowcount
        except BaseException as exc:  # reported by the feeding thread
            self.error = exc  # a bad value surfaces here, when the COPY ends
            while not fed and self.pieces.get() is not None:  # keep draining so the feeder never blocks
                pass


def _deal_out(stream: CsvStream, copies: list[_CopyStream]) -> None:
    """Cut the CSV at record boundaries into ~_PIECE_BYTES pieces and hand them to the streams in turn."""
    pending = b""
    file_line = stream.first_line
    turn = 0

    def put(data: bytes) -> None:
        nonlocal file_line, turn
        lines = data.count(b"\n")
        copies[turn % len(copies)].pieces.put((data, file_line, lines))
        file_line += lines
        turn += 1

    if stream.copy_format == "binary":  # each read is whole rows: dealt out as they come
        while data := stream.read(CHUNK_BYTES):
            if any(c.error for c in copies):
                return
            put(data)
        return
    while chunk := stream.read(CHUNK_BYTES):
        if any(c.error for c in copies):
            return
        pending += chunk
        start = 0
        while len(pending) - start >= _PIECE_BYTES:
            # A record longer than a piece (none in real files) goes out whole.
            cut = _complete_records(pending[start:start + _PIECE_BYTES]) or _complete_records(pending[start:])
            if not cut:
                break
            put(pending[start:start + cut])
            start += cut
        pending = pending[start:]
    if pending:  # the rest, and a last line without a newline
        put(pending)


def _open_extra_connections(conn, count: int) -> Future | None:
    """Start opening ``count`` more connections like ``conn`` in a background thread (None if 0).

    Each costs a SCRAM handshake (~14 ms here); opened meanwhile, they are ready by the time the
    source's first chunk is read and the staging table exists. If one fails, those already opened
    are closed and the error surfaces from the future's ``result()``."""
    if count < 1:
        return None
    import psycopg

    dsn, password = conn.info.dsn, conn.info.password  # read here: ``conn`` belongs to this thread

    def open_all() -> list:
        opened = []
        try:
            for _ in range(count):
                opened.append(psycopg.connect(dsn, password=password))
        except BaseException:
            for other in opened:
                _quietly(other.close)
            raise
        return opened

    return _in_background(open_all, "copy-connect")


def _in_background(work: Callable[[], object], name: str) -> Future:
    """Run ``work`` in a thread of its own; its result (or error) is the future's."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    try:
        return pool.submit(work)
    finally:
        pool.shutdown(wait=False)


@contextmanager
def open_month(located: LocatedFile, spec: TaxiSpec, month: Month, *, read_timeout: float):
    """The month's rows as a CSV stream, whatever the file's format (``columns``: its COPY column list)."""
    if located["format"] == "parquet":
        from taxi_pipeline.extract.parquet import open_month_parquet

        with open_month_parquet(located["url"], spec, month, read_timeout=read_timeout) as stream:
            yield stream
    else:
        with open_month_csv(located["url"], spec, month, read_timeout=read_timeout) as stream:
            yield stream


@contextmanager
def opening_month(located: LocatedFile, spec: TaxiSpec, month: Month, *, read_timeout: float) -> Iterator[Future]:
    """:func:`open_month` in a background thread: a future of the stream, closed at exit.

    Opening a file is a request, its first chunk and the header check (~35 ms for a 90k-row
    month); meanwhile the load connects, checks the tables and creates its staging table, which
    together take about as long. The load waits for the stream before it commits that table.
    """
    context = open_month(located, spec, month, read_timeout=read_timeout)
    future = _in_background(context.__enter__, "open-month")
    try:
        yield future
    except BaseException as exc:
        if future.exception() is None and context.__exit__(type(exc), exc, exc.__traceback__):
            return
        raise
    else:
        if future.exception() is None:
            context.__exit__(None, None, None)


def load_month(conn, spec: TaxiSpec, run: MonthRun, source: Future, *, streams: int) -> StagedMonth:
    """Create the run's staging table and COPY the month's file into it; committed only if complete.

    ``conn`` is a psycopg 3 connection (what ``PostgresHook.get_conn()`` returns with SQLAlchemy
    2); further streams open connections with its parameters. ``source``: the file's stream as
    :func:`opening_month` opens it. On any error the staging table is dropped and the error
    re-raised (bad values as :class:`BadSourceFile` naming file, line, column).
    """
    staging_table, filename = run["staging_table"], run["filename"]
    started, started_at = time.monotonic(), datetime.now(timezone.utc).isoformat()
    extra: list = []
    opening = _open_extra_connections(conn, streams - 1)
    committed = False  # the staging table, before the COPY (other streams must see it)
    try:
        with conn.cursor() as cursor:
            reload = bool(cursor.execute(render("postgres/partition_exists.sql"), {"partition": run["partition"]}).fetchone()[0])
            names = {"taxi": spec, "staging_schema": STAGING_SCHEMA, "staging_table": staging_table,
                     "filename": filename, "reload": reload}
            cursor.execute(render("postgres/create_staging.sql", **names))
            stream = source.result()  # a file that cannot be read fails here, the table rolled back
            if streams > 1:
                conn.commit()
                committed = True
                extra = opening.result()
            copy_sql = render("postgres/copy_staging.sql", freeze=streams == 1, columns=stream.columns,
                              copy_format=stream.copy_format, **names)
            rows = _copy(stream, [conn, *extra], copy_sql)
            for other in extra:
                other.commit()
            cursor.execute(render("postgres/finish_staging.sql", **names))
        conn.commit()
    except BaseException:
        for c in [conn, *extra]:
            _quietly(c.rollback)
        if committed:  # take it away again
            _quietly(lambda: (conn.execute(render("postgres/drop_staging.sql", staging_table=staging_table)), conn.commit()))
        raise
    finally:
        if opening is not None and not extra:  # failed before they were used: wait, then close them
            extra = _result_or_nothing(opening)
        for other in extra:
            _quietly(other.close)
    staged = StagedMonth(staging_table, rows, stream.progress.compressed_bytes, stream.progress.sha256, started_at,
                         time.monotonic() - started, not reload)
    log.info(
        "%s: staged %s rows (%.1f MB compressed) into %s in %.1f s, %s rows/s, %d COPY stream(s)%s",
        run["label"], f"{rows:,}", staged.compressed_bytes / 1e6, staging_table, staged.seconds,
        f"{rows / max(staged.seconds, 1e-9):,.0f}", streams, " (month loaded before: compare only)" if reload else "",
    )
    return staged


def _copy(stream, conns: list, sql: str) -> int:
    """COPY ``stream`` through one stream per connection; the rows copied, or the first stream's error."""
    import psycopg

    binary = stream.copy_format == "binary"
    copies = [_CopyStream(c, sql, first_line=stream.first_line, header=stream.header if binary else b"",
                          trailer=stream.trailer if binary else b"") for c in conns]
    for copy in copies:
        copy.start()
    try:
        _deal_out(stream, copies)
    except BaseException:
        _finish(copies, abort=True)
        raise
    _finish(copies)
    failed = next((c for c in copies if c.error), None)
    if failed is not None:
        if isinstance(failed.error, psycopg.errors.DataError):  # bad values, field counts, cut lines
            raise BadSourceFile(copy_error_message(failed.error, stream.file_name, failed.file_line, stream.columns)) from failed.error
        raise failed.error
    return sum(c.rows for c in copies)


def _finish(copies: list[_CopyStream], abort: bool = False) -> None:
    """End every stream's COPY (``abort``: make them fail) and wait for their threads."""
    for copy in copies:
        for marker in ([_ABORT] if abort else []) + [None]:  # a failed stream drains to its None
            copy.pieces.put(marker)
    for copy in copies:
        copy.thread.join()


def _result_or_nothing(future: Future) -> list:
    try:
        return future.result()
    except Exception:  # the load's own error is the one to report
        return []


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except Exception as exc:  # the original error matters more
        log.warning("cleanup step failed: %s", exc)
