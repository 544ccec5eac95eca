"""The dbt DAGs: cosmos renders dbt/taxi_rides_ny as one Airflow task per model (with its tests).

``dbt_taxi_postgres`` and ``dbt_taxi_bigquery`` differ only in their :class:`DbtTarget`: the
connection, the profile cosmos maps from it, the Assets they are scheduled on and the vars and
environment the tasks pass dbt. Both render from the manifest the repository ships
(dbt/taxi_rides_ny/manifest.json, ``make dbt-manifest``; ``LoadMode.DBT_MANIFEST``): parsing a DAG
file needs no dbt, installed or not. Where dbt is missing, a run fails in its first task,
``choose_command``, with one line naming ``make venv-dbt`` and NY_TAXI_DBT_EXECUTABLE.

The models are a cosmos ``DbtTaskGroup`` in an ``airflow.sdk`` DAG, not a ``DbtDag``: cosmos 1.15.1's
DbtDag module imports ``airflow.models.dag.DAG``, which warns at every parse on Airflow 3.3
(astronomer-cosmos#2638, #2648). The group adds no prefix, so the task ids are the DbtDag ones.

A run triggered by Assets (a month landed in green, yellow or fhv) builds the graph with the var
``filenames`` set to the files that landed (landed.py), so the incremental models rebuild those
slices only. A manual run picks the dbt command with the ``dbt_command`` param: ``build`` runs the
graph (every file changed since the last build is rebuilt); any other command runs once, for the
whole project, in the task ``dbt_command``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk import DAG, Asset, AssetAny, Param, task
from airflow.sdk.exceptions import AirflowFailException

from taxi_pipeline.analytics.landed import set_filenames_var
from taxi_pipeline.analytics.sources import MODELLED_TYPES
from taxi_pipeline.months import ParamError
from taxi_pipeline.settings import GCP_CONN_ID, POSTGRES_CONN_ID, Settings
from taxi_pipeline.specs import SPECS

DBT_COMMANDS = ("build", "run", "test", "seed", "source freshness", "compile", "debug")
COMMAND_TASK_ID = "dbt_command"


@dataclass(frozen=True)
class DbtTarget:
    """What differs between building on Postgres and on BigQuery."""

    name: str  # the profile's target: postgres or bigquery
    conn_id: str
    ingest_package: str  # the ingest target (assets.table_asset): the ingest DAGs' Assets it is scheduled on
    profile_mapping: Callable[[str, Settings], Any]  # (conn_id, settings) -> a cosmos profile mapping
    dbt_vars: dict[str, str] = field(default_factory=dict)  # templated at run time
    env: dict[str, str] = field(default_factory=dict)  # templated at run time

    @property
    def dag_id(self) -> str:
        return f"dbt_taxi_{self.name}"

    def assets(self) -> list[Asset]:
        """The table Assets of the modelled types, as the ingest target's merge task emits them."""
        from taxi_pipeline.assets import table_asset

        return [table_asset(SPECS[taxi], self.ingest_package) for taxi in MODELLED_TYPES]


def _postgres_profile(conn_id: str, settings: Settings) -> Any:
    from cosmos.profiles import PostgresUserPasswordProfileMapping

    return PostgresUserPasswordProfileMapping(conn_id=conn_id, profile_args={"schema": settings.dbt_schema})


def _bigquery_profile(conn_id: str, settings: Settings) -> Any:
    from cosmos.profiles import GoogleCloudOauthProfileMapping

    # The project and location are the gcp_* Variables, which parse time must not read: the tasks'
    # env carries them (templated at run time) and dbt reads them in the profile.
    return GoogleCloudOauthProfileMapping(conn_id=conn_id, profile_args={
        "project": "{{ env_var('NY_TAXI_GCP_PROJECT') }}", "dataset": settings.dbt_schema,
        "location": "{{ env_var('NY_TAXI_GCP_LOCATION') }}"})


DBT_TARGETS: dict[str, DbtTarget] = {
    "postgres": DbtTarget("postgres", POSTGRES_CONN_ID, "postgres", _postgres_profile,
                          dbt_vars={"raw_schema": "public"}),
    "bigquery": DbtTarget("bigquery", GCP_CONN_ID, "gcp", _bigquery_profile,
                          dbt_vars={"raw_schema": "{{ var.value.gcp_dataset }}"},
                          env={"NY_TAXI_GCP_PROJECT": "{{ var.value.gcp_project_id }}",
                               "NY_TAXI_GCP_LOCATION": "{{ var.value.gcp_location }}"}),
}


