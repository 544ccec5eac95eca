"""Synthetic NYC TLC monthly releases shaped like the DataTalksClub/nyc-tlc-data csv.gz files.

The quirks the loader must survive are reproduced on purpose: CRLF line endings (Postgres
``COPY ... csv`` insists on one newline style for the whole file), a ~40% group of rows whose
vendor/rate/passenger/payment/trip-type/flag/congestion fields are all blank, an always-blank
``ehail_fee`` (green), pickups far outside the file's month (2008/2009) or in the next month,
amounts written as ``.80``/``12.50``/``6``/``-2.5`` (so text -> double -> text canonicalization
matters for ``unique_row_id``), and rows that repeat an earlier row's hashed fields.

Output is a pure function of (spec, year, month, rows, seed, duplicate_rows): the random
stream is seeded from those values and the gzip header carries mtime 0, so files are
byte-identical across runs and machines.

CLI (from the repo root)::

    python -m tests.support.fake_tlc --out /tmp/tlc --taxi all --months 2019-01:2019-03 --rows 100000
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import queue
import random
import sys
import threading
import time
from array import array
from calendar import monthrange
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

try:
    from taxi_pipeline.specs import SPECS, TaxiSpec
except ModuleNotFoundError:  # `python -m tests.support.fake_tlc` from the repo root: plugins/ is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))
    from taxi_pipeline.specs import SPECS, TaxiSpec

__all__ = [
    "BLANK_GROUP",
    "MonthFile",
    "read_rows",
    "release_path",
    "release_relpath",
    "unique_row_id",
    "write_month",
    "write_release",
]

# Fields that are blank together on the same rows in the real files (trip_type exists only for green).
# Distance and money columns: drawn from per-column pools of release-like values.
AMOUNT_COLUMNS: tuple[str, ...] = (
    "trip_distance",
    "fare_amount",
    "extra",
    "mta_tax",
    "tip_amount",
    "tolls_amount",
    "improvement_surcharge",
    "total_amount",
)
BLANK_GROUP: tuple[str, ...] = (
    "VendorID",
    "RatecodeID",
    "passenger_count",
    "payment_type",
    "trip_type",
    "store_and_fwd_flag",
    "congestion_surcharge",
)
BLANK_SHARE = 0.40

# Rows generated per batch: big enough to amortise per-batch overhead and give gzip large
# writes, small enough to keep memory flat (~15 MB of strings) for multi-million-row files.
_BATCH_ROWS = 50_000
# From this many rows on, the default compresslevel drops from 6 to 1: level 6 costs ~5 us/row,
# more than generating the row, and a benchmark file's compressed size is not what it tests.
_FAST_GZIP_FROM = 100_000
_DAY = 86_400


@dataclass(frozen=True)
class MonthFile:
    """One generated monthly release file."""

    path: Path
    taxi: str
    year: int
    month: int
    data_lines: int  # CSV data rows, header excluded
    gz_bytes: int

    @property
    def url_path(self) -> str:
        """The path a :class:`~tests.support.http_server.FixtureServer` serves this file under."""
        return "/" + release_relpath(self.taxi, self.year, self.month)


GENERATED = ("green", "yellow")  # the types this generator knows (fhv, fhvhv: tests/support/fake_parquet.py)


def release_relpath(taxi: str, year: int, month: int) -> str:
    """``<taxi>/<taxi>_tripdata_YYYY-MM.csv.gz``, the release layout relative to a root."""
    return f"{taxi}/{taxi}_tripdata_{year:04d}-{month:02d}.csv.gz"


def release_path(root: Path, taxi: str, year: int, month: int) -> Path:
    """``root/<taxi>/<taxi>_tripdata_YYYY-MM.csv.gz``."""
    return Path(root) / release_relpath(taxi, year, month)


# --- value pools -------------------------------------------------------------------------------
# Rows are assembled by picking pre-formatted strings from pools, never by formatting numbers
# per row. Every pool has exactly 2**16 entries (weights expressed by repetition) so a batch
# of picks is one `randbytes` call read as uint16 indexes: ~2x faster than `Random.choices`.
# Pools are built from a fixed seed, so they are the same for every file.

_POOL_SIZE = 1 << 16


def _expand(base: Sequence[str]) -> tuple[str, ...]:
    """Stretch ``base`` to _POOL_SIZE entries, keeping each entry's share."""
    n = len(base)
    return tuple(base[i * n // _POOL_SIZE] for i in range(_POOL_SIZE))


def _uints(rng: random.Random, k: int, typecode: str = "H") -> array[int]:
    """``k`` uniform unsigned ints (``H``: 16-bit, ``I``: 32-bit), identical on every platform."""
    values = array(typecode)
    values.frombytes(rng.randbytes(values.itemsize * k))
    if sys.byteorder == "big":  # randbytes is little-endian by definition
        values.byteswap()
    return values


def _pick(rng: random.Random, pool: Sequence[str], k: int) -> list[str]:
    # A list comprehension beats map(pool.__getitem__, ...) on 3.11.
    return [pool[i] for i in _uints(rng, k)]


def _fmt_cents(cents: int, style: int) -> str:
    """Write an amount the ways the real files do: 0 -> '12.50', 1 -> '12.5'/'6', 2 -> '.80'."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    if style == 1:  # shortest: 6, 12.5, 0.8, 1.65
        if frac == 0:
            body = str(whole)
        elif frac % 10 == 0:
            body = f"{whole}.{frac // 10}"
        else:
            body = f"{whole}.{frac:02d}"
    elif style == 2 and whole == 0:  # leading dot: .80, .05, .00
        body = f".{frac:02d}"
    else:  # fixed two decimals: 12.50, 0.80
        body = f"{whole}.{frac:02d}"
    return sign + body


def _styled(rng: random.Random, cents: int) -> str:
    # Mostly shortest form, a fair share of fixed and leading-dot forms.
    return _fmt_cents(cents, rng.choices((0, 1, 2), weights=(3, 5, 2))[0])


@dataclass(frozen=True)
class _Pools:
    locations: tuple[str, ...]
    group_columns: tuple[tuple[str, ...], ...]  # one pool per BLANK_GROUP field, indexed together
    trip_distance: tuple[str, ...]
    fare_amount: tuple[str, ...]
    extra: tuple[str, ...]
    mta_tax: tuple[str, ...]
    tip_amount: tuple[str, ...]
    tolls_amount: tuple[str, ...]
    improvement_surcharge: tuple[str, ...]
    total_amount: tuple[str, ...]
    times: tuple[str, ...]  # "HH:MM:SS" for every second of a day


@cache
def _pools() -> _Pools:
    rng = random.Random("fake_tlc pools v1")

    def rep(pairs: Iterable[tuple[str, int]]) -> tuple[str, ...]:
        return tuple(value for value, weight in pairs for _ in range(weight))

    vendor = rep([("1", 2), ("2", 3)])
    ratecode = rep([("1", 18), ("2", 1), ("5", 1)])
    passengers = rep([("0", 1), ("1", 14), ("2", 3), ("3", 1), ("4", 1), ("5", 2), ("6", 1)])
    payment = rep([("1", 12), ("2", 7), ("3", 1), ("4", 1)])
    trip_type = rep([("1", 9), ("2", 1)])
    store = rep([("N", 49), ("Y", 1)])
    congestion = rep([("0", 3), ("2.75", 2)])
    filled = [
        tuple(rng.choice(p) for p in (vendor, ratecode, passengers, payment, trip_type, store, congestion))
        for _ in range(4_096)
    ]
    # BLANK_SHARE of the pool is the all-blank tuple, so each row is blank with p = 0.4.
    n_blank = round(_POOL_SIZE * BLANK_SHARE)
    n_filled = _POOL_SIZE - n_blank
    blank = ("",) * len(BLANK_GROUP)
    group = [filled[i * len(filled) // n_filled] for i in range(n_filled)] + [blank] * n_blank

    def distance() -> int:  # hundredths of a mile
        r = rng.random()
        if r < 0.02:
            return 0
        if r < 0.30:
            return rng.randint(1, 99)  # sub-mile trips give the '.86' form
        if r < 0.90:
            return rng.randint(100, 1_000)
        return rng.randint(1_000, 3_000)

    trip_distance = [_styled(rng, distance()) for _ in range(4_096)]

    def fare() -> int:  # cents; the meter moves in 50-cent steps, flat fares and refunds exist
        r = rng.random()
        if r < 0.01:
            return 0
        if r < 0.03:
            return -50 * rng.randint(1, 104)  # refunds/voids: -0.5 .. -52
        if r < 0.10:
            return rng.choice((5_200, 5_250, 2_000, 1_500))
        return 50 * rng.randint(5, 120)

    fare_amount = [_styled(rng, fare()) for _ in range(4_096)]
    tip_amount = [
        "0" if rng.random() < 0.5 else _styled(rng, rng.randint(1, 2_000) * (-1 if rng.random() < 0.01 else 1))
        for _ in range(4_096)
    ]
    total_amount = [
        _styled(rng, -rng.randint(80, 5_500) if rng.random() < 0.02 else rng.randint(300, 9_000))
        for _ in range(4_096)
    ]
    extra = rep(
        [("0", 20), ("0.5", 10), (".5", 3), ("0.50", 2), ("1", 6), ("1.00", 1)]
        + [("2.75", 3), ("3.25", 1), ("-0.5", 1), ("-1", 1)]
    )
    mta_tax = rep([("0.5", 20), (".50", 5), ("0", 4), ("-0.5", 1)])
    tolls_amount = rep([("0", 40), (".00", 3), ("5.76", 2), ("6.12", 2), ("12.5", 1), ("2.80", 1), ("-5.76", 1)])
    improvement = rep([("0.3", 20), (".30", 5), ("0", 2), ("-0.3", 1)])
    times = tuple(f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60))
    return _Pools(
        locations=_expand([str(i) for i in range(1, 266)]),
        group_columns=tuple(zip(*group)),
        trip_distance=_expand(trip_distance),
        fare_amount=_expand(fare_amount),
        extra=_expand(extra),
        mta_tax=_expand(mta_tax),
        tip_amount=_expand(tip_amount),
        tolls_amount=_expand(tolls_amount),
        improvement_surcharge=_expand(improvement),
        total_amount=_expand(total_amount),
        times=times,
    )


# --- generation --------------------------------------------------------------------------------


@dataclass
class _Plan:
    """Which rows get special treatment, by 0-based data-row index across the whole file."""

    old: dict[int, tuple[str, str]]  # row -> (pickup, dropoff) in 2008/2009
    next_month: dict[int, int]  # row -> pickup seconds from the month start (>= month length)
    sources: set[int]  # rows whose hashed fields are copied...
    targets: dict[int, int]  # ...into these: target row -> source row (source < target)


def _outlier_count(rows: int) -> int:
    # ~0.1% like the real files, at least 2 so small test files still show the quirk.
    return max(2, round(rows * 0.001)) if rows >= 100 else 0


def _plan(rng: random.Random, rows: int, duplicate_rows: int, month_seconds: int) -> _Plan:
    n_out = _outlier_count(rows)
    n_dup = duplicate_rows if rows >= 10 else 0
    if n_dup < 0:
        raise ValueError(f"duplicate_rows must be >= 0, got {duplicate_rows}")
    if 2 * n_out + 2 * n_dup > rows:
        raise ValueError(f"{rows} rows cannot hold {n_dup} duplicates and {2 * n_out} outliers")
    # One sample keeps the special row sets disjoint, so a duplicate never erases an outlier.
    special = rng.sample(range(rows), 2 * n_out + 2 * n_dup)
    old_rows, next_rows, dup_rows = special[:n_out], special[n_out : 2 * n_out], special[2 * n_out :]

    old: dict[int, tuple[str, str]] = {}
    start_2008 = datetime(2008, 1, 1)
    span = int((datetime(2010, 1, 1) - start_2008).total_seconds())
    for i in old_rows:
        pickup = start_2008 + timedelta(seconds=rng.randrange(span))
        dropoff = pickup + timedelta(seconds=rng.randrange(60, 3_601))
        old[i] = (pickup.strftime("%Y-%m-%d %H:%M:%S"), dropoff.strftime("%Y-%m-%d %H:%M:%S"))
    next_month = {i: month_seconds + rng.randrange(3 * _DAY) for i in next_rows}  # next month's days 1-3
    targets = {max(a, b): min(a, b) for a, b in zip(dup_rows[::2], dup_rows[1::2])}
    return _Plan(old=old, next_month=next_month, sources=set(targets.values()), targets=targets)


class _MonthGenerator:
    """Produces one month's data rows batch by batch from a single random stream."""

    def __init__(self, spec: TaxiSpec, year: int, month: int, rows: int, seed: int, duplicate_rows: int) -> None:
        self.spec = spec
        # A string seed is hashed with SHA-512 by `random`, so it is stable across processes.
        self.rng = random.Random(f"{seed}:{spec.taxi}:{year:04d}-{month:02d}")
        days = monthrange(year, month)[1]
        self.month_seconds = days * _DAY
        first = date(year, month, 1)
        # Pickups may land 3 days into the next month and dropoffs an hour after that.
        self.day_prefix = [(first + timedelta(days=d)).isoformat() + " " for d in range(days + 5)]
        self.plan = _plan(self.rng, rows, duplicate_rows, self.month_seconds)
        self.copied_columns = tuple(
            dict.fromkeys(spec.postgres_hash_columns + tuple(n for n in BLANK_GROUP if n in spec.column_names))
        )
        self.saved: dict[int, tuple[str, ...]] = {}  # copied_columns of duplicate sources
        # Formatting two timestamps is ~40% of a row's cost, so big files draw (pickup, dropoff)
        # pairs from a per-file pool of 2**16 trips instead; small files format every row.
        self.trip_pool = self._trips(_POOL_SIZE) if rows > 4 * _POOL_SIZE else None

    def _format(self, second: int) -> str:
        """``YYYY-MM-DD HH:MM:SS`` for seconds since the month start."""
        return self.day_prefix[second // _DAY] + _pools().times[second % _DAY]

    def _trips(self, k: int) -> tuple[list[str], list[str]]:
        """``k`` pickups inside the month and their dropoffs 1..60 minutes later."""
        month_seconds, day_prefix, times = self.month_seconds, self.day_prefix, _pools().times
        # 32-bit draws modulo a month (< 2.7M s) have negligible bias.
        starts = [x % month_seconds for x in _uints(self.rng, k, "I")]
        ends = [s + 60 + d % 3_541 for s, d in zip(starts, _uints(self.rng, k))]
        return (
            [day_prefix[s // _DAY] + times[s % _DAY] for s in starts],
            [day_prefix[e // _DAY] + times[e % _DAY] for e in ends],
        )

    def batch(self, start: int, size: int) -> str:
        """CSV text (CRLF after every line) for data rows ``start .. start + size - 1``."""
        spec, rng, plan, p = self.spec, self.rng, self.plan, _pools()
        if self.trip_pool is None:
            pick, drop = self._trips(size)
        else:
            trip_rows = _uints(rng, size)
            pick, drop = ([pool[i] for i in trip_rows] for pool in self.trip_pool)
        cols: dict[str, list[str]] = {spec.pickup_column: pick, spec.dropoff_column: drop}
        # One draw per row for the whole group keeps its fields blank (or not) together.
        group_rows = _uints(rng, size)
        for name, pool in zip(BLANK_GROUP, p.group_columns):
            cols[name] = [pool[i] for i in group_rows]
        for name in ("PULocationID", "DOLocationID"):
            cols[name] = _pick(rng, p.locations, size)
        for name in AMOUNT_COLUMNS:
            cols[name] = _pick(rng, getattr(p, name), size)
        cols["ehail_fee"] = [""] * size

        end = start + size
        for i, (pu, do) in plan.old.items():
            if start <= i < end:
                pick[i - start], drop[i - start] = pu, do
        for i, s in plan.next_month.items():
            if start <= i < end:
                pick[i - start] = self._format(s)
                drop[i - start] = self._format(s + rng.randrange(60, 3_601))
        # A duplicate copies the hashed fields and, so VendorID's blank group stays all-or-nothing,
        # the rest of that group. Sources are saved before targets are written; a source may sit
        # in an earlier batch.
        copied = [cols[name] for name in self.copied_columns]
        for i in sorted(plan.sources):
            if start <= i < end:
                self.saved[i] = tuple(col[i - start] for col in copied)
        for i, src in plan.targets.items():
            if start <= i < end:
                for col, value in zip(copied, self.saved[src]):
                    col[i - start] = value

        ordered = [cols[name] for name in spec.dtc_columns]
        return "\r\n".join(map(",".join, zip(*ordered))) + "\r\n"


def _write_gzip(part: Path, inner_name: str, level: int, chunks: Iterator[bytes]) -> None:
    """Gzip ``chunks`` into ``part``, compressing on a helper thread.

    zlib releases the GIL, so on a multi-core machine compression overlaps generation instead of
    adding to it; on one core this costs nothing measurable.
    """
    todo: queue.Queue[bytes | None] = queue.Queue(maxsize=2)  # bounded: memory stays ~2 batches
    failure: list[BaseException] = []

    def drain() -> None:
        finished = False
        try:
            # mtime=0 keeps the bytes reproducible; the embedded name is the csv inside, as gzip(1) writes.
            with open(part, "wb") as raw, gzip.GzipFile(
                filename=inner_name, mode="wb", fileobj=raw, compresslevel=level, mtime=0
            ) as gz:
                while (chunk := todo.get()) is not None:
                    gz.write(chunk)
                finished = True
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)
            while not finished and todo.get() is not None:  # unblock the producer
                pass

    thread = threading.Thread(target=drain, name=f"gzip {part.name}", daemon=True)
    thread.start()
    try:
        for chunk in chunks:
            if failure:
                break
            todo.put(chunk)
    finally:
        todo.put(None)
        thread.join()
    if failure:
        raise failure[0]


def write_month(
    root: Path,
    spec: TaxiSpec,
    year: int,
    month: int,
    rows: int,
    *,
    seed: int = 0,
    duplicate_rows: int = 3,
    compresslevel: int | None = None,
) -> MonthFile:
    """Write ``release_path(root, spec.taxi, year, month)`` with ``rows`` data rows.

    ``compresslevel`` defaults to 6, or 1 from 100,000 rows on. The file is written under a
    temporary name and renamed, so a server never serves a half-written file.
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, got {month}")
    level = compresslevel if compresslevel is not None else (1 if rows >= _FAST_GZIP_FROM else 6)
    generator = _MonthGenerator(spec, year, month, rows, seed, duplicate_rows)
    path = release_path(root, spec.taxi, year, month)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")

    def chunks() -> Iterator[bytes]:
        yield (spec.header + "\r\n").encode("ascii")
        for start in range(0, rows, _BATCH_ROWS):
            yield generator.batch(start, min(_BATCH_ROWS, rows - start)).encode("ascii")

    try:
        _write_gzip(part, spec.filename(year, month), level, chunks())
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(path)
    return MonthFile(
        path=path, taxi=spec.taxi, year=year, month=month, data_lines=rows, gz_bytes=path.stat().st_size
    )


def write_release(
    root: Path,
    spec: TaxiSpec,
    months: Sequence[tuple[int, int]],
    rows: int,
    *,
    seed: int = 0,
    duplicate_rows: int = 3,
    compresslevel: int | None = None,
) -> list[MonthFile]:
    """Write one file per ``(year, month)``; each month gets its own random stream."""
    return [
        write_month(
            root, spec, year, month, rows, seed=seed, duplicate_rows=duplicate_rows, compresslevel=compresslevel
        )
        for year, month in months
    ]


# --- reading back ------------------------------------------------------------------------------


def rename_header_column(path: Path, old: str, new: str) -> None:
    """Rename a column in a written month's header: a file the spec's column check refuses at once."""
    header, rest = gzip.decompress(path.read_bytes()).decode("ascii").split("\r\n", 1)
    path.write_bytes(gzip.compress((header.replace(old, new) + "\r\n" + rest).encode("ascii"), mtime=0))


def read_rows(path: Path) -> tuple[str, list[list[str]]]:
    """(header, data rows split on commas) of a generated file; fields never contain commas or quotes."""
    with gzip.open(path, "rb") as f:
        text = f.read().decode("ascii")
    lines = text.split("\r\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines[0], [line.split(",") for line in lines[1:]]


def _pg_text(postgres_type: str, raw: str) -> str:
    """What ``COALESCE(CAST(col AS text), '')`` yields after ``COPY ... csv`` loaded ``raw``."""
    if raw == "":
        return ""  # unquoted empty CSV field -> NULL -> ''
    if postgres_type == "double precision":
        # Postgres >= 12 prints the shortest round-trip digits, like repr(), but without '.0'.
        text = repr(float(raw))
        return text[:-2] if text.endswith(".0") else text
    if postgres_type == "integer":
        return str(int(raw))
    return raw  # text, and timestamps already in Postgres' output format


def unique_row_id(spec: TaxiSpec, row: Sequence[str]) -> str:
    """The md5 the merge computes for ``row`` (fields in file order), mirroring include/sql's macro."""
    by_name = dict(zip(spec.dtc_columns, row))
    joined = "".join(_pg_text(spec.column(n).postgres_type, by_name[n]) for n in spec.postgres_hash_columns)
    return hashlib.md5(joined.encode("utf-8")).hexdigest()


# --- CLI ---------------------------------------------------------------------------------------


def _parse_month(text: str) -> tuple[int, int]:
    year, _, month = text.partition("-")
    value = (int(year), int(month))
    if not 1 <= value[1] <= 12:
        raise argparse.ArgumentTypeError(f"bad month {text!r}")
    return value


def _parse_months(text: str) -> list[tuple[int, int]]:
    """``2019-01:2019-03`` (inclusive range), ``2019-01`` or a comma list of either."""
    months: list[tuple[int, int]] = []
    for part in text.split(","):
        first, _, last = part.strip().partition(":")
        y, m = _parse_month(first)
        end = _parse_month(last) if last else (y, m)
        if end < (y, m):
            raise argparse.ArgumentTypeError(f"empty month range {part!r}")
        while (y, m) <= end:
            months.append((y, m))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.fake_tlc", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="release root directory")
    parser.add_argument("--taxi", choices=[*GENERATED, "all"], default="all")
    parser.add_argument("--months", type=_parse_months, required=True, help="e.g. 2019-01:2019-03")
    parser.add_argument("--rows", type=int, required=True, help="data rows per file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--duplicate-rows", type=int, default=3)
    parser.add_argument("--compresslevel", type=int, default=None, help="default: 6, or 1 from 100,000 rows on")
    args = parser.parse_args(argv)

    specs = [SPECS[t] for t in GENERATED] if args.taxi == "all" else [SPECS[args.taxi]]
    for spec in specs:
        for year, month in args.months:
            began = time.perf_counter()
            f = write_month(
                args.out,
                spec,
                year,
                month,
                args.rows,
                seed=args.seed,
                duplicate_rows=args.duplicate_rows,
                compresslevel=args.compresslevel,
            )
            elapsed = time.perf_counter() - began
            rate = f.data_lines / elapsed if elapsed > 0 else 0.0
            print(f"{f.path}\t{f.data_lines} lines\t{f.gz_bytes} bytes\t{elapsed:.2f}s ({rate:,.0f} rows/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
