"""Case 6: what the real dag-processor reports for parsing ``dags/gcp_taxi.py``, with LazyOperator
(as shipped) and with the Google provider's operators used directly.

The dag-processor pre-imports the ``airflow.*`` modules a DAG file names, once, in its manager
process, and parses each file in a child forked from it; so a DAG file that names the provider's
operators pays their import once, not per parse. The "direct" variant does exactly that (it names
the operators at its top and builds them eagerly, replacing LazyOperator); an empty DAG is the
floor. Each variant is parsed by ``airflow dag-processor --num-runs N`` on a SQLite metadata
database of its own; the samples are the parse durations it records for the file's DAGs
(``dag.last_parse_duration``, the same figure as the "Last Duration" of its stats table), read
after every parse.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, WORK, Samples, say

_DIRECT = '''"""dags/gcp_taxi.py with the Google provider's operators named here and used directly (benchmark variant)."""
from __future__ import annotations

import importlib

from airflow.providers.google.cloud.operators.bigquery import BigQueryDeleteTableOperator, BigQueryInsertJobOperator  # noqa: F401
from airflow.providers.google.cloud.transfers.gcs_to_bigquery import GCSToBigQueryOperator  # noqa: F401

import taxi_pipeline.lazy_operator as lazy


def _direct(*, operator, arguments, **kwargs):
    module, _, name = operator.rpartition(".")
    return getattr(importlib.import_module(module), name)(**arguments, **kwargs)


lazy.LazyOperator = _direct  # before the factory imports the GCP tasks
from taxi_pipeline.factory import build_taxi_dag  # noqa: E402

gcp_taxi_green = build_taxi_dag("gcp", "green")
gcp_taxi_yellow = build_taxi_dag("gcp", "yellow")
'''
_EMPTY = '''"""An empty DAG: the floor."""
from airflow.sdk import DAG

with DAG(dag_id="empty", schedule=None):
    pass
'''


def _variants() -> dict[str, str]:
    return {"lazy (as shipped)": (ROOT / "dags" / "gcp_taxi.py").read_text(), "direct": _DIRECT, "empty DAG": _EMPTY}


def _parse_durations(name: str, source: str, runs: int) -> Samples:
    work = Path(tempfile.mkdtemp(prefix="bench-dagproc-", dir=WORK))
    (work / "dags").mkdir()
    (work / "dags" / "variant.py").write_text(source)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(work / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(work / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"), "PYTHONWARNINGS": "ignore:GitWildMatchPattern:DeprecationWarning",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{work / 'home' / 'airflow.db'}",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "0",
        "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "1",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, check=True, timeout=600)
    log = (work / "dag-processor.log").open("w")
    process = subprocess.Popen([airflow, "dag-processor", "--num-runs", str(runs)], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    seen: set[float] = set()  # each parse's duration (the file's DAGs all carry the same one)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        finished = process.poll() is not None
        try:
            with sqlite3.connect(work / "home" / "airflow.db", timeout=5) as db:
                seen.update(seconds for (seconds,) in db.execute(
                    "SELECT last_parse_duration FROM dag WHERE last_parse_duration IS NOT NULL"))
        except sqlite3.OperationalError:  # the dag-processor holds the write lock
            pass
        if finished:
            break
        time.sleep(0.02)
    else:
        process.kill()
        raise RuntimeError(f"dag-processor ({name}) did not finish {runs} runs in 900 s")
    log.close()
    if process.returncode != 0 or not seen:
        raise RuntimeError(f"dag-processor ({name}) failed or recorded no parse; see {work / 'dag-processor.log'}")
    samples = Samples()
    for seconds in sorted(seen):
        samples.add(seconds)
    return samples


def dag_processor_case(runs: int = 12) -> dict:
    out = {}
    for name, source in _variants().items():
        samples = _parse_durations(name, source, runs)
        say(f"dag-processor {name}: {samples.spread()} s over {len(samples.values)} parses")
        out[name] = samples
    return {"samples": out, "runs": runs}
