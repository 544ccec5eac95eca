"""
### GCP setup: the lake bucket and the warehouse dataset (Airflow version of the course's `07_gcp_setup`)

Creates the GCS bucket `gcp_bucket_name` and the BigQuery dataset `gcp_dataset` in `gcp_location`
(project `gcp_project_id`) when they are missing, and does nothing when they exist (the course's
`ifExists: SKIP`). Run it once by hand before the `gcp_taxi_*` DAGs; re-running is harmless.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from taxi_pipeline.lazy_operator import LazyOperator
from taxi_pipeline.settings import GCP_CONN_ID

with DAG(
    dag_id="gcp_setup",
    schedule=None,
    start_date=datetime(2019, 1, 1),
    catchup=False,
    tags=["ny_taxi", "gcp", "setup"],
    default_args={"owner": "ny-taxi", "retries": 1},
    doc_md=__doc__,
) as dag:
    # LazyOperator: the Google provider is imported by the task, not by every parse of this file.
    create_bucket = LazyOperator(
        task_id="create_bucket",
        operator="airflow.providers.google.cloud.operators.gcs.GCSCreateBucketOperator",
        arguments=dict(
            gcp_conn_id=GCP_CONN_ID,
            bucket_name="{{ var.value.gcp_bucket_name }}",
            project_id="{{ var.value.gcp_project_id }}",
            location="{{ var.value.gcp_location }}",
        ),
    )
    create_dataset = LazyOperator(
        task_id="create_dataset",
        operator="airflow.providers.google.cloud.operators.bigquery.BigQueryCreateEmptyDatasetOperator",
        arguments=dict(
            gcp_conn_id=GCP_CONN_ID,
            dataset_id="{{ var.value.gcp_dataset }}",
            project_id="{{ var.value.gcp_project_id }}",
            location="{{ var.value.gcp_location }}",
            if_exists="skip",
        ),
    )
    create_bucket >> create_dataset
