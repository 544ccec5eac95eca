"""The GCP target's steps: ensure table -> upload to the GCS lake -> load a monthly BigQuery table
-> find its partitions -> hash-merge into the partitioned main table -> drop the monthly table.

The main table changes only through the MERGE (one job, atomic), so a failure anywhere leaves it as
it was; the GCS object stays (it is the lake). Project, location, bucket and dataset are Airflow
Variables read in templates or inside tasks, never at parse time. The provider's operators are
``LazyOperator`` tasks: the dag-processor never imports the Google libraries.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from airflow.sdk import Asset, Variable, task
from airflow.sdk.exceptions import AirflowFailException

from taxi_pipeline.lazy_operator import LazyOperator
from taxi_pipeline.settings import GCP_CONN_ID
from taxi_pipeline.specs import TaxiSpec

log = logging.getLogger(__name__)

# Resumable upload chunk (a multiple of 256 KiB, as GCS requires): bounded memory whatever the
# file size. NY_TAXI_GCS_CHUNK_KIB overrides it (tests use small chunks to cross chunk boundaries).
UPLOAD_CHUNK_KIB_ENV = "NY_TAXI_GCS_CHUNK_KIB"
DEFAULT_UPLOAD_CHUNK_KIB = 8 * 1024
_PROJECT = "{{ var.value.gcp_project_id }}"
_DATASET = "{{ var.value.gcp_dataset }}"
_RUN = "ti.xcom_pull(task_ids='resolve_month')"
_BIGQUERY = "airflow.providers.google.cloud.operators.bigquery"


def table_asset(spec: TaxiSpec) -> Asset:
    return Asset(name=f"bigquery.{spec.table}")


def bigquery_schema(spec: TaxiSpec) -> list[dict[str, str]]:
    """The monthly table's explicit schema (no autodetect), straight from the spec."""
    return [
        {"name": c.name, "type": c.bigquery_type, "mode": "NULLABLE", "description": c.description}
        for c in spec.columns
    ]


def _query_job(sql_template: str) -> dict[str, Any]:
    return {"query": {"query": "{% include '" + sql_template + "' %}", "useLegacySql": False}}


def _load_format(file_format: str) -> dict[str, Any]:
    if file_format == "csv":
        return {"source_format": "CSV", "compression": "GZIP", "skip_leading_rows": 1}
    if file_format == "parquet":
        return {"source_format": "PARQUET"}
    raise ValueError(f"NY_TAXI_GCP_FILE_FORMAT: expected csv or parquet, got {file_format!r}")


