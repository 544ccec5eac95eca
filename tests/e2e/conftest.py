"""End-to-end fixtures: a real Airflow per test module (tests/support/e2e_airflow.py) whose logs
are printed when a test fails, and a fixture HTTP server of generated release files per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.e2e_airflow import ACTIVE, CALL_FAILED, call_failed


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report




@pytest.fixture(autouse=True)
def _print_airflow_logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if call_failed(request):
        for airflow in ACTIVE:
            print(airflow.diagnostics())


@pytest.fixture(scope="module")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    path = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    path.chmod(0o755)
    return path
