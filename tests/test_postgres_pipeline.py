"""The Postgres DAGs end to end: real Postgres, real files over HTTP, ``dag.test()``.

Generated files look like the real releases (CRLF, ~40% blank vendor fields, ``.80`` decimals,
pickups outside the month, in-file hash duplicates), see tests/support/fake_tlc.py.
"""

from __future__ import annotations

import gzip
from datetime import datetime, timezone
from pathlib import Path

import pytest

from taxi_pipeline.specs import GREEN, SPECS, YELLOW

from tests.conftest import ROOT
from tests.support import fake_tlc

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

ROWS = {("green", 2019, 1): 2_000, ("green", 2019, 2): 1_500, ("yellow", 2019, 1): 2_500, ("green", 2019, 12): 800}


@pytest.fixture(scope="module")
def months(release_root: Path) -> dict[tuple[str, int, int], fake_tlc.MonthFile]:
    return {
        key: fake_tlc.write_month(release_root, SPECS[key[0]], key[1], key[2], rows, seed=7)
        for key, rows in ROWS.items()
    }


def build_dag(taxi: str):
    from taxi_pipeline.factory import build_taxi_dag

    return build_taxi_dag("postgres", taxi)


def run_month(taxi: str, year: int | None = None, month: int | None = None, *, conf: dict | None = None):
    """One DAG run: by logical date (as the scheduler would) or, with ``conf``, a manual trigger."""
    dag = build_dag(taxi)
    if conf is not None:
        return dag.test(logical_date=None, run_conf=conf)
    hour = int(SPECS[taxi].schedule.split()[1])
    return dag.test(logical_date=datetime(year, month, 1, hour, tzinfo=timezone.utc))


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def rows_per_file(db, taxi: str) -> dict[str, int]:
    if not table_exists(db, f"public.{taxi}_tripdata"):
        return {}
    return dict(db.execute(f"SELECT filename, count(*) FROM {taxi}_tripdata GROUP BY 1").fetchall())


def table_exists(db, name: str) -> bool:
    return db.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]


def table_fingerprint(db, taxi: str) -> tuple[int, str]:
    return db.execute(
        f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {taxi}_tripdata t"
    ).fetchone()


