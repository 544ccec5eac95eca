"""Alerts through Airflow's notifiers, against a real SMTP server on 127.0.0.1 (aiosmtpd) and the
real Postgres; runs with ``dag.test()``, whose task runner calls the task callbacks as a worker does
(the real scheduler's path: tests/e2e/test_e2e_scheduler_and_api.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from taxi_pipeline.specs import GREEN

from tests.support import fake_tlc
from tests.support.net import free_port
from tests.support.smtp_server import SmtpServer
from tests.test_postgres_pipeline import run_month, task_states

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

GOOD, BAD = (2020, 7), (2020, 8)


@pytest.fixture(scope="module")
def files(release_root: Path) -> None:
    fake_tlc.write_month(release_root, GREEN, *GOOD, 1_000, seed=3)
    bad = fake_tlc.release_path(release_root, "green", *BAD)
    bad.write_bytes(gzip.compress(b"VendorID,pickup,dropoff\r\n1,2,3\r\n", mtime=0))


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch):
    with SmtpServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_NY_TAXI_SMTP", server.conn_uri)
        monkeypatch.setenv("NY_TAXI_ALERT", "smtp")
        monkeypatch.setenv("NY_TAXI_ALERT_CONN_ID", "ny_taxi_smtp")
        monkeypatch.setenv("NY_TAXI_ALERT_TO", "data-team@example.com")
        yield server


def test_a_failed_task_sends_one_message_naming_dag_month_task_error_and_log(taxi_db, source, files, smtp):
    run = run_month("green", *BAD)
    assert str(run.state) == "failed" and task_states(run)["load_staging"] == "failed"
    message = smtp.wait_for("load_staging failed")
    assert message["subject"] == "[ny_taxi] postgres_taxi_green green 2020-08: load_staging failed"
    assert message["to"] == "data-team@example.com" and message["from"] == "ny-taxi@localhost"
    text = smtp.text(message)
    for line in ("DAG: postgres_taxi_green", "Month: green 2020-08", f"Run: {run.run_id}", "Failed task: load_staging (try 1)",
                 "Error: green_tripdata_2020-08.csv.gz: columns do not match the green spec: missing [",
                 "/dags/postgres_taxi_green/runs/"):
        assert line in text, text
    assert len(smtp.messages) == 1  # the tasks after it are upstream_failed: no message of their own


def test_the_success_summary_is_sent_when_asked(taxi_db, source, files, smtp, monkeypatch):
    monkeypatch.setenv("NY_TAXI_ALERT_ON_SUCCESS", "true")
    assert str(run_month("green", *GOOD).state) == "success"
    message = smtp.wait_for("green 2020-07")
    assert message["subject"] == "[ny_taxi] postgres_taxi_green green 2020-07: 1,000 rows inserted, 0 skipped, quality ok"
    assert len(smtp.messages) == 1


def test_no_success_summary_by_default_and_nothing_without_an_alert(taxi_db, source, files, smtp, monkeypatch):
    assert str(run_month("green", *GOOD).state) == "success"
    monkeypatch.setenv("NY_TAXI_ALERT", "none")
    assert str(run_month("green", *BAD).state) == "failed"
    assert smtp.messages == []


def test_smtp_down_is_logged_and_the_run_keeps_its_state(taxi_db, source, files, smtp, monkeypatch, caplog):
    smtp.port = free_port()  # nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_NY_TAXI_SMTP", smtp.conn_uri)
    monkeypatch.setenv("NY_TAXI_ALERT_ON_SUCCESS", "true")
    assert str(run_month("green", *GOOD).state) == "success"
    assert str(run_month("green", *BAD).state) == "failed"
    assert "could not send the smtp alert '[ny_taxi] postgres_taxi_green green 2020-07: 1,000 rows inserted" in caplog.text
    assert "could not send the smtp alert '[ny_taxi] postgres_taxi_green green 2020-08: load_staging failed'" in caplog.text
