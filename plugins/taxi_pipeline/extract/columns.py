"""Extract: match a file's header to the taxi spec's columns (names, aliases, absent columns)."""

from __future__ import annotations

import logging

from taxi_pipeline.extract.errors import BadSourceFile
from taxi_pipeline.specs import TaxiSpec

log = logging.getLogger(__name__)


def file_columns(columns: list[str], spec: TaxiSpec, filename: str, *, unknown: str = "error") -> list[str | None]:
    """Map a file's columns to the spec's (by name or alias, any case; specs.py): the spec name
    for each, None for one the spec does not know (``unknown="warn"``: logged and dropped; else an
    error). Raises :class:`BadSourceFile` naming the file and the columns if a required column is
    missing; the spec's other columns missing from the file load as NULL (logged)."""
    mapped = [(spec.find_column(name).name if spec.find_column(name) else None) for name in columns]
    names = [m for m in mapped if m]
    duplicated = sorted({m for m in names if names.count(m) > 1})
    extra = [c for c, m in zip(columns, mapped) if m is None]
    missing = [c for c in spec.required_columns if c not in names]
    problems = []
    if missing:
        problems.append(f"missing {missing}")
    if duplicated:
        problems.append(f"more than one column for {duplicated}")
    if extra and unknown == "error":
        problems.append(f"unexpected {extra}")
    if problems:
        raise BadSourceFile(f"{filename}: columns do not match the {spec.taxi} spec: {'; '.join(problems)}")
    if extra:
        log.warning("%s: columns the %s spec does not know, not loaded: %s (add them to specs.py to keep them)",
                    filename, spec.taxi, extra)
    absent = [c for c in spec.column_names if c not in names]
    if absent:
        log.info("%s: not in this file, loaded as NULL: %s", filename, ", ".join(absent))
    return mapped
