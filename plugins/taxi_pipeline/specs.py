"""Declarative taxi specs: everything that differs between the trip types lives here, as data.

SQL templates (include/sql/) and Python code render tables, COPY column lists and the
``unique_row_id`` expression from a :class:`TaxiSpec`; nothing type-specific is written anywhere
else. Adding a type is one spec in :data:`SPECS` (its DAGs, tables and checks follow).

Schema drift is data too. A file's columns are matched to the spec by name, case-insensitively
and through each column's ``aliases`` (``Airport_fee`` from 2023-02, ``airport_fee`` before).
A file must hold the columns that identify a trip (the hashed ones, pickup and dropoff); any other
spec column it lacks loads as NULL and is named in the log (``airport_fee`` is not in the csv.gz
backup, ``cbd_congestion_fee`` only exists from 2025-01). Columns a spec grows are added to
existing tables, nullable, by the table DDL a load checks first (Postgres: load_staging;
BigQuery: the ensure_tables task).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    """One CSV column, in file order, with its warehouse types and a description."""

    name: str
    postgres_type: str
    bigquery_type: str
    description: str = ""
    aliases: tuple[str, ...] = ()  # other spellings in some months' files
    in_dtc: bool = True  # a column of the DataTalksClub csv.gz backup (its header, in spec order)

    def matches(self, name: str) -> bool:
        return name.lower() in (n.lower() for n in (self.name, *self.aliases))


@dataclass(frozen=True)
class QualityCheck:
    """One data-quality check on a loaded month: an aggregate of its rows against bounds.

    ``measure`` is SQL both Postgres and BigQuery read (quality.py runs it through the common.sql
    check operators, on the month's rows only); it may name ``{pickup}``, ``{dropoff}``,
    ``{month_first}`` and ``{month_after}``. A bound is a number or the name of a fact of the load:
    ``rows_in_file``, ``rows_expected`` (those less the rows skipped because another month's file
    has their id). ``fail``: the run fails after the merge, the data stays; ``warn``: logged and
    recorded in the audit row, the run succeeds.
    """

    name: str
    measure: str
    at_most: float | str | None = None
    at_least: float | str | None = None
    severity: str = "fail"
    percent: bool = False  # the measure is a share of the month's rows: shown as a percentage

    def __post_init__(self) -> None:
        if self.severity not in ("fail", "warn"):
            raise ValueError(f"check {self.name}: severity must be 'fail' or 'warn', got {self.severity!r}")


def share(condition: str) -> str:
    """The share of the month's rows where ``condition`` holds (0 for an empty month)."""
    return f"COALESCE(AVG(CASE WHEN {condition} THEN 1.0 ELSE 0.0 END), 0)"


def count(condition: str) -> str:
    return f"COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0)"


def _outside_zones(*columns: str) -> str:
    return " OR ".join(f"CAST({c} AS INTEGER) NOT BETWEEN 1 AND 265" for c in columns)


def trip_checks(*, locations: tuple[str, str], dropoff_nulls: float = 0, dropoff_before_pickup: float = 0.001,
                severity_dropoff: str = "fail") -> tuple[QualityCheck, ...]:
    """What every type's month is checked for. The rows check: the table holds the file's rows,
    less those skipped because another month's file has their id (the course's MERGE semantics)."""
    return (
        QualityCheck("rows_for_the_file", "COUNT(*)", at_least="rows_expected"),
        # More rows than the file: it was re-issued with changed rows, and the course's MERGE only
        # inserts (the old versions stay); the audit row's sha256 shows the change.
        QualityCheck("rows_beyond_the_file", "COUNT(*)", at_most="rows_in_file", severity="warn"),
        QualityCheck("null_pickup", count("{pickup} IS NULL"), at_most=0),
        QualityCheck("null_dropoff", share("{dropoff} IS NULL"), at_most=dropoff_nulls, severity=severity_dropoff,
                     percent=True),
        # Real green 2020 files: 0-0.017%. 2% still catches a file of another month or broken
        # timestamps, and lets the generated test months (0.2%, at least 4 rows) pass.
        QualityCheck("pickups_outside_the_month", share("{pickup} < '{month_first}' OR {pickup} >= '{month_after}'"),
                     at_most=0.02, percent=True),
        QualityCheck("dropoff_before_pickup", share("{dropoff} < {pickup}"), at_most=dropoff_before_pickup,
                     severity=severity_dropoff, percent=True),
        QualityCheck("location_ids_outside_1_265", count(_outside_zones(*locations)), at_most=0),
    )


def _taxi_checks(*, negative_total: float) -> tuple[QualityCheck, ...]:
    return trip_checks(locations=("PULocationID", "DOLocationID")) + (
        QualityCheck("negative_total_amount", share("total_amount < 0"), at_most=negative_total, percent=True),
        # Real green 2020: 21-45% null (street-hail/dispatch rows with a blank vendor group) + 0.1-0.4% zero.
        QualityCheck("null_or_zero_passenger_count", share("passenger_count IS NULL OR passenger_count = 0"),
                     at_most=0.5, severity="warn", percent=True),
        QualityCheck("zero_trip_distance", share("trip_distance = 0"), at_most=0.1, severity="warn", percent=True),
    )


@dataclass(frozen=True)
class TaxiSpec:
    """What a taxi type's monthly release looks like and how it is stored."""

    taxi: str
    columns: tuple[Column, ...]
    pickup_column: str
    dropoff_column: str
    # The course's Postgres flow hashes seven fields; its BigQuery flow hashes only five.
    postgres_hash_columns: tuple[str, ...]
    bigquery_hash_columns: tuple[str, ...]
    schedule: str
    # The months each source publishes: (first, last) as YYYY-MM, last None: up to the current
    # month (extract/releases.py). A source missing here publishes none of this type.
    published: dict[str, tuple[str, str | None]] = field(default_factory=dict, hash=False, compare=False)
    refused: str = ""  # why months a source publishes before ``published``'s first are not loaded
    tags: tuple[str, ...] = field(default=())
    checks: tuple[QualityCheck, ...] = field(default=(), hash=False, compare=False)  # run on every loaded month

    @property
    def table(self) -> str:
        return f"{self.taxi}_tripdata"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def dtc_columns(self) -> list[str]:
        """The columns of the DataTalksClub csv.gz backup, in its header's order."""
        return [c.name for c in self.columns if c.in_dtc]

    @property
    def header(self) -> str:
        """The csv.gz backup's header line."""
        return ",".join(self.dtc_columns)

    @property
    def required_columns(self) -> list[str]:
        """What every file must hold: the columns of ``unique_row_id``, pickup and dropoff."""
        return list(dict.fromkeys((*self.postgres_hash_columns, self.pickup_column, self.dropoff_column)))

    def find_column(self, name: str) -> Column | None:
        """The spec column a file's column ``name`` is (by name or alias, any case), if any."""
        return next((c for c in self.columns if c.matches(name)), None)

    def filename(self, year: int, month: int) -> str:
        """The course's ``filename`` value: the csv name inside the release's csv.gz."""
        return f"{self.taxi}_tripdata_{year:04d}-{month:02d}.csv"

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.taxi}: no column {name!r}")


