"""
### NYC TLC taxi trips -> GCS lake -> BigQuery, one month per Airflow run

Each run streams one monthly `csv.gz` release into `gs://{bucket}/{taxi}/{taxi}_tripdata_{YYYY}-{MM}.csv.gz`
(the lake; it stays), loads it into a monthly table `{dataset}.{taxi}_tripdata_{YYYY}_{MM}` with an
explicit schema, and hash-merges it (MERGE) into `{dataset}.{taxi}_tripdata` (partitioned by pickup date) on the
course's MD5 `unique_row_id`, touching only the partitions the month's rows fall in. Re-running a
month inserts nothing.

* **Month of a run**: the month of its logical date (green `0 9 1 * *`, yellow `0 10 1 * *`, UTC);
  a manual trigger can name another with the `year`/`month` params.
* **Configuration**: connection `google_cloud_default`; Variables `gcp_project_id`, `gcp_location`,
  `gcp_bucket_name`, `gcp_dataset` (run `gcp_setup` once); source Variable `ny_taxi_source`.
"""

from __future__ import annotations

from taxi_pipeline.factory import build_taxi_dag
from taxi_pipeline.parsing import building
from taxi_pipeline.specs import SPECS

# One DAG per trip type in specs.SPECS (yellow, green, fhv, fhvhv): a new spec is a new DAG.
# A task's process builds only its own DAG (parsing.py).
for _taxi in SPECS:
    if building(f"gcp_taxi_{_taxi}"):
        globals()[f"gcp_taxi_{_taxi}"] = build_taxi_dag("gcp", _taxi, doc_md=__doc__)
