"""The monthly files a benchmark loads: generated ones shaped like the releases, or a real mirror.

Generated files come from tests/support/fake_tlc.py (CRLF, blank vendor groups, outliers in other
months, in-file duplicates) and are cached under benchmarks/.work/data: the generator is
deterministic, so a file is only rewritten when its row count is not the one asked for.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from benchmarks.common import WORK, say
from taxi_pipeline.months import Month
from taxi_pipeline.specs import SPECS
from tests.support.load_paths import SourceMonth

GENERATED = WORK / "data"
_MIRROR_NAME = re.compile(r"^(?P<taxi>green|yellow)_tripdata_(?P<year>\d{4})-(?P<month>\d{2})\.csv\.gz$")


def generated(taxi: str, months: list[Month], rows: int, *, seed: int = 5, root: Path = GENERATED) -> list[SourceMonth]:
    """``rows`` rows per month; written once, then reused."""
    from tests.support import fake_tlc

    spec = SPECS[taxi]
    manifest_path = root / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    out = []
    for month in months:
        path = fake_tlc.release_path(root, taxi, month.year, month.month)
        key = path.relative_to(root).as_posix()
        if manifest.get(key) != {"rows": rows, "seed": seed} or not path.exists():
            say(f"generating {key} ({rows:,} rows)")
            fake_tlc.write_month(root, spec, month.year, month.month, rows, seed=seed)
            manifest[key] = {"rows": rows, "seed": seed}
            manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        out.append(SourceMonth(spec, month, path, root))
    return out


def as_parquet(month: SourceMonth, root: Path) -> SourceMonth:
    """``month``'s trips as the TLC's parquet in a TLC-layout mirror under ``root``
    (tests/support/fake_parquet.py), written again only when the csv.gz is newer."""
    from tests.support import fake_parquet

    path = fake_parquet.tlc_path(root, month.spec.taxi, month.month)
    if not path.exists() or path.stat().st_mtime < month.path.stat().st_mtime:
        say(f"writing {path.name} from {month.path.name}")
        fake_parquet.from_csv(month.path, month.spec.taxi, month.month, root)
    return SourceMonth(month.spec, month.month, path, root)


def mirror(root: Path) -> list[SourceMonth]:
    """Every ``<root>/<taxi>/<taxi>_tripdata_YYYY-MM.csv.gz``, in (taxi, month) order."""
    root = root.resolve()
    found = []
    for path in sorted(root.glob("*/*_tripdata_*.csv.gz")):
        match = _MIRROR_NAME.match(path.name)
        if match and path.parent.name == match["taxi"]:
            found.append(SourceMonth(SPECS[match["taxi"]], Month(int(match["year"]), int(match["month"])), path, root))
    if not found:
        raise SystemExit(f"DATA={root}: no <taxi>/<taxi>_tripdata_YYYY-MM.csv.gz files there")
    return found


def month_range(first: Month, count: int) -> list[Month]:
    months = [first]
    while len(months) < count:
        months.append(months[-1].next())
    return months