def _hash_columns(pickup: str, dropoff: str, *, postgres: bool) -> tuple[str, ...]:
    """The course's: its Postgres flow hashes seven columns, its BigQuery flow five."""
    five = ("VendorID", pickup, dropoff, "PULocationID", "DOLocationID")
    return five + ("fare_amount", "trip_distance") if postgres else five


_VENDOR = Column("VendorID", "text", "STRING", "A code indicating the LPEP/TPEP provider that provided the record.")
_RATECODE = Column("RatecodeID", "text", "STRING", "The final rate code in effect at the end of the trip.")
_STORE = Column(
    "store_and_fwd_flag", "text", "STRING", "Y/N: whether the trip record was held in vehicle memory before sending."
)
_PU = Column("PULocationID", "text", "STRING", "TLC Taxi Zone in which the taximeter was engaged.")
_DO = Column("DOLocationID", "text", "STRING", "TLC Taxi Zone in which the taximeter was disengaged.")
_PASSENGERS = Column("passenger_count", "integer", "INTEGER", "The number of passengers in the vehicle.")
_DISTANCE = Column("trip_distance", "double precision", "NUMERIC", "The elapsed trip distance in miles.")
_PAYMENT = Column("payment_type", "integer", "INTEGER", "A numeric code signifying how the passenger paid.")


