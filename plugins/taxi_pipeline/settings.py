"""Every setting of the bundle, declared, parsed and validated here and nowhere else.

Deployment settings come from the environment (``NY_TAXI_*``), read when a DAG file is parsed and
again in the task process that re-parses it: cheap, no network, no ``Variable.get``. The source a
run reads is, first to last: the run's ``source`` param, the Airflow Variable ``ny_taxi_source``
(read inside the first task), ``NY_TAXI_SOURCE``; the DAGs' windows follow ``NY_TAXI_SOURCE``
(parse time cannot read Variables). An invalid value fails naming the variable and what it
accepts. The configuration table (docs/configuration.md) is :data:`DECLARED`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taxi_pipeline.months import Month, ParamError, Window

if TYPE_CHECKING:
    from taxi_pipeline.specs import TaxiSpec

POSTGRES_CONN_ID = "ny_taxi_postgres"
AIRFLOW_API_CONN_ID = "ny_taxi_airflow_api"  # optional: the REST API, for the runs' notes (run_note.py)
STAGING_SCHEMA = "taxi_staging"
AUDIT_SCHEMA = "ny_taxi_audit"  # Postgres: ny_taxi_audit.loads, one row per load
BIGQUERY_AUDIT_TABLE = "ny_taxi_loads"  # BigQuery: {gcp_dataset}.ny_taxi_loads
GCP_CONN_ID = "google_cloud_default"
# Airflow Variables replacing the course's KV store (GCP_PROJECT_ID, GCP_LOCATION, GCP_BUCKET_NAME,
# GCP_DATASET); read at run time, settable as AIRFLOW_VAR_<NAME> in the environment.
GCP_VARIABLES = ("gcp_project_id", "gcp_location", "gcp_bucket_name", "gcp_dataset")
SOURCE_VARIABLE = "ny_taxi_source"  # Airflow Variable (or env AIRFLOW_VAR_NY_TAXI_SOURCE)
LATEST = "latest"


def _month(raw: str) -> Month:
    return Month.parse(raw)


def _month_or_latest(raw: str) -> Month | None:
    return None if raw.lower() == LATEST else Month.parse(raw)


def _source(raw: str) -> str:
    from taxi_pipeline.extract.releases import release

    release(raw, setting="NY_TAXI_SOURCE")  # raises naming the variable
    return raw


_source.accepts = "dtc, tlc, or a mirror (directory or URL)"  # type: ignore[attr-defined]
_month_or_latest.accepts = f"YYYY-MM or {LATEST}"  # type: ignore[attr-defined]


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


def _conn_id(raw: str) -> str:
    if raw and not re.fullmatch(r"[A-Za-z0-9_.-]+", raw):
        raise ValueError
    return raw


def _addresses(raw: str) -> tuple[str, ...]:
    addresses = tuple(a.strip() for a in raw.split(",") if a.strip())
    if any(not re.fullmatch(r"[^@\s]+@[^@\s]+", a) for a in addresses):
        raise ValueError
    return addresses


def _address(raw: str) -> str:
    if len(_addresses(raw)) != 1:
        raise ValueError
    return raw


def _identifier(raw: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", raw):
        raise ValueError
    return raw


def _path_or_default(raw: str) -> str:
    # Absolute: a DAG file is parsed from other working directories (dag-processor, workers).
    # Whether it exists is dbt_paths()'s to say, when a dbt DAG needs it.
    if raw and not os.path.isabs(raw):
        raise ValueError
    return raw


def _token(raw: str) -> str:
    if raw and (len(raw) < 16 or not re.fullmatch(r"[A-Za-z0-9._~+/=-]+", raw)):
        raise ValueError
    return raw


_token.accepts = "empty, or 16+ characters (letters, digits, . _ ~ + / = -)"  # type: ignore[attr-defined]
_identifier.accepts = "a lower-case SQL identifier (letters, digits, _)"  # type: ignore[attr-defined]
_path_or_default.accepts = "an absolute path, or empty for the default"  # type: ignore[attr-defined]
_conn_id.accepts = "an Airflow connection id (letters, digits, _ . -) or empty"  # type: ignore[attr-defined]
_addresses.accepts = "comma-separated e-mail addresses"  # type: ignore[attr-defined]
_address.accepts = "one e-mail address"  # type: ignore[attr-defined]
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
    Declared("last_month", "NY_TAXI_END_MONTH", LATEST, _month_or_latest,
             "last month; latest: the source's last (dtc 2021-07; tlc the current month)"),
    Declared("source", "NY_TAXI_SOURCE", "dtc", _source,
             "the deployment's source; the DAGs' windows follow it (Variable ny_taxi_source and the run's param override it)"),
    Declared("publish_poke_seconds", "NY_TAXI_PUBLISH_POKE_SECONDS", "21600", _integer(1),
             "a month not published yet: seconds between looks (the sensor frees its slot meanwhile)"),
    Declared("publish_wait_days", "NY_TAXI_PUBLISH_WAIT_DAYS", "90", _integer(0),
             "days a month may stay unpublished before its run fails"),
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
    Declared("alert", "NY_TAXI_ALERT", "none", _choice("none", "smtp", "slack", "apprise"),
             "where a run that failed after its retries is told (alerts.py): an Airflow notifier"),
    Declared("alert_conn_id", "NY_TAXI_ALERT_CONN_ID", "", _conn_id,
             "the notifier's connection; empty: smtp_default, slack_default or apprise_default"),
    Declared("alert_to", "NY_TAXI_ALERT_TO", "", _addresses, "smtp: the recipients (required with NY_TAXI_ALERT=smtp)"),
    Declared("alert_from", "NY_TAXI_ALERT_FROM", "ny-taxi@localhost", _address, "smtp: the sender"),
    Declared("dbt_project_dir", "NY_TAXI_DBT_PROJECT_DIR", "", _path_or_default,
             "the dbt project; empty: dbt/taxi_rides_ny of this repository"),
    Declared("dbt_executable", "NY_TAXI_DBT_EXECUTABLE", "", _path_or_default,
             "dbt, in its own virtualenv; empty: .venv-dbt/bin/dbt of this repository (`make venv-dbt`)"),
    Declared("dbt_schema", "NY_TAXI_DBT_SCHEMA", "analytics", _identifier,
             "where the dbt models land: the Postgres schema, the BigQuery dataset"),
    Declared("alert_on_success", "NY_TAXI_ALERT_ON_SUCCESS", "false", _boolean,
             "also send each loaded month's one-line summary (rows, quality) to the same channel"),
    Declared("metrics_token", "NY_TAXI_METRICS_TOKEN", "", _token,
             "the bearer token the plugin's /taxi-loads/metrics asks for; empty: open, as Airflow's /api/v2/monitor/health"),
)


@dataclass(frozen=True)
class DbtPaths:
    project: Path
    manifest: Path  # committed (`make dbt-manifest`): parsing needs no dbt
    executable: Path  # needed only when a dbt task runs: require_executable()

    def require_executable(self) -> None:
        """Fail naming the setting when dbt is not installed where NY_TAXI_DBT_EXECUTABLE says."""
        if not os.access(self.executable, os.X_OK):
            raise ParamError(f"NY_TAXI_DBT_EXECUTABLE: {self.executable} is not an executable: "
                             "`make venv-dbt` installs dbt there (or set NY_TAXI_DBT_EXECUTABLE)")


@dataclass(frozen=True)
class Settings:
    first_month: Month
    last_month: Month | None
    source: str
    publish_poke_seconds: int
    publish_wait_days: int
    max_active_runs: int
    retries: int
    retry_delay_seconds: int
    staging_ttl_minutes: int
    http_read_timeout: int
    copy_streams: int
    gcp_deferrable: bool
    gcp_file_format: str
    gcs_chunk_kib: int
    alert: str
    alert_conn_id: str
    alert_to: tuple[str, ...]
    alert_from: str
    alert_on_success: bool
    metrics_token: str
    dbt_project_dir: str
    dbt_executable: str
    dbt_schema: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Parse every declared variable of ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        values = {d.field: d.read(env) for d in DECLARED}
        values.update(overrides)
        settings = cls(**values)
        if settings.last_month is not None and settings.first_month > settings.last_month:
            raise ParamError(f"NY_TAXI_START_MONTH={settings.first_month} is after NY_TAXI_END_MONTH={settings.last_month}")
        if settings.alert == "smtp" and not settings.alert_to:
            raise ParamError("NY_TAXI_ALERT_TO: expected comma-separated e-mail addresses with NY_TAXI_ALERT=smtp, got ''")
        return settings

    def window(self, spec: TaxiSpec, today: datetime | None = None) -> Window:
        """The months ``spec``'s DAGs schedule: NY_TAXI_START..END_MONTH within what the source publishes."""
        from taxi_pipeline.extract.releases import release

        published = release(self.source, setting="NY_TAXI_SOURCE").window(spec, today)
        first = max(self.first_month, published.first)
        last = published.last if self.last_month is None else min(self.last_month, published.last)
        if first > last:
            raise ParamError(
                f"NY_TAXI_START_MONTH..NY_TAXI_END_MONTH ({self.first_month}..{self.last_month or LATEST}) holds no month "
                f"that {self.source} publishes for {spec.taxi} ({published.first}..{published.last})"
            )
        return Window(first, last)

    def dbt_paths(self) -> DbtPaths:
        """Where the dbt project, its manifest and executable are; a missing project or manifest fails
        naming its setting. Whether dbt is installed is not checked here (parse time needs no dbt):
        DbtPaths.require_executable() says it, when a dbt task runs."""
        repo = Path(__file__).resolve().parents[2]
        project = Path(self.dbt_project_dir or repo / "dbt" / "taxi_rides_ny")
        executable = Path(self.dbt_executable or repo / ".venv-dbt" / "bin" / "dbt")
        manifest = project / "manifest.json"
        if not (project / "dbt_project.yml").is_file():
            raise ParamError(f"NY_TAXI_DBT_PROJECT_DIR: no dbt_project.yml in {project}")
        if not manifest.is_file():
            raise ParamError(f"NY_TAXI_DBT_PROJECT_DIR: no {manifest}: `make dbt-manifest` (dbt parse) writes it")
        return DbtPaths(project, manifest, executable)

    @property
    def retry_delay(self) -> timedelta:
        return timedelta(seconds=self.retry_delay_seconds)

    def open_ended(self, spec: TaxiSpec) -> bool:
        """No last month: NY_TAXI_END_MONTH=latest and a source that keeps publishing (tlc)."""
        from taxi_pipeline.extract.releases import release

        return self.last_month is None and release(self.source, setting="NY_TAXI_SOURCE").published(spec)[1] is None

    @property
    def publish_wait(self) -> timedelta:
        return timedelta(days=self.publish_wait_days)

    @property
    def staging_ttl(self) -> timedelta:
        return timedelta(minutes=self.staging_ttl_minutes)


def configuration_table() -> str:
    """The table of environment settings in docs/configuration.md, from :data:`DECLARED` (a test keeps them equal)."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{d.variable}` | `{d.default}` | {d.meaning}; {d.parse.accepts} |" for d in DECLARED]  # type: ignore[attr-defined]
    return "\n".join(lines)
