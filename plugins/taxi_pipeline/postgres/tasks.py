"""The Postgres target's tasks: load staging (tables ensured first) -> hash-merge -> check quality, drop staging.

Each task gets what it needs as arguments (the run from ``wait_for_file``, the staged month from
``load_staging``, the merge's result); the work itself is in steps.py and quality.py.
"""

from __future__ import annotations

from airflow.sdk import BaseOperator, XComArg, task
from airflow.sdk.exceptions import AirflowFailException

from taxi_pipeline.assets import table_asset
from taxi_pipeline.postgres import steps
from taxi_pipeline.quality import MonthQualityCheckOperator
from taxi_pipeline.extract.releases import LocatedFile
from taxi_pipeline.run import Merged, MonthRun, Staged, current_attempt
from taxi_pipeline.settings import POSTGRES_CONN_ID, Settings
from taxi_pipeline.specs import TaxiSpec


def add_postgres_steps(spec: TaxiSpec, run: XComArg, located: XComArg, settings: Settings) -> BaseOperator:
    """The tasks after wait_for_file; returns the last one (check_quality: the month's summary)."""
    @task(task_id="load_staging")
    def load_staging(run: MonthRun, located: LocatedFile) -> Staged:
        """Create the tables if missing (CREATE IF NOT EXISTS: the partitioned main table, its strays
        index, the staging schema), then stream the month's file (csv.gz or parquet) into this run's
        staging table (COPY, one transaction)."""
        from taxi_pipeline.extract.errors import BadSourceFile, MonthNotPublished

        try:
            return steps.load_staging(spec, run, located, settings)
        except (MonthNotPublished, BadSourceFile) as exc:  # retrying reads the same answer
            raise AirflowFailException(str(exc)) from exc

    @task(task_id="hash_merge", outlets=[table_asset(spec, "postgres")])
    def hash_merge(run: MonthRun, staged: Staged) -> Merged:
        """Insert the staged rows whose md5 unique_row_id is not in the table yet, and the load's audit row (one transaction)."""
        from airflow.sdk import get_current_context

        from taxi_pipeline.analytics.landed import mark_landed

        merged = steps.hash_merge(spec, run, staged, current_attempt())
        mark_landed(get_current_context(), run["filename"], merged["inserted_rows"])
        return merged

    @task(task_id="drop_staging")
    def drop_staging(run: MonthRun, merged: Merged | None) -> None:
        """Teardown: drop this run's staging table if the merge failed (``merged`` is then None)."""
        steps.drop_staging(spec, run, merged)

    staged = load_staging(run, located)
    merged = hash_merge(run, staged)
    drop_staging(run, merged).as_teardown(setups=staged)
    return MonthQualityCheckOperator(task_id="check_quality", taxi=spec.taxi, run=run, merged=merged,
                              record_template="postgres/audit/record_quality.sql",
                              table=f"public.{spec.table}", conn_id=POSTGRES_CONN_ID, retries=0,
                              doc_md="The spec's data-quality checks on the month's rows (fail: the run fails, the rows stay).")
