"""What each Postgres task does, as plain functions of the spec, the run and the settings.

The DAG's tasks (tasks.py) call these, and so does ``make bench``: both run exactly this code.
Every step opens its own connection through the ``ny_taxi_postgres`` Airflow connection.
"""

from __future__ import annotations

import hashlib
import logging
from taxi_pipeline.audit import AUDIT_COLUMNS, load_values
from taxi_pipeline.extract.releases import LocatedFile, public_url
from taxi_pipeline.run import Attempt, Merged, MonthRun, Staged, run_month
from taxi_pipeline.settings import AUDIT_SCHEMA, POSTGRES_CONN_ID, STAGING_SCHEMA, Settings
from taxi_pipeline.specs import TaxiSpec
from taxi_pipeline.sql_templates import render

log = logging.getLogger(__name__)


def ensure_tables_sql(spec: TaxiSpec) -> str:
    """The idempotent DDL for ``spec``'s table, rendered from the spec alone."""
    return render("postgres/create_tables.sql", taxi=spec, staging_schema=STAGING_SCHEMA, audit_schema=AUDIT_SCHEMA,
                  audit_columns=AUDIT_COLUMNS)


def _hook():
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=POSTGRES_CONN_ID)


def _connect():
    return _hook().get_conn()


def ensure_tables(conn, spec: TaxiSpec) -> None:
    """Create the main table, its index and functions if missing, on ``conn``, and commit.

    The DDL ends by marking the table with a digest of itself; while the mark and the objects are
    there, one catalog read replaces the DDL (it cost ~0.15 s a month). Part of load_staging, on its
    connection, rather than a task of its own: that was one more task turn per month and one more
    connection (a SCRAM handshake, ~14 ms) for a catalog read. Rendered when the task runs, by the
    one renderer all SQL goes through (rendering it when the DAG is built made every parse of
    dags/postgres_taxi.py compile its templates: 0.10 of 0.32 s under cProfile).
    """
    ddl = ensure_tables_sql(spec)
    marker = f"NYC TLC {spec.taxi} trips, one partition per monthly file (ny_taxi DDL {hashlib.md5(ddl.encode()).hexdigest()[:12]})"
    names = {"taxi": spec, "staging_schema": STAGING_SCHEMA, "audit_schema": AUDIT_SCHEMA, "marker": marker}
    if conn.execute(render("postgres/tables_current.sql", **names), {"marker": marker}).fetchone()[0]:
        log.info("public.%s and its functions are up to date", spec.table)
    else:  # no parameters: one simple-protocol query, the DDL's statements in one transaction
        conn.execute(ddl + render("postgres/mark_tables.sql", **names))
        log.info("created or updated public.%s, its strays index and functions (%s)", spec.table, marker)
    conn.commit()


def load_staging(spec: TaxiSpec, run: MonthRun, located: LocatedFile, settings: Settings) -> Staged:
    """Make sure the tables exist, sweep stale staging tables, then stream the month's file
    (``located``: csv.gz or parquet) into this run's staging table (COPY, one transaction)."""
    from taxi_pipeline.postgres.load import load_month, opening_month

    with opening_month(located, spec, run_month(run), read_timeout=settings.http_read_timeout) as source:
        conn = _connect()
        try:
            ensure_tables(conn, spec)
            _sweep_stale_staging(conn, spec, settings)
            staged = load_month(conn, spec, run, source, streams=settings.copy_streams)
        finally:
            conn.close()
    return Staged(rows=staged.rows, compressed_bytes=staged.compressed_bytes, sha256=staged.sha256,
                  source_url=public_url(located["url"]), started_at=staged.started_at, with_ids=staged.with_ids)


def _sweep_stale_staging(conn, spec: TaxiSpec, settings: Settings) -> list[str]:
    """Drop the staging tables of ``spec``'s type older than the TTL (left by runs killed before
    their teardown could run); returns their names."""
    stale = [name for (name,) in conn.execute(render("postgres/stale_staging.sql"), {
        "schema": STAGING_SCHEMA, "taxi": spec.taxi, "ttl_seconds": int(settings.staging_ttl.total_seconds()),
    })]
    for name in stale:
        log.warning("dropping stale staging table %s (older than %s)", name, settings.staging_ttl)
        conn.execute(render("postgres/drop_staging.sql", staging_table=name))
    conn.commit()
    return stale


def hash_merge(spec: TaxiSpec, run: MonthRun, staged: Staged, attempt: Attempt) -> Merged:
    """Merge the staged month into the main table (merge.py) and write the load's audit row, in one
    transaction; log rows staged, inserted, skipped."""
    from taxi_pipeline.postgres.merge import merge_month

    conn = _connect()
    try:
        with conn.transaction():
            result = merge_month(conn, spec, run, staged["rows"], staged_with_ids=staged["with_ids"])
            audit = load_values(attempt, run, staged, rows_in_file=result.staged_rows,
                                inserted_rows=result.inserted_rows, placement=result.placement)
            sql = render("postgres/audit/record_load.sql", audit_schema=AUDIT_SCHEMA, audit_columns=AUDIT_COLUMNS)
            load_id = conn.execute(sql, audit).fetchone()[0]
    finally:
        conn.close()
    log.info(
        "%s: %s rows in the file, %s inserted, %s skipped (unique_row_id already in public.%s), merged in %.2f s",
        run["label"], f"{result.staged_rows:,}", f"{result.inserted_rows:,}", f"{result.skipped_rows:,}",
        spec.table, result.seconds,
    )
    return Merged(staged_rows=result.staged_rows, inserted_rows=result.inserted_rows,
                  skipped_rows=result.skipped_rows, placement=result.placement, load_id=load_id)


def drop_staging(spec: TaxiSpec, run: MonthRun, merged: Merged | None) -> None:
    """Teardown: drop this run's staging table, unless hash_merge disposed of it.

    ``merged`` is hash_merge's result, None when the merge failed or never ran: a merge that
    commits has attached the staging table as the month's partition or dropped it in its own
    transaction, so after one there is nothing left to drop and no connection is opened.
    """
    if merged is not None:
        log.info("%s: nothing to drop: hash_merge's commit attached or dropped the staging table (%s)",
                 run["label"], merged["placement"])
        return
    conn = _connect()
    conn.autocommit = True
    try:
        conn.execute(render("postgres/drop_staging.sql", staging_table=run["staging_table"]))
    finally:
        conn.close()
    log.info("%s: dropped %s", run["label"], run["staging_table"])