def _trigger_params() -> dict[str, Param]:
    """The trigger form of a dbt DAG: which command, and whether to rebuild from scratch."""
    return {
        "dbt_command": Param("build", enum=list(DBT_COMMANDS), title="dbt command",
                             description="build: every model, one task each, with its tests; "
                                         "anything else: that command once, for the whole project"),
        "full_refresh": Param(False, type="boolean", title="Full refresh",
                              description="Rebuild the incremental models from scratch (build, run, seed)"),
    }


def build_dbt_dag(target_name: str, *, doc_md: str | None = None, settings: Settings | None = None) -> DAG:
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

    from taxi_pipeline.analytics.operators import DbtCommandLocalOperator

    settings = settings or Settings.from_env()
    target = DBT_TARGETS[target_name]
    paths = settings.dbt_paths()
    assets = target.assets()
    profile = ProfileConfig(profile_name="taxi_rides_ny", target_name=target.name,
                            profile_mapping=target.profile_mapping(target.conn_id, settings))
    # BUILDABLE: a test of two models (relationships: fact_trips -> dim_zones) runs in the task of
    # the later one, once both exist, not in dim_zones's task before fact_trips is built.
    execution = ExecutionConfig(execution_mode=ExecutionMode.LOCAL, invocation_mode=InvocationMode.SUBPROCESS,
                                dbt_executable_path=str(paths.executable),
                                test_indirect_selection=TestIndirectSelection.BUILDABLE)
    operator_args = {
        "vars": target.dbt_vars, "append_env": True,
        "interceptors": [set_filenames_var], "emit_datasets": False, "full_refresh": "{{ params.full_refresh }}",
    }
    # The env and no `dbt deps` through ProjectConfig: as operator_args cosmos warns they are deprecated.
    project = ProjectConfig(dbt_project_path=paths.project, manifest_path=paths.manifest, project_name="taxi_rides_ny",
                            env_vars=target.env or None, install_dbt_deps=False)
    # cosmos wraps the manifest in an ObjectStoragePath, whose first open registers every provider's
    # filesystems (the Google provider's hooks included: ~1 s, at each parse). It is a local file.
    project.manifest_path = paths.manifest
    with DAG(
        dag_id=target.dag_id,
        schedule=AssetAny(*assets),
        catchup=False,
        max_active_runs=1,  # builds of the same models queue instead of racing on their tables
        default_args={"retries": settings.retries, "retry_delay": settings.retry_delay},
        params=_trigger_params(),
        tags=["dbt", target.name],
        doc_md=doc_md,
    ) as dag:
        DbtTaskGroup(
            group_id="dbt",
            prefix_group_id=False,
            project_config=project,
            profile_config=profile,
            execution_config=execution,
            # emit_datasets off: cosmos's per-model Assets need the OpenLineage provider's URIs and warn
            # at every task; downstream DAGs can schedule on this DAG's runs instead.
            render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.BUILD,
                                       emit_datasets=False),
            operator_args=operator_args,
        )
        models = [t for t in dag.tasks if not t.upstream_task_ids]

        @task.branch(task_id="choose_command")
        def choose_command(params: dict[str, Any]) -> list[str]:
            """build: the model graph; another command: the dbt_command task. First, that dbt is installed."""
            try:
                paths.require_executable()
            except ParamError as exc:  # one line, no retries: installing dbt is the fix
                raise AirflowFailException(str(exc)) from None
            if params["dbt_command"] == "build":
                return [t.task_id for t in models]
            return [COMMAND_TASK_ID]

        command = DbtCommandLocalOperator(
            task_id=COMMAND_TASK_ID, command="{{ params.dbt_command }}", project_dir=str(paths.project),
            profile_config=profile, dbt_executable_path=str(paths.executable), invocation_mode=InvocationMode.SUBPROCESS,
            env=target.env, install_deps=False, **operator_args,
        )
        choose_command() >> [*models, command]
    return dag
