"""Every setting of the bundle, declared, parsed and validated here and nowhere else.

Deployment settings come from the environment (``NY_TAXI_*``), read when a DAG file is parsed and
again in the task process that re-parses it: cheap, no network, no ``Variable.get``. The source
base URL is an Airflow Variable, read inside the first task of a run. An invalid value fails
naming the variable and what it accepts. The README's configuration table is :data:`DECLARED`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from taxi_pipeline.months import Month, ParamError, Window

POSTGRES_CONN_ID = "ny_taxi_postgres"
STAGING_SCHEMA = "taxi_staging"
GCP_CONN_ID = "google_cloud_default"
# Airflow Variables replacing the course's KV store (GCP_PROJECT_ID, GCP_LOCATION, GCP_BUCKET_NAME,
# GCP_DATASET); read at run time, settable as AIRFLOW_VAR_<NAME> in the environment.
GCP_VARIABLES = ("gcp_project_id", "gcp_location", "gcp_bucket_name", "gcp_dataset")
SOURCE_VARIABLE = "ny_taxi_source"  # Airflow Variable (or env AIRFLOW_VAR_NY_TAXI_SOURCE)
DEFAULT_SOURCE = "https://github.com/DataTalksClub/nyc-tlc-data/releases/download"


def _month(raw: str) -> Month:
    return Month.parse(raw)


def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
            raise ValueError
        return int(raw)

    parse.accepts = f"an integer {low}..{high}" if high is not None else f"an integer >= {low}"  # type: ignore[attr-defined]
    return parse


def _boolean(raw: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise ValueError
    return raw.lower() == "true"


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.lower() not in options:
            raise ValueError
        return raw.lower()

    parse.accepts = " or ".join(options)  # type: ignore[attr-defined]
    return parse


def _upload_chunk(raw: str) -> int:
    if not raw.isdigit() or int(raw) <= 0 or int(raw) % 256:
        raise ValueError
    return int(raw)


_month.accepts = "YYYY-MM"  # type: ignore[attr-defined]
_boolean.accepts = "true or false"  # type: ignore[attr-defined]
_upload_chunk.accepts = "a positive multiple of 256 (GCS resumable chunks)"  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Declared:
    """One environment setting: its variable, default (as written in the environment), parser, meaning."""

    field: str
    variable: str
    default: str
    parse: Callable[[str], Any]
    meaning: str

    def read(self, env: Mapping[str, str]) -> Any:
        raw = (env.get(self.variable) or "").strip() or self.default
        try:
            return self.parse(raw)
        except (ValueError, ParamError):
            raise ParamError(f"{self.variable}: expected {self.parse.accepts}, got {raw!r}") from None  # type: ignore[attr-defined]


DECLARED: tuple[Declared, ...] = (
    Declared("first_month", "NY_TAXI_START_MONTH", "2019-01", _month, "first month the DAGs schedule and accept"),
    Declared("last_month", "NY_TAXI_END_MONTH", "2021-07", _month, "last month (the last one the releases publish)"),
    Declared("max_active_runs", "NY_TAXI_MAX_ACTIVE_RUNS", "2", _integer(1), "months one DAG loads at once"),
    Declared("retries", "NY_TAXI_RETRIES", "3", _integer(0), "task retries, exponential backoff"),
    Declared("retry_delay_seconds", "NY_TAXI_RETRY_DELAY_SECONDS", "30", _integer(1),
             "first retry delay, seconds; doubles, capped at 20x"),
    Declared("staging_ttl_minutes", "NY_TAXI_STAGING_TTL_MINUTES", "360", _integer(0),
             "staging older than this, left by a killed run, is swept"),
    Declared("http_read_timeout", "NY_TAXI_HTTP_READ_TIMEOUT", "60", _integer(1),
             "seconds without a byte from the source before an attempt fails"),
    Declared("copy_streams", "NY_TAXI_COPY_STREAMS", "2", _integer(1, 16),
             "parallel COPY connections per month (Postgres)"),
    Declared("gcp_deferrable", "NY_TAXI_GCP_DEFERRABLE", "false", _boolean,
             "BigQuery load/merge jobs deferrable (needs a triggerer)"),
    Declared("gcp_file_format", "NY_TAXI_GCP_FILE_FORMAT", "csv", _choice("csv", "parquet"),
             "the lake object: the source csv.gz as is, or Parquet converted in a stream"),
    Declared("gcs_chunk_kib", "NY_TAXI_GCS_CHUNK_KIB", "8192", _upload_chunk, "GCS resumable upload chunk, KiB"),
)


@dataclass(frozen=True)
class Settings:
    first_month: Month
    last_month: Month
    max_active_runs: int
    retries: int
    retry_delay_seconds: int
    staging_ttl_minutes: int
    http_read_timeout: int
    copy_streams: int
    gcp_deferrable: bool
    gcp_file_format: str
    gcs_chunk_kib: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Parse every declared variable of ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        values = {d.field: d.read(env) for d in DECLARED}
        values.update(overrides)
        settings = cls(**values)
        settings.window  # noqa: B018 -- validates first <= last
        return settings

    @property
    def window(self) -> Window:
        try:
            return Window(self.first_month, self.last_month)
        except ParamError:
            raise ParamError(
                f"NY_TAXI_START_MONTH={self.first_month} is after NY_TAXI_END_MONTH={self.last_month}"
            ) from None

    @property
    def retry_delay(self) -> timedelta:
        return timedelta(seconds=self.retry_delay_seconds)

    @property
    def staging_ttl(self) -> timedelta:
        return timedelta(minutes=self.staging_ttl_minutes)


def configuration_table() -> str:
    """The README's table of environment settings, from :data:`DECLARED` (a test keeps them equal)."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{d.variable}` | `{d.default}` | {d.meaning}; {d.parse.accepts} |" for d in DECLARED]  # type: ignore[attr-defined]
    return "\n".join(lines)
