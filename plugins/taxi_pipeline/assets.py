"""The Asset each ingest target's merge task updates, per taxi table: the dbt DAGs are scheduled on them.

One place for both targets, so the ingest DAGs (postgres/tasks.py, gcp/tasks.py) and the dbt DAGs
(analytics/dags.py) name the same Asset. The names are the URIs Airflow stores and the e2e tests
trigger through: changing one orphans the dbt DAG's schedule.
"""

from __future__ import annotations

from airflow.sdk import Asset

from taxi_pipeline.settings import POSTGRES_CONN_ID
from taxi_pipeline.specs import TaxiSpec

# Ingest target (factory.INGEST_TARGETS) -> the Asset name's prefix before the table.
_PREFIXES = {"postgres": f"{POSTGRES_CONN_ID}.public", "gcp": "bigquery"}


def table_asset(spec: TaxiSpec, target: str) -> Asset:
    """The Asset ``target``'s DAG for ``spec`` updates when its merge commits."""
    if target not in _PREFIXES:
        raise ValueError(f"unknown ingest target {target!r}: expected one of {sorted(_PREFIXES)}")
    return Asset(name=f"{_PREFIXES[target]}.{spec.table}")
