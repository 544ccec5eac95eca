"""Declarative taxi specs: everything that differs between yellow and green lives here, as data.

SQL templates (include/sql/) and Python code render tables, COPY column lists and the
``unique_row_id`` expression from a :class:`TaxiSpec`; nothing yellow- or green-specific is
written anywhere else.
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
    tags: tuple[str, ...] = field(default=())

    @property
    def table(self) -> str:
        return f"{self.taxi}_tripdata"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def header(self) -> str:
        return ",".join(self.column_names)

    def filename(self, year: int, month: int) -> str:
        """The course's ``filename`` value: the csv name inside the release's csv.gz."""
        return f"{self.taxi}_tripdata_{year:04d}-{month:02d}.csv"

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.taxi}: no column {name!r}")


def _hash_columns(pickup: str, dropoff: str, *, postgres: bool) -> tuple[str, ...]:
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


def _amount(name: str, description: str) -> Column:
    return Column(name, "double precision", "NUMERIC", description)


def _timestamp(name: str, description: str) -> Column:
    return Column(name, "timestamp", "TIMESTAMP", description)


_FARE = _amount("fare_amount", "The time-and-distance fare calculated by the meter.")
_EXTRA = _amount("extra", "Miscellaneous extras and surcharges.")
_MTA = _amount("mta_tax", "$0.50 MTA tax triggered by the metered rate in use.")
_TIP = _amount("tip_amount", "Tip amount (credit card tips only).")
_TOLLS = _amount("tolls_amount", "Total amount of all tolls paid in trip.")
_IMPROVEMENT = _amount("improvement_surcharge", "$0.30 improvement surcharge.")
_TOTAL = _amount("total_amount", "The total amount charged to passengers, not including cash tips.")
_CONGESTION = _amount("congestion_surcharge", "Congestion surcharge applied to trips in Manhattan.")

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
    ),
    pickup_column="tpep_pickup_datetime",
    dropoff_column="tpep_dropoff_datetime",
    postgres_hash_columns=_hash_columns("tpep_pickup_datetime", "tpep_dropoff_datetime", postgres=True),
    bigquery_hash_columns=_hash_columns("tpep_pickup_datetime", "tpep_dropoff_datetime", postgres=False),
    schedule="0 10 1 * *",
    tags=("yellow",),
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
    ),
    pickup_column="lpep_pickup_datetime",
    dropoff_column="lpep_dropoff_datetime",
    postgres_hash_columns=_hash_columns("lpep_pickup_datetime", "lpep_dropoff_datetime", postgres=True),
    bigquery_hash_columns=_hash_columns("lpep_pickup_datetime", "lpep_dropoff_datetime", postgres=False),
    schedule="0 9 1 * *",
    tags=("green",),
)

SPECS: dict[str, TaxiSpec] = {spec.taxi: spec for spec in (GREEN, YELLOW)}


def get_spec(taxi: str) -> TaxiSpec:
    """The spec for ``taxi``; an unknown type is an error that names it and lists the known ones."""
    try:
        return SPECS[taxi]
    except KeyError:
        raise ValueError(f"unknown taxi type {taxi!r}: expected one of {sorted(SPECS)}") from None