def _amount(name: str, description: str, **kwargs) -> Column:
    return Column(name, "double precision", "NUMERIC", description, **kwargs)


def _timestamp(name: str, description: str, **kwargs) -> Column:
    return Column(name, "timestamp", "TIMESTAMP", description, **kwargs)


_FARE = _amount("fare_amount", "The time-and-distance fare calculated by the meter.")
_EXTRA = _amount("extra", "Miscellaneous extras and surcharges.")
_MTA = _amount("mta_tax", "$0.50 MTA tax triggered by the metered rate in use.")
_TIP = _amount("tip_amount", "Tip amount (credit card tips only).")
_TOLLS = _amount("tolls_amount", "Total amount of all tolls paid in trip.")
_IMPROVEMENT = _amount("improvement_surcharge", "$0.30 improvement surcharge.")
_TOTAL = _amount("total_amount", "The total amount charged to passengers, not including cash tips.")
_CONGESTION = _amount("congestion_surcharge", "Congestion surcharge applied to trips in Manhattan.")
_AIRPORT = Column("airport_fee", "double precision", "NUMERIC", "$1.25 for pick up only at LaGuardia and JFK airports.",
                  aliases=("Airport_fee",), in_dtc=False)
_CBD = Column("cbd_congestion_fee", "double precision", "NUMERIC",
              "Per-trip charge for MTA's Congestion Relief Zone (from 2025-01).", in_dtc=False)

YELLOW = TaxiSpec(
    taxi="yellow",
    columns=(
        _VENDOR,
        _timestamp("tpep_pickup_datetime", "The date and time when the meter was engaged."),
        _timestamp("tpep_dropoff_datetime", "The date and time when the meter was disengaged."),
        _PASSENGERS,
        _DISTANCE,
        _RATECODE,
        _STORE,
        _PU,
        _DO,
        _PAYMENT,
        _FARE,
        _EXTRA,
        _MTA,
        _TIP,
        _TOLLS,
        _IMPROVEMENT,
        _TOTAL,
        _CONGESTION,
        _AIRPORT,
        _CBD,
    ),
    pickup_column="tpep_pickup_datetime",
    dropoff_column="tpep_dropoff_datetime",
    postgres_hash_columns=_hash_columns("tpep_pickup_datetime", "tpep_dropoff_datetime", postgres=True),
    bigquery_hash_columns=_hash_columns("tpep_pickup_datetime", "tpep_dropoff_datetime", postgres=False),
    schedule="0 10 1 * *",
    # The TLC publishes yellow from 2009-01, but 2009-2010 use another layout: vendor_name,
    # Trip_Pickup_DateTime, longitude/latitude instead of zone ids: no PULocationID/DOLocationID.
    published={"dtc": ("2019-01", "2021-07"), "tlc": ("2011-01", None)},
    refused="2009-2010 use the old layout (lat/lon, no zone ids), which this bundle refuses",
    tags=("yellow",),
    # Real yellow 2021-01 (first 22,792 rows): 0.87% negative totals; generated test months: 2%.
    checks=_taxi_checks(negative_total=0.03),
)

