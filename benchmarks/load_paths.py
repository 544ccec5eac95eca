"""The ways of getting a month into Postgres that the benchmark compares, each in its own database.

* :class:`Floor` -- a plain COPY of the gunzipped stream into a logged table with no index: what
  loading the file costs at the very least.
* :class:`ParquetFloor` -- the same for a parquet month: its record batches, cast and encoded as
  our path does (extract/parquet.py's ParquetBinaryStream), in one binary COPY into a table with
  no index and no ids. :class:`ParquetFloorIds` adds our first load's generated ``unique_row_id``
  to that table: what the ids alone cost.
* :class:`AdbcIngest` and :class:`PsycopgRows` -- the other encoders issue 27 names for our load
  step's COPY: the same cast batches, through ADBC's ``adbc_ingest`` and through psycopg's binary
  ``write_row``, into a table made by our first-load staging DDL, so they must give our ids.
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

__all__ = ["AdbcIngest", "Floor", "Indexed", "Kestra", "Loaded", "LoadPath", "Ours", "Pandas", "ParquetFloor",
           "ParquetFloorIds", "PsycopgRows"]


class Floor(LoadPath):
    name = "COPY floor"

    def prepare(self, month: SourceMonth) -> None:
        with self.server.connect(self.database) as conn:
            columns = ",\n".join([*self.first_columns(conn, month),
                                   *(f"{c.name} {c.postgres_type}" for c in month.spec.columns)])
            conn.execute(f"CREATE TABLE IF NOT EXISTS floor_{month.spec.taxi} ({columns})")
            conn.execute(f"TRUNCATE floor_{month.spec.taxi}")

    def first_columns(self, conn, month: SourceMonth) -> list[str]:
        """Column definitions ahead of the file's: none, the floor's table holds the file's columns only."""
        return []

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

    def table(self, month: SourceMonth) -> str:
        return f"public.floor_{month.spec.taxi}"

    def load(self, month: SourceMonth) -> Loaded:
        stream = _parquet_stream(month)
        with self.server.connect(self.database, autocommit=False) as conn, conn.cursor() as cursor:
            with cursor.copy(_binary_copy(self.table(month), stream)) as copy:
                copy.write(stream.header)
                while data := stream.read():
                    copy.write(data)
                copy.write(stream.trailer)
            rows = cursor.rowcount
            conn.commit()
        return _all_rows(self.name, rows, stream)


class ParquetFloorIds(ParquetFloor):
    """ParquetFloor's COPY into its table with our first load's ``unique_row_id`` ahead of the
    file's columns: the same generated column, its expression read back from our staging DDL as
    load.py renders it. Against the floor, what the ids alone cost of our load's gap to it."""

    name = "binary COPY floor + ids"

    def first_columns(self, conn, month: SourceMonth) -> list[str]:
        from taxi_pipeline.postgres import steps
        from taxi_pipeline.settings import STAGING_SCHEMA

        steps.ensure_tables(conn, month.spec)  # the id function (create_tables.sql)
        name = "floor_ids_template"
        with conn.transaction(force_rollback=True):  # made only to be read
            conn.execute(_staging_ddl(month, f"{STAGING_SCHEMA}.{name}"))
            [expression] = conn.execute(
                "SELECT generation_expression FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s AND column_name = 'unique_row_id'",
                (STAGING_SCHEMA, name)).fetchone()
        return [f"unique_row_id text GENERATED ALWAYS AS ({expression}) STORED"]


def _parquet_stream(month: SourceMonth):
    """The month's parquet file opened as our load opens it and matched and cast as ours is: an
    extract/parquet.py ParquetBinaryStream (its ``read()`` for a binary COPY, its ``batches`` for a
    loader that takes Arrow), so every parquet path here gets the very values ours gets."""
    import pyarrow.parquet as pq

    from taxi_pipeline.extract.columns import file_columns
    from taxi_pipeline.extract.fetch import Progress
    from taxi_pipeline.extract.parquet import ParquetBinaryStream

    parquet = pq.ParquetFile(month.path, buffer_size=1 << 16, pre_buffer=False)  # as spool_parquet opens it
    columns = file_columns(parquet.schema_arrow.names, month.spec, month.path.name, unknown="warn")
    return ParquetBinaryStream(parquet, columns, month.spec, month.path.name, Progress(month.label, None, header_lines=0))


