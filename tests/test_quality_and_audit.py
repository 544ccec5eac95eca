"""The audit row every load writes, and the quality checks every month gets: real Postgres, real
files over HTTP, ``dag.test()``.

Months are generated (tests/support/fake_tlc.py), then some are spoiled on purpose: 5% negative
totals must fail the run after the merge (rows stay), all-zero passenger counts only warn.
"""

from __future__ import annotations

import gzip
import hashlib
from datetime import date
from pathlib import Path

import pytest

from taxi_pipeline.specs import GREEN

from tests.conftest import ROOT
from tests.support import fake_tlc
from tests.test_postgres_pipeline import rows_per_file, run_month, task_states

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

# Months no other test writes into the session's release directory (tests share it).
GOOD, NEGATIVE, NO_PASSENGERS = (2021, 1), (2021, 2), (2021, 3)
ROWS = 3_000


def _spoil(path: Path, column: str, value: str, every: int) -> None:
    """Set ``column`` to ``value`` in every ``every``-th data row of a generated file."""
    header, rows = fake_tlc.read_rows(path)
    at = header.split(",").index(column)
    for i in range(0, len(rows), every):
        rows[i][at] = value
    body = "\r\n".join([header, *(",".join(r) for r in rows)]) + "\r\n"
    path.write_bytes(gzip.compress(body.encode("ascii"), mtime=0))


@pytest.fixture(scope="module")
def files(release_root: Path) -> dict[tuple[int, int], Path]:
    made = {m: fake_tlc.write_month(release_root, GREEN, *m, ROWS, seed=11).path for m in (GOOD, NEGATIVE, NO_PASSENGERS)}
    _spoil(made[NEGATIVE], "total_amount", "-7.5", every=20)  # +5% on top of the generator's 2%
    _spoil(made[NO_PASSENGERS], "passenger_count", "0", every=1)
    return made


