"""Which DAGs a parse of a DAG file builds: all of them, except in a task's process.

A task process parses its DAG's file only to find its own task, and Airflow's parsing context
names the DAG it wants (``get_parsing_context().dag_id``; None in the dag-processor, the tests and
the CLI, which build every DAG). Each DAG file here builds one DAG per trip type or warehouse, so a
task would build four where it needs one: Airflow's documented lever for files that generate DAGs.
"""

from __future__ import annotations

from airflow.sdk import get_parsing_context


def building(dag_id: str) -> bool:
    """Whether this parse should build ``dag_id``."""
    wanted = get_parsing_context().dag_id
    return wanted is None or wanted == dag_id