def add_gcp_steps(spec: TaxiSpec, run_info, *, deferrable: bool, file_format: str = "csv") -> None:
    """``file_format``: the lake object -- the source csv.gz as is (default) or Parquet converted in a stream."""
    ensure_table = LazyOperator(
        task_id="ensure_tables",
        operator=f"{_BIGQUERY}.BigQueryInsertJobOperator",
        arguments=dict(
            gcp_conn_id=GCP_CONN_ID,
            project_id=_PROJECT,
            location="{{ var.value.gcp_location }}",
            configuration=_query_job("bigquery/create_table.sql"),
            deferrable=False,  # a DDL statement: seconds, not worth a trigger
        ),
    )

    @task(task_id="upload_to_gcs")
    def upload_to_gcs(run: dict[str, Any]) -> dict[str, Any]:
        """Stream the month's csv.gz (header checked, gzip verified) into the lake, chunk by chunk."""
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        from taxi_pipeline.months import Month
        from taxi_pipeline.source import BadSourceFile, MonthNotPublished, open_month_gzip

        chunk_kib = int(os.environ.get(UPLOAD_CHUNK_KIB_ENV, DEFAULT_UPLOAD_CHUNK_KIB))
        if chunk_kib <= 0 or chunk_kib % 256:
            raise AirflowFailException(f"{UPLOAD_CHUNK_KIB_ENV}={chunk_kib}: must be a positive multiple of 256")
        bucket = Variable.get("gcp_bucket_name")
        object_name = run["object_name"]
        if file_format == "parquet":
            object_name = object_name.removesuffix(".csv.gz") + ".parquet"
        blob = GCSHook(gcp_conn_id=GCP_CONN_ID).get_conn().bucket(bucket).blob(
            object_name, chunk_size=chunk_kib * 1024
        )
        uri = f"gs://{bucket}/{object_name}"
        month = Month(run["year"], run["month"])
        try:
            if file_format == "csv":
                with open_month_gzip(run["url"], spec, month) as reader:
                    # Resumable upload: the object only appears when the last chunk is committed,
                    # and the reader raises before that on a truncated/corrupt stream.
                    blob.upload_from_file(reader, content_type="application/gzip")
                size, rows = reader.tell(), reader.progress.rows
            else:
                from taxi_pipeline.parquet import write_parquet
                from taxi_pipeline.source import open_month_csv

                # BlobWriter: resumable too; on an exception its __exit__ cancels the upload.
                with open_month_csv(run["url"], spec, month) as stream, blob.open(
                    "wb", ignore_flush=True, content_type="application/vnd.apache.parquet"
                ) as out:
                    rows = write_parquet(stream, spec, out, f"{run['label']} ({run['url']})")
                blob.reload()
                size = blob.size
        except (MonthNotPublished, BadSourceFile, ValueError) as exc:
            raise AirflowFailException(str(exc)) from exc
        done = {"uri": uri, "object_name": object_name, "bytes": size, "rows": rows}
        log.info("%s: uploaded %s (%.1f MB, %s rows)", run["label"], uri, size / 1e6, f"{rows:,}")
        return done

    load_monthly = LazyOperator(
        task_id="load_monthly_table",
        operator="airflow.providers.google.cloud.transfers.gcs_to_bigquery.GCSToBigQueryOperator",
        arguments=dict(
            gcp_conn_id=GCP_CONN_ID,
            bucket="{{ var.value.gcp_bucket_name }}",
            source_objects=["{{ ti.xcom_pull(task_ids='upload_to_gcs')['object_name'] }}"],
            destination_project_dataset_table=f"{_PROJECT}.{_DATASET}.{{{{ {_RUN}['monthly_table'] }}}}",
            schema_fields=bigquery_schema(spec),
            autodetect=False,
            **_load_format(file_format),
            write_disposition="WRITE_TRUNCATE",
            create_disposition="CREATE_IF_NEEDED",
            max_bad_records=0,
            location="{{ var.value.gcp_location }}",
            project_id=_PROJECT,
            deferrable=deferrable,
        ),
    )

    @task(task_id="find_partitions")
    def find_partitions(run: dict[str, Any], uploaded: dict[str, Any]) -> dict[str, Any]:
        """Pickup dates the month touches (the MERGE's partition filter) and a row-count check."""
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        from taxi_pipeline.sql_templates import render

        project, dataset = Variable.get("gcp_project_id"), Variable.get("gcp_dataset")
        table = f"`{project}.{dataset}.{run['monthly_table']}`"
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
        return {"rows": loaded, "dates": dates, "null_pickups": any(row["day"] is None for row in rows)}

    merge = LazyOperator(
        task_id="hash_merge",
        operator="taxi_pipeline.gcp_operators.HashMergeJobOperator",
        arguments=dict(
            gcp_conn_id=GCP_CONN_ID,
            project_id=_PROJECT,
            location="{{ var.value.gcp_location }}",
            configuration=_query_job("bigquery/merge.sql"),
            deferrable=deferrable,
        ),
        outlets=[table_asset(spec)],
    )
    drop_monthly = LazyOperator(
        task_id="drop_monthly_table",
        operator=f"{_BIGQUERY}.BigQueryDeleteTableOperator",
        arguments=dict(
            gcp_conn_id=GCP_CONN_ID,
            deletion_dataset_table=f"{_PROJECT}.{_DATASET}.{{{{ {_RUN}['monthly_table'] }}}}",
            ignore_if_missing=True,
        ),
    )
    uploaded = upload_to_gcs(run_info)
    partitions = find_partitions(run_info, uploaded)
    run_info >> ensure_table >> uploaded >> load_monthly >> partitions >> merge
    # The upload is the setup: once it succeeded, the load job may have created the monthly table
    # (even if the task then failed), so the teardown must run whatever happens after it.
    merge >> drop_monthly.as_teardown(setups=uploaded)