GREEN = TaxiSpec(
    taxi="green",
    columns=(
        _VENDOR,
        _timestamp("lpep_pickup_datetime", "The date and time when the meter was engaged."),
        _timestamp("lpep_dropoff_datetime", "The date and time when the meter was disengaged."),
        _STORE,
        _RATECODE,
        _PU,
        _DO,
        _PASSENGERS,
        _DISTANCE,
        _FARE,
        _EXTRA,
        _MTA,
        _TIP,
        _TOLLS,
        _amount("ehail_fee", "E-hail fee (always blank in these releases)."),
        _IMPROVEMENT,
        _TOTAL,
        _PAYMENT,
        Column("trip_type", "integer", "INTEGER", "1 = street-hail, 2 = dispatch."),
        _CONGESTION,
        _CBD,
    ),
    pickup_column="lpep_pickup_datetime",
    dropoff_column="lpep_dropoff_datetime",
    postgres_hash_columns=_hash_columns("lpep_pickup_datetime", "lpep_dropoff_datetime", postgres=True),
    bigquery_hash_columns=_hash_columns("lpep_pickup_datetime", "lpep_dropoff_datetime", postgres=False),
    schedule="0 9 1 * *",
    published={"dtc": ("2019-01", "2021-07"), "tlc": ("2014-01", None)},
    tags=("green",),
    # Real green 2020-03..12: 0.20-0.34% negative totals; generated test months: 2%.
    checks=_taxi_checks(negative_total=0.03),
)

def _text(name: str, description: str, **kwargs) -> Column:
    return Column(name, "text", "STRING", description, **kwargs)


def _zone(name: str, description: str, **kwargs) -> Column:
    return Column(name, "integer", "INTEGER", description, **kwargs)


# For-hire vehicles. The course defines no id for them; ours hashes every column, pickup first (the
# strays argument in create_tables.sql needs the id text to start with the pickup or a 1-digit code).
FHV = TaxiSpec(
    taxi="fhv",
    columns=(
        _text("dispatching_base_num", "The TLC Base License Number of the base that dispatched the trip."),
        _timestamp("pickup_datetime", "The date and time of the trip pick-up."),
        _timestamp("dropOff_datetime", "The date and time of the trip drop-off."),
        _zone("PUlocationID", "TLC Taxi Zone in which the trip began."),
        _zone("DOlocationID", "TLC Taxi Zone in which the trip ended."),
        _text("SR_Flag", "1 for a shared ride request (Lyft Line, Uber Pool, ...), else null."),
        _text("Affiliated_base_number", "The base number of the base with which the vehicle is affiliated."),
    ),
    pickup_column="pickup_datetime",
    dropoff_column="dropOff_datetime",
    postgres_hash_columns=("pickup_datetime", "dropOff_datetime", "dispatching_base_num", "PUlocationID",
                           "DOlocationID", "SR_Flag", "Affiliated_base_number"),
    bigquery_hash_columns=("pickup_datetime", "dropOff_datetime", "dispatching_base_num", "PUlocationID",
                           "DOlocationID", "SR_Flag", "Affiliated_base_number"),
    schedule="0 11 1 * *",
    published={"dtc": ("2019-01", "2021-07"), "tlc": ("2015-01", None)},
    tags=("fhv",),
    # For-hire trips have no fare columns; their dropoff times are self-reported: warn only.
    checks=trip_checks(locations=("PUlocationID", "DOlocationID"), dropoff_nulls=0.01, dropoff_before_pickup=0.01,
                       severity_dropoff="warn"),
)

# High-volume for-hire vehicles (Uber, Lyft, Via, Juno), from 2019-02. The csv.gz backup has the
# 7 columns of the files before TLC's 2022 re-issue (in_dtc); the parquet files have 24 or 25.
# Hashed: the columns both have, pickup first.
_FHVHV_HASHED = ("pickup_datetime", "dropoff_datetime", "hvfhs_license_num", "dispatching_base_num", "PULocationID",
                 "DOLocationID")
