"""What ``make run`` prints, and where everything else goes.

The terminal gets a header, one line per month, the progress of a long file, one line per
expected failure (what, why, what to do) and the rows-per-file table. Airflow's own output (task
logs, DagBag import errors, warnings of providers) goes to a log file the run names at the end:
file descriptors 1 and 2 are pointed at it, so whatever writes there, Python logging, structlog or
a subprocess, lands in the file. ``VERBOSE=1`` (or ``LOG_LEVEL=...``) keeps it all on the terminal.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


class Console:
    """The terminal and the log file of one run; ``say`` writes a line to both."""

    def __init__(self, log_path: Path | None) -> None:
        self.log_path = log_path  # None: verbose, the logs stay on the terminal
        self.terminal: TextIO = sys.stdout

    def say(self, line: str = "") -> None:
        print(line, file=self.terminal, flush=True)
        if self.log_path is not None and self.terminal is not sys.stdout:
            print(f"make run: {line}" if line else "", flush=True)  # stdout is the log file here

    @contextmanager
    def logs_to_file(self) -> Iterator[None]:
        """Point fds 1 and 2 at the log file for the body (no-op when verbose); ``say`` keeps the terminal."""
        if self.log_path is None:
            yield
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        self.terminal = os.fdopen(os.dup(1), "w", buffering=1)
        with self.log_path.open("ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            self.terminal.close()
            self.terminal = sys.stdout

    def show_progress(self) -> None:
        """Echo extract.fetch's progress lines (every 5 s of a long file) on the terminal."""
        console = self

        class ToTerminal(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.levelno == logging.INFO:
                    print(f"  {record.getMessage()}", file=console.terminal, flush=True)

        logger = logging.getLogger("taxi_pipeline.extract.fetch")
        logger.addHandler(ToTerminal(logging.INFO))
        logger.setLevel(logging.INFO)


UNREACHABLE_FIX = "use SOURCE=<mirror dir or URL>, or check the network and the proxy (HTTPS_PROXY)"

NOT_PUBLISHED_FIX = ("the source has no such file: check START/END, or the mirror's layout "
                     "(<type>/<type>_tripdata_YYYY-MM.csv.gz or <type>_tripdata_YYYY-MM.parquet)")

# The fix for each kind of expected failure, by the error's class and a mark in its message.
FIXES: tuple[tuple[str, str, str], ...] = (
    ("SourceError", "cannot reach", UNREACHABLE_FIX),
    ("SourceError", "truncated", "the download stopped short on every try: run again; if it repeats, the file at the "
                                 "source is truncated: replace it in the mirror"),
    ("SourceError", "HTTP", "the source is failing: run again later"),
    ("SourceError", "", "run again; the log has the details"),
    ("MonthNotPublished", "", NOT_PUBLISHED_FIX),
    ("AirflowFailException", "not published", NOT_PUBLISHED_FIX),
    ("BadSourceFile", "columns do not match", "the file's header differs from the spec: add the new names as "
                                              "aliases in plugins/taxi_pipeline/specs.py, or fix the file"),
    ("BadSourceFile", "", "the file at the source is damaged: replace it in the mirror, or try SOURCE=tlc"),
    ("ParamError", "", "check START/END/SOURCE"),
    ("AirflowFailException", "quality check", "the log has each check's numbers"),
    ("AirflowFailException", "", "the log has the details"),
    ("OperationalError", "", "is Postgres up? `make pg-up` starts it (its log: .pg/postgres.log)"),
)


def _expected(error: BaseException) -> tuple[BaseException, str] | None:
    """The error (or the one it wraps) that matches a :data:`FIXES` entry, and its fix."""
    chain: list[BaseException] = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__
    for seen in reversed(chain):  # the innermost first: AirflowFailException wraps the reason
        for name in (c.__name__ for c in type(seen).__mro__):
            for cls, mark, fix in FIXES:
                if name == cls and mark in str(seen):
                    return seen, fix
    return None


def explain(label: str, task_id: str, error: BaseException | str | None) -> tuple[str, bool]:
    """The month's failure as (text, expected): one line with cause and fix for an expected kind;
    the traceback for anything else (a bug)."""
    if error is None or isinstance(error, str):
        return f"{label}: failed in {task_id}: {error or 'no error recorded'} (the log has the details)", True
    found = _expected(error)
    if found is None:
        trace = "".join(traceback.format_exception(error)).rstrip()
        return f"{label}: failed in {task_id} with an unexpected error (a bug):\n{trace}", False
    cause, fix = found
    why = str(cause).splitlines()[0].removeprefix(f"{label}: ").removesuffix(" (will retry)")  # it was the last try
    return f"{label}: {why}; {fix}", True


def postgres_not_started(output: str, port: str, pg_dir: str, command: str = "make run") -> str:
    """One line for a failed ``scripts/pg.sh start`` (its whole ``output`` goes to the log file)."""
    if "Address already in use" in output:
        return (f"postgres did not start: port {port} is in use by another program (another Postgres?); "
                f"stop it, or use another: PG_PORT=<free port> {command}")
    said = [line.removeprefix("pg.sh: ") for line in output.splitlines() if line.startswith("pg.sh: ")]
    fatal = [line.split("FATAL:", 1)[1].strip() for line in output.splitlines() if "FATAL:" in line]
    why = "; ".join(said[-1:] + fatal[-1:]) or "pg.sh start failed"
    return f"postgres did not start: {why}; its log: {pg_dir}/postgres.log"
