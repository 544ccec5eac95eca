"""Where the "Taxi loads" page and ``/metrics`` read their rows: a target's audit table, the dbt
mart, and Airflow's own runs. One function per kind of row; the targets differ only in data
(:data:`AUDIT_TARGETS`), and include/sql/monitor/ has one SQL file per query for both.

Runs in the api-server (the plugin's FastAPI app): the metadata DB comes as the request's
SQLAlchemy session, the audit tables through the provider hooks and the bundle's connections.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from taxi_pipeline.monitor.status import Load, Run, TypeWindow
from taxi_pipeline.months import Month, ParamError, Window, resolve_month
from taxi_pipeline.settings import AUDIT_SCHEMA, BIGQUERY_AUDIT_TABLE, GCP_CONN_ID, POSTGRES_CONN_ID, Settings
from taxi_pipeline.specs import SPECS, get_spec
from taxi_pipeline.sql_templates import render

WAIT_TASK = "wait_for_file"


@dataclass(frozen=True)
class AuditTarget:
    """A target's audit table as the monitor reads it: the label its metrics carry (``target``), the
    DAG factory's target name (``{dag_target}_taxi_{taxi}``) and the SQL dialect's two differences."""

    name: str
    dag_target: str
    param_style: str  # a bind parameter, formatted with its name
    json_text: str  # the function that turns the JSON quality column into text

    def dag_id(self, taxi: str) -> str:
        return f"{self.dag_target}_taxi_{taxi}"

    def render(self, template: str, **context: Any) -> str:
        return render(template, param=self.param_style.format, json_text=self.json_text, **context)


AUDIT_TARGETS: dict[str, AuditTarget] = {
    "postgres": AuditTarget("postgres", "postgres", "%({})s", ""),  # jsonb reaches Python as a dict already
    "bigquery": AuditTarget("bigquery", "gcp", "@{}", "TO_JSON_STRING"),
}


class TargetUnavailable(Exception):
    """The target's table cannot be read (no connection, database down, GCP not configured): one line."""


def windows(settings: Settings) -> list[TypeWindow]:
    """Every type's window, as its DAGs schedule it (the same Settings the DAG files parse)."""
    return [TypeWindow(taxi, settings.window(get_spec(taxi)), settings.open_ended(get_spec(taxi))) for taxi in SPECS]


def span(type_windows: Sequence[TypeWindow]) -> Window:
    return Window(min(w.window.first for w in type_windows), max(w.window.last for w in type_windows))


def _load(row: Sequence[Any]) -> Load:
    taxi, month, dag_id, run_id, rows_in_file, inserted_rows, seconds, finished_at, quality = row
    if isinstance(quality, str):
        quality = json.loads(quality)
    return Load(taxi=taxi, month=Month(month.year, month.month), dag_id=dag_id, run_id=run_id,
                rows_in_file=int(rows_in_file), inserted_rows=int(inserted_rows), seconds=float(seconds),
                finished_at=finished_at if finished_at.tzinfo else finished_at.replace(tzinfo=timezone.utc),
                quality=quality)


def postgres_loads(window: Window, conn_id: str = POSTGRES_CONN_ID) -> list[Load]:
    """The Postgres target's ``ny_taxi_audit.loads`` rows of ``window``; none before the first load
    created the table."""
    rows = _postgres_rows(AUDIT_TARGETS["postgres"].render("monitor/loads.sql", table=f"{AUDIT_SCHEMA}.loads"),
                          _bounds(window), conn_id)
    return [_load(row) for row in rows]


def bigquery_loads(window: Window, *, project: str, dataset: str, location: str | None = None,
                   conn_id: str = GCP_CONN_ID) -> list[Load]:
    """The BigQuery target's ``{dataset}.ny_taxi_loads`` rows of ``window``; none before the first
    load created the table."""
    from google.api_core.exceptions import GoogleAPIError, NotFound
    from google.cloud import bigquery

    sql = AUDIT_TARGETS["bigquery"].render("monitor/loads.sql", table=f"`{project}.{dataset}.{BIGQUERY_AUDIT_TABLE}`")
    config = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ScalarQueryParameter(name, "DATE", day) for name, day in _bounds(window).items()])
    try:
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        client = BigQueryHook(gcp_conn_id=conn_id).get_client(project_id=project, location=location)
        rows = client.query(sql, job_config=config, location=location).result()
        return [_load(row.values()) for row in rows]
    except NotFound:
        return []
    except (GoogleAPIError, OSError) as exc:
        raise TargetUnavailable(f"BigQuery {project}.{dataset}: {_one_line(exc)}") from exc


