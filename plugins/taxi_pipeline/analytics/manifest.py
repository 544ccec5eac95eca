"""The dbt manifest the repository ships (dbt/taxi_rides_ny/manifest.json): what cosmos reads.

cosmos renders the dbt DAGs from a manifest (``LoadMode.DBT_MANIFEST``), so parsing a DAG file
needs no dbt. ``dbt parse`` writes a 600 KB manifest with absolute paths, timestamps, an invocation
id and every adapter macro; cosmos's loader (cosmos/dbt/graph.py, ``load_from_dbt_manifest``) reads
only ``metadata.project_name``, ``selectors`` and, of each node, source and exposure, the fields
in :data:`NODE_FIELDS`. :func:`trim` keeps exactly those, so the committed file is small and a
re-parse of an unchanged project gives no diff. ``make dbt-manifest`` runs::

    python -m taxi_pipeline.analytics.manifest <dbt's target/manifest.json> dbt/taxi_rides_ny/manifest.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# What cosmos's _build_dbt_node_from_manifest_resource reads of a resource (freshness: sources only).
NODE_FIELDS = ("resource_type", "package_name", "original_file_path", "tags", "config", "fqn", "freshness")
RESOURCES = ("nodes", "sources", "exposures")
# Kept for humans and for a dbt upgrade to show in the diff; none depends on the machine or the run.
METADATA = ("project_name", "dbt_version", "dbt_schema_version", "adapter_type")


def trim(manifest: dict[str, Any]) -> dict[str, Any]:
    """The part of ``dbt parse``'s manifest that cosmos reads, without machine- or run-specific fields."""
    def resource(node: dict[str, Any]) -> dict[str, Any]:
        kept = {key: node[key] for key in NODE_FIELDS if key in node}
        kept["depends_on"] = {"nodes": node.get("depends_on", {}).get("nodes", [])}
        return kept

    trimmed: dict[str, Any] = {"metadata": {key: manifest["metadata"].get(key) for key in METADATA}}
    for kind in RESOURCES:
        trimmed[kind] = {uid: resource(node) for uid, node in manifest.get(kind, {}).items()}
    trimmed["selectors"] = manifest.get("selectors", {})
    return trimmed


def manifest_text(manifest: dict[str, Any]) -> str:
    """The committed text: sorted keys, one field a line, so a model's change is a readable diff."""
    return json.dumps(trim(manifest), indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> None:
    source, destination = (Path(arg) for arg in argv)
    destination.write_text(manifest_text(json.loads(source.read_text())))


if __name__ == "__main__":
    main(sys.argv[1:])
