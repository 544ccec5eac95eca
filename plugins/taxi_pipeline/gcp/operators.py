"""Operators of the GCP target that subclass the Google provider's.

Imported only when a task runs (through ``LazyOperator``): importing the provider costs seconds
that the dag-processor would otherwise pay on every parse.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator


class HashMergeJobOperator(BigQueryInsertJobOperator):
    """Runs the MERGE job and logs what users look for: rows inserted, bytes processed and billed.

    ``month_label`` names the month in the log line; ``staged_rows`` is what the monthly table held.
    """

    def __init__(self, *, month_label: str, staged_rows: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.month_label, self.staged_rows = month_label, staged_rows

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
        inserted = getattr(job, "num_dml_affected_rows", None)
        self.log.info(
            "%s: %s rows in the monthly table, %s inserted, bytes processed %s, billed %s (job %s)",
            self.month_label, f"{int(self.staged_rows):,}", f"{inserted:,}" if inserted is not None else "?",
            getattr(job, "total_bytes_processed", None), getattr(job, "total_bytes_billed", None), job_id,
        )
