"""The hash-merge of one staged month into ``public.<taxi>_tripdata``, in one transaction.

Same semantics as the course's ``MERGE ... ON T.unique_row_id = S.unique_row_id WHEN NOT MATCHED
THEN INSERT``: a staged row whose id is already in the table is skipped, rows repeated inside the
file are all inserted; a failure anywhere leaves the table as it was. Each step below is one small
SQL file under ``include/sql/postgres/merge/`` and logs one line:

1. ``lock``: merges into one table take turns (SHARE ROW EXCLUSIVE; readers are not blocked).
2. The month has a partition already (a re-load): ``pending`` keeps the staged rows it does not
   hold. None left: done, nothing written.
3. ``pending_strays`` + ``candidates``: the rows of the table that can share an id with a pending
   row -- why so few is argued once, in create_tables.sql, where the predicates are defined.
4. Place the rows. First load: the staged rows already in the table are deleted from the staging
   table, which then becomes the month's partition (``attach``: nothing is copied again).
   Otherwise the new rows are inserted (``insert_new``), into a new empty partition if needed,
   and the staging table is dropped: after a commit, no staging table is left.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from taxi_pipeline.run import MonthRun, run_month
from taxi_pipeline.settings import STAGING_SCHEMA
from taxi_pipeline.specs import TaxiSpec
from taxi_pipeline.sql_templates import render

log = logging.getLogger(__name__)

_PENDING = "pg_temp.ny_taxi_pending"


@dataclass(frozen=True)
class MergeResult:
    staged_rows: int
    inserted_rows: int
    placement: str  # "attached", "inserted" or "unchanged"
    seconds: float

    @property
    def skipped_rows(self) -> int:
        return self.staged_rows - self.inserted_rows


class _Merge:
    """One merge's statements: renders ``merge/<step>.sql`` for this taxi and month, runs and times it."""

    def __init__(self, cursor, spec: TaxiSpec, run: MonthRun) -> None:
        self.cursor, self.spec, self.run = cursor, spec, run
        self.names = {"taxi": spec, "staging_schema": STAGING_SCHEMA, "staging_table": run["staging_table"],
                      "partition": run["partition"], "filename": run["filename"]}

    def execute(self, step: str, params: dict | None = None, **names: object):
        started = time.perf_counter()
        self.cursor.execute(render(f"postgres/merge/{step}.sql", **self.names, **names), params)
        log.debug("%s: %s took %.3f s", self.run["label"], step, time.perf_counter() - started)
        return self.cursor

    def scalar(self, step: str, params: dict | None = None, **names: object):
        return self.execute(step, params, **names).fetchone()[0]

    def through_indexes(self, yes: bool) -> None:
        """A fresh partition or staging table has no statistics: make sure its strays come through the small index."""
        self.cursor.execute(f"SET LOCAL enable_seqscan = {'off' if yes else 'on'}")

    def by_hashing(self, yes: bool) -> None:
        """Make the re-load's anti-join a hash join. Without statistics (a partition re-loaded before
        autovacuum analyzed it; the staging table never has any) the planner may pick a merge join,
        whose sorts on the seven hashed columns, text compared under the database's collation, took
        0.56-0.65 s for a 90k-row month against 0.12 s hashed, and 12.5 s for a 1M-row one against
        1.7 s (tests/test_postgres_merge_plan.py)."""
        self.cursor.execute(f"SET LOCAL enable_mergejoin = {'off' if yes else 'on'}")


def merge_month(conn, spec: TaxiSpec, run: MonthRun, staged_rows: int, *, staged_with_ids: bool) -> MergeResult:
    """Merge ``run``'s staging table (``staged_rows`` rows; ``staged_with_ids``: a first load's,
    shaped to become the partition) into the main table; commits once, at the end."""
    started = time.perf_counter()
    with conn.transaction(), conn.cursor() as cursor:
        merge = _Merge(cursor, spec, run)
        merge.execute("lock")
        log.info("%s: locked public.%s (merges into it take turns) after %.2f s",
                 run["label"], spec.table, time.perf_counter() - started)
        own = bool(cursor.execute(render("postgres/partition_exists.sql"), {"partition": run["partition"]}).fetchone()[0])
        pending = run["staging_table"]
        if own or not staged_with_ids:
            merge.by_hashing(True)
            left = merge.execute("pending", own=own).rowcount
            merge.by_hashing(False)
            pending = _PENDING
            if own:
                log.info("%s: %s of %s staged rows are not in the month's partition %s yet",
                         run["label"], f"{left:,}", f"{staged_rows:,}", run["partition"])
                if left == 0:
                    _drop_staging(merge)
                    return MergeResult(staged_rows, 0, "unchanged", time.perf_counter() - started)
        found = _find_candidates(merge, pending, own)
        if not own and staged_with_ids and not merge.scalar("has_row_triggers"):
            inserted = staged_rows - _drop_found(merge, found)
            merge.execute("attach")
            placement = "attached"
        else:
            if not own:
                merge.execute("create_partition")
            inserted = merge.execute("insert_new", pending=pending).rowcount
            placement = "inserted"
            _drop_staging(merge)
    result = MergeResult(staged_rows, inserted, placement, time.perf_counter() - started)
    log.info("%s: %s rows %s as %s", run["label"], f"{inserted:,}", placement, run["partition"])
    return result


def _drop_staging(merge: _Merge) -> None:
    """The staged rows are placed: the staging table goes with this transaction (the teardown, told
    by the merge's result, then has nothing to do)."""
    merge.cursor.execute(render("postgres/drop_staging.sql", staging_table=merge.run["staging_table"]))


def _find_candidates(merge: _Merge, pending: str, own: bool) -> int:
    """Fill ``pg_temp.ny_taxi_candidates`` with every id in the table a pending row may share; returns its size."""
    month = run_month(merge.run)
    after = month.next()
    merge.through_indexes(True)
    stray_pickups, unfixed = merge.execute("pending_strays", pending=pending).fetchone()
    stray_pickups = stray_pickups or []
    if unfixed:
        found = merge.execute("candidates_everywhere", pending=pending).rowcount
        where = "the whole table (a pending stray has no fixed pickup)"
    else:
        stray_files = sorted({merge.spec.filename(p.year, p.month) for p in stray_pickups} - {merge.run["filename"]})
        found = merge.execute("candidates", {
            "month_first": datetime(month.year, month.month, 1),
            "month_after": datetime(after.year, after.month, 1),
            "stray_pickups": stray_pickups,
            "stray_files": stray_files,
            "own_file": merge.run["filename"] if own else None,
        }, pending=pending).rowcount
        where = f"strays and {len(stray_files)} other month(s) at {len(stray_pickups):,} stray pickup(s)"
    merge.through_indexes(False)
    log.info("%s: %s row(s) of the table may share an id with a staged row (looked at: %s)",
             merge.run["label"], f"{found:,}", where)
    return found


def _drop_found(merge: _Merge, candidates: int) -> int:
    """Delete the staged rows whose id the table holds already; returns how many."""
    if candidates == 0:
        return 0
    strays_only = not merge.scalar("candidates_home")
    merge.through_indexes(strays_only)
    found = merge.scalar("count_found", strays_only=strays_only)
    removed = merge.execute("delete_found", strays_only=strays_only).rowcount if found else 0
    merge.through_indexes(False)
    if removed:
        log.info("%s: %s staged row(s) already in the table, skipped%s", merge.run["label"], f"{removed:,}",
                 " (only the staged strays could match)" if strays_only else "")
    return removed
