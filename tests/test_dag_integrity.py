"""DagBag integrity: the bundle imports cleanly and every DAG has the promised shape."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from taxi_pipeline.specs import SPECS

from tests.conftest import ROOT

EXPECTED_TASKS = {
    "postgres": ["wait_for_file", "load_staging", "hash_merge", "drop_staging",
                 "check_quality"],
    "gcp": ["wait_for_file", "ensure_tables", "upload_to_gcs", "load_monthly_table", "find_partitions",
            "hash_merge", "check_quality", "drop_monthly_table"],
}
TEARDOWN = {"postgres": "drop_staging", "gcp": "drop_monthly_table"}
EXPECTED_ASSETS = {"postgres": "ny_taxi_postgres.public.{taxi}_tripdata", "gcp": "bigquery.{taxi}_tripdata"}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == sorted(
        ["gcp_setup", "dbt_taxi_bigquery", "dbt_taxi_postgres"] + [f"{t}_taxi_{taxi}" for t in ("gcp", "postgres") for taxi in SPECS])


@pytest.mark.parametrize("target", ["postgres", "gcp"])
def test_dbt_dag_shape(dagbag, target):
    """cosmos renders one build task per model and the seed, after choose_command; the DAG is
    scheduled on the ingest DAGs' table Assets of the modelled types, and takes the dbt command."""
    dag = dagbag.dags[f"dbt_taxi_{'bigquery' if target == 'gcp' else 'postgres'}"]
    assets = {a.name for a in dag.timetable.asset_condition.objects}
    assert assets == {EXPECTED_ASSETS[target].format(taxi=t) for t in ("green", "yellow", "fhv")}
    models = {"stg_green_tripdata", "stg_yellow_tripdata", "stg_fhv_tripdata", "dim_zones", "fact_trips",
              "fact_fhv_trips", "dm_monthly_zone_revenue"}
    assert set(dag.task_ids) == {f"{m}_model_build" for m in models} | {"taxi_zone_lookup_seed_build", "choose_command",
                                                                        "dbt_command"}
    assert dag.get_task("fact_trips_model_build").upstream_task_ids == {
        "stg_green_tripdata_model_build", "stg_yellow_tripdata_model_build", "dim_zones_model_build"}
    assert dag.get_task("choose_command").downstream_task_ids == {
        "stg_green_tripdata_model_build", "stg_yellow_tripdata_model_build", "stg_fhv_tripdata_model_build",
        "taxi_zone_lookup_seed_build", "dbt_command"}
    assert dag.params["dbt_command"] == "build" and "source freshness" in dag.params.get_param("dbt_command").schema["enum"]
    assert dag.catchup is False and dag.max_active_runs == 1


@pytest.mark.parametrize("target", ["postgres", "gcp"])
@pytest.mark.parametrize("taxi,cron", [("green", "0 9 1 * *"), ("yellow", "0 10 1 * *")])
def test_taxi_dag_shape(dagbag, target, taxi, cron):
    """Both targets share schedule, catchup, window, params, retries and the step shape."""
    from airflow.timetables.trigger import CronTriggerTimetable

    dag = dagbag.dags[f"{target}_taxi_{taxi}"]
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable._expression == cron
    assert str(dag.timetable._timezone) in ("UTC", "Timezone('UTC')")
    assert dag.catchup is True
    assert dag.start_date == datetime(2019, 1, 1, tzinfo=timezone.utc)
    # The window ends in the timetable, not in end_date: a manual run dated "now" keeps its tasks.
    assert dag.end_date is None and all(t.end_date is None for t in dag.tasks)
    assert dag.timetable.last_run == datetime(2021, 7, 31, 23, 59, 59, tzinfo=timezone.utc)
    assert set(dag.tags) == {"ny_taxi", target, taxi}
    assert dag.max_active_runs == 2
    assert dag.doc_md and "hash-merge" in dag.doc_md
    assert sorted(dag.params.keys()) == ["month", "source", "year"]
    month = dag.params.get_param("month")
    assert (month.schema["exclusiveMinimum"], month.schema["exclusiveMaximum"]) == (0, 13)  # no UI clamping
    assert (dag.params["year"], dag.params["month"]) == (2021, 7)  # the form: the window's last month
    assert dag.default_args["owner"] == "ny-taxi"
    assert dag.default_args["retry_exponential_backoff"] is True
    assert dag.default_args["retry_delay"] == timedelta(seconds=30)
    assert [t.task_id for t in dag.topological_sort()] == EXPECTED_TASKS[target]
    assert dag.get_task(TEARDOWN[target]).is_teardown
    assert sorted(t.task_id for t in dag.get_task("check_quality").upstream_list) == ["hash_merge", "wait_for_file"]
    sensor = dag.get_task("wait_for_file")  # resolves the month too: one task turn, not two
    assert (sensor.mode, sensor.poke_interval, sensor.multiple_outputs) == ("reschedule", 6 * 3600, True)
    assert sensor.timeout == 0  # conftest: NY_TAXI_PUBLISH_WAIT_DAYS=0 (default 90 days: test_settings)
    assert [a.name for a in dag.get_task("hash_merge").outlets] == [EXPECTED_ASSETS[target].format(taxi=taxi)]
    # conftest sets NY_TAXI_RETRIES=0 for fast failure tests; a bad parameter never retries (AirflowFailException)
    assert all(task.retries == 0 for task in dag.tasks)


