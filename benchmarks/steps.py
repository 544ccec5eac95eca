"""Where our path's time goes in a month, step by step: the DAG's own functions, timed as they run.

``timing()`` wraps the functions below for the duration of a ``with`` block and adds each call's
seconds to a counter; nothing else changes (the same code runs, so make bench case 1 can time
each step of the very loads it compares with the floor). "the rest" rows are a step's time minus
the steps inside it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

# (label, module, function), outermost first; each step's time includes the steps listed under it.
STEPS = (
    ("connect: load_staging's and hash_merge's connections (inside their rows)", "taxi_pipeline.postgres.steps", "_connect"),
    ("load_staging", "taxi_pipeline.postgres.steps", "load_staging"),
    ("  check the tables (catalog read)", "taxi_pipeline.postgres.steps", "ensure_tables"),
    ("  sweep stale staging tables", "taxi_pipeline.postgres.steps", "_sweep_stale_staging"),
    ("  load_month", "taxi_pipeline.postgres.load", "load_month"),
    ("    COPY (both streams, ids computed)", "taxi_pipeline.postgres.load", "_copy"),
    ("hash_merge", "taxi_pipeline.postgres.steps", "hash_merge"),
    ("  merge_month (lock, candidates, attach or insert)", "taxi_pipeline.postgres.merge", "merge_month"),
)
PARENTS = {"  check the tables (catalog read)": "load_staging",
           "  sweep stale staging tables": "load_staging", "  load_month": "load_staging",
           "    COPY (both streams, ids computed)": "  load_month",
           "  merge_month (lock, candidates, attach or insert)": "hash_merge"}


@contextmanager
def timing() -> Iterator[Counter]:
    """Seconds per step label while the block runs (connect counts both tasks' connections)."""
    import importlib

    seconds: Counter = Counter()
    saved = []
    for label, module_name, name in STEPS:
        module = importlib.import_module(module_name)
        original = getattr(module, name)

        def timed(*args, __original=original, __label=label, **kwargs):
            started = time.perf_counter()
            try:
                return __original(*args, **kwargs)
            finally:
                seconds[__label] += time.perf_counter() - started

        saved.append((module, name, original))
        setattr(module, name, timed)
    try:
        yield seconds
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def rows(seconds: Counter) -> list[tuple[str, float]]:
    """(label, seconds) in STEPS order; after a step's inner steps, "the rest": its own statements."""
    out = []
    labels = [label for label, _, _ in STEPS]
    for i, label in enumerate(labels):
        out.append((label, seconds[label]))
        # close every step whose last inner step this was (innermost first)
        following = labels[i + 1] if i + 1 < len(labels) else None
        open_step = label
        while open_step is not None:
            parent = PARENTS.get(open_step)
            if parent is None or (following is not None and _depth(following) > _depth(parent)):
                break
            inner = [c for c, p in PARENTS.items() if p == parent]
            out.append((" " * (_depth(parent) + 2) + "the rest", seconds[parent] - sum(seconds[c] for c in inner)))
            open_step = parent
    return out


def _depth(label: str) -> int:
    return len(label) - len(label.lstrip())
