"""check_quality's queries are ours (include/sql/quality/), not the provider's private builder, and
give the provider's verdicts: real Postgres, a small table of two months' rows.

The provider's own query comes from its public constructor (``SQLTableCheckOperator(table, checks,
partition_clause).sql``) given the checks and partition clause our operator sets.
"""

from __future__ import annotations

import pytest
from airflow.providers.common.sql.operators.sql import SQLTableCheckOperator

from taxi_pipeline.quality import MonthQualityCheckOperator, month_facts
from taxi_pipeline.specs import GREEN

pytestmark = pytest.mark.integration

TABLE = "public.quality_rows"
MONTH, OTHER = "green_tripdata_2021-02.csv", "green_tripdata_2021-03.csv"


@pytest.fixture
def month_rows(taxi_db):
    """40 rows of February (4 with a negative total: 10% > the 3% a check allows), 10 clean rows of March."""
    columns = ", ".join(f"{c.name} {c.postgres_type}" for c in GREEN.columns)
    taxi_db.execute(f"CREATE TABLE {TABLE} (filename text, {columns})")
    insert = (f"INSERT INTO {TABLE} (filename, lpep_pickup_datetime, lpep_dropoff_datetime, PULocationID, DOLocationID,"
              " passenger_count, trip_distance, total_amount) VALUES (%s, %s, %s, '7', '42', 1, 2.5, %s)")
    for i in range(40):
        taxi_db.execute(insert, (MONTH, f"2021-02-{1 + i % 28:02d} 10:00", f"2021-02-{1 + i % 28:02d} 10:20",
                                 -5.0 if i % 10 == 0 else 12.0))
    for i in range(10):
        taxi_db.execute(insert, (OTHER, f"2021-03-{1 + i:02d} 10:00", f"2021-03-{1 + i:02d} 10:20", 12.0))
    return taxi_db


def test_the_check_queries_are_ours_and_agree_with_the_providers(month_rows, monkeypatch):
    run = {"taxi": "green", "year": 2021, "month": 2, "filename": MONTH}
    merged = {"staged_rows": 40, "inserted_rows": 40, "skipped_rows": 0, "placement": "attached", "load_id": 1}
    operator = MonthQualityCheckOperator(task_id="check_quality", taxi="green", run=run, merged=merged, table=TABLE,
                                         conn_id="ny_taxi_postgres")
    facts = month_facts(GREEN, run, merged)

    def private(*args, **kwargs):
        raise AssertionError("quality.py called SQLTableCheckOperator._generate_sql_query (private API)")

    with monkeypatch.context() as patch:
        patch.setattr(SQLTableCheckOperator, "_generate_sql_query", private)
        operator.prepare(facts, shared=False)
        per_check_sql = operator.sql
        measure_sql = operator.prepare(facts)
    shared_sql = operator.sql
    providers_sql = SQLTableCheckOperator(task_id="providers", table=TABLE, checks=operator.checks,
                                          partition_clause=operator.partition_clause).sql

    verdicts = [sorted(month_rows.execute(sql).fetchall()) for sql in (shared_sql, per_check_sql, providers_sql)]
    assert verdicts[0] == verdicts[1] == verdicts[2]
    failed = {name for name, result in verdicts[0] if not result}
    assert failed == {"negative_total_amount"}  # only February's rows were checked: 10% negative
    measured = dict(zip((c.name for c in GREEN.checks), month_rows.execute(measure_sql).fetchone()))
    assert measured["rows_for_the_file"] == 40 and float(measured["negative_total_amount"]) == pytest.approx(0.1)
