"""Faults on the GCP DAG, on the emulators (fake-gcs-server, bqemulator) and a misbehaving HTTP
source; Airflow's google operators and the google clients run for real, nothing is mocked.

* The download breaks off mid-upload: the resumable upload is never finalized, so no object
  appears in the lake; the main table is unchanged; a re-run loads the month once.
* The load job fails (a non-numeric ``fare_amount`` under a good header): the main table is
  unchanged and the teardown removes the monthly table the failed job left; a re-run succeeds.
* The MERGE job fails (the main table has ``VendorID NOT NULL`` and the month has blank vendors,
  a constraint the emulator enforces on the MERGE itself): the MERGE is all or nothing, the main
  table is unchanged; once the constraint is dropped a re-run loads the month.

Error texts asserted here are the emulator's (DuckDB's); real BigQuery words them differently.
The tests use their own bucket and datasets, so they neither see nor disturb other modules' data.
"""

from __future__ import annotations

import gzip
import uuid

import pytest

from taxi_pipeline.specs import GREEN

from tests.support import fake_tlc
from tests.support.http_server import Fault, FixtureServer
from tests.test_gcp_pipeline import bq, gcs, run_gcp_month, states  # noqa: F401 - bq, gcs are fixtures

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

BUCKET = "ny-taxi-faults-lake"
ROWS = 300


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with FixtureServer(tmp_path_factory.mktemp("gcp-faults-release")) as running:
        yield running


@pytest.fixture
def target(gcp_emulators, bq, gcs, server, monkeypatch):
    """A fresh dataset (and this module's bucket) as the DAG's Variables; the source is ``server``."""
    from google.cloud import bigquery

    dataset = f"faults_{uuid.uuid4().hex[:8]}"
    bq.create_dataset(bigquery.Dataset(f"{gcp_emulators.project}.{dataset}"))
    if not gcs.bucket(BUCKET).exists():
        gcs.create_bucket(BUCKET)
    monkeypatch.setenv("AIRFLOW_VAR_GCP_DATASET", dataset)
    monkeypatch.setenv("AIRFLOW_VAR_GCP_BUCKET_NAME", BUCKET)
    monkeypatch.setenv("AIRFLOW_VAR_NY_TAXI_SOURCE", server.base_url)
    server.clear_faults()
    server.clear_requests()
    yield f"{gcp_emulators.project}.{dataset}"
    bq.delete_dataset(f"{gcp_emulators.project}.{dataset}", delete_contents=True, not_found_ok=True)


def table_ids(bq, dataset: str) -> set[str]:
    """The dataset's trip tables (the audit table ny_taxi_loads aside: it is there once a month merged)."""
    return {t.table_id for t in bq.list_tables(dataset)} - {"ny_taxi_loads"}


def counts(bq, dataset: str) -> dict[str, int]:
    rows = bq.query(f"SELECT filename, COUNT(*) AS n FROM `{dataset}.green_tripdata` GROUP BY filename").result()
    return {row["filename"]: row["n"] for row in rows}


def fingerprint(bq, dataset: str, where: str = "TRUE") -> list[str]:
    """Every row of the main table, as text, sorted: equal before/after means nothing changed."""
    rows = bq.query(f"SELECT * FROM `{dataset}.green_tripdata` WHERE {where}").result()
    return sorted(repr(tuple(row.values())) for row in rows)


def object_names(gcs) -> set[str]:
    return {blob.name for blob in gcs.list_blobs(BUCKET)}


def preload(server: FixtureServer, bq, dataset: str, month: tuple[int, int]) -> fake_tlc.MonthFile:
    month_file = fake_tlc.write_month(server.root, GREEN, *month, ROWS, seed=31)
    run = run_gcp_month("green", *month)
    assert str(run.state) == "success", states(run)
    assert counts(bq, dataset) == {GREEN.filename(*month): ROWS}
    return month_file


def test_upload_interrupted_leaves_no_object_and_a_rerun_loads_once(
    target, bq, gcs, server, monkeypatch, capfd
):
    """256 KiB upload chunks and a reset after ~600 KB of a ~800 KB file: the upload has sent
    chunks when the source breaks off, but never its final one, so GCS never creates the object."""
    preloaded = preload(server, bq, target, (2020, 3))
    before = fingerprint(bq, target)
    # Stored (level 0) gzip: a file larger than two chunks with few rows, so BigQuery stays quick.
    month_file = fake_tlc.write_month(server.root, GREEN, 2020, 4, 9_000, seed=32, compresslevel=0)
    assert month_file.gz_bytes > 3 * 256 * 1024
    server.add_faults(month_file.url_path, Fault.reset_after(600_000), method="GET")
    monkeypatch.setenv("NY_TAXI_GCS_CHUNK_KIB", "256")

    run = run_gcp_month("green", 2020, 4)

    task = states(run)
    assert str(run.state) == "failed"
    assert task["upload_to_gcs"] == "failed" and task["load_monthly_table"] == "upstream_failed", task
    assert "broke off: ProtocolError(\"Connection broken: ConnectionResetError(" in capfd.readouterr().out
    assert [r.status for r in server.requests if r.path == month_file.url_path and r.method == "GET"] == [200]
    assert object_names(gcs) == {f"green/{preloaded.path.name}"}
    assert fingerprint(bq, target) == before
    assert table_ids(bq, target) == {"green_tripdata"}

    # The default (8 MiB) chunk: the whole file goes up as one final chunk after short reads.
    monkeypatch.delenv("NY_TAXI_GCS_CHUNK_KIB")
    rerun = run_gcp_month("green", 2020, 4)
    assert str(rerun.state) == "success", states(rerun)
    blob = gcs.bucket(BUCKET).get_blob(f"green/{month_file.path.name}")
    assert blob.download_as_bytes() == month_file.path.read_bytes()
    assert counts(bq, target) == {GREEN.filename(2020, 3): ROWS, GREEN.filename(2020, 4): 9_000}
    assert fingerprint(bq, target, f"filename = '{GREEN.filename(2020, 3)}'") == before
    assert table_ids(bq, target) == {"green_tripdata"}


