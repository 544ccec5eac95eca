"""Data-quality checks on a loaded month, run by the common.sql provider's SQLTableCheckOperator.

The checks are data in each taxi spec (:class:`~taxi_pipeline.specs.QualityCheck`). Their query is
ours (include/sql/quality/month_checks.sql: the month's rows, by filename, once the merge is done),
set as the operator's templated ``sql``; the provider's public ``execute`` runs it and gives the
verdict per check. Both targets alike: Postgres through this class, BigQuery through the Google
provider's BigQueryTableCheckOperator (gcp/operators.py), which only changes how a query reaches
the server. One more aggregate query measures what each check looked at, so every message names
the file, the check and the measured value against its bounds, and the audit row records them all
(``quality``).

A ``fail`` check fails the run after the merge: the data stays, as docs/audit-quality-alerts.md says (loading is
idempotent; a fixed file re-loads). A ``warn`` check is logged and recorded; the run succeeds."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from airflow.exceptions import AirflowException
from airflow.providers.common.sql.operators.sql import SQLTableCheckOperator
from airflow.sdk.exceptions import AirflowFailException

from taxi_pipeline.run import Merged, MonthRun, QualityVerdict, run_month
from taxi_pipeline.run_note import set_run_note
from taxi_pipeline.settings import AUDIT_SCHEMA
from taxi_pipeline.specs import QualityCheck, TaxiSpec, get_spec
from taxi_pipeline.sql_templates import render

log = logging.getLogger(__name__)


def month_facts(spec: TaxiSpec, run: MonthRun, merged: Merged) -> dict[str, Any]:
    """What a check's SQL and bounds may name (specs.QualityCheck)."""
    month = run_month(run)
    after = month.next()
    return {"pickup": spec.pickup_column, "dropoff": spec.dropoff_column,
            "month_first": f"{month.year:04d}-{month.month:02d}-01", "month_after": f"{after.year:04d}-{after.month:02d}-01",
            "rows_in_file": merged["staged_rows"], "rows_expected": merged["staged_rows"] - merged["skipped_rows"]}


def _bound(value: float | str | None, facts: dict[str, Any]) -> float | None:
    return facts[value] if isinstance(value, str) else value  # a fact's name, e.g. "rows_in_file"


def _shown(check: QualityCheck, value: float | None) -> str:
    if value is None:
        return "NULL"
    value = float(value)  # Postgres numeric arrives as Decimal
    return f"{100 * value:.3g}%" if check.percent else f"{value:,.0f}" if value.is_integer() else f"{value:,.4g}"


def verdict(check: QualityCheck, measured: float | None, passed: bool, facts: dict[str, Any]) -> dict[str, Any]:
    low, high = _bound(check.at_least, facts), _bound(check.at_most, facts)
    bounds = " and ".join(f"{word} {_shown(check, b)}" for word, b in (("at least", low), ("at most", high)) if b is not None)
    return {"check": check.name, "severity": check.severity, "passed": passed,
            "measured": None if measured is None else float(measured), "at_least": low, "at_most": high,
            "says": f"{check.name}: {_shown(check, measured)} (expected {bounds})"}


