"""The first task of every run decides which month it loads, before any network or SQL; and the
shapes every task hands the next.

:class:`MonthRun` is the one shape a run's facts travel in: built by ``wait_for_file`` (factory.MonthResolver) from the
validated month and the spec, then handed to every later task as an argument (an XComArg). No
later step builds an identifier from user input. The tasks' own results (:class:`Staged`,
:class:`Uploaded`, :class:`MergePlan`, :class:`Merged`, :class:`QualityVerdict`) are declared
here too, beside it: one place says what crosses each task boundary, for both targets."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime
from typing import Any, Mapping, NotRequired, TypedDict

from taxi_pipeline.months import DATED_RUN_TYPES, Month, ParamError, Window, resolve_month
from taxi_pipeline.extract.releases import LocatedFile, release
from taxi_pipeline.settings import STAGING_SCHEMA
from taxi_pipeline.specs import TaxiSpec

log = logging.getLogger(__name__)


class MonthRun(TypedDict):
    """What a run loads and where; plain JSON, so it crosses task boundaries as an XCom."""

    taxi: str
    year: int
    month: int
    label: str  # "green 2019-03", the prefix of every log line about the month
    origin: str  # "params", "logical date" or "latest" (a manual run that asked for no month)
    filename: str  # the course's filename value (both sources), and the month's partition key
    source: str  # "dtc", "tlc" or "mirror <base>"
    candidates: list[LocatedFile]  # where the month's file may appear (wait_for_file looks there)
    staging_table: str  # taxi_staging.<taxi>_<yyyy>_<mm>_<run key>_<epoch>: this run's alone
    partition: str  # public.<taxi>_tripdata_<yyyy>_<mm>: the month's partition of the main table
    object_name: str  # GCP: the lake object, <taxi>/<filename>.gz
    monthly_table: str  # GCP: the month's BigQuery table, <taxi>_tripdata_<yyyy>_<mm>


class Attempt(TypedDict):
    """Which task attempt did a load: the audit row's dag_id, run_id and try_number."""

    dag_id: str
    run_id: str
    try_number: int


class DownloadedFile(TypedDict):
    """The month's file as downloaded, for the audit row (audit.load_values): both targets' load step reports it."""

    source_url: str  # without credentials or query
    compressed_bytes: int
    sha256: str  # of the file as downloaded, taken on the stream
    started_at: str  # ISO 8601, UTC: when the month's load began


class Staged(DownloadedFile):
    """Postgres ``load_staging``'s result: the month is in this run's staging table."""

    rows: int
    with_ids: bool  # a first load's staging: ids computed, shaped to become the month's partition


class Uploaded(DownloadedFile):
    """GCP ``upload_to_gcs``'s result: the lake object and how ``load_monthly_table`` loads it."""

    uri: str  # gs://<bucket>/<object_name>
    object_name: str
    bytes: int  # of the lake object
    rows: int
    monthly_table: str  # <project>.<dataset>.<taxi>_tripdata_<yyyy>_<mm>
    columns: list[str]  # the file's, in its order
    schema_fields: list[dict[str, str]]  # the monthly table's BigQuery schema
    source_format: str  # CSV or PARQUET
    compression: str  # GZIP or NONE
    skip_leading_rows: int | None


class MergePlan(TypedDict):
    """GCP ``find_partitions``'s result: the rows the monthly table holds and the MERGE job to run."""

    rows: int
    merge_job: dict[str, Any]  # a BigQuery job configuration (gcp/tasks.py query_job)


class Merged(TypedDict):
    """``hash_merge``'s result (both targets): what the merge did, and its audit row."""

    staged_rows: int
    inserted_rows: int
    skipped_rows: int  # their unique_row_id was in the table already
    placement: str  # Postgres: attached, inserted or unchanged; BigQuery: merged
    load_id: int | str  # the audit row's: Postgres an identity, BigQuery a uuid
    job_id: NotRequired[str]  # BigQuery: the MERGE job


class QualityVerdict(TypedDict):
    """``check_quality``'s result: the month's verdict (ok, warn or fail) and its one-line summary."""

    verdict: str
    summary: str


def current_attempt() -> Attempt:
    """The running task's attempt (inside a task only)."""
    from airflow.sdk import get_current_context

    context = get_current_context()
    return Attempt(dag_id=context["dag_run"].dag_id, run_id=context["dag_run"].run_id,
                   try_number=context["ti"].try_number)


def run_month(run: MonthRun) -> Month:
    return Month(run["year"], run["month"])


def staging_table_name(spec: TaxiSpec, month: Month, dag_id: str, run_id: str, created: int | None = None) -> str:
    """A staging table per run: parallel months, and two runs of one month, never share one.

    The name ends with its creation time (epoch seconds) so a later run can sweep staging that a
    killed or abandoned run left behind, without asking Airflow which runs are still alive.
    """
    run_key = hashlib.sha1(f"{dag_id}/{run_id}".encode()).hexdigest()[:10]
    created = int(time.time()) if created is None else created
    return f"{STAGING_SCHEMA}.{spec.taxi}_{month.year:04d}_{month.month:02d}_{run_key}_{created}"


def describe_run(
    spec: TaxiSpec,
    window: Window,
    requested: Mapping[str, Any],
    logical_date: datetime | None,
    source: str,
    *,
    dag_id: str,
    run_id: str,
    run_type: str = "manual",
    source_setting: str = "source",
) -> MonthRun:
    """``requested``: the run's conf; ``source``: dtc, tlc or a mirror, as named by ``source_setting``
    (named in errors). Which month, from which of them: :func:`taxi_pipeline.months.resolve_month`."""
    month, origin = resolve_month(requested, logical_date, window, run_type=run_type)
    if run_type in DATED_RUN_TYPES and {"year", "month"} & {k for k, v in requested.items() if v is not None}:
        log.warning("A %s run loads its logical date's month %s: conf year/month (%s/%s) are for manual runs",
                    run_type, month, requested.get("year"), requested.get("month"))
    chosen = release(source, setting=source_setting)
    published = chosen.window(spec)
    if chosen.name != "mirror" and month not in published:  # a mirror holds what it holds
        why = chosen.why_outside(spec)
        raise ParamError(f"{source_setting}: {chosen.name} publishes {spec.taxi} {published.first}..{published.last}, "
                         f"not {month}{f' ({why})' if why else ''}")
    filename = spec.filename(month.year, month.month)
    suffix = f"{month.year:04d}_{month.month:02d}"
    run = MonthRun(
        taxi=spec.taxi,
        year=month.year,
        month=month.month,
        label=f"{spec.taxi} {month}",
        origin=origin,
        filename=filename,
        source=chosen.name if chosen.name != "mirror" else f"mirror {chosen.base}",
        candidates=chosen.candidates(spec, month),
        staging_table=staging_table_name(spec, month, dag_id, run_id),
        partition=f"public.{spec.table}_{suffix}",
        object_name=f"{spec.taxi}/{filename}.gz",
        monthly_table=f"{spec.table}_{suffix}",
    )
    log.info("This run loads %s (from %s) from %s: %s", run["label"], origin, run["source"],
             " or ".join(c["url"] for c in run["candidates"]))
    return run
