"""The three ways of getting a month into Postgres that the benchmark compares, each in its own database.

* :class:`Floor` -- a plain COPY of the gunzipped stream into a logged table with no index: what
  loading the file costs at the very least.
* :class:`Ours` -- the DAG's tasks, as they run them: ensure_tables (create_tables.sql), load_staging
  (``load_month`` on ``PostgresHook.get_conn()``), hash_merge (merge.sql through ``PostgresHook.run``,
  one transaction, split like SQLExecuteQueryOperator does) and drop_staging. Templates are rendered
  with the DAG's macros and the XComs the earlier tasks would have pushed.
* :class:`Kestra` -- the course's flow (04_postgres_taxi.yaml), statement by statement, each in its
  own transaction as Kestra's tasks run them: one staging table, TRUNCATE, COPY, UPDATE ... SET
  unique_row_id = md5(...), filename = ..., MERGE into the unindexed main table.

All three read the month through the same streaming reader (taxi_pipeline.source.open_month_csv),
so the gunzip costs the same everywhere and only what happens in Postgres differs.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any

import jinja2

from benchmarks.common import BENCH_DIR, BenchPostgres
from benchmarks.data import MonthFile
from taxi_pipeline.months import Window
from taxi_pipeline.settings import POSTGRES_CONN_ID, STAGING_SCHEMA, Settings
from taxi_pipeline.postgres_load import COPY_STREAMS_ENV
from taxi_pipeline.source import CHUNK_BYTES, open_month_csv
from taxi_pipeline.sql_templates import render

_KESTRA = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(BENCH_DIR / "sql" / "kestra")), undefined=jinja2.StrictUndefined
)
_run_ids = itertools.count(1)
_DEPLOYED_STREAMS = os.environ.get(COPY_STREAMS_ENV)  # "ours" runs with whatever the environment says


@dataclass(frozen=True)
class Loaded:
    rows: int  # data lines the COPY read
    inserted: int  # rows the main table gained


def _copy(conn, sql: str, month: MonthFile) -> int:
    """COPY the month's CSV data through the project's streaming reader; returns the rows copied."""
    with conn.cursor() as cursor:
        with open_month_csv(str(month.path), month.spec, month.month) as stream:
            with cursor.copy(sql) as copy:
                while chunk := stream.read(CHUNK_BYTES):
                    copy.write(chunk)
        return cursor.rowcount


class LoadPath:
    """One way of loading a month into its own database: reset, prepare (untimed), load (timed)."""

    name = ""

    def __init__(self, server: BenchPostgres, database: str) -> None:
        self.server, self.database = server, database

    def reset(self) -> None:
        self.server.recreate(self.database)

    def prepare(self, month: MonthFile) -> None:
        """Untimed work before each timed load (nothing by default)."""

    def load(self, month: MonthFile) -> Loaded:
        raise NotImplementedError


class Floor(LoadPath):
    name = "COPY floor"

    def prepare(self, month: MonthFile) -> None:
        columns = ",\n".join(f"{c.name} {c.postgres_type}" for c in month.spec.columns)
        with self.server.connect(self.database) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS floor_{month.spec.taxi} ({columns})")
            conn.execute(f"TRUNCATE floor_{month.spec.taxi}")

    def load(self, month: MonthFile) -> Loaded:
        with self.server.connect(self.database, autocommit=False) as conn:
            rows = _copy(conn, f"COPY floor_{month.spec.taxi} ({', '.join(month.spec.column_names)}) "
                               "FROM STDIN WITH (FORMAT csv)", month)
            conn.commit()
        return Loaded(rows, rows)


class _Ti:
    """The slice of a TaskInstance the templates use: ``xcom_pull(task_ids=...)``."""

    def __init__(self, xcoms: dict[str, Any]) -> None:
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str) -> Any:
        return self.xcoms[task_ids]


class Ours(LoadPath):
    def __init__(self, server: BenchPostgres, database: str, streams: int | None = None) -> None:
        super().__init__(server, database)
        self.streams = streams
        self.name = "ours" if streams is None else f"ours, {streams} COPY stream{'s' if streams > 1 else ''}"
        self.window = Window.from_env({})
        self.settings = Settings.from_env()

    def remove(self, month: MonthFile) -> None:
        """Take the month out again (its partition), so the next first load is a first load."""
        with self.server.connect(self.database) as conn:
            conn.execute(f"DROP TABLE IF EXISTS public.{month.spec.table}_{month.month.year:04d}_{month.month.month:02d}")

    def load(self, month: MonthFile) -> Loaded:
        from airflow.providers.common.sql.hooks.handlers import fetch_all_handler
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from taxi_pipeline.postgres_load import load_month
        from taxi_pipeline.run_info import describe_run

        os.environ["AIRFLOW_CONN_NY_TAXI_POSTGRES"] = self.server.uri(self.database)
        streams = self.streams or _DEPLOYED_STREAMS
        if streams is None:
            os.environ.pop(COPY_STREAMS_ENV, None)
        else:
            os.environ[COPY_STREAMS_ENV] = str(streams)
        spec = month.spec
        run = describe_run(
            spec, self.window, {"year": month.month.year, "month": month.month.month}, None, str(month.root),
            dag_id=f"postgres_taxi_{spec.taxi}", run_id=f"bench__{next(_run_ids)}", staging_schema=STAGING_SCHEMA,
        )
        ti = _Ti({"resolve_month": run})
        macros = {"taxi": spec, "staging_schema": STAGING_SCHEMA, "ti": ti,
                  "staging_ttl_seconds": int(self.settings.staging_ttl.total_seconds())}
        hook = PostgresHook(postgres_conn_id=POSTGRES_CONN_ID)
        hook.log.disabled = True  # it logs every statement
        hook.run(render("postgres/create_tables.sql", **macros), split_statements=True)  # ensure_tables
        conn = hook.get_conn()  # load_staging
        try:
            staged = load_month(conn, spec, month.month, run["url"], run["staging_table"])
        finally:
            conn.close()
        ti.xcoms["load_staging"] = {"staged_rows": staged.rows, "compressed_bytes": staged.compressed_bytes}
        merged = hook.run(render("postgres/merge.sql", **macros), split_statements=True,  # hash_merge
                          handler=fetch_all_handler, return_last=True)
        hook.run(render("postgres/drop_staging.sql", **macros))  # drop_staging
        return Loaded(staged.rows, int(merged[0][0]))


class Kestra(LoadPath):
    name = "course (Kestra SQL)"

    def remove(self, month: MonthFile) -> None:
        with self.server.connect(self.database) as conn:
            conn.execute(f"DELETE FROM public.{month.spec.table} WHERE filename = %s", (month.filename,))
            conn.execute(f"VACUUM public.{month.spec.table}")

    def load(self, month: MonthFile) -> Loaded:
        names = {"taxi": month.spec, "table": f"public.{month.spec.table}",
                 "staging": f"public.{month.spec.table}_staging", "file": month.filename}

        def sql(template: str) -> str:
            return _KESTRA.get_template(template).render(**names)

        with self.server.connect(self.database) as conn:  # autocommit: one transaction per task
            conn.execute(sql("create_table.sql"))  # {taxi}_create_table
            conn.execute(_KESTRA.get_template("create_table.sql").render(**{**names, "table": names["staging"]}))
            conn.execute(sql("truncate_staging.sql"))
            with conn.transaction():
                rows = _copy(conn, sql("copy_in.sql"), month)
            conn.execute(sql("add_unique_id_and_filename.sql"))
            inserted = conn.execute(sql("merge_data.sql")).rowcount
        return Loaded(rows, inserted)
