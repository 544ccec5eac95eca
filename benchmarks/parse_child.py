"""Child process of the parse case: fill a DagBag from one folder, as the dag-processor does.

Prints one JSON line: seconds to import Airflow's DagBag, seconds to fill it, the DAG ids, import
errors, and whether any Google provider module got imported while parsing.

    python benchmarks/parse_child.py <dag folder>
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    folder = sys.argv[1]
    os.environ.update({
        "AIRFLOW_HOME": tempfile.mkdtemp(prefix="bench-parse-home-"),
        "AIRFLOW__CORE__DAGS_FOLDER": folder,
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"), "PYTHONWARNINGS": "ignore:GitWildMatchPattern:DeprecationWarning",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    })
    started = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag

    imported = time.perf_counter()
    bag = DagBag(dag_folder=folder)
    filled = time.perf_counter()
    print(json.dumps({
        "import_seconds": imported - started,
        "fill_seconds": filled - imported,
        "dags": sorted(bag.dag_ids),
        "errors": {path: str(error)[:300] for path, error in bag.import_errors.items()},
        "google_imported": sorted(m for m in sys.modules if m.startswith("airflow.providers.google")),
        "google_cloud_imported": "google.cloud.bigquery" in sys.modules or "google.cloud.storage" in sys.modules,
    }))


if __name__ == "__main__":
    main()
