"""Run one component and start it again whenever it exits: docker compose's ``restart: always``.

Airflow's scheduler exits when its metadata database goes away (``OperationalError: server closed
the connection unexpectedly``: measured by tests/e2e/test_e2e_chaos.py restarting Postgres under
a backfill), and expects whatever runs it to start it again -- compose's restart policy, or
Kubernetes. scripts/airflow_local.py starts every component through this script so the local
Airflow recovers the same way. Each restart is one line in the component's log::

    [supervise] <name> exited with <code> after <seconds> s; starting it again in <delay> s (restart <n>)

The delay doubles while the component keeps dying within a minute of its start (1, 2, 4 ... 30 s).
SIGTERM/SIGINT stop it: the signal reaches the component through the process group (airflow_local
signals groups); if it does not, it is passed on after 2 s. With ``SUPERVISE_PARENT_PID`` set (the
tests set it to their own pid), it also stops its group when that process is gone, so a test
session killed before its teardown leaves no Airflow running. Stdlib only.

    python scripts/supervise.py <name> -- <command> [args...]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

MAX_DELAY = 30.0
QUICK_DEATH = 60.0  # a component that ran this long before dying restarts at once again


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: supervise.py <name> -- <command> [args...]", file=sys.stderr)
        return 2
    name, command = argv[0], argv[2:]
    stop_asked: list[float] = []

    def stop(signum: int, frame: object) -> None:
        stop_asked.append(time.monotonic())

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    parent = int(os.environ.get("SUPERVISE_PARENT_PID") or 0)
    restarts, delay = 0, 1.0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command)
        passed_on = False
        while True:
            try:
                code = child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if parent and not stop_asked and not _alive(parent):
                    os.killpg(os.getpgrp(), signal.SIGTERM)  # the group: this, the component, its tasks
                if stop_asked and not passed_on and time.monotonic() - stop_asked[0] > 2:
                    child.send_signal(signal.SIGTERM)  # the group signal did not reach it
                    passed_on = True
        if stop_asked:
            return max(code, 0)  # stopped as asked (a signal ends the component: negative code)
        ran = time.monotonic() - started
        delay = 1.0 if ran >= QUICK_DEATH else delay
        restarts += 1
        print(f"[supervise] {name} exited with {code} after {ran:.1f} s; starting it again in {delay:.0f} s "
              f"(restart {restarts})", flush=True)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not stop_asked:
            time.sleep(0.1)
        if stop_asked:
            return 0
        delay = min(delay * 2, MAX_DELAY)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
