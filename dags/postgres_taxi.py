"""
### NYC TLC taxi trips -> Postgres, one month per Airflow run

Each run streams one monthly `csv.gz` release (`{taxi}_tripdata_{YYYY}-{MM}.csv.gz`) into its own
staging table and hash-merges it into `public.{taxi}_tripdata`: rows whose `unique_row_id` (the
course's md5) is already there are skipped, so re-running a month inserts nothing.

* **Month of a run**: the month of its logical date (green runs `0 9 1 * *`, yellow `0 10 1 * *`,
  UTC). A manual trigger can name another month with the `year`/`month` params.
* **Connection**: `ny_taxi_postgres`. **Source**: Variable `ny_taxi_source` (default: the
  DataTalksClub GitHub releases; a mirror URL, `file://` URL or directory works too).
* **Steps**: wait_for_file (the run's month resolved, its file found) -> load_staging (tables
  ensured first) -> hash_merge -> check_quality; drop_staging is the teardown.
"""

from __future__ import annotations

from taxi_pipeline.factory import build_taxi_dag
from taxi_pipeline.parsing import building
from taxi_pipeline.specs import SPECS

# One DAG per trip type in specs.SPECS (yellow, green, fhv, fhvhv): a new spec is a new DAG.
# A task's process builds only its own DAG (parsing.py).
for _taxi in SPECS:
    if building(f"postgres_taxi_{_taxi}"):
        globals()[f"postgres_taxi_{_taxi}"] = build_taxi_dag("postgres", _taxi, doc_md=__doc__)
