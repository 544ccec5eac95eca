"""
### dbt on the taxi tables: the course's analytics models, built whenever a month lands

cosmos renders the dbt project `dbt/taxi_rides_ny` as one Airflow task per model, each running
`dbt build` on it (the model and its tests): staging views per trip type, `dim_zones` from the
zone lookup seed, `fact_trips`, `fact_fhv_trips` and `dm_monthly_zone_revenue`.

* **Scheduled on Assets**: a green, yellow or fhv month landing (the ingest DAG's merge) triggers a
  build that rebuilds only the files that landed (the incremental models are keyed by filename).
* **By hand**: the `dbt_command` param picks the command (`build` runs the graph; `run`, `test`,
  `seed`, `source freshness`, ... run once for the whole project); `full_refresh` rebuilds the
  incremental models from scratch.
* **Connections**: `dbt_taxi_postgres` builds with `ny_taxi_postgres` into the schema `analytics`;
  `dbt_taxi_bigquery` with `google_cloud_default` and the `gcp_*` Variables, into the dataset `analytics`.
"""

from __future__ import annotations

from taxi_pipeline.analytics.dags import DBT_TARGETS, build_dbt_dag
from taxi_pipeline.parsing import building

# One DAG per warehouse (analytics/dags.py DBT_TARGETS): the models are the same, the profile differs.
# A task's process builds only its own DAG (parsing.py).
for _target in DBT_TARGETS:
    if building(f"dbt_taxi_{_target}"):
        globals()[f"dbt_taxi_{_target}"] = build_dbt_dag(_target, doc_md=__doc__)
