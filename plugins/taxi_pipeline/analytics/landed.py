"""What a month landing tells the dbt DAGs: the extra of the table Asset's event.

The merge tasks (Postgres ``hash_merge``, BigQuery ``merge``) call :func:`mark_landed`; each
event then carries ``{"filename": ..., "inserted_rows": ...}``. The dbt DAGs' cosmos tasks call
:func:`set_filenames_var` (a cosmos interceptor) to pass the files that inserted rows as the dbt
var ``filenames``: the incremental models rebuild those files' slices and nothing else. A run
not triggered by Assets (a manual one) passes no var, and the models find the changed files in
the audit table instead.
"""

from __future__ import annotations

from typing import Any

FILENAMES_VAR = "filenames"


def mark_landed(context: Any, filename: str, inserted_rows: int) -> None:
    """Put the month's file and its inserted rows on every Asset event this task emits."""
    for outlet in context["task"].outlets:
        context["outlet_events"][outlet].extra.update({"filename": filename, "inserted_rows": inserted_rows})


def landed_filenames(context: Any) -> list[str] | None:
    """The files the triggering Asset events name with rows inserted (sorted, once each); None for
    a run no Asset triggered. A re-load that inserted nothing names no file: nothing to rebuild."""
    events = context.get("triggering_asset_events") or {}
    if not events:
        return None
    return sorted({
        event.extra["filename"] for asset_events in events.values() for event in asset_events
        if event.extra.get("filename") and event.extra.get("inserted_rows", 1) > 0
    })


def set_filenames_var(context: Any, operator: Any) -> None:
    """cosmos interceptor: the var ``filenames`` of an Asset-triggered run, before dbt's command is built."""
    names = landed_filenames(context)
    if names is not None:
        operator.vars = {**(operator.vars or {}), FILENAMES_VAR: ",".join(names)}
        operator.log.info("files landed: %s", ", ".join(names) or "none with new rows (nothing to rebuild)")