def test_gcp_setup_dag(dagbag):
    dag = dagbag.dags["gcp_setup"]
    assert dag.schedule is None or str(dag.timetable.summary) in ("None", "")
    assert [t.task_id for t in dag.topological_sort()] == ["create_bucket", "create_dataset"]
    assert str(dag.get_task("create_dataset").build().if_exists.value) == "skip"


def test_gcp_monthly_load_uses_an_explicit_schema(dagbag):
    load = dagbag.dags["gcp_taxi_green"].get_task("load_monthly_table").arguments  # the real operator's
    assert load["autodetect"] is False and load["write_disposition"] == "WRITE_TRUNCATE"
    # The format comes from the file upload_to_gcs found: csv.gz (GZIP, a header) or parquet.
    assert {load[k].key for k in ("source_format", "compression", "skip_leading_rows")} == {
        "source_format", "compression", "skip_leading_rows"}
    from taxi_pipeline.gcp.tasks import _load_format

    assert _load_format("csv") == {"source_format": "CSV", "compression": "GZIP", "skip_leading_rows": 1}
    # The file's columns (upload_to_gcs read its header): the csv.gz backup has no cbd_congestion_fee.
    schema = load["schema_fields"]
    assert (schema.operator.task_id, schema.key) == ("upload_to_gcs", "schema_fields")
    from taxi_pipeline.gcp.tasks import bigquery_schema

    fields = bigquery_schema(SPECS["green"], SPECS["green"].dtc_columns)
    assert [f["name"] for f in fields] == SPECS["green"].dtc_columns
    assert {f["type"] for f in fields} == {"STRING", "TIMESTAMP", "INTEGER", "NUMERIC"}


def test_tasks_get_the_run_as_arguments_not_by_task_id(dagbag):
    """Values flow as XComArgs: the operators' arguments name the upstream task objects."""
    from airflow.sdk import XComArg

    dag = dagbag.dags["gcp_taxi_green"]
    merge = dag.get_task("hash_merge").arguments
    assert isinstance(merge["configuration"], XComArg) and merge["configuration"].operator.task_id == "find_partitions"
    assert (merge["run"].operator.task_id, merge["run"].key) == ("wait_for_file", "run")
    checks = dag.get_task("check_quality").arguments
    assert (checks["merged"].operator.task_id, checks["run"].operator.task_id) == ("hash_merge", "wait_for_file")
    drop = dag.get_task("drop_monthly_table").arguments["deletion_dataset_table"]
    assert (drop.operator.task_id, drop.key) == ("upload_to_gcs", "monthly_table")


def test_fhv_and_fhvhv_come_from_their_specs_alone(dagbag):
    assert dagbag.dags["postgres_taxi_fhvhv"].start_date == datetime(2019, 2, 1, tzinfo=timezone.utc)  # published from
    assert [t.task_id for t in dagbag.dags["gcp_taxi_fhv"].topological_sort()] == EXPECTED_TASKS["gcp"]


def test_retries_default_is_three(monkeypatch):
    from taxi_pipeline.factory import build_taxi_dag

    monkeypatch.delenv("NY_TAXI_RETRIES")
    dag = build_taxi_dag("postgres", "green")
    assert dag.default_args["retries"] == 3


