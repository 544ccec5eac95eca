"""The DAG factory: one monthly DAG per (target, taxi type), built from the taxi spec.

Every DAG has the same shape -- resolve month -> wait for its file -> ensure tables -> load ->
hash-merge -> clean up -- with the target (Postgres, GCP) deciding what the steps run. Parse time stays cheap: only the
environment is read here; providers and clients are imported when the tasks run.
"""

from __future__ import annotations

from typing import Callable

from airflow.sdk import DAG, BaseOperator, Param, Variable, XComArg, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException
from airflow.timetables.trigger import CronTriggerTimetable

from taxi_pipeline.alerts import MonthAlerts
from taxi_pipeline.months import ParamError, Window
from taxi_pipeline.published import MonthPublishedSensor
from taxi_pipeline.run import MonthRun, describe_run
from taxi_pipeline.settings import SOURCE_VARIABLE, Settings
from taxi_pipeline.specs import TaxiSpec, get_spec

OWNER = "ny-taxi"


def month_params(window: Window, settings: Settings) -> dict[str, Param]:
    """The trigger form: both empty means "the run's logical date"; both set wins over it."""
    return {
        "source": Param(
            None,
            type=["null", "string"],
            title="Source",
            description=f"dtc (DataTalksClub csv.gz), tlc (official parquet) or a mirror directory/URL. "
            f"Empty: the deployment's (Variable {SOURCE_VARIABLE}, else {settings.source}).",
        ),
        "year": Param(
            None,
            type=["null", "integer"],
            title="Year",
            description=f"Year of the month to load ({window.first}..{window.last}). Empty: the run's logical date.",
        ),
        "month": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=12,
            title="Month",
            description="Month to load, 1-12. Set together with Year.",
        ),
    }


def resolve_month_task(spec: TaxiSpec, window: Window, settings: Settings) -> XComArg:
    @task(task_id="resolve_month", retries=0)
    def resolve_month() -> MonthRun:
        """Validate params / logical date and source; derive the file's places, filename, staging table."""
        context = get_current_context()
        dag_run, params = context["dag_run"], context["params"]
        if params.get("source"):
            source, setting = params["source"], "param 'source'"
        else:
            source = Variable.get(SOURCE_VARIABLE, default=None)
            source, setting = (source, SOURCE_VARIABLE) if source else (settings.source, "NY_TAXI_SOURCE")
        try:
            return describe_run(spec, window, params, context.get("logical_date"), source,
                                dag_id=dag_run.dag_id, run_id=dag_run.run_id, source_setting=setting)
        except ParamError as exc:  # retrying cannot fix a bad parameter
            raise AirflowFailException(str(exc)) from exc

    return resolve_month()


def wait_for_file(run: XComArg, settings: Settings) -> XComArg:
    sensor = MonthPublishedSensor(task_id="wait_for_file", run=run, read_timeout=settings.http_read_timeout,
                                  wait_days=settings.publish_wait_days, poke_interval=settings.publish_poke_seconds)
    run >> sensor
    return sensor.output


def _postgres_steps(spec: TaxiSpec, run: XComArg, located: XComArg, settings: Settings) -> BaseOperator:
    from taxi_pipeline.postgres.tasks import add_postgres_steps

    return add_postgres_steps(spec, run, located, settings)


def _gcp_steps(spec: TaxiSpec, run: XComArg, located: XComArg, settings: Settings) -> BaseOperator:
    from taxi_pipeline.gcp.tasks import add_gcp_steps

    return add_gcp_steps(spec, run, located, settings)


# A target adds the tasks after wait_for_file and returns its last one (it carries the month's summary).
TARGETS: dict[str, Callable[[TaxiSpec, XComArg, XComArg, Settings], BaseOperator]] = {
    "postgres": _postgres_steps,
    "gcp": _gcp_steps,
}


def build_taxi_dag(target: str, taxi: str, *, doc_md: str | None = None, settings: Settings | None = None) -> DAG:
    """Build ``{target}_taxi_{taxi}``: monthly, catchup over the configured window."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: expected one of {sorted(TARGETS)}")
    spec = get_spec(taxi)
    settings = settings or Settings.from_env()
    window = settings.window(spec)
    alerts = MonthAlerts(spec, window, settings) if settings.alert != "none" else None
    with DAG(
        dag_id=f"{target}_taxi_{taxi}",
        description=f"NYC TLC {taxi} taxi trips, one month per run, hash-merged into {target}",
        schedule=CronTriggerTimetable(spec.schedule, timezone="UTC"),
        start_date=window.first.first_moment(),
        end_date=None if settings.open_ended(spec) else window.last.last_moment(),  # tlc: up to today
        catchup=True,
        max_active_runs=settings.max_active_runs,
        params=month_params(window, settings),
        default_args={
            "owner": OWNER,
            "retries": settings.retries,
            "retry_delay": settings.retry_delay,
            "retry_exponential_backoff": True,
            "max_retry_delay": settings.retry_delay * 20,
            **({"on_failure_callback": alerts.on_failure} if alerts else {}),
        },
        tags=["ny_taxi", target, taxi],
        doc_md=doc_md,
    ) as dag:
        run = resolve_month_task(spec, window, settings)
        last = TARGETS[target](spec, run, wait_for_file(run, settings), settings)
        if alerts:
            last.on_success_callback = [alerts.on_success]
    return dag