def audit_rows(db, filename: str) -> list[dict]:
    cursor = db.execute("SELECT * FROM ny_taxi_audit.loads WHERE filename = %s ORDER BY load_id", (filename,))
    names = [c.name for c in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def test_a_load_writes_its_audit_row_and_a_reload_its_own(taxi_db, source, files):
    path, filename = files[GOOD], GREEN.filename(*GOOD)
    first = run_month("green", *GOOD)
    assert str(first.state) == "success", task_states(first)
    (row,) = audit_rows(taxi_db, filename)
    assert row["dag_id"] == "postgres_taxi_green" and row["run_id"] == first.run_id and row["try_number"] == 1
    assert (row["taxi"], row["month"]) == ("green", date(*GOOD, 1))
    assert row["source_url"] == f"{source.base_url}/green/green_tripdata_2021-01.csv.gz"
    assert row["compressed_bytes"] == path.stat().st_size
    assert row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (row["rows_in_file"], row["inserted_rows"], row["skipped_rows"]) == (ROWS, ROWS, 0)
    assert row["placement"] == "attached" and row["started_at"] < row["finished_at"] and row["seconds"] > 0
    assert row["quality"]["verdict"] == "ok"
    assert {c["check"] for c in row["quality"]["checks"]} == {c.name for c in GREEN.checks}
    assert all(c["passed"] for c in row["quality"]["checks"])

    again = run_month("green", *GOOD)
    assert str(again.state) == "success"
    first_row, second = audit_rows(taxi_db, filename)
    assert first_row == row
    assert (second["run_id"], second["inserted_rows"], second["skipped_rows"]) == (again.run_id, 0, ROWS)
    assert second["sha256"] == row["sha256"] and second["placement"] == "unchanged"


def test_a_failed_check_fails_the_run_after_the_merge_and_names_file_check_and_value(taxi_db, source, files, capfd):
    run = run_month("green", *NEGATIVE)
    states = task_states(run)
    assert str(run.state) == "failed"
    assert states["hash_merge"] == "success" and states["check_quality"] == "failed"
    filename = GREEN.filename(*NEGATIVE)
    assert rows_per_file(taxi_db, "green")[filename] == ROWS  # the data stays
    (row,) = audit_rows(taxi_db, filename)
    assert row["quality"]["verdict"] == "fail"
    (failed,) = [c for c in row["quality"]["checks"] if not c["passed"]]
    assert failed["check"] == "negative_total_amount" and failed["severity"] == "fail"
    assert 0.06 < failed["measured"] < 0.08 and failed["at_most"] == 0.03
    out = capfd.readouterr().out
    assert f"{filename}: 1 quality check(s) failed (the rows stay loaded): negative_total_amount: " in out
    assert "negative_total_amount: 6.77% (expected at most 3%)" in out


def test_a_warning_is_logged_and_recorded_and_the_run_succeeds(taxi_db, source, files, caplog):
    run = run_month("green", *NO_PASSENGERS)
    assert str(run.state) == "success", task_states(run)
    (row,) = audit_rows(taxi_db, GREEN.filename(*NO_PASSENGERS))
    assert row["quality"]["verdict"] == "warn"
    (warned,) = [c for c in row["quality"]["checks"] if not c["passed"]]
    assert (warned["check"], warned["severity"], warned["measured"]) == ("null_or_zero_passenger_count", "warn", 1.0)
    out = caplog.text
    assert "green 2021-03: 3,000 rows inserted, 0 skipped, quality warn; warn: null_or_zero_passenger_count: 100%" in out


def _readme_queries() -> list[str]:
    text = (ROOT / "docs" / "audit-quality-alerts.md").read_text()  # the manual's page
    section = text[text.index("## The audit row"):text.index("## Data-quality checks")]
    return [block.split("```", 1)[0] for block in section.split("```sql\n")[1:]]


def test_the_readme_queries_answer_on_loaded_months(taxi_db, source, files):
    """The README's audit queries run and say what happened: two loads of one file, one changed file."""
    assert str(run_month("green", *GOOD).state) == "success"
    _spoil(files[GOOD], "trip_distance", "1.5", every=50)  # the publisher re-issues the month
    assert str(run_month("green", *GOOD).state) == "success"
    assert str(run_month("green", *NEGATIVE).state) == "failed"
    loaded, last, changed, not_passed = (taxi_db.execute(q).fetchall() for q in _readme_queries())
    assert [(taxi, month, loads) for taxi, month, loads, *_ in loaded] == [
        ("green", date(*GOOD, 1), 2), ("green", date(*NEGATIVE, 1), 1)]
    assert [(taxi, month, quality) for taxi, month, _, _, _, _, quality, *_ in last] == [
        ("green", date(*NEGATIVE, 1), "fail")]
    assert [(taxi, month, versions) for taxi, month, versions, *_ in changed] == [("green", date(*GOOD, 1), 2)]
    # Newest first: the failed month, then the re-issued one (60 changed rows inserted, the old kept).
    assert [(month, severity, says.split(":")[0]) for _, month, severity, says in not_passed] == [
        (date(*NEGATIVE, 1), "fail", "negative_total_amount"), (date(*GOOD, 1), "warn", "rows_beyond_the_file")]
    assert not_passed[1][3] == "rows_beyond_the_file: 3,060 (expected at most 3,000)"


def test_the_readme_lists_every_check_as_the_specs_define_it():
    from taxi_pipeline.quality import checks_table

    assert checks_table() in (ROOT / "docs" / "audit-quality-alerts.md").read_text()


def test_the_taxi_loads_page_reads_each_load_and_run_into_its_month_s_cell(taxi_db, source, release_root):
    """The monitor's Postgres query and Airflow-runs query (monitor/sources.py), on real loads: a
    month loaded, one whose check failed, one never loaded (re-loads: tests/e2e/test_e2e_browser.py)."""
    from airflow.utils.session import create_session

    from taxi_pipeline.monitor import sources, status
    from taxi_pipeline.months import Month, Window

    fake_tlc.write_month(release_root, GREEN, 2021, 4, 600, seed=4)
    _spoil(fake_tlc.write_month(release_root, GREEN, 2021, 5, 600, seed=5).path, "total_amount", "-7.5", every=20)
    assert [str(run_month("green", 2021, m).state) for m in (4, 5)] == ["success", "failed"]

    window = Window(Month(2021, 4), Month(2021, 6))
    shown = [status.TypeWindow("green", window, open_source=False)]
    with create_session() as session:
        runs = sources.airflow_runs(session, sources.AUDIT_TARGETS["postgres"], shown)
    loads = sources.postgres_loads(window)
    assert sorted((str(r.month), r.state, r.failed_task) for r in runs) == [
        ("2021-04", "success", None), ("2021-05", "failed", "check_quality")]
    assert sorted((str(x.month), x.rows_in_file, x.inserted_rows) for x in loads) == [
        ("2021-04", 600, 600), ("2021-05", 600, 600)]
    cells = status.grid(shown, loads, runs).cells
    assert [(str(c.month), c.state.value, c.detail) for c in cells] == [
        ("2021-04", "loaded", "600 rows, 600 inserted"),
        ("2021-05", "quality_failed", "quality failed: negative_total_amount"),
        ("2021-06", "published", "published, not loaded"),
    ]
    assert cells[1].run_id == next(r.run_id for r in runs if r.state == "failed")  # a click opens the failed run