class MonthQualityCheckOperator(SQLTableCheckOperator):
    """The ``taxi`` spec's checks on one loaded month of ``table``; ``run`` and ``merged`` are
    XComArgs (wait_for_file's run, hash_merge's result: staged/inserted/skipped rows, the audit
    row's ``load_id``), so the checks are built when the task runs. ``record_template`` (an
    include/sql template, given ``audit_schema``) writes the results into the audit row
    (``%(quality)s``: JSON, ``%(load_id)s``)."""

    template_fields: Sequence[str] = (*SQLTableCheckOperator.template_fields, "run", "merged")
    materialized = "MATERIALIZED "  # Postgres: compute the month's measures once (BigQuery has no such keyword)

    def __init__(self, *, taxi: str, run: Any, merged: Any, record_template: str = "", **kwargs: Any) -> None:
        spec = get_spec(taxi)
        super().__init__(checks={c.name: {"check_statement": "TRUE"} for c in spec.checks}, **kwargs)
        self.spec, self.run, self.merged, self.record_template = spec, run, merged, record_template

    # The measures and the audit update share one connection (the hook's get_first and run opened
    # one each: a login per statement); the provider's check query has its own.
    _conn: Any = None

    def first_row(self, sql: str) -> Sequence[Any]:
        self._conn = self.get_db_hook().get_conn()
        return self._conn.execute(sql).fetchone()

    def record_quality(self, load_id: Any, quality: str) -> None:
        self._conn.execute(render(self.record_template, audit_schema=AUDIT_SCHEMA), {"quality": quality, "load_id": load_id})
        self._conn.commit()

    def close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def execute(self, context: Any) -> QualityVerdict:
        run, merged, facts = self.run, self.merged, month_facts(self.spec, self.run, self.merged)
        measure_sql = self.prepare(facts)
        try:
            super().execute(context)  # the provider's query and verdicts (self.checks[...]["success"])
        except AirflowException:  # some check failed: self.checks says which, the measures below what they saw
            pass
        try:
            values = self.first_row(measure_sql)
            results = [verdict(c, v, bool(self.checks[c.name].get("success")), facts) for c, v in zip(self.spec.checks, values)]
            failed = [r for r in results if not r["passed"] and r["severity"] == "fail"]
            warned = [r for r in results if not r["passed"] and r["severity"] == "warn"]
            quality = {"verdict": "fail" if failed else "warn" if warned else "ok", "checks": results}
            self.record_quality(merged["load_id"], json.dumps(quality))
        finally:
            self.close_connection()
        for r in results:
            level = logging.INFO if r["passed"] else logging.ERROR if r["severity"] == "fail" else logging.WARNING
            log.log(level, "%s: %s %s", run["filename"], "ok  " if r["passed"] else r["severity"], r["says"])
        summary = (f"{run['label']}: {merged['inserted_rows']:,} rows inserted, {merged['skipped_rows']:,} skipped, "
                   f"quality {quality['verdict']}" + "".join(f"; {r['severity']}: {r['says']}" for r in failed + warned))
        log.info("%s", summary)
        set_run_note(context["dag_run"].dag_id, context["dag_run"].run_id, summary)
        if failed:  # checking again reads the same rows: no retry
            raise AirflowFailException(f"{run['filename']}: {len(failed)} quality check(s) failed (the rows stay loaded): "
                                       + "; ".join(r["says"] for r in failed))
        return QualityVerdict(verdict=quality["verdict"], summary=summary)

    def prepare(self, facts: dict[str, Any], *, shared: bool = True) -> str:
        """Set the check query (``sql``, the templated field the provider's ``execute`` runs) for this
        month; returns the query of every measure.

        Both are ours, rendered from include/sql/quality/ (the provider's query builder is private
        API). ``shared``: every check reads one row, the month's measures, made in one scan;
        otherwise one scan per check, the provider's own shape (``make bench CASES=quality``
        measures both; the measure query is that row's scan again)."""
        month = f"filename = '{self.run['filename']}'"  # spec-made: <taxi>_tripdata_YYYY-MM.csv
        month_rows = f"{self.table} WHERE {month}"
        checks = []
        for check in self.spec.checks:
            measure = check.measure.format(**facts)
            checks.append({"name": check.name, "measure": measure, "on_measures": self._statement(check, check.name, facts),
                           "on_rows": self._statement(check, measure, facts)})
        # The provider fills each check's "result" and "success" in execute. Were it ever to build its
        # own query again from table, checks and partition_clause, that query would still check the month.
        self.checks = {c["name"]: {"check_statement": c["on_rows"]} for c in checks}
        self.partition_clause = month
        self.sql = render("quality/month_checks.sql", checks=checks, month_rows=month_rows, shared=shared,
                          materialized=self.materialized)
        return render("quality/month_measures.sql", checks=checks, month_rows=month_rows)

    @staticmethod
    def _statement(check: QualityCheck, measure: str, facts: dict[str, Any]) -> str:
        bounds = [f"({measure}) >= {_bound(check.at_least, facts)!r}" if check.at_least is not None else "",
                  f"({measure}) <= {_bound(check.at_most, facts)!r}" if check.at_most is not None else ""]
        return " AND ".join(b for b in bounds if b) or "TRUE"


def checks_table() -> str:
    """The table of every type's checks in docs/audit-quality-alerts.md, from the specs (a test keeps the two equal)."""
    from taxi_pipeline.specs import SPECS

    def bound(check: QualityCheck) -> str:
        parts = [(word, b) for word, b in (("at least", check.at_least), ("at most", check.at_most)) if b is not None]
        return " and ".join(f"{word} {b if isinstance(b, str) else _shown(check, b)}" for word, b in parts)

    lines = ["| check | " + " | ".join(SPECS) + " |", "| --- |" + " --- |" * len(SPECS)]
    names = list(dict.fromkeys(c.name for spec in SPECS.values() for c in spec.checks))
    for name in names:
        cells = []
        for spec in SPECS.values():
            check = next((c for c in spec.checks if c.name == name), None)
            cells.append(f"{bound(check)} ({check.severity})" if check else "--")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)