def _binary_copy(table: str, stream) -> str:
    """A binary COPY of the stream's columns (the file's, matched to the spec) into ``table``."""
    return f"COPY {table} ({', '.join(stream.columns)}) FROM STDIN WITH (FORMAT binary)"


def _all_rows(path: str, rows: int, stream) -> Loaded:
    """``Loaded`` once the rows the path wrote are all the file's (its footer's count): a path that
    loses or repeats rows fails the case instead of looking fast."""
    if rows != stream.expected_rows:
        raise AssertionError(f"{path}: wrote {rows:,} rows, the file has {stream.expected_rows:,}")
    return Loaded(rows, rows)


def _staging_ddl(month: SourceMonth, table: str) -> str:
    """Our first-load staging table's DDL for the month, rendered as load.py renders it, as ``table``."""
    from taxi_pipeline.settings import STAGING_SCHEMA
    from taxi_pipeline.sql_templates import render

    return render("postgres/create_staging.sql", taxi=month.spec, staging_schema=STAGING_SCHEMA, staging_table=table,
                  filename=month.filename, reload=False)


class _StagingShaped(LoadPath):
    """A candidate for our load step's COPY: the month's batches, matched and cast as ours are, into
    ``staged.<taxi>_tripdata``, made by our first-load staging DDL (the generated ``unique_row_id``,
    the filename default and check, the strays index), so its rows must be ours, ids included. One
    connection; the table is made before the timed load, as the floors' are."""

    schema = "staged"

    def table(self, month: SourceMonth) -> str:
        return f"{self.schema}.{month.spec.table}"

    def remove(self, month: SourceMonth) -> None:
        from taxi_pipeline.postgres import steps

        with self.server.connect(self.database) as conn:
            steps.ensure_tables(conn, month.spec)  # the functions the id and the strays index call
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            conn.execute(_staging_ddl(month, self.table(month)))  # drops the last load's table first

    def load(self, month: SourceMonth) -> Loaded:
        stream = _parquet_stream(month)
        return _all_rows(self.name, self.ingest(stream, month), stream)

    def ingest(self, stream, month: SourceMonth) -> int:
        """Write ``stream.batches`` into the table and commit; the rows written."""
        raise NotImplementedError


class AdbcIngest(_StagingShaped):
    """adbc-driver-postgresql's ``adbc_ingest(mode="append")``: ADBC encodes the Arrow batches in
    binary COPY itself (C++), naming the batch's columns, so the generated id and the filename
    default fill in as in ours."""

    name = "ADBC adbc_ingest"

    def reset(self) -> None:
        """The empty database, and ADBC's first use, untimed: its import (pandas with it, 0.4 s) and the
        driver library's load, as case 1's warm-up takes ours'."""
        import adbc_driver_postgresql.dbapi

        super().reset()
        adbc_driver_postgresql.dbapi.connect(self.server.uri(self.database)).close()

    def ingest(self, stream, month: SourceMonth) -> int:
        import adbc_driver_postgresql.dbapi
        import pyarrow as pa

        # ADBC quotes the names; our DDL's are unquoted, so Postgres folded them to lower case.
        names = [name.lower() for name in stream.columns]
        reader = pa.RecordBatchReader.from_batches(  # a batch at a time
            pa.schema([field.with_name(name) for field, name in zip(stream.schema, names)]),
            (batch.rename_columns(names) for batch in stream.batches))
        with adbc_driver_postgresql.dbapi.connect(self.server.uri(self.database)) as conn, conn.cursor() as cursor:
            rows = cursor.adbc_ingest(month.spec.table, reader, mode="append", db_schema_name=self.schema)
            conn.commit()
        return rows


class PsycopgRows(_StagingShaped):
    """psycopg's own binary COPY: ``set_types`` to the table's types, then ``write_row`` for every
    row of the batches, so each value becomes a Python object and is dumped again by psycopg."""

    name = "psycopg write_row (binary)"

    def ingest(self, stream, month: SourceMonth) -> int:
        with self.server.connect(self.database, autocommit=False) as conn, conn.cursor() as cursor:
            with cursor.copy(_binary_copy(self.table(month), stream)) as copy:
                copy.set_types([month.spec.column(c).postgres_type for c in stream.columns])
                for batch in stream.batches:
                    for row in zip(*(column.to_pylist() for column in batch.columns)):
                        copy.write_row(row)
            rows = cursor.rowcount
            conn.commit()
        return rows


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
