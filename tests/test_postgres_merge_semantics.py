"""The partitioned load path keeps the course's semantics exactly, on rows built to break shortcuts.

Every step loads the same files twice: through the DAG's tasks (tests/support/load_paths.py: Ours --
ensure_tables and the functions load_staging, hash_merge and drop_staging run) and through the course's
Kestra SQL (Kestra: TRUNCATE, COPY, UPDATE ... md5, MERGE into an unindexed table), each into its
own database; after every step both must hold the same (unique_row_id, filename) rows.

The files hold what the merge's pruning has to get right: rows shared between two files (picked up
in either file's month), in-file duplicates, NULLs among the hashed columns, 0 vs -0, a vendor that
is not one digit, fractional seconds, a NULL pickup, and two rows with different columns but the
same id text ('1' + '2019-03-05 10:00:00' vs '12019-03-05 10:00:00' + NULL pickup).
"""

from __future__ import annotations

import gzip
import logging
import uuid
from pathlib import Path

import pytest

from tests.support.load_paths import Kestra, Ours, SessionServer, SourceMonth
from taxi_pipeline.months import Month
from taxi_pipeline.specs import GREEN

pytestmark = pytest.mark.integration

# green columns: VendorID, pickup, dropoff, store_and_fwd_flag, RatecodeID, PULocationID, DOLocationID,
# passenger_count, trip_distance, fare_amount, extra, mta_tax, tip_amount, tolls_amount, ehail_fee,
# improvement_surcharge, total_amount, payment_type, trip_type, congestion_surcharge
TAIL = "N,1,{pu},{do},1,{dist},{fare},0,0.5,0,0,,0.3,7.3,2,1,0"


def row(vendor: str, pickup: str, dropoff: str, pu: str = "7", do: str = "8", dist: str = "1.5", fare: str = "6") -> str:
    return f"{vendor},{pickup},{dropoff}," + TAIL.format(pu=pu, do=do, dist=dist, fare=fare)


MARCH = [
    row("1", "2019-03-05 10:00:00", "2019-03-05 10:10:00"),
    row("2", "2019-03-06 11:00:00", "2019-03-06 11:20:00", fare="12.5"),
    row("2", "2019-03-06 11:00:00", "2019-03-06 11:20:00", fare="12.5"),  # in-file duplicate: both kept
    row("", "2019-03-07 12:00:00", "2019-03-07 12:05:00", fare=""),  # blank vendor, NULL fare
    row("1", "2019-03-08 13:00:00", "2019-03-08 13:30:00", fare="-0"),  # -0, not 0
    row("12", "2019-03-09 14:00:00", "2019-03-09 14:10:00"),  # a two-character vendor
    row("2", "2019-03-10 15:00:00.5", "2019-03-10 15:10:00"),  # fractional seconds
    row("2", "", "2019-03-11 16:00:00"),  # NULL pickup
    row("1", "2019-04-01 00:10:00", "2019-04-01 00:20:00", pu="100"),  # picked up in April
    row("2", "2008-12-31 23:00:00", "2009-01-01 00:10:00"),  # a 2008 pickup
    row("1", "2019-03-31 23:55:00", "2019-04-01 00:05:00", pu="101"),
]
APRIL = [
    row("1", "2019-04-01 00:10:00", "2019-04-01 00:20:00", pu="100"),  # = March's April pickup
    row("1", "2019-03-31 23:55:00", "2019-04-01 00:05:00", pu="101"),  # = a March row, picked up in March
    row("1", "2019-04-02 09:00:00", "2019-04-02 09:10:00", fare="0"),
    row("1", "2019-03-08 13:00:00", "2019-03-08 13:30:00", fare="0"),  # March's -0 row with 0: another id
    row("12", "2019-03-09 14:00:00", "2019-03-09 14:10:00"),  # = March's two-character vendor row
    row("12019-03-05 10:00:00", "", "2019-03-05 10:10:00"),  # same id text as March's first row
    row("2", "2019-04-03 10:00:00", "2019-04-03 10:30:00"),
    row("2", "2019-04-03 10:00:00", "2019-04-03 10:30:00"),  # in-file duplicate
    row("2", "2008-12-31 23:00:00", "2009-01-01 00:10:00"),  # = March's 2008 row
]

# Only regular rows (one-digit vendor, whole-second pickups): no whole-table check, so the
# pruned one must find the shared rows -- a row picked up in the other file's month, either way.
MAY = [
    row("1", "2019-05-03 10:00:00", "2019-05-03 10:10:00"),
    row("2", "2019-06-01 00:10:00", "2019-06-01 00:20:00", pu="100"),  # picked up in June
    row("1", "2019-05-31 23:50:00", "2019-06-01 00:05:00", pu="101"),
    row("", "2019-05-04 10:00:00", "2019-05-04 10:10:00"),
    row("", "2019-05-04 10:00:00", "2019-05-04 10:10:00"),
]
JUNE = [
    row("2", "2019-06-01 00:10:00", "2019-06-01 00:20:00", pu="100"),  # = May's June pickup
    row("1", "2019-05-31 23:50:00", "2019-06-01 00:05:00", pu="101"),  # = a May row, picked up in May
    row("2", "2019-06-05 10:00:00", "2019-06-05 10:10:00"),
]
# Loaded August first, July's shared rows are all strays (picked up in August or in 2008): only
# July's staged strays are compared with the table (merge.py, "strays_only").
JULY = [
    row("1", "2019-07-03 10:00:00", "2019-07-03 10:10:00"),
    row("2", "2019-08-01 00:10:00", "2019-08-01 00:20:00", pu="100"),  # = an August row
    row("2", "2008-12-31 23:00:00", "2009-01-01 00:10:00"),  # = August's 2008 row
]
AUGUST = [
    row("2", "2019-08-01 00:10:00", "2019-08-01 00:20:00", pu="100"),
    row("2", "2008-12-31 23:00:00", "2009-01-01 00:10:00"),
    row("1", "2019-08-05 10:00:00", "2019-08-05 10:10:00"),
]
PAIRS = {"odd rows": ((Month(2019, 3), MARCH), (Month(2019, 4), APRIL)),
         "regular rows": ((Month(2019, 5), MAY), (Month(2019, 6), JUNE)),
         "strays only": ((Month(2019, 7), JULY), (Month(2019, 8), AUGUST))}