_NEW = {"in_dtc": False}
FHVHV = TaxiSpec(
    taxi="fhvhv",
    columns=(
        _text("hvfhs_license_num", "The TLC license number of the HVFHS base or business (HV0003 = Uber, ...)."),
        _text("dispatching_base_num", "The TLC Base License Number of the base that dispatched the trip."),
        _text("originating_base_num", "Base number of the base that received the original trip request.", **_NEW),
        _timestamp("request_datetime", "Date/time when the passenger requested to be picked up.", **_NEW),
        _timestamp("on_scene_datetime", "Date/time when the driver arrived at the pick-up location.", **_NEW),
        _timestamp("pickup_datetime", "The date and time of the trip pick-up."),
        _timestamp("dropoff_datetime", "The date and time of the trip drop-off."),
        _zone("PULocationID", "TLC Taxi Zone in which the trip began."),
        _zone("DOLocationID", "TLC Taxi Zone in which the trip ended."),
        _amount("trip_miles", "Total miles for passenger trip.", **_NEW),
        Column("trip_time", "integer", "INTEGER", "Total time in seconds for passenger trip.", **_NEW),
        _amount("base_passenger_fare", "Base passenger fare before tolls, tips, taxes, and fees.", **_NEW),
        _amount("tolls", "Total amount of all tolls paid in trip.", **_NEW),
        _amount("bcf", "Total amount collected in trip for Black Car Fund.", **_NEW),
        _amount("sales_tax", "Total amount collected in trip for NYS sales tax.", **_NEW),
        _amount("congestion_surcharge", "Total amount collected in trip for NYS congestion surcharge.", **_NEW),
        _amount("airport_fee", "$2.50 for both drop off and pick up at LaGuardia, Newark, and JFK airports.", **_NEW),
        _amount("tips", "Total amount of tips received from passenger.", **_NEW),
        _amount("driver_pay", "Total driver pay (not including tolls or tips and net of commission, surcharges, or taxes).",
                **_NEW),
        _text("shared_request_flag", "Did the passenger agree to a shared/pooled ride? (Y/N)", **_NEW),
        _text("shared_match_flag", "Did the passenger share the vehicle with another passenger? (Y/N)", **_NEW),
        _text("access_a_ride_flag", "Was the trip administered on behalf of the MTA? (Y/N)", **_NEW),
        _text("wav_request_flag", "Did the passenger request a wheelchair-accessible vehicle? (Y/N)", **_NEW),
        _text("wav_match_flag", "Did the trip occur in a wheelchair-accessible vehicle? (Y/N)", **_NEW),
        _CBD,
        _text("SR_Flag", "1 for a shared ride request (csv.gz backup only)."),
    ),
    pickup_column="pickup_datetime",
    dropoff_column="dropoff_datetime",
    postgres_hash_columns=_FHVHV_HASHED,
    bigquery_hash_columns=_FHVHV_HASHED,
    schedule="0 12 1 * *",
    published={"dtc": ("2019-02", "2021-07"), "tlc": ("2019-02", None)},
    tags=("fhvhv",),
    checks=trip_checks(locations=("PULocationID", "DOLocationID"), dropoff_nulls=0.01, dropoff_before_pickup=0.01,
                       severity_dropoff="warn") + (
        QualityCheck("negative_driver_pay", share("driver_pay < 0"), at_most=0.01, severity="warn", percent=True),
    ),
)

SPECS: dict[str, TaxiSpec] = {spec.taxi: spec for spec in (GREEN, YELLOW, FHV, FHVHV)}


def get_spec(taxi: str) -> TaxiSpec:
    """The spec for ``taxi``; an unknown type is an error that names it and lists the known ones."""
    try:
        return SPECS[taxi]
    except KeyError:
        raise ValueError(f"unknown taxi type {taxi!r}: expected one of {sorted(SPECS)}") from None
