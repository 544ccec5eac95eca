"""The GCP target's tasks: ensure table -> upload to the GCS lake -> load a monthly BigQuery table
-> find its partitions -> hash-merge into the partitioned main table (and the audit row) -> check
quality, drop the monthly table.

The main table changes only through the MERGE (one job, atomic), so a failure anywhere leaves it as
it was; the GCS object stays (it is the lake). Project, location, bucket and dataset are Airflow
Variables read in operator arguments (``{{ var.value.* }}``) or inside tasks, never at parse time.
Values flow between tasks as XComArgs: the upload returns the object and the monthly table, and
``find_partitions`` returns the MERGE job it rendered. The provider's operators are
``LazyOperator`` tasks: the dag-processor never imports the Google libraries.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, Variable, XComArg, task
from airflow.sdk.exceptions import AirflowFailException

from taxi_pipeline.assets import table_asset
from taxi_pipeline.lazy_operator import LazyOperator
from taxi_pipeline.extract.releases import LocatedFile, public_url
from taxi_pipeline.run import MergePlan, MonthRun, Uploaded, run_month
from taxi_pipeline.settings import BIGQUERY_AUDIT_TABLE, GCP_CONN_ID, Settings
from taxi_pipeline.specs import TaxiSpec
from taxi_pipeline.sql_templates import render

if TYPE_CHECKING:
    from taxi_pipeline.extract.fetch import Progress

log = logging.getLogger(__name__)

_PROJECT = "{{ var.value.gcp_project_id }}"
_LOCATION = "{{ var.value.gcp_location }}"
_BIGQUERY = "airflow.providers.google.cloud.operators.bigquery"
_OPERATORS = "taxi_pipeline.gcp.operators"


def _table(name: str) -> str:
    """A table of the dataset, fully qualified from the Variables (check and audit jobs have no default dataset)."""
    return f"`{_PROJECT}.{{{{ var.value.gcp_dataset }}}}.{name}`"


def bigquery_schema(spec: TaxiSpec, columns: list[str] | None = None) -> list[dict[str, str]]:
    """An explicit schema (no autodetect) from the spec: of ``columns`` (a file's), default all."""
    return [
        {"name": c.name, "type": c.bigquery_type, "mode": "NULLABLE", "description": c.description}
        for c in (spec.column(n) for n in columns or spec.column_names)
    ]


def query_job(sql: str, project: str, dataset: str) -> dict[str, Any]:
    """A query job's configuration; the SQL names tables relative to the default dataset."""
    return {"query": {"query": sql, "useLegacySql": False,
                      "defaultDataset": {"projectId": project, "datasetId": dataset}}}


def _load_format(file_format: str) -> dict[str, Any]:
    if file_format == "parquet":
        return {"source_format": "PARQUET"}
    return {"source_format": "CSV", "compression": "GZIP", "skip_leading_rows": 1}


def upload_month(spec: TaxiSpec, run: MonthRun, located: LocatedFile, settings: Settings) -> Uploaded:
    """Stream the month's csv.gz (header checked, gzip verified) into the lake, chunk by chunk."""
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    from taxi_pipeline.extract.errors import BadSourceFile, MonthNotPublished

    parquet_source = located["format"] == "parquet"
    bucket = Variable.get("gcp_bucket_name")
    object_name = run["object_name"]
    if parquet_source or settings.gcp_file_format == "parquet":
        object_name = object_name.removesuffix(".csv.gz") + ".parquet"
    blob = GCSHook(gcp_conn_id=GCP_CONN_ID).get_conn().bucket(bucket).blob(
        object_name, chunk_size=settings.gcs_chunk_kib * 1024
    )
    uri = f"gs://{bucket}/{object_name}"
    started_at = datetime.now(timezone.utc).isoformat()
    try:
        if parquet_source:
            size, rows, columns, schema, progress = _upload_parquet(spec, located["url"], run, settings, blob)
        else:
            size, rows, columns, progress = _upload(spec, located["url"], run, settings, blob)
            schema = bigquery_schema(spec, columns)
    except (MonthNotPublished, BadSourceFile, ValueError) as exc:
        raise AirflowFailException(str(exc)) from exc
    log.info("%s: uploaded %s (%.1f MB, %s rows)", run["label"], uri, size / 1e6, f"{rows:,}")
    monthly_table = f"{Variable.get('gcp_project_id')}.{Variable.get('gcp_dataset')}.{run['monthly_table']}"
    load = _load_format("parquet" if parquet_source else settings.gcp_file_format)
    return Uploaded(uri=uri, object_name=object_name, bytes=size, rows=rows, monthly_table=monthly_table,
                    columns=columns, schema_fields=schema, source_format=load["source_format"],
                    compression=load.get("compression", "NONE"), skip_leading_rows=load.get("skip_leading_rows"),
                    # For the audit row: the file as downloaded (the lake object may be a conversion of it).
                    source_url=public_url(located["url"]), compressed_bytes=progress.compressed_bytes,
                    sha256=progress.sha256, started_at=started_at)


def _upload(spec: TaxiSpec, url: str, run: MonthRun, settings: Settings, blob) -> tuple[int, int, list[str], Progress]:
    """(bytes, rows, the file's columns, the download's progress) of the object written to ``blob``:
    the csv.gz as is, or converted to Parquet."""
    from taxi_pipeline.extract.csv_gz import open_month_csv, open_month_gzip

    month, timeout = run_month(run), settings.http_read_timeout
    if settings.gcp_file_format == "csv":
        with open_month_gzip(url, spec, month, read_timeout=timeout) as reader:
            # Resumable upload: the object only appears when the last chunk is committed, and the
            # reader raises before that on a truncated/corrupt stream.
            blob.upload_from_file(reader, content_type="application/gzip")
        return reader.tell(), reader.progress.rows, reader.columns, reader.progress
    from taxi_pipeline.gcp.parquet import write_parquet

    # BlobWriter: resumable too; on an exception its __exit__ cancels the upload.
    with open_month_csv(url, spec, month, read_timeout=timeout) as stream, blob.open(
        "wb", ignore_flush=True, content_type="application/vnd.apache.parquet"
    ) as out:
        rows = write_parquet(stream, spec, out, f"{run['label']} ({url})")
    blob.reload()
    return blob.size, rows, stream.columns, stream.progress


def _upload_parquet(spec: TaxiSpec, url: str, run: MonthRun, settings: Settings,
                    blob) -> tuple[int, int, list[str], list[dict], Progress]:
    """A TLC parquet file into the lake as it is (spooled, columns checked); the monthly table's
    schema is the file's own (BigQuery loads parquet types as they are; the MERGE casts them)."""
    from taxi_pipeline.extract.parquet import spool_parquet

    with spool_parquet(url, spec, run_month(run), read_timeout=settings.http_read_timeout) as spooled:
        blob.upload_from_filename(str(spooled.path), content_type="application/vnd.apache.parquet")
        fields = list(spooled.file.schema_arrow)
        schema = [{"name": f.name, "type": _bigquery_type(f.type), "mode": "NULLABLE"} for f in fields]
        return (spooled.progress.compressed_bytes, spooled.file.metadata.num_rows,
                [name for name in spooled.columns if name], schema, spooled.progress)


def _bigquery_type(arrow_type) -> str:
    import pyarrow as pa

    checks = ((pa.types.is_integer, "INTEGER"), (pa.types.is_floating, "FLOAT"), (pa.types.is_timestamp, "TIMESTAMP"),
              (pa.types.is_boolean, "BOOLEAN"), (pa.types.is_decimal, "NUMERIC"), (pa.types.is_date, "DATE"))
    return next((name for check, name in checks if check(arrow_type)), "STRING")


def plan_merge(spec: TaxiSpec, run: MonthRun, uploaded: Uploaded) -> MergePlan:
    """Pickup dates the month touches, checked against the uploaded rows; returns the MERGE job."""
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    project, dataset = Variable.get("gcp_project_id"), Variable.get("gcp_dataset")
    table = f"`{uploaded['monthly_table']}`"
    # The client (not get_records) so BIGQUERY_EMULATOR_HOST is honoured as well.
    client = BigQueryHook(gcp_conn_id=GCP_CONN_ID).get_client(project_id=project)
    rows = list(client.query(render("bigquery/month_partitions.sql", taxi=spec, table=table)).result())
    loaded = sum(row["trips"] for row in rows)
    if loaded != uploaded["rows"]:
        raise AirflowFailException(
            f"{run['label']}: {table} holds {loaded:,} rows but {uploaded['uri']} has {uploaded['rows']:,}"
        )
    dates = [row["day"].isoformat() for row in rows if row["day"] is not None]
    log.info("%s: %s rows loaded into %s, touching %d pickup-date partitions",
             run["label"], f"{loaded:,}", table, len(dates))
    merge_sql = render("bigquery/merge.sql", taxi=spec, filename=run["filename"], monthly_table=run["monthly_table"],
                       present=uploaded["columns"],
                       dates=dates, null_pickups=any(row["day"] is None for row in rows))
    return MergePlan(rows=loaded, merge_job=query_job(merge_sql, project, dataset))


def _google(task_id: str, operator: str, outlets: list[Asset] | None = None, task: dict[str, Any] | None = None,
            **arguments: Any) -> LazyOperator:
    """A Google provider operator (a bare name: one of the BigQuery operators) as a LazyOperator;
    ``task``: the task's own options (e.g. retries), not the operator's."""
    path = operator if "." in operator else f"{_BIGQUERY}.{operator}"
    return LazyOperator(task_id=task_id, operator=path, arguments={"gcp_conn_id": GCP_CONN_ID, **arguments},
                        outlets=outlets or [], **(task or {}))


def add_gcp_steps(spec: TaxiSpec, run: XComArg, located: XComArg, settings: Settings) -> LazyOperator:
    """The lake object is the source csv.gz as is (default) or Parquet converted in a stream
    (``settings.gcp_file_format``); ``settings.gcp_deferrable`` defers the load and merge jobs.
    Returns the last task (check_quality: the month's summary)."""
    ensure_table = _google(
        "ensure_tables", "BigQueryInsertJobOperator", project_id=_PROJECT, location=_LOCATION,
        configuration=query_job(render("bigquery/create_table.sql", taxi=spec), _PROJECT, "{{ var.value.gcp_dataset }}"),
        deferrable=False,  # a DDL statement: seconds, not worth a trigger
    )
    @task(task_id="upload_to_gcs", multiple_outputs=True)
    def upload_to_gcs(run: MonthRun, located: LocatedFile) -> Uploaded:
        """Stream the month's csv.gz into the lake (header checked, gzip verified); name the monthly table."""
        return upload_month(spec, run, located, settings)

    @task(task_id="find_partitions", multiple_outputs=True)
    def find_partitions(run: MonthRun, uploaded: Uploaded) -> MergePlan:
        """Check the monthly table's rows, find the pickup dates it touches, render the MERGE job."""
        return plan_merge(spec, run, uploaded)

    uploaded = upload_to_gcs(run, located)
    load_monthly = _google(
        "load_monthly_table", "airflow.providers.google.cloud.transfers.gcs_to_bigquery.GCSToBigQueryOperator",
        bucket="{{ var.value.gcp_bucket_name }}", source_objects=[uploaded["object_name"]],
        destination_project_dataset_table=uploaded["monthly_table"], schema_fields=uploaded["schema_fields"],
        autodetect=False, source_format=uploaded["source_format"], compression=uploaded["compression"],
        skip_leading_rows=uploaded["skip_leading_rows"], write_disposition="WRITE_TRUNCATE",
        create_disposition="CREATE_IF_NEEDED", max_bad_records=0, location=_LOCATION, project_id=_PROJECT,
        deferrable=settings.gcp_deferrable,
    )
    partitions = find_partitions(run, uploaded)
    merge = _google(
        "hash_merge", f"{_OPERATORS}.HashMergeJobOperator", project_id=_PROJECT, location=_LOCATION,
        configuration=partitions["merge_job"], run=run, uploaded=uploaded, staged_rows=partitions["rows"],
        audit_table=_table(BIGQUERY_AUDIT_TABLE), deferrable=settings.gcp_deferrable, outlets=[table_asset(spec, "gcp")],
    )
    check_quality = _google(
        "check_quality", f"{_OPERATORS}.BigQueryMonthQualityCheckOperator", taxi=spec.taxi, run=run,
        merged=merge.output, table=_table(spec.table), audit_table=_table(BIGQUERY_AUDIT_TABLE),
        project_id=_PROJECT, location=_LOCATION, task={"retries": 0},  # checking again reads the same rows
    )
    drop_monthly = _google("drop_monthly_table", "BigQueryDeleteTableOperator",
                             deletion_dataset_table=uploaded["monthly_table"], ignore_if_missing=True)
    located >> ensure_table >> uploaded
    load_monthly >> partitions
    # The upload is the setup: once it succeeded, the load job may have created the monthly table
    # (even if the task then failed), so the teardown must run whatever happens after it.
    merge >> drop_monthly.as_teardown(setups=uploaded)
    return check_quality