def _rewrite(month_file: fake_tlc.MonthFile, edit) -> list[str]:
    lines = gzip.decompress(month_file.path.read_bytes()).decode("ascii").split("\r\n")[:-1]
    lines = edit(lines)
    month_file.path.write_bytes(gzip.compress(("\r\n".join(lines) + "\r\n").encode("ascii"), mtime=0))
    return lines


def test_load_job_failure_leaves_main_table_and_no_monthly_table(target, bq, gcs, server, capfd):
    """The header is right, so the upload passes; the load job rejects the value on line 201.

    bqemulator's failed load leaves the (empty) monthly table it created (a real BigQuery load job
    is atomic); drop_monthly_table is the teardown of the *upload*, so it runs and drops it.
    """
    preload(server, bq, target, (2020, 3))
    before = fingerprint(bq, target)
    month_file = fake_tlc.write_month(server.root, GREEN, 2020, 5, ROWS, seed=33)
    good = month_file.path.read_bytes()
    fare = GREEN.dtc_columns.index("fare_amount")

    def bad_fare(lines: list[str]) -> list[str]:
        fields = lines[200].split(",")  # file line 201
        fields[fare] = "12abc"
        lines[200] = ",".join(fields)
        return lines

    _rewrite(month_file, bad_fare)

    run = run_gcp_month("green", 2020, 5)

    task = states(run)
    assert str(run.state) == "failed"
    assert task["upload_to_gcs"] == "success" and task["load_monthly_table"] == "failed", task
    assert task["find_partitions"] == "upstream_failed" and task["hash_merge"] == "upstream_failed", task
    out = capfd.readouterr().out
    assert 'Error when converting column "fare_amount". Could not convert string "12abc" to \'DECIMAL\'' in out
    assert fingerprint(bq, target) == before
    assert table_ids(bq, target) == {"green_tripdata"}  # the teardown ran and dropped the monthly table
    assert task["drop_monthly_table"] == "success", task

    month_file.path.write_bytes(good)
    rerun = run_gcp_month("green", 2020, 5)
    assert str(rerun.state) == "success", states(rerun)
    assert counts(bq, target) == {GREEN.filename(2020, 3): ROWS, GREEN.filename(2020, 5): ROWS}
    assert table_ids(bq, target) == {"green_tripdata"}  # the re-run's teardown dropped it


def test_merge_failure_leaves_main_table_unchanged_and_rerun_succeeds(target, bq, gcs, server, capfd):
    """The main table exists already with ``VendorID NOT NULL``; ensure_tables (IF NOT EXISTS)
    keeps it. A month without blank vendors merges; the next month has ~40% blank vendors, so the
    MERGE job itself fails on the constraint. Dropping the constraint (BigQuery DDL:
    ``ALTER COLUMN ... DROP NOT NULL``) and re-running loads the month."""
    from google.cloud import bigquery

    from taxi_pipeline.sql_templates import render

    ddl = render("bigquery/create_table.sql", taxi=GREEN)
    assert ddl.count("\n    VendorID STRING OPTIONS") == 1
    bq.query(ddl.replace("\n    VendorID STRING OPTIONS", "\n    VendorID STRING NOT NULL OPTIONS"),
             job_config=bigquery.QueryJobConfig(default_dataset=target)).result()

    # June without the rows whose vendor is blank: it satisfies the constraint.
    june = fake_tlc.write_month(server.root, GREEN, 2020, 6, ROWS, seed=34)
    kept = _rewrite(june, lambda lines: [lines[0]] + [line for line in lines[1:] if not line.startswith(",")])
    june_rows = len(kept) - 1
    assert 0 < june_rows < ROWS
    run = run_gcp_month("green", 2020, 6)
    assert str(run.state) == "success", states(run)
    assert counts(bq, target) == {GREEN.filename(2020, 6): june_rows}
    before = fingerprint(bq, target)

    july = fake_tlc.write_month(server.root, GREEN, 2020, 7, ROWS, seed=35)
    assert sum(1 for row in fake_tlc.read_rows(july.path)[1] if row[0] == "") > 0
    failed = run_gcp_month("green", 2020, 7)
    task = states(failed)
    assert str(failed.state) == "failed"
    assert task["load_monthly_table"] == "success" and task["find_partitions"] == "success", task
    assert task["hash_merge"] == "failed" and task["drop_monthly_table"] == "success", task
    assert "Constraint Error: NOT NULL constraint failed: green_tripdata.VendorID" in capfd.readouterr().out
    assert fingerprint(bq, target) == before  # not one of July's valid rows went in
    assert table_ids(bq, target) == {"green_tripdata"}

    bq.query(f"ALTER TABLE `{target}.green_tripdata` ALTER COLUMN VendorID DROP NOT NULL").result()
    rerun = run_gcp_month("green", 2020, 7)
    assert str(rerun.state) == "success", states(rerun)
    assert counts(bq, target) == {GREEN.filename(2020, 6): june_rows, GREEN.filename(2020, 7): ROWS}
    assert fingerprint(bq, target, f"filename = '{GREEN.filename(2020, 6)}'") == before
    assert table_ids(bq, target) == {"green_tripdata"}
