"""A load's audit row: its columns, which both targets render their table and INSERT from, and its
values, which both targets' merge steps build here.

Postgres: ``ny_taxi_audit.loads``, written in the merge's transaction (postgres/steps.py).
BigQuery: ``{dataset}.ny_taxi_loads``, the job right after the MERGE (gcp/operators.py says why).
Each table also has ``load_id`` (Postgres: an identity; BigQuery: a uuid) and ``quality`` (JSON,
set by check_quality).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from taxi_pipeline.run import Attempt, DownloadedFile, MonthRun
from taxi_pipeline.specs import Column

AUDIT_COLUMNS: tuple[Column, ...] = (
    Column("dag_id", "text", "STRING"),
    Column("run_id", "text", "STRING"),
    Column("try_number", "integer", "INT64"),
    Column("taxi", "text", "STRING"),
    Column("month", "date", "DATE"),
    Column("filename", "text", "STRING"),
    Column("source_url", "text", "STRING", "the file's URL, without credentials or query"),
    Column("compressed_bytes", "bigint", "INT64", "the file's bytes as downloaded"),
    Column("sha256", "text", "STRING", "of the file as downloaded, taken on the stream"),
    Column("rows_in_file", "bigint", "INT64"),
    Column("inserted_rows", "bigint", "INT64"),
    Column("skipped_rows", "bigint", "INT64", "their unique_row_id was in the table already"),
    Column("placement", "text", "STRING", "attached, inserted or unchanged (Postgres); merged (BigQuery)"),
    Column("started_at", "timestamptz", "TIMESTAMP", "when the month's load began"),
    Column("finished_at", "timestamptz", "TIMESTAMP", "when its merge was done"),
    Column("seconds", "double precision", "FLOAT64"),
)


def load_values(attempt: Attempt, run: MonthRun, downloaded: DownloadedFile, *, rows_in_file: int, inserted_rows: int,
                placement: str) -> dict[str, Any]:
    """The row of :data:`AUDIT_COLUMNS` for this load; ``downloaded``: the load step's facts of the
    file (``source_url``, ``compressed_bytes``, ``sha256``, ``started_at`` as ISO 8601)."""
    started, finished = datetime.fromisoformat(downloaded["started_at"]), datetime.now(timezone.utc)
    return {
        **attempt, "taxi": run["taxi"], "month": date(run["year"], run["month"], 1), "filename": run["filename"],
        "source_url": downloaded["source_url"], "compressed_bytes": downloaded["compressed_bytes"],
        "sha256": downloaded["sha256"], "rows_in_file": rows_in_file, "inserted_rows": inserted_rows,
        "skipped_rows": rows_in_file - inserted_rows, "placement": placement, "started_at": started,
        "finished_at": finished, "seconds": (finished - started).total_seconds(),
    }
