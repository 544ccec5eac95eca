"""Synthetic TLC parquet files with the real schemas of each era, in the TLC layout.

* yellow/green: the rows of a fake_tlc csv.gz month, typed as the TLC writes them (VendorID and
  zone ids integers, passenger_count/RatecodeID doubles, timestamps in microseconds), plus the
  era's extra columns: yellow ``airport_fee`` (null, 2011-2023-01) or ``Airport_fee`` (2023-02 on),
  ``cbd_congestion_fee`` from 2025-01. The same trips as the CSV, so both must get the same ids.
* fhv (7 columns) and fhvhv (24, 25 from 2025-01): random trips, some picked up in the next month,
  some without zone ids.

Files land at ``<root>/<taxi>_tripdata_YYYY-MM.parquet`` (releases.TLC_LAYOUT).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from taxi_pipeline.months import Month
from taxi_pipeline.specs import SPECS

_TLC_TYPES = {  # what the TLC files hold, where it differs from the table's type
    "VendorID": "int64", "passenger_count": "double", "RatecodeID": "double", "PULocationID": "int64",
    "DOLocationID": "int64", "payment_type": "int64", "trip_type": "double", "PUlocationID": "double",
    "DOlocationID": "double",
}


def tlc_path(root: Path, taxi: str, month: Month) -> Path:
    return Path(root) / f"{taxi}_tripdata_{month}.parquet"


def _write(table, path: Path, row_group_size: int = 50_000) -> Path:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    pq.write_table(table, part, row_group_size=row_group_size)
    part.replace(path)
    return path


def from_csv(csv_gz: Path, taxi: str, month: Month, root: Path) -> Path:
    """The TLC parquet file of a fake_tlc csv.gz month (same trips), with the era's columns."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    spec = SPECS[taxi]
    names = spec.dtc_columns
    table = pacsv.read_csv(csv_gz, read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
                           convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                                strings_can_be_null=True))
    columns = {}
    for name in names:
        kind = _TLC_TYPES.get(name) or {"text": "string", "integer": "int64", "double precision": "double",
                                        "timestamp": "timestamp[us]"}[spec.column(name).postgres_type]
        values = table[name]
        columns[name] = values.cast(pa.type_for_alias(kind)) if kind != "string" else values
    if taxi == "yellow":
        fee = "Airport_fee" if month >= Month(2023, 2) else "airport_fee"
        if month >= Month(2023, 2):
            columns["VendorID"] = columns["VendorID"].cast(pa.int32())
        columns[fee] = pa.array([None if i % 3 else 1.75 for i in range(table.num_rows)], pa.float64())
    if month >= Month(2025, 1):
        columns["cbd_congestion_fee"] = pa.array([0.75 if i % 2 else 0.0 for i in range(table.num_rows)], pa.float64())
    return _write(pa.table(columns), tlc_path(root, taxi, month))


def _moments(rng: random.Random, month: Month, rows: int) -> list[datetime]:
    first = datetime(month.year, month.month, 1)
    seconds = int((datetime(month.next().year, month.next().month, 1) - first).total_seconds())
    return [first + timedelta(seconds=rng.randrange(seconds + (3600 if i % 500 == 0 else 0))) for i in range(rows)]


def fhv(root: Path, month: Month, rows: int, seed: int = 3) -> Path:
    import pyarrow as pa

    rng = random.Random(f"fhv{month}{rows}{seed}")
    pickups = _moments(rng, month, rows)
    zone = [None if i % 7 == 0 else float(rng.randrange(1, 266)) for i in range(rows)]
    return _write(pa.table({
        "dispatching_base_num": [f"B{rng.randrange(1, 3000):05d}" for _ in range(rows)],
        "pickup_datetime": pa.array(pickups, pa.timestamp("us")),
        "dropOff_datetime": pa.array([p + timedelta(minutes=rng.randrange(1, 90)) for p in pickups], pa.timestamp("us")),
        "PUlocationID": pa.array(zone, pa.float64()),
        "DOlocationID": pa.array([None if i % 5 == 0 else float(rng.randrange(1, 266)) for i in range(rows)], pa.float64()),
        "SR_Flag": pa.array([None] * rows, pa.int32()),
        "Affiliated_base_number": [f"B{rng.randrange(1, 3000):05d}" if i % 4 else None for i in range(rows)],
    }), tlc_path(root, "fhv", month))


