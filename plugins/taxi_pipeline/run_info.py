"""The first task of every run: decide which month it loads, before any network or SQL.

Everything later steps need (URL, filename, this run's staging table) is derived here from the
validated month and the spec, and passed on as one XCom; no later step builds an identifier from
user input.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime
from typing import Any, Mapping

from taxi_pipeline.months import Month, Window, resolve_month
from taxi_pipeline.source import check_source_base, month_url
from taxi_pipeline.specs import TaxiSpec

log = logging.getLogger(__name__)


def staging_table_name(
    schema: str, spec: TaxiSpec, month: Month, dag_id: str, run_id: str, created: int | None = None
) -> str:
    """A staging table per run: parallel months, and two runs of one month, never share one.

    The name ends with its creation time (epoch seconds) so a later run can sweep staging that a
    killed or abandoned run left behind, without asking Airflow which runs are still alive.
    """
    run_key = hashlib.sha1(f"{dag_id}/{run_id}".encode()).hexdigest()[:10]
    created = int(time.time()) if created is None else created
    return f"{schema}.{spec.taxi}_{month.year:04d}_{month.month:02d}_{run_key}_{created}"


def describe_run(
    spec: TaxiSpec,
    window: Window,
    params: Mapping[str, Any],
    logical_date: datetime | None,
    source_base: str,
    *,
    dag_id: str,
    run_id: str,
    staging_schema: str,
) -> dict[str, Any]:
    month, origin = resolve_month(params, logical_date, window)
    check_source_base(source_base)
    info = {
        "taxi": spec.taxi,
        "year": month.year,
        "month": month.month,
        "label": f"{spec.taxi} {month}",
        "origin": origin,
        "filename": spec.filename(month.year, month.month),
        "url": month_url(source_base, spec, month),
        "staging_table": staging_table_name(staging_schema, spec, month, dag_id, run_id),
        # GCP target: the lake object and the monthly BigQuery table (the course's names).
        "object_name": f"{spec.taxi}/{spec.filename(month.year, month.month)}.gz",
        "monthly_table": f"{spec.table}_{month.year:04d}_{month.month:02d}",
    }
    log.info("This run loads %s (from %s): %s", info["label"], origin, info["url"])
    return info
