"""The merge reads no other month's rows: its candidate query goes through each partition's small
strays index, and scans a whole partition only for the months its stray pickups fall in.

This is what keeps a month's merge flat in the number of months (``make bench`` measures the
seconds); a planner change or an index the partitions did not adopt would show here as seq scans.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import pytest

from taxi_pipeline.months import Month
from taxi_pipeline.settings import STAGING_SCHEMA
from taxi_pipeline.specs import GREEN
from taxi_pipeline.sql_templates import render
from tests.support import fake_tlc
from tests.support.load_paths import Ours, SessionServer, SourceMonth

pytestmark = pytest.mark.integration


def test_candidates_use_the_strays_index_of_every_partition(pg_server, airflow_db, tmp_path):
    server = SessionServer(pg_server)
    ours = Ours(server, f"plan_{uuid.uuid4().hex[:8]}")
    ours.reset()
    months = [Month(2019, m) for m in (1, 2, 3, 4)]
    for month in months:
        fake_tlc.write_month(tmp_path, GREEN, month.year, month.month, 2_000, seed=month.month)
        assert ours.load(SourceMonth(GREEN, month, fake_tlc.release_path(tmp_path, "green", month.year, month.month),
                                   tmp_path)).inserted == 2_000
    sql = render("postgres/merge/candidates.sql", taxi=GREEN, staging_schema=STAGING_SCHEMA,
                 pending="public.green_tripdata_2019_03")
    try:
        with server.connect(ours.database, autocommit=False) as conn:
            conn.execute(render("postgres/merge/lock.sql", taxi=GREEN))
            conn.execute("SET LOCAL enable_seqscan = off")  # as merge.py runs it
            plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + sql, {
                "month_first": datetime(2019, 3, 1), "month_after": datetime(2019, 4, 1),
                "stray_pickups": [datetime(2019, 4, 1, 0, 10)], "stray_files": ["green_tripdata_2019-04.csv"],
                "own_file": "green_tripdata_2019-03.csv",
            }))
    finally:
        pg_server.run("dropdb", ours.database)
    for month in months:
        assert f"Bitmap Index Scan on green_tripdata_{month.year:04d}_{month.month:02d}_strays" in plan, plan
    # Whole partitions read: April (the stray pickup's month) and, for ids, March's own partition.
    scanned = set(re.findall(r"Seq Scan on (green_tripdata_\d{4}_\d{2})\b", plan))
    assert scanned <= {"green_tripdata_2019_04", "green_tripdata_2019_03"}, plan
    assert "green_tripdata_2019_01" not in scanned and "green_tripdata_2019_02" not in scanned


def test_a_partition_dropped_between_load_and_merge_is_rebuilt_with_ids(pg_server, airflow_db, tmp_path):
    """The load saw the month's partition (so it staged without ids, to compare); someone drops the
    partition before the merge: the merge must compute the ids and insert every row once."""
    from taxi_pipeline.postgres import steps

    server = SessionServer(pg_server)
    ours = Ours(server, f"drop_{uuid.uuid4().hex[:8]}")
    ours.reset()
    month = Month(2019, 5)
    written = fake_tlc.write_month(tmp_path, GREEN, 2019, 5, 1_000, seed=9)
    month_file = SourceMonth(GREEN, month, fake_tlc.release_path(tmp_path, "green", 2019, 5), tmp_path)
    try:
        assert ours.load(month_file).inserted == 1_000
        run = ours.describe(month_file)
        staged = steps.load_staging(GREEN, run, ours.locate(run), ours.settings)
        assert staged["with_ids"] is False  # shaped to compare with the partition
        with server.connect(ours.database) as conn:
            conn.execute("DROP TABLE public.green_tripdata_2019_05")
        merged = steps.hash_merge(GREEN, run, staged, ours.attempt(run))
        steps.drop_staging(GREEN, run, merged)
        assert (merged["inserted_rows"], merged["placement"]) == (1_000, "inserted")
        with server.connect(ours.database) as conn:
            ids = sorted(r[0] for r in conn.execute("SELECT unique_row_id FROM green_tripdata"))
    finally:
        pg_server.run("dropdb", ours.database)
    expected = sorted(fake_tlc.unique_row_id(GREEN, row) for row in fake_tlc.read_rows(written.path)[1])
    assert ids == expected


def test_a_reload_soon_after_the_first_load_compares_by_hashing(pg_server, airflow_db, tmp_path):
    """Re-loaded before autovacuum analyzed its partition, a month's anti-join has no statistics on
    either side. The same SELECT explained on its own connection got a merge anti-join at this size
    (sorts on seven columns, ~5x as long), hence merge.py's ``by_hashing``. Inside merge_month the
    planner also hashed without it in the runs checked, so this guards the outcome on the real
    path: the plans of the statements merge_month runs come back through auto_explain, as notices."""
    import psycopg

    from taxi_pipeline.postgres import steps
    from taxi_pipeline.postgres.merge import merge_month

    server = SessionServer(pg_server)
    ours = Ours(server, f"hash_{uuid.uuid4().hex[:8]}")
    ours.reset()
    month = Month(2019, 6)
    fake_tlc.write_month(tmp_path, GREEN, 2019, 6, 90_000, seed=6)
    month_file = SourceMonth(GREEN, month, fake_tlc.release_path(tmp_path, "green", 2019, 6), tmp_path)
    plans: list[str] = []
    try:
        ours.load(month_file)
        run = ours.describe(month_file)
        staged = steps.load_staging(GREEN, run, ours.locate(run), ours.settings)
        assert staged["with_ids"] is False
        with psycopg.connect(pg_server.uri(ours.database)) as conn:
            conn.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
            for setting in ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                            "SET auto_explain.log_level = notice"):
                conn.execute(setting)
            conn.commit()
            result = merge_month(conn, GREEN, run, staged["rows"], staged_with_ids=False)
    finally:
        pg_server.run("dropdb", ours.database)
    assert result.inserted_rows == 0
    [pending] = [p for p in plans if "Anti Join" in p]
    assert "Hash Anti Join" in pending, pending
