"""The ways of getting a month into Postgres that the benchmark compares, each in its own database.

* :class:`Floor` -- a plain COPY of the gunzipped stream into a logged table with no index: what
  loading the file costs at the very least.
* :class:`ParquetFloor` -- the same for a parquet month: its record batches, cast and encoded as
  our path does (extract/parquet.py's ParquetBinaryStream), in one binary COPY into a table with
  no index and no ids.
* :class:`Ours` and :class:`Kestra` (tests/support/load_paths.py) -- the DAG's own steps, and the
  course's flow statement by statement.
* :class:`Indexed` -- the simple design the partitioned one replaced: one unpartitioned table with
  a btree index on ``unique_row_id`` and ``INSERT ... WHERE NOT EXISTS``. It stages exactly as ours
  does (the DAG's own load_staging, two COPY streams, ids computed by COPY), so the two differ only
  in the merge and the table's shape.
* :class:`Pandas` -- what the pipelines users pick instead do (the course's 2022 Airflow DAG, the
  Prefect and Dagster ones): pandas ``read_csv(chunksize=100_000)``, then ``to_sql(if_exists=
  "append")`` per chunk, through SQLAlchemy. No ids, no dedup.
"""

from __future__ import annotations

from benchmarks.common import BenchPostgres
from tests.support.load_paths import Kestra, Loaded, LoadPath, SourceMonth, Ours, copy_month

__all__ = ["Floor", "Indexed", "Kestra", "Loaded", "LoadPath", "Ours", "Pandas", "ParquetFloor"]


class Floor(LoadPath):
    name = "COPY floor"

    def prepare(self, month: SourceMonth) -> None:
        columns = ",\n".join(f"{c.name} {c.postgres_type}" for c in month.spec.columns)
        with self.server.connect(self.database) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS floor_{month.spec.taxi} ({columns})")
            conn.execute(f"TRUNCATE floor_{month.spec.taxi}")

    def load(self, month: SourceMonth) -> Loaded:
        with self.server.connect(self.database, autocommit=False) as conn:
            rows = copy_month(conn, f"COPY floor_{month.spec.taxi} ({', '.join(month.spec.dtc_columns)}) "
                                    "FROM STDIN WITH (FORMAT csv)", month)
            conn.commit()
        return Loaded(rows, rows)


class ParquetFloor(Floor):
    name = "binary COPY floor"

    def remove(self, month: SourceMonth) -> None:
        self.prepare(month)  # an empty table again (untimed)

    def load(self, month: SourceMonth) -> Loaded:
        import pyarrow.parquet as pq

        from taxi_pipeline.extract.columns import file_columns
        from taxi_pipeline.extract.fetch import Progress
        from taxi_pipeline.extract.parquet import ParquetBinaryStream

        parquet = pq.ParquetFile(month.path, buffer_size=1 << 16, pre_buffer=False)  # as spool_parquet opens it
        columns = file_columns(parquet.schema_arrow.names, month.spec, month.path.name, unknown="warn")
        stream = ParquetBinaryStream(parquet, columns, month.spec, month.path.name, Progress(month.label, None, header_lines=0))
        with self.server.connect(self.database, autocommit=False) as conn, conn.cursor() as cursor:
            with cursor.copy(f"COPY floor_{month.spec.taxi} ({', '.join(stream.columns)}) FROM STDIN WITH (FORMAT binary)") as copy:
                copy.write(stream.header)
                while data := stream.read():
                    copy.write(data)
                copy.write(stream.trailer)
            rows = cursor.rowcount
            conn.commit()
        return Loaded(rows, rows)


