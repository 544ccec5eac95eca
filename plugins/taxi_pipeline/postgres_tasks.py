"""The Postgres target's steps: ensure tables -> load staging -> hash-merge -> drop staging."""

from __future__ import annotations

from typing import Any

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import Asset, task
from airflow.sdk.exceptions import AirflowFailException

from taxi_pipeline.settings import POSTGRES_CONN_ID
from taxi_pipeline.specs import TaxiSpec


def table_asset(spec: TaxiSpec) -> Asset:
    """The Asset a Postgres DAG updates: schedule downstream DAGs on it."""
    return Asset(name=f"{POSTGRES_CONN_ID}.public.{spec.table}")


class HashMergeOperator(SQLExecuteQueryOperator):
    """Runs merge.sql and logs what users look for: rows staged, inserted and skipped."""

    def execute(self, context) -> dict[str, int]:
        rows = super().execute(context)
        inserted = int(rows[0][0])
        run = context["ti"].xcom_pull(task_ids="resolve_month")
        staged = int(context["ti"].xcom_pull(task_ids="load_staging")["staged_rows"])
        self.log.info(
            "%s: %s rows in the file, %s inserted, %s skipped (unique_row_id already in %s)",
            run["label"], f"{staged:,}", f"{inserted:,}", f"{staged - inserted:,}", self.outlets[0].name,
        )
        return {"staged_rows": staged, "inserted_rows": inserted}


def add_postgres_steps(spec: TaxiSpec, run_info) -> None:
    ensure_tables = SQLExecuteQueryOperator(
        task_id="ensure_tables",
        conn_id=POSTGRES_CONN_ID,
        sql="postgres/create_tables.sql",
        split_statements=True,
        do_xcom_push=False,
    )

    @task(task_id="load_staging")
    def load_staging(run: dict[str, Any]) -> dict[str, Any]:
        """Stream the month's csv.gz into this run's staging table (COPY, one transaction)."""
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from taxi_pipeline.months import Month
        from taxi_pipeline.postgres_load import load_month
        from taxi_pipeline.source import BadSourceFile, MonthNotPublished

        conn = PostgresHook(postgres_conn_id=POSTGRES_CONN_ID).get_conn()
        try:
            staged = load_month(
                conn,
                spec,
                Month(run["year"], run["month"]),
                run["url"],
                run["staging_table"],
            )
        except (MonthNotPublished, BadSourceFile) as exc:  # retrying reads the same answer
            raise AirflowFailException(str(exc)) from exc
        finally:
            conn.close()
        return {"staged_rows": staged.rows, "compressed_bytes": staged.compressed_bytes}

    merge = HashMergeOperator(
        task_id="hash_merge",
        conn_id=POSTGRES_CONN_ID,
        sql="postgres/merge.sql",
        split_statements=True,
        outlets=[table_asset(spec)],
    )
    drop_staging = SQLExecuteQueryOperator(
        task_id="drop_staging",
        conn_id=POSTGRES_CONN_ID,
        sql="postgres/drop_staging.sql",
        do_xcom_push=False,
    )
    staged = load_staging(run_info)
    run_info >> ensure_tables >> staged >> merge >> drop_staging.as_teardown(setups=staged)
