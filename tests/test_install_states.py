"""Every documented install state fills the DagBag with no import error and no warning printed.

Each state parses dags/ in a subprocess, with that state's Python and environment, the way the
dag-processor does. A "fresh clone" dbt project is used (the repository's dbt/taxi_rides_ny without
the untracked target/ and logs/), and dbt itself is absent where the state has none:

* ``make venv``: requirements.txt in a venv of its own (no dev pins, no .venv-dbt), with the
  environment ``make run`` / ``make airflow-up`` set (scripts/run_local.py, scripts/airflow_local.py);
* ``make venv-dev``: this checkout's .venv, dbt absent (NY_TAXI_DBT_EXECUTABLE is a missing path);
* ``compose``: requirements.txt as the Dockerfile installs it, with docker-compose.yaml's environment
  and .env.example (the settings that matter at parse: OpenLineage, cosmos, the dbt paths, NY_TAXI_*).
  It installs the same lock as ``make venv``, so both share one venv; the image's base packages
  cannot be reproduced without Docker.

The requirements.txt venv is built once per requirements.txt content with ``uv pip install`` (uv's
cache makes it seconds) under ~/.cache/ny-taxi/install-states/<hash>: reused only when the hash of
requirements.txt, the interpreter and uv matches and the install completed (a marker written last).

What counts as printed: the parse runs with ``-W always`` and Airflow's log level WARNING, so any
line on stdout or stderr besides the result is a warning or an error; the result itself carries
``DagBag.import_errors``, ``DagBag.captured_warnings`` and what ``warnings.catch_warnings`` recorded.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

UV = ROOT / ".venv" / "bin" / "uv"
STATES_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ny-taxi" / "install-states"
RESULT = "INSTALL-STATE-RESULT "
EXPECTED_DAGS = {"dbt_taxi_postgres", "dbt_taxi_bigquery", "gcp_setup"} | {
    f"{target}_taxi_{taxi}" for target in ("postgres", "gcp") for taxi in ("yellow", "green", "fhv", "fhvhv")}
# What `make run` and `make airflow-up` set that matters at parse (the scripts' env; the test below
# checks they still set it). OpenLineage is off; cosmos reads the namespace at import.
LOCAL_SETUP_ENV = {"AIRFLOW__OPENLINEAGE__DISABLED": "True", "AIRFLOW__OPENLINEAGE__NAMESPACE": "ny_taxi"}
# Filled into a fresh process: every warning shown, each recorded as well as printed.
PARSE = f"""
import json, sys, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
print({RESULT!r} + json.dumps({{
    "dags": sorted(bag.dags), "import_errors": bag.import_errors,
    "captured_warnings": {{path: list(ws) for path, ws in bag.captured_warnings.items()}},
    "warnings": [f"{{w.category.__name__}} {{w.filename}}:{{w.lineno}}: {{w.message}}" for w in caught],
}}))
"""


def requirements_venv() -> Path:
    """A venv with requirements.txt only, as `make venv` builds it; cached by content (see module doc)."""
    uv_version = subprocess.run([str(UV), "--version"], capture_output=True, text=True, check=True).stdout
    key = hashlib.sha256(b"\0".join([(ROOT / "requirements.txt").read_bytes(), sys.version.encode(),
                                     uv_version.encode()])).hexdigest()[:16]
    venv = STATES_CACHE / key
    STATES_CACHE.mkdir(parents=True, exist_ok=True)
    with open(STATES_CACHE / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two sessions at once: one builds, the other waits and reuses
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([str(UV), "venv", "-q", "--python", sys._base_executable, str(venv)], check=True)
            subprocess.run([str(UV), "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                            "-r", str(ROOT / "requirements.txt")], check=True)
            (venv / ".complete").touch()
    return venv


@pytest.fixture(scope="module")
def fresh_clone_dbt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dbt project as a fresh clone has it: no target/ (dbt never ran), no logs/."""
    project = tmp_path_factory.mktemp("clone") / "taxi_rides_ny"
    shutil.copytree(ROOT / "dbt" / "taxi_rides_ny", project, ignore=shutil.ignore_patterns("target", "logs", ".user.yml"))
    return project