def staging_tables(db) -> list[str]:
    return [r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'taxi_staging'").fetchall()]


def file_rows(month_file: fake_tlc.MonthFile) -> list[list[str]]:
    return fake_tlc.read_rows(month_file.path)[1]


@pytest.fixture
def db(taxi_db):
    """psycopg connection to this test's database, autocommit."""
    return taxi_db


def test_green_month_loads_every_row_once_and_rerun_changes_nothing(db, source, months):
    jan = months[("green", 2019, 1)]
    run = run_month("green", 2019, 1)
    assert str(run.state) == "success", task_states(run)
    assert rows_per_file(db, "green") == {"green_tripdata_2019-01.csv": jan.data_lines}

    # Blank fields arrive as NULL, column by column, exactly where the file has them blank.
    rows = file_rows(jan)
    for column in ("VendorID", "RatecodeID", "passenger_count", "payment_type", "trip_type",
                   "store_and_fwd_flag", "congestion_surcharge", "ehail_fee"):
        index = GREEN.dtc_columns.index(column)
        blanks = sum(1 for row in rows if row[index] == "")
        nulls = db.execute(f"SELECT count(*) FROM green_tripdata WHERE {column} IS NULL").fetchone()[0]
        assert nulls == blanks, column
        assert blanks > 0, column
    assert db.execute("SELECT count(*) FROM green_tripdata WHERE ehail_fee IS NOT NULL").fetchone()[0] == 0

    # unique_row_id: the same ids an independent Python implementation of the course's md5 gives,
    # and rows repeated in the file (same hashed fields) are all kept, as the course's MERGE keeps them.
    expected_ids = sorted(fake_tlc.unique_row_id(GREEN, row) for row in rows)
    loaded_ids = [r[0] for r in db.execute("SELECT unique_row_id FROM green_tripdata ORDER BY 1").fetchall()]
    assert loaded_ids == expected_ids
    assert len(set(expected_ids)) < len(expected_ids)  # the fixture does contain in-file duplicates

    before = table_fingerprint(db, "green")
    rerun = run_month("green", 2019, 1)
    assert str(rerun.state) == "success"
    assert table_fingerprint(db, "green") == before

    feb = months[("green", 2019, 2)]
    assert str(run_month("green", 2019, 2).state) == "success"
    assert rows_per_file(db, "green") == {
        "green_tripdata_2019-01.csv": jan.data_lines,
        "green_tripdata_2019-02.csv": feb.data_lines,
    }
    assert staging_tables(db) == []


def test_yellow_month_and_course_md5_known_answer(db, source, months):
    jan = months[("yellow", 2019, 1)]
    assert str(run_month("yellow", 2019, 1).state) == "success"
    assert rows_per_file(db, "yellow") == {"yellow_tripdata_2019-01.csv": jan.data_lines}
    # The course's Postgres flow expression, verbatim, over what we loaded: not one id differs.
    mismatches = db.execute(
        """
        SELECT count(*) FROM yellow_tripdata
        WHERE unique_row_id <> md5(
            COALESCE(CAST(VendorID AS text), '') ||
            COALESCE(CAST(tpep_pickup_datetime AS text), '') ||
            COALESCE(CAST(tpep_dropoff_datetime AS text), '') ||
            COALESCE(PULocationID, '') ||
            COALESCE(DOLocationID, '') ||
            COALESCE(CAST(fare_amount AS text), '') ||
            COALESCE(CAST(trip_distance AS text), '')
        )
        """
    ).fetchone()[0]
    assert mismatches == 0
    # Pickups outside the file's month (2008/2009, next month) are loaded as they are.
    outside = db.execute(
        "SELECT count(*) FROM yellow_tripdata WHERE date_trunc('month', tpep_pickup_datetime) <> '2019-01-01'"
    ).fetchone()[0]
    assert outside > 0


def test_known_answer_row(db, source, tmp_path, monkeypatch):
    """A hand-written row: its id is md5 of the course's text casts ('.80' -> '0.8', blank -> '')."""
    import hashlib

    header = GREEN.header
    row = "2,2019-03-05 07:08:09,2019-03-05 07:20:00,N,1,97,49,1,1.50,.80,0,0.5,0,0,,0.3,7.3,2,1,0"
    blank_vendor = ",2019-03-06 00:00:00,2019-03-06 00:10:00,,,7,8,,10,12.50,0,0.5,0,0,,0.3,13.3,,,"
    path = tmp_path / "green" / "green_tripdata_2019-03.csv.gz"
    path.parent.mkdir()
    path.write_bytes(gzip.compress(f"{header}\r\n{row}\r\n{blank_vendor}\r\n".encode()))
    monkeypatch.setenv("AIRFLOW_VAR_NY_TAXI_SOURCE", f"file://{tmp_path}")
    assert str(run_month("green", 2019, 3).state) == "success"
    ids = {r[0] for r in db.execute("SELECT unique_row_id FROM green_tripdata").fetchall()}
    assert ids == {
        hashlib.md5(b"22019-03-05 07:08:092019-03-05 07:20:0097490.81.5").hexdigest(),
        hashlib.md5(b"2019-03-06 00:00:002019-03-06 00:10:007812.510").hexdigest(),
    }


def test_manual_trigger_with_params_and_no_logical_date(db, source, months):
    dec = months[("green", 2019, 12)]
    run = run_month("green", conf={"year": 2019, "month": 12})
    assert run.logical_date is None
    assert str(run.state) == "success", task_states(run)
    assert rows_per_file(db, "green") == {"green_tripdata_2019-12.csv": dec.data_lines}


@pytest.mark.parametrize(
    "conf,named",
    [
        ({"year": 2018, "month": 12}, "2018-12 is outside"),
        ({"year": 2021, "month": 8}, "2021-08 is outside"),
        ({"year": 2019}, "'month'"),
    ],
)
def test_invalid_params_fail_before_any_download_or_sql(db, source, conf, named, capfd):
    requests_before = len(source.requests)
    run = run_month("green", conf=conf)
    assert str(run.state) == "failed"
    states = task_states(run)
    assert states["wait_for_file"] == "failed"  # it resolves the month before it looks
    assert states["load_staging"] != "success"
    assert named in capfd.readouterr().out
    assert not table_exists(db, "public.green_tripdata")  # no SQL ran
    assert len(source.requests) == requests_before  # no download


@pytest.mark.parametrize("conf,param", [({"year": 2020, "month": 13}, "month"), ({"year": "x", "month": 1}, "year")])
def test_params_outside_the_form_schema_are_refused_at_trigger(db, source, conf, param):
    """The form's schema (month 1..12, integers) is enforced by Airflow when the run is created."""
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError, match=param):
        run_month("green", conf=conf)
    assert not table_exists(db, "public.green_tripdata")