def write(root: Path, month: Month, rows: list[str]) -> SourceMonth:
    path = root / "green" / f"green_tripdata_{month}.csv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\r\n".join([GREEN.header, *rows]) + "\r\n").encode()))
    return SourceMonth(GREEN, month, path, root)


def table_rows(server: SessionServer, database: str) -> list[tuple[str, str]]:
    with server.connect(database) as conn:
        return conn.execute("SELECT unique_row_id, filename FROM green_tripdata ORDER BY 1, 2").fetchall()


@pytest.fixture
def paths(pg_server, airflow_db, monkeypatch):
    server = SessionServer(pg_server)
    tag = uuid.uuid4().hex[:8]
    ours, course = Ours(server, f"ours_{tag}"), Kestra(server, f"course_{tag}")
    ours.reset()
    course.reset()
    yield server, ours, course
    for database in (ours.database, course.database):
        pg_server.run("dropdb", database)


def load_both(paths, month: SourceMonth) -> tuple[int, int]:
    server, ours, course = paths
    ours_loaded, course_loaded = ours.load(month), course.load(month)
    assert table_rows(server, ours.database) == table_rows(server, course.database), month.label
    assert ours_loaded.inserted == course_loaded.inserted, month.label
    return ours_loaded.inserted, course_loaded.rows


@pytest.mark.parametrize("later_first", [False, True], ids=["earlier month first", "later month first"])
@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_rows_shared_between_months_and_odd_rows_match_the_course(paths, tmp_path, caplog, pair, later_first):
    server, ours, _ = paths
    caplog.set_level(logging.INFO, logger="taxi_pipeline")
    files = [(write(tmp_path, month, rows), rows) for month, rows in PAIRS[pair]]
    (first, first_rows), (second, second_rows) = files[::-1] if later_first else files
    assert load_both(paths, first) == (len(first_rows), len(first_rows))
    inserted, _ = load_both(paths, second)
    assert 0 < inserted < len(second_rows)  # some of its rows were there already
    assert ("only the staged strays could match" in caplog.text) == (pair == "strays only" and later_first)
    for month, _ in files:  # re-loading changes nothing
        assert load_both(paths, month)[0] == 0
    with server.connect(ours.database) as conn:
        assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'public.green_tripdata'::regclass").fetchone()[0] == "p"
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'taxi_staging'").fetchone()[0] == 0


def test_changed_file_and_deleted_rows_are_reloaded_like_the_course(paths, tmp_path):
    server, ours, course = paths
    march = write(tmp_path, Month(2019, 3), MARCH)
    load_both(paths, march)
    # The file changes upstream: one row gone, two new ones (one of them twice).
    changed = write(tmp_path, Month(2019, 3), MARCH[1:] + [row("2", "2019-03-20 08:00:00", "2019-03-20 08:09:00")] * 2
                    + [row("", "2019-03-21 08:00:00", "2019-03-21 08:09:00", dist="")])
    assert load_both(paths, changed)[0] == 3
    # Rows deleted from the table come back on the next load, as with the course's MERGE.
    for database in (ours.database, course.database):
        with server.connect(database) as conn:
            conn.execute("DELETE FROM green_tripdata WHERE fare_amount = 12.5 OR fare_amount IS NULL")
    assert load_both(paths, changed)[0] == 3


def test_a_role_without_superuser_gets_the_same_ids(paths, tmp_path, pg_server):
    """Not a superuser: create_tables.sql falls back to the PL/pgSQL timestamp wrapper."""
    server, ours, course = paths
    role = f"taxi_{uuid.uuid4().hex[:8]}"
    with server.connect(ours.database) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
        conn.execute(f"GRANT CREATE ON DATABASE {ours.database} TO {role}")
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    as_role = Ours(SessionServer(pg_server, login=f"{role}:pw"), ours.database)
    march = write(tmp_path, Month(2019, 3), MARCH)
    try:
        assert as_role.load(march).inserted == len(MARCH)
        assert course.load(march).inserted == len(MARCH)
        assert table_rows(server, ours.database) == table_rows(server, course.database)
        with server.connect(ours.database) as conn:
            language = conn.execute("SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
                                    "WHERE p.oid = 'taxi_staging.timestamp_text(timestamp)'::regprocedure").fetchone()[0]
        assert language == "plpgsql"
    finally:
        with server.connect(ours.database) as conn:
            conn.execute(f"DROP OWNED BY {role} CASCADE")
        with server.connect("postgres") as conn:
            conn.execute(f"DROP ROLE {role}")
