"""The dbt project's sources, rendered from the specs: the raw tables the ingest DAGs write.

``dbt/taxi_rides_ny/models/staging/_sources.yml`` is this module's output (``make dbt-sources``
writes it; tests/test_dbt_project.py keeps it equal). Each column carries its Postgres and
BigQuery type in ``meta``: the staging macro ``trips_source`` reads them to stand in an empty,
typed relation for a type that was never loaded, so ``make run TAXI=green`` then ``make dbt``
builds (with no yellow rows) instead of failing on a missing table.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from taxi_pipeline.audit import AUDIT_COLUMNS
from taxi_pipeline.specs import SPECS, TaxiSpec

# The trip types the dbt project models (fhvhv: no model yet; its table is not a source).
MODELLED_TYPES = ("green", "yellow", "fhv")

SOURCES_PATH = Path(__file__).resolve().parents[3] / "dbt" / "taxi_rides_ny" / "models" / "staging" / "_sources.yml"

HEADER = "# Generated from plugins/taxi_pipeline/specs.py and audit.py by `make dbt-sources`: do not edit.\n"


def _column(name: str, postgres_type: str, bigquery_type: str, description: str) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name}
    if description:
        column["description"] = description
    column["config"] = {"meta": {"postgres_type": postgres_type, "bigquery_type": bigquery_type}}
    return column


def _table(spec: TaxiSpec) -> dict[str, Any]:
    return {
        "name": spec.table,
        "description": f"{spec.taxi} trips as the ingest DAGs load them: one partition (Postgres) per monthly file.",
        "config": {"meta": {"service_type": spec.taxi.capitalize(), "pickup_column": spec.pickup_column,
                            "dropoff_column": spec.dropoff_column}},
        "columns": [
            _column("unique_row_id", "text", "STRING", "The course's md5 of the trip's hashed fields."),
            _column("filename", "text", "STRING", "The monthly file the row came from."),
            *(_column(c.name, c.postgres_type, c.bigquery_type, c.description) for c in spec.columns),
        ],
    }


def sources() -> dict[str, Any]:
    audit_columns = [_column("load_id", "bigint", "STRING", "Postgres: an identity; BigQuery: a uuid.")]
    audit_columns += [_column(c.name, c.postgres_type, c.bigquery_type, c.description) for c in AUDIT_COLUMNS]
    return {
        "version": 2,
        "sources": [
            {
                "name": "raw",
                "description": "The ingest DAGs' tables: Postgres `public`, BigQuery the `gcp_dataset` Variable's dataset.",
                "schema": "{{ var('raw_schema') }}",
                "tables": [_table(SPECS[taxi]) for taxi in MODELLED_TYPES],
            },
            {
                "name": "audit",
                "description": "One row per load (taxi_pipeline/audit.py), written with the data.",
                "schema": "{{ 'ny_taxi_audit' if target.type == 'postgres' else var('raw_schema') }}",
                "tables": [{
                    "name": "loads",
                    "identifier": "{{ 'loads' if target.type == 'postgres' else 'ny_taxi_loads' }}",
                    "description": "Which file was loaded when, and how many rows it inserted.",
                    "loaded_at_field": "finished_at",
                    # Monthly files: a source silent for more than two months has stopped landing.
                    "config": {"freshness": {"warn_after": {"count": 35, "period": "day"},
                                             "error_after": {"count": 62, "period": "day"}}},
                    "columns": audit_columns,
                }],
            },
        ],
    }


def sources_yml() -> str:
    """The text of _sources.yml: the header, then :func:`sources` as YAML."""
    return HEADER + yaml.safe_dump(sources(), sort_keys=False, width=120, allow_unicode=True)


if __name__ == "__main__":
    SOURCES_PATH.write_text(sources_yml())
    print(f"wrote {SOURCES_PATH}", file=sys.stderr)
