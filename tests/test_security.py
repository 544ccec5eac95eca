"""No credentials in the repository, and none in the logs of a real run.

* Every file git tracks (and every untracked file it would pick up, i.e. not ignored) is scanned
  for private keys, service-account JSON and well-known token formats. The scanner is first shown
  to catch each kind, built at run time so this file never contains one.
* A month is loaded through a Postgres role with a long password (scram-sha-256 over TCP, so the
  password is really used); the password never appears in the run's stdout/stderr.
* Masking: ``dag.test()`` runs tasks in-process under the core logging setup, which does not redact
  (a worker's task logs go through the task SDK's ``mask_logs`` processor). So a probe task in the
  same run passes a line carrying the connection URI through that processor and logs the result:
  the password comes out as ``***``, i.e. fetching the connection registered it with the masker.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from taxi_pipeline.specs import GREEN

from tests.conftest import ROOT
from tests.support import fake_tlc
from tests.test_postgres_pipeline import build_dag, rows_per_file, task_states

DASHES = "-" * 5
SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "private key": re.compile(DASHES + r"BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?" + DASHES),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "Google OAuth token": re.compile(r"\bya29\.[0-9A-Za-z_\-]{20,}"),
    "Slack token": re.compile(r"\bxox[abposr]-[0-9A-Za-z\-]{10,}"),
    "Fernet key": re.compile(r"FERNET_KEY\s*[:=]\s*['\"]?[A-Za-z0-9_\-]{43}="),
}
SERVICE_ACCOUNT = (
    re.compile(r'"type"\s*:\s*"service_account"'),
    re.compile(r'"private_key"\s*:\s*"'),
)


def find_secrets(text: str) -> list[str]:
    """Names of the kinds of secret found in ``text``."""
    found = [name for name, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
    if all(pattern.search(text) for pattern in SERVICE_ACCOUNT):
        found.append("service-account key JSON")
    return found


def repository_files() -> list[Path]:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing tracked to scan")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode()
    return [ROOT / name for name in sorted(set(listed.split("\0"))) if name and (ROOT / name).is_file()]


def test_scanner_catches_every_kind_it_looks_for():
    token = secrets.token_hex(24)
    samples = {
        "private key": f"{DASHES}BEGIN RSA PRIVATE KEY{DASHES}\nMIIE{token}\n{DASHES}END RSA PRIVATE KEY{DASHES}",
        "GitHub token": "ghp" + "_" + token[:36],
        "AWS access key id": "AKIA" + token[:16].upper(),
        "Google API key": "AIza" + token[:35],
        "Google OAuth token": "ya29" + "." + token,
        "Slack token": "xoxb" + "-" + token,
        "Fernet key": "AIRFLOW__CORE__FERNET_KEY=" + token[:43] + "=",
        "service-account key JSON": json.dumps(
            {"type": "service" + "_account", "project_id": "p", "private_key_id": token, "private_key": "k"}, indent=2
        ),
    }
    assert set(samples) == {*SECRET_PATTERNS, "service-account key JSON"}
    for kind, sample in samples.items():
        assert find_secrets(f"prefix\n{sample}\nsuffix") == [kind], kind
    # What the repo legitimately holds: the course's root/root, env placeholders, a client email.
    service_account_without_key = json.dumps({"type": "service" + "_account", "client_email": "x@p.iam"})
    assert find_secrets("POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-root}\n" + service_account_without_key) == []


def test_no_credentials_in_the_repository():
    files = repository_files()
    assert any(path.name == "conftest.py" for path in files)  # the listing really lists the repo
    leaks = {
        str(path.relative_to(ROOT)): kinds
        for path in files
        if (kinds := find_secrets(path.read_bytes().decode("utf-8", errors="ignore")))
    }
    assert leaks == {}


# --- masking ----------------------------------------------------------------------------------


@pytest.fixture
def loader_role(taxi_db, pg_server):
    """A login role with a long password, allowed to create tables in this test's database."""
    database = taxi_db.info.dbname
    role = f"taxi_loader_{secrets.token_hex(4)}"
    password = f"s3cret-{secrets.token_hex(20)}"
    taxi_db.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    taxi_db.execute(f"GRANT CONNECT, CREATE ON DATABASE {database} TO {role}")
    taxi_db.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
    yield role, password, f"postgresql://{role}:{password}@127.0.0.1:{pg_server.port}/{database}"
    taxi_db.execute(f"DROP OWNED BY {role}")
    taxi_db.execute(f"DROP ROLE {role}")


@pytest.mark.integration
@pytest.mark.usefixtures("airflow_db")
def test_connection_password_never_reaches_the_logs(taxi_db, loader_role, tmp_path, monkeypatch, capfd):
    from airflow.sdk import BaseHook, get_current_context, task

    role, password, uri = loader_role
    monkeypatch.setenv("AIRFLOW_CONN_NY_TAXI_POSTGRES", uri)
    monkeypatch.setenv("AIRFLOW_VAR_NY_TAXI_SOURCE", str(tmp_path))
    month_file = fake_tlc.write_month(tmp_path, GREEN, 2019, 8, 200, seed=41)

    dag = build_dag("green")
    with dag:

        @task(task_id="log_the_connection")
        def log_the_connection() -> None:
            """A careless log line, passed through the processor a worker's task logs go through."""
            from airflow.sdk.log import mask_logs

            uri = BaseHook.get_connection("ny_taxi_postgres").get_uri()  # registers the password
            if password not in uri:
                raise ValueError("the connection URI does not carry the password")
            line = mask_logs(None, "info", {"event": f"connecting to {uri}"})["event"]
            get_current_context()["task"].log.info("as a worker would log it: %s", line)

        log_the_connection()

    run = dag.test(logical_date=datetime(2019, 8, 1, 9, tzinfo=timezone.utc))

    captured = capfd.readouterr()
    assert str(run.state) == "success", task_states(run)
    assert rows_per_file(taxi_db, "green") == {GREEN.filename(2019, 8): month_file.data_lines}
    owner = taxi_db.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'green_tripdata'").fetchone()[0]
    assert owner == role  # the run logged in as the role, with its password
    assert f"as a worker would log it: connecting to postgres://{role}:***@127.0.0.1:" in captured.out
    assert password not in captured.out
    assert password not in captured.err
