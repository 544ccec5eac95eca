"""What every task process pays before its work starts (issue 27 part 3), checked in fresh processes.

* The plugin load imports the plugin file only. Airflow imports every ``.py`` under plugins/ as a
  module named after the file; ``plugins/.airflowignore`` keeps the package out of that scan (it is
  imported as ``taxi_pipeline.*``), so no task loads the Google provider for a Postgres month, and
  the setups' PYTHONWARNINGS keeps Airflow's reader of that file from warning in every task log.
* A task's process builds only its own DAG: the DAG files ask Airflow's parsing context
  (taxi_pipeline/parsing.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PLUGIN_LOAD = """
import json, sys
from airflow.sdk import plugins_manager
plugins, errors = plugins_manager._get_plugins()  # what a task process's listener manager loads
print(json.dumps({"plugins": sorted(p.name for p in plugins), "errors": errors,
                  "stray_modules": sorted(m for m in sys.modules if m in sys.argv[1:]),
                  "google": "airflow.providers.google.cloud.operators.bigquery" in sys.modules}))
"""

PARSE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
print(json.dumps(sorted(DagBag(dag_folder=sys.argv[1]).dags)))
"""


def _fresh_python(code: str, tmp_path: Path, *args: str, **env: str) -> tuple[object, str]:
    home = tmp_path / "airflow"
    home.mkdir(exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NY_TAXI_", "_AIRFLOW"))}
    clean.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
                  "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                  "AIRFLOW__OPENLINEAGE__DISABLED": "True", "AIRFLOW__OPENLINEAGE__NAMESPACE": "ny_taxi",
                  "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
                  "PYTHONPATH": str(ROOT / "plugins"), **env})
    done = subprocess.run([sys.executable, "-c", code, *args], env=clean, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_the_plugin_load_imports_the_plugin_file_only(tmp_path):
    setup_warnings = os.environ["PYTHONWARNINGS"]  # what conftest, the local Airflow and compose set
    # The names the plugin scan would give the package's modules: their file names (operators, tasks, ...).
    stems = sorted({f.stem for f in (ROOT / "plugins" / "taxi_pipeline").rglob("*.py")} - {"__init__"})
    loaded, stderr = _fresh_python(PLUGIN_LOAD, tmp_path, *stems, PYTHONWARNINGS=setup_warnings)
    assert "taxi_pipeline" in loaded["plugins"] and loaded["errors"] == {}
    assert loaded["stray_modules"] == []  # gcp/operators.py, postgres/tasks.py, ... not imported as plugins
    assert loaded["google"] is False
    assert "GitWildMatchPattern" not in stderr and "Warning" not in stderr, stderr


def test_a_task_process_builds_only_its_own_dag(tmp_path):
    dag_file = str(ROOT / "dags" / "postgres_taxi.py")
    everything, _ = _fresh_python(PARSE, tmp_path, dag_file)
    assert everything == sorted(f"postgres_taxi_{t}" for t in ("fhv", "fhvhv", "green", "yellow"))
    # What Airflow's task runner sets while it parses the file for a task of postgres_taxi_green:
    in_task, _ = _fresh_python(PARSE, tmp_path, dag_file, _AIRFLOW_PARSING_CONTEXT_DAG_ID="postgres_taxi_green",
                               _AIRFLOW_PARSING_CONTEXT_TASK_ID="load_staging")
    assert in_task == ["postgres_taxi_green"]
    dbt, _ = _fresh_python(PARSE, tmp_path, str(ROOT / "dags" / "dbt_taxi.py"),
                           _AIRFLOW_PARSING_CONTEXT_DAG_ID="dbt_taxi_postgres")
    assert dbt == ["dbt_taxi_postgres"]
