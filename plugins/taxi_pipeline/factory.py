"""The DAG factory: one monthly DAG per (target, taxi type), built from the taxi spec.

Every DAG has the same shape -- resolve the month and wait for its file -> load -> hash-merge ->
check quality, clean up -- with the target (Postgres, GCP) deciding what the steps run. Parse time stays cheap: only the
environment is read here; providers and clients are imported when the tasks run.
"""

from __future__ import annotations

from typing import Callable

from airflow.sdk import DAG, BaseOperator, Context, Param, Variable, XComArg
from airflow.sdk.exceptions import AirflowFailException

from taxi_pipeline.alerts import MonthAlerts
from taxi_pipeline.months import ParamError, Window
from taxi_pipeline.extract.published import MonthPublishedSensor
from taxi_pipeline.run import MonthRun, describe_run
from taxi_pipeline.settings import SOURCE_VARIABLE, Settings
from taxi_pipeline.specs import TaxiSpec, get_spec
from taxi_pipeline.timetables import WindowCronTimetable

OWNER = "ny-taxi"


def month_params(window: Window, settings: Settings) -> dict[str, Param]:
    """The trigger form, pre-filled with the latest month the DAG can load (the window's last).

    Only manual runs read Year/Month; scheduled and backfill runs load their logical date's month
    (``taxi_pipeline.months``), so the pre-filled values cannot redirect a backfill. Month's bounds
    are *exclusive* on purpose: the UI's number field clamps a value outside ``minimum``/``maximum``
    on blur (13 silently became 12, a December run), while exclusive bounds leave 13 as typed for
    the API to refuse with the form's error. Year has no bounds for the same reason; resolve_month
    checks the whole month against the window and names it.
    """
    latest = window.last
    return {
        "source": Param(
            None,
            type=["null", "string"],
            title="Source",
            description=f"dtc (DataTalksClub csv.gz), tlc (official parquet) or a mirror directory/URL. "
            f"Empty: the deployment's (Variable {SOURCE_VARIABLE}, else {settings.source}).",
        ),
        "year": Param(
            latest.year,
            type=["null", "integer"],
            title="Year",
            description=f"This DAG loads {window.first}..{window.last}; pre-filled with the latest, {latest}. "
            "Clear Year and Month to load the Logical Date's month instead. "
            "Scheduled and backfill runs ignore both: each loads its logical date's month.",
        ),
        "month": Param(
            latest.month,
            type=["null", "integer"],
            exclusiveMinimum=0,
            exclusiveMaximum=13,
            title="Month",
            description="1-12, with Year.",
        ),
    }


class MonthResolver:
    """What the first task does before it looks for the file: the run's month and source, checked.

    A bad parameter fails the task at once, naming it (AirflowFailException: retrying cannot fix
    it). Called on every look, which costs microseconds and a Variable read."""

    def __init__(self, spec: TaxiSpec, window: Window, settings: Settings) -> None:
        self.spec, self.window, self.settings = spec, window, settings

    def __call__(self, context: Context) -> MonthRun:
        dag_run, params = context["dag_run"], context["params"]
        if params.get("source"):
            source, setting = params["source"], "param 'source'"
        else:
            source = Variable.get(SOURCE_VARIABLE, default=None)
            source, setting = (source, SOURCE_VARIABLE) if source else (self.settings.source, "NY_TAXI_SOURCE")
        try:
            return describe_run(self.spec, self.window, dag_run.conf or {}, context.get("logical_date"), source,
                                dag_id=dag_run.dag_id, run_id=dag_run.run_id, run_type=str(dag_run.run_type),
                                source_setting=setting)
        except ParamError as exc:
            raise AirflowFailException(str(exc)) from exc


def wait_for_file(spec: TaxiSpec, window: Window, settings: Settings) -> tuple[XComArg, XComArg]:
    """The run's first task: resolve the month (params / logical date, source), then wait for its
    file. Returns its two outputs: the run (MonthRun) and the file it found (LocatedFile).

    One task, not two: resolving the month was a task of its own (resolve_month) that took a task
    turn per run -- a process, the DAG file parsed, the scheduler's and the executor's turns: its
    executor turn and its own time were 0.13 s + 0.39 s of a 200k-row month's 6.8 s
    (benchmarks/backfill-real/green/RESULTS-before.md) -- for a few milliseconds of work. The
    waiting is what this task shows in the grid for weeks on the live schedule, so it keeps the
    sensor's name; a bad parameter fails it at once, with the note naming the parameter."""
    sensor = MonthPublishedSensor(task_id="wait_for_file", resolve=MonthResolver(spec, window, settings),
                                  read_timeout=settings.http_read_timeout, wait_days=settings.publish_wait_days,
                                  poke_interval=settings.publish_poke_seconds)
    return sensor.output["run"], sensor.output["located"]


def _postgres_steps(spec: TaxiSpec, run: XComArg, located: XComArg, settings: Settings) -> BaseOperator:
    from taxi_pipeline.postgres.tasks import add_postgres_steps

    return add_postgres_steps(spec, run, located, settings)


def _gcp_steps(spec: TaxiSpec, run: XComArg, located: XComArg, settings: Settings) -> BaseOperator:
    from taxi_pipeline.gcp.tasks import add_gcp_steps

    return add_gcp_steps(spec, run, located, settings)


# A target adds the tasks after wait_for_file and returns its last one (it carries the month's summary).
INGEST_TARGETS: dict[str, Callable[[TaxiSpec, XComArg, XComArg, Settings], BaseOperator]] = {
    "postgres": _postgres_steps,
    "gcp": _gcp_steps,
}


def build_taxi_dag(target: str, taxi: str, *, doc_md: str | None = None, settings: Settings | None = None) -> DAG:
    """Build ``{target}_taxi_{taxi}``: monthly, catchup over the configured window."""
    if target not in INGEST_TARGETS:
        raise ValueError(f"unknown target {target!r}: expected one of {sorted(INGEST_TARGETS)}")
    spec = get_spec(taxi)
    settings = settings or Settings.from_env()
    window = settings.window(spec)
    alerts = MonthAlerts(spec, window, settings)  # the failure's note always; a notifier if NY_TAXI_ALERT says
    with DAG(
        dag_id=f"{target}_taxi_{taxi}",
        description=f"NYC TLC {taxi} taxi trips, one month per run, hash-merged into {target}",
        # The schedule ends with the window (tlc: open-ended), not the DAG's end_date: see timetables.py.
        schedule=WindowCronTimetable(spec.schedule, timezone="UTC",
                                     last_run=None if settings.open_ended(spec) else window.last.last_moment()),
        start_date=window.first.first_moment(),
        catchup=True,
        max_active_runs=settings.max_active_runs,
        params=month_params(window, settings),
        default_args={
            "owner": OWNER,
            "retries": settings.retries,
            "retry_delay": settings.retry_delay,
            "retry_exponential_backoff": True,
            "max_retry_delay": settings.retry_delay * 20,
            "on_failure_callback": alerts.on_failure,
        },
        tags=["ny_taxi", target, taxi],
        doc_md=doc_md,
    ) as dag:
        run, located = wait_for_file(spec, window, settings)
        last = INGEST_TARGETS[target](spec, run, located, settings)
        if settings.alert != "none":
            last.on_success_callback = [alerts.on_success]
    return dag