def zone_revenue(window: Window, schema: str, conn_id: str = POSTGRES_CONN_ID) -> list[dict[str, Any]] | None:
    """The analyst tab's rows (month, service type, borough, trips, revenue); None where the dbt mart
    does not exist (dbt has not run against this database)."""
    sql = AUDIT_TARGETS["postgres"].render("monitor/zone_revenue.sql", schema=schema)
    rows = _postgres_rows(sql, _bounds(window), conn_id, missing=None)
    if rows is None:
        return None
    return [{"month": f"{m:%Y-%m}", "service_type": service, "borough": borough, "trips": int(trips),
             "revenue": float(revenue or 0)} for m, service, borough, trips, revenue in rows]


def _postgres_rows(sql: str, parameters: dict[str, Any], conn_id: str, *, missing: Any = ()) -> Any:
    """The rows of ``sql``, bound with ``parameters``; ``missing`` when its table does not exist yet."""
    import psycopg
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    try:
        conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
    except Exception as exc:  # down, refused, no such connection (its exception class varies by Airflow version)
        raise TargetUnavailable(f"Postgres ({conn_id}): {_one_line(exc)}") from exc
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(sql, parameters)
            return cursor.fetchall()
    except psycopg.errors.UndefinedTable:
        return missing
    except psycopg.Error as exc:
        raise TargetUnavailable(f"Postgres ({conn_id}): {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def airflow_runs(session: Any, target: AuditTarget, type_windows: Iterable[TypeWindow]) -> list[Run]:
    """The runs of the target's taxi DAGs from Airflow's metadata DB, each with the month it loads
    (as the run's own first task, wait_for_file, decides it), its note, the task that failed, and
    what wait_for_file says about the file. Runs whose month cannot be resolved are left out."""
    from airflow.models.dagrun import DagRun, DagRunNote
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    window_of = {target.dag_id(w.taxi): w for w in type_windows}
    runs = session.execute(
        select(DagRun.id, DagRun.dag_id, DagRun.run_id, DagRun.run_type, DagRun.conf, DagRun.logical_date,
               DagRun.state, DagRun.start_date, DagRun.end_date, DagRunNote.content)
        .outerjoin(DagRunNote, DagRunNote.dag_run_id == DagRun.id)
        .where(DagRun.dag_id.in_(list(window_of)))
    ).all()
    tasks: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for dag_id, run_id, task_id, state in session.execute(
        select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.state)
        .where(TaskInstance.dag_id.in_(list(window_of)),
               (TaskInstance.task_id == WAIT_TASK) | TaskInstance.state.in_(["failed", "upstream_failed"]))
    ):
        tasks.setdefault((dag_id, run_id), []).append((task_id, str(state)))
    out = []
    for _, dag_id, run_id, run_type, conf, logical_date, state, started, ended, note in runs:
        w = window_of[dag_id]
        try:
            month, _ = resolve_month(conf or {}, logical_date, w.window, run_type=str(run_type))
        except ParamError:
            continue
        its = tasks.get((dag_id, run_id), [])
        failed = [t for t, s in its if s == "failed"]
        wait_state = next((s for t, s in its if t == WAIT_TASK), None)
        out.append(Run(taxi=w.taxi, month=month, dag_id=dag_id, run_id=run_id, state=str(state), started_at=started,
                       ended_at=ended, note=note, failed_task=failed[0] if failed else None,
                       waiting_for_file=wait_state in ("up_for_reschedule", "deferred"),
                       found_file=wait_state == "success"))
    return out


def scheduler_heartbeat_age(session: Any, now: datetime | None = None) -> float | None:
    """Seconds since the newest scheduler heartbeat in Airflow's job table; None: no scheduler ever ran."""
    from airflow.jobs.job import Job
    from sqlalchemy import func, select

    newest = session.scalar(select(func.max(Job.latest_heartbeat)).where(Job.job_type == "SchedulerJob"))
    if newest is None:
        return None
    newest = newest if newest.tzinfo else newest.replace(tzinfo=timezone.utc)
    return max(((now or datetime.now(timezone.utc)) - newest).total_seconds(), 0.0)


def _bounds(window: Window) -> dict[str, date]:
    return {"first": window.first.first_moment().date(), "last": window.last.first_moment().date()}
