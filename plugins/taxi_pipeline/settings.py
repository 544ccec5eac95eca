"""Deployment settings read from the environment at parse time (cheap, no network, no Variable.get).

| env var | default | meaning |
| --- | --- | --- |
| ``NY_TAXI_START_MONTH`` | 2019-01 | first month the DAGs schedule and accept |
| ``NY_TAXI_END_MONTH`` | 2021-07 | last month (the last one the releases publish) |
| ``NY_TAXI_MAX_ACTIVE_RUNS`` | 2 | months one DAG loads at once |
| ``NY_TAXI_RETRIES`` | 3 | task retries (exponential backoff) |
| ``NY_TAXI_RETRY_DELAY_SECONDS`` | 30 | first retry delay; doubles up to 10 minutes |
| ``NY_TAXI_STAGING_TTL_MINUTES`` | 360 | staging older than this, left by a killed run, is swept |

Settings read inside tasks instead: the source base URL (Variable ``ny_taxi_source``) and the HTTP
read timeout (``NY_TAXI_HTTP_READ_TIMEOUT``, seconds).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from taxi_pipeline.months import ParamError, Window

POSTGRES_CONN_ID = "ny_taxi_postgres"
STAGING_SCHEMA = "taxi_staging"
GCP_CONN_ID = "google_cloud_default"
# Airflow Variables replacing the course's KV store (GCP_PROJECT_ID, GCP_LOCATION, GCP_BUCKET_NAME,
# GCP_DATASET); read in templates at run time, settable as AIRFLOW_VAR_<NAME> in the environment.
GCP_VARIABLES = ("gcp_project_id", "gcp_location", "gcp_bucket_name", "gcp_dataset")


def _positive_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    if not raw.strip().isdigit() or int(raw) < minimum:
        raise ParamError(f"{name}: expected an integer >= {minimum}, got {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Settings:
    window: Window
    max_active_runs: int
    retries: int
    retry_delay: timedelta
    staging_ttl: timedelta

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            window=Window.from_env(),
            max_active_runs=_positive_int("NY_TAXI_MAX_ACTIVE_RUNS", 2, minimum=1),
            retries=_positive_int("NY_TAXI_RETRIES", 3),
            retry_delay=timedelta(seconds=_positive_int("NY_TAXI_RETRY_DELAY_SECONDS", 30, minimum=1)),
            # Far longer than any load->merge gap, so a live run's staging is never swept.
            staging_ttl=timedelta(minutes=_positive_int("NY_TAXI_STAGING_TTL_MINUTES", 360)),
        )
