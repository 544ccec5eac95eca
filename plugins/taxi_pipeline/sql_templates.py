"""The SQL templates under ``include/sql/`` and the one way they are rendered.

Every SQL file is rendered here, with Jinja, from the taxi spec and values the caller passes
(identifiers built from the spec and the validated month, never from user input). Airflow's own
templating never sees them: a task renders what it runs, and a provider operator receives SQL a
task (or the DAG factory, for spec-only SQL) rendered with :func:`render`. Values that vary per row
or per run reach Postgres as bind parameters wherever the statement allows them (DML).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

# plugins/taxi_pipeline/sql_templates.py -> <project>/include/sql (in Docker: /opt/airflow/include/sql)
SQL_DIR = Path(__file__).resolve().parents[2] / "include" / "sql"


def sql_literal(value: str) -> str:
    """A Postgres string literal (for DDL, where bind parameters are not allowed)."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """A dotted Postgres name with each part quoted: ``a.b`` -> ``"a"."b"``."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in str(name).split("."))


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(SQL_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["literal"] = sql_literal
    env.filters["ident"] = sql_identifier
    return env


def render(template: str, **context: Any) -> str:
    """Render ``template`` (a path relative to include/sql) with ``context``."""
    return _environment().get_template(template).render(**context)
