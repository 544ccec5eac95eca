"""The SQL templates under ``include/sql/``: where they live and how Python tasks render them.

Operators render the same files themselves (the DAG passes :data:`SQL_DIR` as
``template_searchpath``); Python tasks that need a statement Airflow does not run for them (the
COPY) render it here with the same Jinja settings.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

# plugins/taxi_pipeline/sql_templates.py -> <project>/include/sql (also under /opt/airflow in Docker)
SQL_DIR = Path(os.environ.get("NY_TAXI_SQL_DIR", Path(__file__).resolve().parents[2] / "include" / "sql"))


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(SQL_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render(template: str, **context: Any) -> str:
    """Render ``template`` (a path relative to include/sql) with ``context``."""
    return _environment().get_template(template).render(**context)