class Indexed(Ours):
    """Same staging as ours; then ``indexed.<taxi>_tripdata`` (id index) takes the new rows."""

    def __init__(self, server: BenchPostgres, database: str) -> None:
        super().__init__(server, database)
        self.name = "simple (id index + INSERT WHERE NOT EXISTS)"

    def table(self, month: SourceMonth) -> str:
        return f"indexed.{month.spec.table}"

    def remove(self, month: SourceMonth) -> None:
        self.create(month.spec)
        with self.server.connect(self.database) as conn:
            conn.execute(f"DELETE FROM {self.table(month)} WHERE filename = %s", (month.filename,))
            conn.execute(f"VACUUM {self.table(month)}")

    def create(self, spec, *, index: bool = True) -> None:
        """The table (and the functions the staging uses: our DDL), and its id index unless ``index`` is off."""
        from taxi_pipeline.postgres import steps

        with self.server.connect(self.database) as conn:
            conn.execute(steps.ensure_tables_sql(spec))
            conn.execute("CREATE SCHEMA IF NOT EXISTS indexed")
            conn.execute(f"CREATE TABLE IF NOT EXISTS indexed.{spec.table} (LIKE public.{spec.table})")
            if index:
                conn.execute(f"CREATE INDEX IF NOT EXISTS {spec.table}_id ON indexed.{spec.table} (unique_row_id)")

    def load(self, month: SourceMonth) -> Loaded:
        from taxi_pipeline.postgres import steps

        spec, table = month.spec, self.table(month)
        columns = ", ".join(spec.column_names)
        self.create(spec)
        run = self.describe(month)
        staged = steps.load_staging(spec, run, self.locate(run), self.settings)
        with self.server.connect(self.database, autocommit=False) as conn:
            conn.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
            # The id index is the design: without this, a table that looks empty (the first month,
            # no statistics yet) gets a nested loop over a seq scan of the rows being inserted,
            # quadratic in the month's rows (seen here: 7 s for 20,000 rows).
            conn.execute("SET LOCAL enable_seqscan = off")
            inserted = conn.execute(
                f"INSERT INTO {table} (unique_row_id, filename, {columns}) "
                f"SELECT s.unique_row_id, s.filename, {columns} FROM {run['staging_table']} AS s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE t.unique_row_id = s.unique_row_id)").rowcount
            conn.commit()
        steps.drop_staging(spec, run, None)  # ours did not merge it: the teardown drops it
        return Loaded(staged["rows"], inserted)


class Pandas(LoadPath):
    """The 2022 course DAG's ``ingest_script.py``: ``read_csv(iterator=True, chunksize=100_000)``, the
    two datetime columns parsed with ``pd.to_datetime``, ``head(0).to_sql(if_exists="replace")`` to
    create the table, then ``to_sql(if_exists="append")`` per chunk. It reads the local .csv.gz, as
    that script reads the file its wget step left. ``chunks`` stops after that many chunks (None: the
    whole month): at its pace a whole month takes minutes, and a fixed number of chunks gives the rate."""

    CHUNK_ROWS = 100_000

    def __init__(self, server, database: str, chunks: int | None = None) -> None:
        super().__init__(server, database)
        self.chunks = chunks
        self.name = "pandas read_csv + to_sql" + (f" ({chunks} chunks of {self.CHUNK_ROWS:,})" if chunks else "")

    def table(self, month: SourceMonth) -> str:
        return f"pandas_{month.spec.taxi}_tripdata"

    def remove(self, month: SourceMonth) -> None:
        with self.server.connect(self.database) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {self.table(month)}")

    def load(self, month: SourceMonth) -> Loaded:
        import pandas as pd
        import sqlalchemy

        # postgresql:// as the script writes it: SQLAlchemy's default driver for it, psycopg2.
        engine = sqlalchemy.create_engine(self.server.uri(self.database))
        rows = 0
        try:
            with pd.read_csv(month.path, iterator=True, chunksize=self.CHUNK_ROWS, compression="gzip",
                             low_memory=False) as chunks:
                for number, chunk in enumerate(chunks, 1):
                    for column in [c for c in chunk.columns if c.endswith("_datetime")]:
                        chunk[column] = pd.to_datetime(chunk[column])
                    if number == 1:
                        chunk.head(n=0).to_sql(name=self.table(month), con=engine, if_exists="replace")
                    chunk.to_sql(name=self.table(month), con=engine, if_exists="append")
                    rows += len(chunk)
                    if self.chunks and number >= self.chunks:
                        break
        finally:
            engine.dispose()
        return Loaded(rows, rows)