def test_window_and_runs_override_from_environment(monkeypatch):
    from taxi_pipeline.factory import build_taxi_dag

    monkeypatch.setenv("NY_TAXI_START_MONTH", "2020-11")
    monkeypatch.setenv("NY_TAXI_END_MONTH", "2021-02")
    monkeypatch.setenv("NY_TAXI_MAX_ACTIVE_RUNS", "4")
    dag = build_taxi_dag("postgres", "yellow")
    assert dag.start_date == datetime(2020, 11, 1, tzinfo=timezone.utc)
    assert dag.end_date is None and dag.timetable.last_run == datetime(2021, 2, 28, 23, 59, 59, tzinfo=timezone.utc)
    assert dag.max_active_runs == 4
    # The runs the scheduler creates, from the DAG as the scheduler sees it (serialized and back,
    # through the plugin's timetable registration): one per month, on the 1st at the spec's hour.
    from airflow.serialization.serialized_objects import DagSerialization

    scheduled = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert scheduled.timetable == dag.timetable
    dates = [info.logical_date for info in scheduled.iter_dagrun_infos_between(None, datetime(2030, 1, 1, tzinfo=timezone.utc))]
    assert dates == [
        datetime(2020, 11, 1, 10, tzinfo=timezone.utc),
        datetime(2020, 12, 1, 10, tzinfo=timezone.utc),
        datetime(2021, 1, 1, 10, tzinfo=timezone.utc),
        datetime(2021, 2, 1, 10, tzinfo=timezone.utc),
    ]


def test_bad_window_setting_is_named(monkeypatch):
    from taxi_pipeline.factory import build_taxi_dag
    from taxi_pipeline.months import ParamError

    monkeypatch.setenv("NY_TAXI_END_MONTH", "2021-13")
    with pytest.raises(ParamError, match="NY_TAXI_END_MONTH"):
        build_taxi_dag("postgres", "green")


def test_specs_match_the_release_headers():
    assert SPECS["yellow"].header == (
        "VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,passenger_count,trip_distance,RatecodeID,"
        "store_and_fwd_flag,PULocationID,DOLocationID,payment_type,fare_amount,extra,mta_tax,tip_amount,"
        "tolls_amount,improvement_surcharge,total_amount,congestion_surcharge"
    )
    assert SPECS["green"].header == (
        "VendorID,lpep_pickup_datetime,lpep_dropoff_datetime,store_and_fwd_flag,RatecodeID,PULocationID,"
        "DOLocationID,passenger_count,trip_distance,fare_amount,extra,mta_tax,tip_amount,tolls_amount,ehail_fee,"
        "improvement_surcharge,total_amount,payment_type,trip_type,congestion_surcharge"
    )


def test_dag_file_parses_without_connections_or_network(monkeypatch):
    """Parsing reads no Variable, connection or URL: it works with none of them configured."""
    import socket

    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.delenv("AIRFLOW_CONN_NY_TAXI_POSTGRES", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("DAG parsing opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}


def test_parsing_the_bundle_imports_no_google_operators():
    """The GCP DAGs use LazyOperator: a dag-processor filling the DagBag never imports the Google
    provider's operators or clients (seconds per parse). A fresh process, since this one has."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "parse_child.py"), str(ROOT / "dags")],
                          capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == {} and "gcp_taxi_green" in report["dags"]
    heavy = [m for m in report["google_imported"] if ".operators." in m or ".hooks." in m or ".transfers." in m]
    assert heavy == []
    assert report["google_cloud_imported"] is False


def test_lazy_operator_builds_the_real_operator_with_its_dag(dagbag):
    """What the worker runs: the provider's class, this task's id, the DAG's id (BigQuery job labels)."""
    from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator

    ensure = dagbag.dags["gcp_taxi_green"].get_task("ensure_tables")
    assert ensure.operator_name == "BigQueryInsertJobOperator"
    assert dagbag.dags["gcp_taxi_green"].get_task("hash_merge").operator_name == "HashMergeJobOperator"
    inner = ensure.build()
    assert isinstance(inner, BigQueryInsertJobOperator)
    assert (inner.task_id, inner.dag_id) == ("ensure_tables", "gcp_taxi_green")
    assert inner.configuration["query"]["query"].startswith("CREATE TABLE IF NOT EXISTS green_tripdata (")
    assert len(dagbag.dags["gcp_taxi_green"].tasks) == len(EXPECTED_TASKS["gcp"])  # nothing registered twice
