"""Load: stream one month from the source into this run's Postgres staging table with COPY.

The staging table is created, filled and analyzed in one transaction, so a failed attempt (bad
file, broken download, killed worker) leaves nothing behind and a retry starts clean. The main
table is not touched here: the merge step moves rows in its own single transaction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from taxi_pipeline.months import Month
from taxi_pipeline.source import CHUNK_BYTES, BadSourceFile, open_month_csv
from taxi_pipeline.specs import TaxiSpec
from taxi_pipeline.sql_templates import render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagedMonth:
    staging_table: str
    rows: int
    compressed_bytes: int
    seconds: float


def copy_error_message(exc: Exception, filename: str) -> str:
    """Turn a COPY error into one line naming the file, the line (counting the header) and the column."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).splitlines()[0]
    context = getattr(diag, "context", None) or ""
    # Postgres says e.g. 'COPY green_2019_01_x, line 7, column fare_amount: "abc"'. COPY numbers the
    # data lines it received; the file has the header before them, hence + 1.
    where = ""
    first_context_line = context.splitlines()[0] if context else ""
    if ", line " in first_context_line:
        detail = first_context_line.split(", line ", 1)[1]
        number, _, rest = detail.partition(",")
        number = number.split(":")[0].strip()
        if number.isdigit():
            where = f", line {int(number) + 1}"
        if "column " in rest:
            where += f", {rest.strip()}"
    return f"{filename}{where}: {primary}"


def load_month(conn, spec: TaxiSpec, month: Month, url: str, staging_table: str) -> StagedMonth:
    """Create ``staging_table`` and COPY the month's CSV into it, all in one transaction.

    ``conn`` is a psycopg 3 connection (what ``PostgresHook.get_conn()`` returns with
    SQLAlchemy 2); it is committed on success and rolled back on any error. psycopg's COPY writer
    sends on its own thread, so gunzip (here) and CSV parsing (the server) use both cores.
    """
    import psycopg

    run = {"staging_table": staging_table}
    filename = spec.filename(month.year, month.month) + ".gz"
    started = time.monotonic()
    try:
        with conn.cursor() as cursor:
            cursor.execute(render("postgres/create_staging.sql", taxi=spec, run=run))
            with open_month_csv(url, spec, month) as stream:
                try:
                    with cursor.copy(render("postgres/copy_staging.sql", taxi=spec, run=run)) as copy:
                        while chunk := stream.read(CHUNK_BYTES):
                            copy.write(chunk)
                except psycopg.errors.DataError as exc:  # bad values, wrong field counts, cut lines
                    raise BadSourceFile(copy_error_message(exc, filename)) from exc
                rows = cursor.rowcount
            # Fresh statistics let the merge plan an index anti-join instead of guessing.
            cursor.execute(f"ANALYZE {staging_table}")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    staged = StagedMonth(staging_table, rows, stream.progress.compressed_bytes, time.monotonic() - started)
    log.info(
        "%s %s: staged %s rows (%.1f MB compressed) into %s in %.1f s, %s rows/s",
        spec.taxi, month, f"{rows:,}", staged.compressed_bytes / 1e6, staging_table, staged.seconds,
        f"{rows / max(staged.seconds, 1e-9):,.0f}",
    )
    return staged