def compose_environment() -> dict[str, str]:
    """The Airflow services' environment in docker-compose.yaml (x-airflow-common)."""
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    return {key: str(value) for key, value in compose["x-airflow-common"]["environment"].items()}


def parse(python: Path, env: dict[str, str], tmp_path: Path) -> dict:
    """Fill the DagBag from dags/ in a fresh process; fail on anything printed besides the result."""
    home = tmp_path / "airflow"
    home.mkdir()
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "NY_TAXI_"))}
    clean.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "PYTHONWARNINGS": "ignore:GitWildMatchPattern:DeprecationWarning",  # plugins/.airflowignore's reader (see there)
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING", **env,
    })
    done = subprocess.run([str(python), "-W", "always", "-c", PARSE, str(ROOT / "dags")], env=clean, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    results = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    printed = "\n".join([line for line in done.stdout.splitlines() if not line.startswith(RESULT)] + [done.stderr]).strip()
    assert done.returncode == 0 and results, printed
    result = json.loads(results[0][len(RESULT):])
    assert result["import_errors"] == {}, "\n".join(result["import_errors"].values())
    assert not printed, f"printed at parse:\n{printed}"
    assert not result["warnings"] and not result["captured_warnings"], result
    assert set(result["dags"]) == EXPECTED_DAGS
    return result


def test_make_venv_only(fresh_clone_dbt: Path, tmp_path: Path):
    """requirements.txt alone, no .venv-dbt, a fresh clone's dbt project, `make run`'s environment."""
    venv = requirements_venv()
    parse(venv / "bin" / "python", {**LOCAL_SETUP_ENV, "NY_TAXI_DBT_PROJECT_DIR": str(fresh_clone_dbt),
                                    "NY_TAXI_DBT_EXECUTABLE": str(tmp_path / "no-venv-dbt" / "dbt")}, tmp_path)


def test_make_venv_dev_without_dbt(fresh_clone_dbt: Path, tmp_path: Path):
    parse(ROOT / ".venv" / "bin" / "python", {**LOCAL_SETUP_ENV, "NY_TAXI_DBT_PROJECT_DIR": str(fresh_clone_dbt),
                                               "NY_TAXI_DBT_EXECUTABLE": str(tmp_path / "no-venv-dbt" / "dbt")}, tmp_path)


def test_the_compose_image(fresh_clone_dbt: Path, tmp_path: Path):
    """requirements.txt (what the Dockerfile installs) with the services' environment and .env.example;
    the image's dbt project is the repository's, copied where NY_TAXI_DBT_PROJECT_DIR says."""
    env = compose_environment()
    copied = re.search(r"^COPY .*dbt/taxi_rides_ny (\S+)$", (ROOT / "Dockerfile").read_text(), flags=re.M)
    assert copied and copied.group(1) == env["NY_TAXI_DBT_PROJECT_DIR"], "the image's project is where compose looks"
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line.startswith("NY_TAXI_"))
    at_parse = {key: value for key, value in {**example, **env}.items()
                if key.startswith(("NY_TAXI_", "AIRFLOW__OPENLINEAGE__", "AIRFLOW__COSMOS__"))}
    # /opt/dbt-venv exists in the image, not here: parsing must not care either way.
    parse(requirements_venv() / "bin" / "python", {**at_parse, "NY_TAXI_DBT_PROJECT_DIR": str(fresh_clone_dbt)}, tmp_path)


@pytest.mark.parametrize("script", ["scripts/run_local.py", "scripts/airflow_local.py"])
def test_the_local_setups_set_the_parse_environment(script: str):
    """LOCAL_SETUP_ENV is what `make run` and `make airflow-up` set, not an assumption of this file."""
    source = (ROOT / script).read_text()
    for key, value in LOCAL_SETUP_ENV.items():
        assert f'"{key}": "{value}"' in source, f"{script} no longer sets {key}={value}"
