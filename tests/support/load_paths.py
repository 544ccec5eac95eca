"""Ways of getting a month into Postgres, each in its own database: the DAG's own steps and the
course's Kestra SQL. The semantics test compares them row for row; ``make bench`` times them
(benchmarks/load_paths.py adds its floor and the simple indexed design).

* :class:`Ours` -- the DAG's tasks, as they run them: the very functions the load_staging,
  hash_merge and drop_staging tasks call (taxi_pipeline.postgres.steps).
* :class:`Kestra` -- the course's flow (04_postgres_taxi.yaml), statement by statement, each in its
  own transaction as Kestra's tasks run them: one staging table, TRUNCATE, COPY, UPDATE ... SET
  unique_row_id = md5(...), filename = ..., MERGE into the unindexed main table.

Every path reads the month through the project's streaming reader, so the gunzip costs the same
everywhere and only what happens in Postgres differs.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import jinja2

from taxi_pipeline.months import Month, Window
from taxi_pipeline.run import MonthRun
from taxi_pipeline.settings import Settings
from taxi_pipeline.extract.csv_gz import open_month_csv
from taxi_pipeline.extract.fetch import CHUNK_BYTES
from taxi_pipeline.specs import TaxiSpec

_KESTRA = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "kestra_sql")), undefined=jinja2.StrictUndefined
)
_run_ids = itertools.count(1)


@dataclass(frozen=True)
class SourceMonth:
    """One monthly file in a release-layout directory: what a load path loads (a DAG source base + month)."""

    spec: TaxiSpec
    month: Month
    path: Path
    root: Path  # the release-layout directory the path is in: the DAG's source base

    @property
    def label(self) -> str:
        return f"{self.spec.taxi} {self.month}"

    @property
    def filename(self) -> str:
        return self.spec.filename(self.month.year, self.month.month)


@dataclass(frozen=True)
class Loaded:
    rows: int  # data lines the COPY read
    inserted: int  # rows the main table gained


def copy_month(conn, sql: str, month: SourceMonth) -> int:
    """COPY the month's CSV data through the project's streaming reader; returns the rows copied."""
    with conn.cursor() as cursor:
        with open_month_csv(str(month.path), month.spec, month.month, read_timeout=60) as stream:
            with cursor.copy(sql) as copy:
                while chunk := stream.read(CHUNK_BYTES):
                    copy.write(chunk)
        return cursor.rowcount


class SessionServer:
    """The test session's Postgres (tests/conftest.py) seen through the interface load paths use.

    ``login``: "user:password" instead of the course's root:root, for the DAG's connection.
    """

    def __init__(self, pg_server, login: str | None = None) -> None:
        self.pg, self.login = pg_server, login

    def uri(self, database: str) -> str:
        uri = self.pg.uri(database)
        return uri.replace("root:root", self.login) if self.login else uri

    def connect(self, database: str, autocommit: bool = True):
        import psycopg

        return psycopg.connect(self.pg.uri(database), autocommit=autocommit)

    def recreate(self, database: str) -> None:
        self.pg.run("dropdb", database)
        self.pg.run("createdb", database)


class LoadPath:
    """One way of loading a month into its own database: reset, prepare (untimed), load (timed).

    ``server`` has ``uri(database)``, ``connect(database, autocommit)`` and ``recreate(database)``.
    """

    name = ""

    def __init__(self, server, database: str) -> None:
        self.server, self.database = server, database

    def reset(self) -> None:
        self.server.recreate(self.database)

    def prepare(self, month: SourceMonth) -> None:
        """Untimed work before each timed load (nothing by default)."""

    def remove(self, month: SourceMonth) -> None:
        """Take the month out again, so the next load of it is a first load."""
        raise NotImplementedError

    def load(self, month: SourceMonth) -> Loaded:
        raise NotImplementedError


class Ours(LoadPath):
    """The DAG's steps. The month's own window: any month loads, whatever the deployment's is."""

    def __init__(self, server, database: str, streams: int | None = None) -> None:
        super().__init__(server, database)
        self.streams = streams
        self.name = "ours" if streams is None else f"ours, {streams} COPY stream{'s' if streams > 1 else ''}"
        overrides = {} if streams is None else {"copy_streams": streams}
        self.settings = Settings.from_env(**overrides)

    def remove(self, month: SourceMonth) -> None:
        with self.server.connect(self.database) as conn:
            conn.execute(f"DROP TABLE IF EXISTS public.{month.spec.table}_{month.month.year:04d}_{month.month.month:02d}")

    def describe(self, month: SourceMonth) -> MonthRun:
        """resolve_month's result for this month, pointing the DAG's connection at this database."""
        from taxi_pipeline.run import describe_run
        from taxi_pipeline.settings import POSTGRES_CONN_ID

        os.environ[f"AIRFLOW_CONN_{POSTGRES_CONN_ID.upper()}"] = self.server.uri(self.database)
        self.run_id = f"bench__{next(_run_ids)}"
        return describe_run(month.spec, Window(month.month, month.month), {}, month.month.first_moment(),
                            str(month.root), dag_id=f"postgres_taxi_{month.spec.taxi}", run_id=self.run_id)

    def attempt(self, run: MonthRun):
        """The audit row's attempt: the run id ``describe`` made up."""
        from taxi_pipeline.run import Attempt

        return Attempt(dag_id=f"postgres_taxi_{run['taxi']}", run_id=self.run_id, try_number=1)

    @staticmethod
    def locate(run: MonthRun):
        """wait_for_file's answer: the month's file in the mirror (it is there)."""
        from taxi_pipeline.extract.releases import locate

        return locate(run["candidates"], run["label"], read_timeout=60)

    def load(self, month: SourceMonth) -> Loaded:
        from taxi_pipeline.postgres import steps

        spec, run = month.spec, self.describe(month)
        staged = steps.load_staging(spec, run, self.locate(run), self.settings)
        merged = steps.hash_merge(spec, run, staged, self.attempt(run))
        steps.drop_staging(spec, run, merged)
        return Loaded(staged["rows"], merged["inserted_rows"])


class Kestra(LoadPath):
    name = "course (Kestra SQL)"

    def remove(self, month: SourceMonth) -> None:
        with self.server.connect(self.database) as conn:
            conn.execute(f"DELETE FROM public.{month.spec.table} WHERE filename = %s", (month.filename,))
            conn.execute(f"VACUUM public.{month.spec.table}")

    def load(self, month: SourceMonth) -> Loaded:
        names = {"taxi": month.spec, "table": f"public.{month.spec.table}",
                 "staging": f"public.{month.spec.table}_staging", "file": month.filename}

        def sql(template: str) -> str:
            return _KESTRA.get_template(template).render(**names)

        with self.server.connect(self.database) as conn:  # autocommit: one transaction per task
            conn.execute(sql("create_table.sql"))  # {taxi}_create_table
            conn.execute(_KESTRA.get_template("create_table.sql").render(**{**names, "table": names["staging"]}))
            conn.execute(sql("truncate_staging.sql"))
            with conn.transaction():
                rows = copy_month(conn, sql("copy_in.sql"), month)
            conn.execute(sql("add_unique_id_and_filename.sql"))
            inserted = conn.execute(sql("merge_data.sql")).rowcount
        return Loaded(rows, inserted)
