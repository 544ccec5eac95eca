"""``make run`` twice at once: the second waits its turn, saying so in one line (scripts/run_local.py).

Two real processes take the lock of one Airflow home, as two ``make run`` would; the first holds it
until the test lets it go.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOLDER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from scripts.run_local import one_run_at_a_time
home, release = Path(sys.argv[1]), Path(sys.argv[2])
with one_run_at_a_time(home, say=lambda line: print(line, flush=True)):
    print("acquired", flush=True)
    while not release.exists():
        time.sleep(0.05)
"""


def start(home: Path, release: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", HOLDER.format(root=str(ROOT)), str(home), str(release)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_second_make_run_waits_for_the_first_and_says_so(tmp_path):
    home = tmp_path / "airflow-home"
    first = start(home, tmp_path / "release-first")
    assert first.stdout.readline().strip() == "acquired"
    second = start(home, tmp_path / "release-second")
    waiting = second.stdout.readline().strip()
    assert waiting.startswith(f"make run: another make run (pid {first.pid}, started ")
    assert waiting.endswith(f") is using {home}; waiting for it to finish")
    time.sleep(1)
    assert second.poll() is None  # still waiting: it has not printed "acquired"

    (tmp_path / "release-first").touch()
    assert first.wait(timeout=10) == 0
    assert second.stdout.readline().strip() == "acquired"
    (tmp_path / "release-second").touch()
    assert second.wait(timeout=10) == 0


def test_a_killed_make_run_leaves_no_lock_behind(tmp_path):
    home = tmp_path / "airflow-home"
    first = start(home, tmp_path / "never")
    assert first.stdout.readline().strip() == "acquired"
    first.kill()
    first.wait(timeout=10)
    second = start(home, tmp_path / "release")
    assert second.stdout.readline().strip() == "acquired"  # no waiting line: the kernel freed the lock
    (tmp_path / "release").touch()
    assert second.wait(timeout=10) == 0
