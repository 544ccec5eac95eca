"""scripts/supervise.py: a component that exits is started again; SIGTERM stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SUPERVISE = Path(__file__).resolve().parents[1] / "scripts" / "supervise.py"

# Dies with 3 on its first start (no marker yet), then writes its pid and runs until signalled.
COMPONENT = """
import os, sys, time
marker, pids = sys.argv[1], sys.argv[2]
if not os.path.exists(marker):
    open(marker, "w").close()
    sys.exit(3)
with open(pids, "a") as f:
    f.write(f"{os.getpid()}\\n")
time.sleep(60)
"""


def _wait(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_component_that_exits_is_started_again_and_sigterm_stops_both(tmp_path: Path) -> None:
    pids, log = tmp_path / "pids", tmp_path / "component.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(SUPERVISE), "demo", "--", sys.executable, "-c", COMPONENT,
             str(tmp_path / "marker"), str(pids)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        child = int(_wait(lambda: pids.exists() and pids.read_text().split()[0]))
        assert "[supervise] demo exited with 3 after" in log.read_text()
        assert "starting it again in 1 s (restart 1)" in log.read_text()
        os.killpg(proc.pid, signal.SIGTERM)  # as airflow_local's stop() does: the whole group
        assert proc.wait(timeout=10) == 0
        _wait(lambda: not Path(f"/proc/{child}").exists())
        assert log.read_text().count("[supervise]") == 1  # a stop is not a restart
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_the_group_stops_when_the_parent_named_in_supervise_parent_pid_is_gone(tmp_path: Path) -> None:
    """A test session killed before its teardown must not leave its Airflow running."""
    pids = tmp_path / "pids"
    (tmp_path / "marker").touch()  # the component starts and stays up
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    proc = subprocess.Popen(
        [sys.executable, str(SUPERVISE), "demo", "--", sys.executable, "-c", COMPONENT,
         str(tmp_path / "marker"), str(pids)],
        env={**os.environ, "SUPERVISE_PARENT_PID": str(parent.pid)},
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        child = int(_wait(lambda: pids.exists() and pids.read_text().split()[0]))
        time.sleep(1)
        assert proc.poll() is None  # the parent lives: the supervisor keeps going
        parent.kill()
        parent.wait()
        assert proc.wait(timeout=15) == 0
        _wait(lambda: not Path(f"/proc/{child}").exists())
    finally:
        for p in (parent, proc):
            if p.poll() is None:
                p.kill()