def fhvhv(root: Path, month: Month, rows: int, seed: int = 5) -> Path:
    import pyarrow as pa

    rng = random.Random(f"fhvhv{month}{rows}{seed}")
    pickups = _moments(rng, month, rows)
    money = lambda: round(rng.uniform(3, 80), 2)  # noqa: E731
    flag = lambda: rng.choice(["N", "N", "N", "Y"])  # noqa: E731
    columns = {
        "hvfhs_license_num": [rng.choice(["HV0003", "HV0005"]) for _ in range(rows)],
        "dispatching_base_num": [f"B{rng.randrange(1, 3000):05d}" for _ in range(rows)],
        "originating_base_num": [None if i % 3 else f"B{rng.randrange(1, 3000):05d}" for i in range(rows)],
        "request_datetime": pa.array([p - timedelta(minutes=5) for p in pickups], pa.timestamp("us")),
        "on_scene_datetime": pa.array([None if i % 2 else p - timedelta(minutes=1) for i, p in enumerate(pickups)],
                                      pa.timestamp("us")),
        "pickup_datetime": pa.array(pickups, pa.timestamp("us")),
        "dropoff_datetime": pa.array([p + timedelta(minutes=rng.randrange(1, 90)) for p in pickups], pa.timestamp("us")),
        "PULocationID": pa.array([rng.randrange(1, 266) for _ in range(rows)], pa.int64()),
        "DOLocationID": pa.array([rng.randrange(1, 266) for _ in range(rows)], pa.int64()),
        "trip_miles": [round(rng.uniform(0.1, 30), 3) for _ in range(rows)],
        "trip_time": pa.array([rng.randrange(60, 5400) for _ in range(rows)], pa.int64()),
        **{name: [money() for _ in range(rows)] for name in ("base_passenger_fare", "tolls", "bcf", "sales_tax",
                                                             "congestion_surcharge", "airport_fee", "tips", "driver_pay")},
        **{name: [flag() for _ in range(rows)] for name in ("shared_request_flag", "shared_match_flag", "access_a_ride_flag",
                                                            "wav_request_flag", "wav_match_flag")},
    }
    if month >= Month(2025, 1):
        columns["cbd_congestion_fee"] = [1.5 if i % 2 else 0.0 for i in range(rows)]
    return _write(pa.table(columns), tlc_path(root, "fhvhv", month))


def fhvhv_large(root: Path, month: Month, rows: int, *, row_group: int = 1_000_000, seed: int = 9) -> Path:
    """A big fhvhv month (the 20M-row memory case), generated column-wise with numpy, one row group at a time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tlc_path(root, "fhvhv", month)
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    rng = np.random.default_rng(seed)
    first = np.datetime64(f"{month}-01T00:00:00", "us")
    seconds = int((np.datetime64(f"{month.next()}-01T00:00:00", "s") - np.datetime64(f"{month}-01T00:00:00", "s")).astype(int))
    writer = None
    try:
        for start in range(0, rows, row_group):
            n = min(row_group, rows - start)
            pickup = first + rng.integers(0, seconds, n).astype("timedelta64[s]")
            money = {name: np.round(rng.uniform(0, 80, n), 2) for name in (
                "base_passenger_fare", "tolls", "bcf", "sales_tax", "congestion_surcharge", "airport_fee", "tips", "driver_pay")}
            flags = {name: pa.array(np.where(rng.random(n) < 0.2, "Y", "N")) for name in (
                "shared_request_flag", "shared_match_flag", "access_a_ride_flag", "wav_request_flag", "wav_match_flag")}
            base = pa.array(np.char.add("B", np.char.zfill(rng.integers(1, 3000, n).astype(str), 5)))
            table = pa.table({
                "hvfhs_license_num": pa.array(np.where(rng.random(n) < 0.7, "HV0003", "HV0005")),
                "dispatching_base_num": base, "originating_base_num": base,
                "request_datetime": pa.array(pickup - np.timedelta64(300, "s")),
                "on_scene_datetime": pa.array(pickup - np.timedelta64(60, "s")),
                "pickup_datetime": pa.array(pickup),
                "dropoff_datetime": pa.array(pickup + rng.integers(60, 5400, n).astype("timedelta64[s]")),
                "PULocationID": pa.array(rng.integers(1, 266, n)), "DOLocationID": pa.array(rng.integers(1, 266, n)),
                "trip_miles": pa.array(np.round(rng.uniform(0.1, 30, n), 3)),
                "trip_time": pa.array(rng.integers(60, 5400, n)),
                **{k: pa.array(v) for k, v in money.items()}, **flags,
            })
            if writer is None:
                writer = pq.ParquetWriter(part, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    part.replace(path)
    return path