def test_month_not_published_fails_past_the_wait_budget_without_retries(db, source, months, monkeypatch, capfd):
    """conftest: NY_TAXI_PUBLISH_WAIT_DAYS=0, so the first look that finds nothing is the last."""
    monkeypatch.setenv("NY_TAXI_RETRIES", "3")  # a 404 must not burn them
    assert str(run_month("green", 2019, 1).state) == "success"
    before = table_fingerprint(db, "green")
    run = run_month("green", 2021, 7)
    assert str(run.state) == "failed"
    assert task_states(run)["wait_for_file"] == "failed" and task_states(run)["load_staging"] == "upstream_failed"
    out = capfd.readouterr().out
    assert "green 2021-07: not published after 0 days" in out
    assert [r for r in source.requests if "2021-07" in r[1]] == [  # both layouts looked at, once
        ("HEAD", "/green/green_tripdata_2021-07.csv.gz", 404), ("HEAD", "/green_tripdata_2021-07.parquet", 404)]
    assert table_fingerprint(db, "green") == before
    assert staging_tables(db) == []


def test_header_mismatch_is_named_and_leaves_the_table_untouched(db, source, months, release_root, capfd):
    assert str(run_month("green", 2019, 1).state) == "success"
    before = table_fingerprint(db, "green")
    good = fake_tlc.write_month(release_root, GREEN, 2020, 5, 50, seed=3)
    text = gzip.decompress(good.path.read_bytes()).decode()
    good.path.write_bytes(gzip.compress(text.replace("fare_amount", "fare", 1).encode()))
    run = run_month("green", 2020, 5)
    assert str(run.state) == "failed"
    out = capfd.readouterr().out
    assert "green_tripdata_2020-05.csv.gz: columns do not match the green spec: missing ['fare_amount']; unexpected ['fare']" in out
    assert table_fingerprint(db, "green") == before
    assert staging_tables(db) == []


def test_merge_failure_after_copy_leaves_the_main_table_as_it_was(db, source, months, capfd):
    """The merge dies half-way through its inserts; its transaction takes all of them back."""
    assert str(run_month("green", 2019, 1).state) == "success"
    before = table_fingerprint(db, "green")
    db.execute(
        """
        CREATE FUNCTION fail_after_100() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF (SELECT count(*) FROM green_tripdata WHERE filename = NEW.filename) >= 100 THEN
                RAISE EXCEPTION 'simulated failure in the middle of the merge';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER fail_after_100 BEFORE INSERT ON green_tripdata FOR EACH ROW EXECUTE FUNCTION fail_after_100();
        """
    )
    run = run_month("green", 2019, 2)
    states = task_states(run)
    assert str(run.state) == "failed"
    assert states["load_staging"] == "success" and states["hash_merge"] == "failed"
    assert states["drop_staging"] == "success"  # teardown still cleans up
    assert "simulated failure in the middle of the merge" in capfd.readouterr().out
    assert table_fingerprint(db, "green") == before
    assert staging_tables(db) == []
    audited = "SELECT count(*) FROM ny_taxi_audit.loads WHERE filename = 'green_tripdata_2019-02.csv'"
    assert db.execute(audited).fetchone()[0] == 0  # the audit row went with the merge
    # Once the cause is gone, the retry loads the month completely.
    db.execute("DROP TRIGGER fail_after_100 ON green_tripdata")
    assert str(run_month("green", 2019, 2).state) == "success"
    assert rows_per_file(db, "green")["green_tripdata_2019-02.csv"] == months[("green", 2019, 2)].data_lines
    assert db.execute(audited).fetchone()[0] == 1
