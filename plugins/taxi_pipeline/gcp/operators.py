"""Operators of the GCP target that subclass the Google provider's.

Imported only when a task runs (through ``LazyOperator``): importing the provider costs seconds
that the dag-processor would otherwise pay on every parse.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator, BigQueryTableCheckOperator

from taxi_pipeline.audit import AUDIT_COLUMNS, load_values
from taxi_pipeline.quality import MonthQualityCheckOperator
from taxi_pipeline.run import Merged, MonthRun, Uploaded, current_attempt
from taxi_pipeline.sql_templates import render


def _parameters(values: dict[str, tuple[str, Any]]):
    from google.cloud import bigquery

    return bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter(name, kind, value) for name, (kind, value) in values.items()])


class HashMergeJobOperator(BigQueryInsertJobOperator):
    """Runs the MERGE job, logs what users look for (rows inserted, bytes processed and billed) and
    writes the load's audit row to ``audit_table``.

    ``run`` and ``uploaded`` are wait_for_file's and upload_to_gcs's results, ``staged_rows`` what
    the monthly table held. The audit row is the job right after the MERGE, from its row count:
    real BigQuery could put both in one multi-statement transaction, but the emulator the tests run
    on cannot, so this is the tested form. What it leaves open: a worker killed between the two
    jobs (one API call apart) leaves that attempt without its row; the retry merges again
    (inserting nothing, the MERGE being idempotent) and writes a row saying so.
    """

    def __init__(self, *, run: MonthRun, uploaded: Uploaded, staged_rows: int, audit_table: str,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run, self.uploaded, self.staged_rows, self.audit_table = run, uploaded, staged_rows, audit_table

    def execute(self, context: Any) -> Merged | None:
        job_id = super().execute(context)
        return self._report(context, job_id) if job_id else None  # deferrable runs report in execute_complete

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Merged:
        return self._report(context, super().execute_complete(context, event))

    def _client(self):
        if self.hook is None:  # a deferred run resumes on a fresh operator
            from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

            self.hook = BigQueryHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        return self.hook.get_client(project_id=self.project_id, location=self.location)

    def _report(self, context: Any, job_id: str) -> Merged:
        from taxi_pipeline.analytics.landed import mark_landed

        self._client()  # makes sure of self.hook
        job = self.hook.get_job(job_id=job_id, project_id=self.project_id, location=self.location)
        inserted = int(getattr(job, "num_dml_affected_rows", None) or 0)
        staged = int(self.staged_rows)
        self.log.info(
            "%s: %s rows in the monthly table, %s inserted, bytes processed %s, billed %s (job %s)",
            self.run["label"], f"{staged:,}", f"{inserted:,}", getattr(job, "total_bytes_processed", None),
            getattr(job, "total_bytes_billed", None), job_id,
        )
        load_id = self._record_load(staged, inserted)
        mark_landed(context, self.run["filename"], inserted)
        return Merged(job_id=job_id, staged_rows=staged, inserted_rows=inserted, skipped_rows=staged - inserted,
                      placement="merged", load_id=load_id)

    def _record_load(self, staged: int, inserted: int) -> str:
        from google.api_core.exceptions import NotFound

        load_id = uuid.uuid4().hex
        audit = load_values(current_attempt(), self.run, self.uploaded, rows_in_file=staged, inserted_rows=inserted,
                            placement="merged")
        values = {"load_id": ("STRING", load_id), **{c.name: (c.bigquery_type, audit[c.name]) for c in AUDIT_COLUMNS}}
        names = {"table": self.audit_table, "audit_columns": AUDIT_COLUMNS}
        client, sql = self._client(), render("bigquery/audit/record_load.sql", **names)
        try:
            client.query(sql, job_config=_parameters(values), location=self.location).result()
        except NotFound:  # the first load of a dataset: create the audit table, then write the row
            client.query(render("bigquery/audit/create_loads.sql", **names), location=self.location).result()
            client.query(sql, job_config=_parameters(values), location=self.location).result()
        self.log.info("%s: audit row %s written to %s", self.run["label"], load_id, self.audit_table)
        return load_id


class BigQueryMonthQualityCheckOperator(MonthQualityCheckOperator, BigQueryTableCheckOperator):
    """quality.py's month checks through the Google provider's BigQueryTableCheckOperator; the
    measures and the audit update go through the client too (``BIGQUERY_EMULATOR_HOST`` works)."""

    template_fields: Sequence[str] = (*BigQueryTableCheckOperator.template_fields, "run", "merged", "audit_table")
    materialized = ""

    def __init__(self, *, audit_table: str, **kwargs: Any) -> None:
        super().__init__(use_legacy_sql=False, **kwargs)
        self.audit_table = audit_table

    def _client(self):
        return self.get_db_hook().get_client(project_id=self.project_id, location=self.location)

    def _submit_job(self, hook: Any, job_id: str) -> Any:
        """The provider's check job, its result read over REST: one row per check needs no BigQuery
        Storage API read session (nor its permission), and the emulator has no Storage API."""
        job = super()._submit_job(hook, job_id)
        result = job.result

        def rest_result(*args: Any, **kwargs: Any) -> Any:
            rows = result(*args, **kwargs)
            to_dataframe = rows.to_dataframe
            rows.to_dataframe = lambda *a, **k: to_dataframe(*a, create_bqstorage_client=False, **k)
            return rows

        job.result = rest_result
        return job

    def first_row(self, sql: str) -> Sequence[Any]:
        return next(iter(self._client().query(sql, location=self.location).result())).values()

    def record_quality(self, load_id: Any, quality: str) -> None:
        sql = render("bigquery/audit/record_quality.sql", table=self.audit_table)
        values = {"quality": ("STRING", quality), "load_id": ("STRING", load_id)}
        self._client().query(sql, job_config=_parameters(values), location=self.location).result()
