"""Which month a run loads, and the window of months a DAG may load.

A run whose logical date falls in month M loads month M (CronTriggerTimetable:
``data_interval_start == logical_date``). That is all a scheduled or backfill run looks at.

A manual run may ask for a month in its conf (``year``/``month``: the trigger form always sends
them, pre-filled with the latest month the DAG can load), which wins over its logical date. With
neither, it loads the window's last month: so the first click on Trigger, form untouched, loads a
month that exists, instead of "now", which is after every window. Scheduled and backfill runs
ignore a conf month on purpose: the backfill dialog sends the same pre-filled conf to every run of
the range, and a range must not collapse into one month.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


class ParamError(ValueError):
    """A run parameter (or setting) is invalid; the message names it."""


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ParamError(f"month must be 1..12, got {self.month}")

    @classmethod
    def parse(cls, text: str, *, name: str = "month") -> Month:
        """Parse ``YYYY-MM``; ``name`` is the setting named in the error."""
        match = _MONTH_RE.match(text.strip())
        if not match:
            raise ParamError(f"{name}: expected YYYY-MM, got {text!r}")
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise ParamError(f"{name}: month must be 01..12, got {text!r}")
        return cls(year, month)

    @classmethod
    def of(cls, moment: datetime) -> Month:
        return cls(moment.year, moment.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def first_moment(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=timezone.utc)

    def last_moment(self) -> datetime:
        """The last second of the month (a DAG's inclusive ``end_date``)."""
        return self.next().first_moment() - timedelta(seconds=1)


@dataclass(frozen=True)
class Window:
    """The inclusive range of months a DAG schedules and accepts as params."""

    first: Month
    last: Month

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise ParamError(f"the window's first month {self.first} is after its last {self.last}")

    def __contains__(self, month: Month) -> bool:
        return self.first <= month <= self.last

    def months(self) -> list[Month]:
        out, current = [], self.first
        while current <= self.last:
            out.append(current)
            current = current.next()
        return out


def _int_param(name: str, value: Any) -> int | None:
    """Params arrive as ints from the form/JSON; accept digit strings, reject everything else."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ParamError(f"param {name!r}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ParamError(f"param {name!r}: expected an integer, got {value!r}")


# Run types whose month is their logical date's, whatever their conf says (see the module doc).
DATED_RUN_TYPES = frozenset({"scheduled", "backfill"})


def resolve_month(requested: Mapping[str, Any], logical_date: datetime | None, window: Window,
                  *, run_type: str = "manual") -> tuple[Month, str]:
    """Return the month a run loads and where that choice came from: ``params``, ``logical date``
    or ``latest`` (a manual run that asked for nothing). ``requested`` is the run's conf.

    Raises :class:`ParamError` naming the parameter for anything invalid, before any I/O.
    """
    if run_type in DATED_RUN_TYPES:
        if logical_date is None:
            raise ParamError(f"a {run_type} run has no logical date")
        return _in_window(Month.of(logical_date), "logical date", window)
    year = _int_param("year", requested.get("year"))
    month = _int_param("month", requested.get("month"))
    if year is None and month is None:
        if logical_date is None:
            return window.last, "latest"
        return _in_window(Month.of(logical_date), "logical date", window)
    if year is None or month is None:
        missing = "year" if year is None else "month"
        raise ParamError(f"param {missing!r} is required when the other of 'year'/'month' is given")
    if not 1 <= month <= 12:
        raise ParamError(f"param 'month': must be 1..12, got {month}")
    return _in_window(Month(year, month), "params", window)


def _in_window(chosen: Month, origin: str, window: Window) -> tuple[Month, str]:
    if chosen not in window:
        name = "year/month" if origin == "params" else "logical date"
        raise ParamError(
            f"{name}: {chosen} is outside this DAG's window {window.first}..{window.last} "
            "(set NY_TAXI_START_MONTH/NY_TAXI_END_MONTH to widen it)"
        )
    return chosen, origin
