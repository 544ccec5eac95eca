"""Operators of the GCP target that subclass the Google provider's.

Imported only when a task runs (through ``LazyOperator``): importing the provider costs seconds
that the dag-processor would otherwise pay on every parse.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator


class HashMergeJobOperator(BigQueryInsertJobOperator):
    """Runs merge.sql and logs what users look for: rows inserted, bytes processed and billed."""

    def execute(self, context: Any) -> str | None:
        job_id = super().execute(context)
        if job_id:  # deferrable runs report in execute_complete
            self._report(context, job_id)
        return job_id

    def execute_complete(self, context: Any, event: dict[str, Any]) -> str | None:
        job_id = super().execute_complete(context, event)
        self._report(context, job_id)
        return job_id

    def _report(self, context: Any, job_id: str) -> None:
        if self.hook is None:  # a deferred run resumes on a fresh operator
            from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

            self.hook = BigQueryHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        job = self.hook.get_job(job_id=job_id, project_id=self.project_id, location=self.location)
        run = context["ti"].xcom_pull(task_ids="resolve_month")
        loaded = context["ti"].xcom_pull(task_ids="find_partitions")["rows"]
        inserted = getattr(job, "num_dml_affected_rows", None)
        self.log.info(
            "%s: %s rows in the monthly table, %s inserted, bytes processed %s, billed %s (job %s)",
            run["label"], f"{loaded:,}", f"{inserted:,}" if inserted is not None else "?",
            getattr(job, "total_bytes_processed", None), getattr(job, "total_bytes_billed", None), job_id,
        )
