"""Child process of the memory case: load one month as the DAG's tasks do and report peak RSS.

It first imports what an Airflow task process has imported (the SDK, the Postgres hook, the DAG
factory), records its RSS, then runs load_staging, hash_merge and drop_staging
(benchmarks/load_paths.py: Ours) and prints one JSON line: rows, rows inserted, the load's seconds,
baseline and peak RSS (VmHWM, the kernel's high-water mark of this process), in KiB. The memory
case gives each month a new database; the scale case loads its year into one.

    python benchmarks/memory_child.py <port> <database> <mirror root, either layout> <taxi> <YYYY-MM>
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import BenchPostgres  # noqa: E402  (sets sys.path and the Airflow home)


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    port, database, root, taxi, month_text = sys.argv[1:]
    import airflow.sdk  # noqa: F401  -- a task process has these loaded before it runs anything
    from airflow.providers.postgres.hooks.postgres import PostgresHook  # noqa: F401

    import taxi_pipeline.factory  # noqa: F401
    import taxi_pipeline.postgres.tasks  # noqa: F401
    from tests.support.load_paths import SourceMonth, Ours
    from taxi_pipeline.months import Month
    from taxi_pipeline.specs import SPECS

    baseline = _status_kb("VmRSS")
    month = Month.parse(month_text)
    csv_gz, parquet = Path(root) / taxi / f"{taxi}_tripdata_{month}.csv.gz", Path(root) / f"{taxi}_tripdata_{month}.parquet"
    path = csv_gz if csv_gz.exists() else parquet
    started = time.perf_counter()
    loaded = Ours(BenchPostgres(Path("/nonexistent"), int(port)), database).load(SourceMonth(SPECS[taxi], month, path, Path(root)))
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": loaded.rows, "inserted": loaded.inserted, "seconds": seconds, "baseline_kb": baseline,
                      "peak_kb": _status_kb("VmHWM"), "taxi": taxi, "month": month_text}))


if __name__ == "__main__":
    main()
