"""Airflow's own scheduler emits StatsD metrics here, and monitoring/statsd/mapping.yml turns them
into sensible Prometheus series.

Why UDP: StatsD is fire-and-forget UDP datagrams (``name:value|type``); the compose stack points
Airflow's ``[metrics] statsd_host`` at a prom/statsd-exporter container, which maps the dotted names
(mapping.yml) and serves them to Prometheus. Debian has no statsd-exporter package, so this test is
the exporter's socket: it binds a UDP port on 127.0.0.1, starts a real ``airflow scheduler`` (its own
Airflow home, SQLite metadata DB, no DAGs: a scheduler loop needs none) with ``statsd_on``, and
reads the datagrams. The names asserted are ones the scheduler sends on every loop or heartbeat
(airflow/jobs/scheduler_job_runner.py, executors/base_executor.py), with values that come from
this test's configuration, so a constant or a stale packet could not pass.

The ``statsd`` package is a pin (requirements.in): without it Airflow silently falls back to no
metrics, so its absence fails here instead of skipping.

The mapping tests run mapping.yml through a small re-implementation of statsd_exporter's glob and
regex matching (pkg/mapper: a ``*`` is one dot-separated component, the first matching rule wins,
regex rules after globs, unmatched names pass through with dots as underscores) against the
legacy names of Airflow's own metrics registry (metrics_template.yaml) and the packets captured.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "monitoring" / "statsd" / "mapping.yml"
AIRFLOW = Path(sys.executable).with_name("airflow")
PREFIX = "airflow"
PARALLELISM = 3  # -> executor.open_slots: a value the test chose, not Airflow's default 32
DEFAULT_POOL_SLOTS = 128  # Airflow's default_pool after `airflow db migrate`
COLLECT_SECONDS = 60.0
# Registry families this deployment does not run (no Edge provider; OpenLineage is disabled in every
# setup), so mapping.yml leaves their legacy names to pass through.
UNMAPPED_FAMILIES = ("edge_worker.", "ol.")


# ---- the scheduler and its packets ------------------------------------------------------------


@dataclass
class Capture:
    """What the UDP socket received, by metric name: ``(seconds since scheduler start, value, type)``."""

    samples: dict[str, list[tuple[float, str, str]]] = field(default_factory=lambda: defaultdict(list))
    seconds_to_all: float | None = None  # when every asserted name had arrived
    stop_seconds: float | None = None  # SIGTERM -> exit
    returncode: int | None = None
    log: str = ""

    def add(self, datagram: bytes, at: float) -> None:
        for line in datagram.decode("utf-8", errors="replace").splitlines():
            name, _, rest = line.partition(":")
            value, _, kind = rest.partition("|")
            self.samples[name].append((at, value, kind.split("|")[0]))

    def values(self, name: str, kind: str) -> list[str]:
        return [value for _, value, k in self.samples.get(name, []) if k == kind]


def _enough(capture: Capture) -> bool:
    """Every asserted name arrived, the heartbeat at least twice (so the loop is running)."""
    needed = [
        f"{PREFIX}.scheduler.scheduler_loop_duration",
        f"{PREFIX}.executor.open_slots.LocalExecutor",
        f"{PREFIX}.scheduler.tasks.executable",
        f"{PREFIX}.pool.open_slots.default_pool",
    ]
    return len(capture.values(f"{PREFIX}.scheduler_heartbeat", "c")) >= 2 and all(
        capture.samples.get(name) for name in needed
    )


def _airflow_env(home: Path, port: int) -> dict[str, str]:
    """A clean environment (none of the test session's Airflow settings) for a scheduler in ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NY_TAXI_"))}
    (home / "dags").mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),  # empty: the loop runs without DAGs
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__OPENLINEAGE__DISABLED": "True",
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "ny_taxi",
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(port),
            "AIRFLOW__METRICS__STATSD_PREFIX": PREFIX,
            # Faster than the defaults (5 s each), so two heartbeats and the pool gauges come in seconds.
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__POOL_METRICS_INTERVAL": "1",
        }
    )
    return env


def _stop(proc: subprocess.Popen[bytes], grace: float = 30.0) -> float:
    """SIGTERM the scheduler, as `docker stop` does (the scheduler is its container's first process);
    SIGKILL its whole process group (it and its LocalExecutor workers) after ``grace``.

    Not SIGTERM to the group: a LocalExecutor worker killed while it waits on the task queue can
    die holding the queue's read lock, and the scheduler's shutdown then waits for the other
    workers' poison pills forever (seen once in CI under load: exit -9 after the 30 s grace)."""
    started = time.monotonic()
    try:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        proc.wait(10)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capture]:
    try:
        importlib.import_module("statsd")
    except ImportError:
        pytest.fail("no `statsd` package: Airflow's [metrics] statsd_on needs it (pinned in requirements.txt): make venv-dev")
    home = tmp_path_factory.mktemp("statsd-airflow")
    # StatsD off for the migration: every packet on the socket is then the scheduler's.
    migrated = subprocess.run([str(AIRFLOW), "db", "migrate"],
                              env={**_airflow_env(home, 0), "AIRFLOW__METRICS__STATSD_ON": "False"},
                              capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, f"airflow db migrate failed:\n{migrated.stdout[-3000:]}\n{migrated.stderr[-3000:]}"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    env = _airflow_env(home, sock.getsockname()[1])

    result = Capture()
    log_path = home / "scheduler.log"
    with log_path.open("wb") as log:
        # --skip-serve-logs: the log server would bind every interface on a fixed port.
        proc = subprocess.Popen([str(AIRFLOW), "scheduler", "--skip-serve-logs"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    started = time.monotonic()
    try:
        while time.monotonic() - started < COLLECT_SECONDS and proc.poll() is None:
            try:
                result.add(sock.recv(65535), time.monotonic() - started)
            except socket.timeout:
                continue
            if _enough(result):
                result.seconds_to_all = time.monotonic() - started
                break
    finally:
        result.stop_seconds = _stop(proc)
        result.returncode = proc.returncode
        # What the scheduler sent while stopping (job_end) is already queued on the socket.
        while True:
            try:
                result.add(sock.recv(65535), time.monotonic() - started)
            except socket.timeout:
                break
        sock.close()
        result.log = log_path.read_text(errors="replace")
    first = {name: f"{samples[0][0]:.1f}" for name, samples in sorted(result.samples.items())}
    print(f"scheduler: all asserted names after {result.seconds_to_all} s, stopped in {result.stop_seconds:.1f} s "
          f"(exit {result.returncode}); first packet (s after start) by name: {first}")
    yield result


def _diagnose(capture: Capture) -> str:
    tail = "\n".join(capture.log.splitlines()[-30:])
    return f"names seen: {sorted(capture.samples)}\n---- scheduler log (tail) ----\n{tail}"


def test_scheduler_sends_its_loop_metrics_over_udp(capture: Capture) -> None:
    assert capture.seconds_to_all is not None, (
        f"the scheduler did not send every asserted name within {COLLECT_SECONDS:.0f} s\n{_diagnose(capture)}"
    )
    heartbeats = capture.values(f"{PREFIX}.scheduler_heartbeat", "c")
    assert len(heartbeats) >= 2 and set(heartbeats) == {"1"}, heartbeats  # a counter, +1 a heartbeat
    loops = capture.values(f"{PREFIX}.scheduler.scheduler_loop_duration", "ms")
    assert loops and all(float(v) > 0 for v in loops), loops
    # The executor's gauges under both names: the new one and the legacy one with the class name.
    for name in (f"{PREFIX}.executor.open_slots", f"{PREFIX}.executor.open_slots.LocalExecutor"):
        assert set(capture.values(name, "g")) == {str(PARALLELISM)}, (name, capture.samples.get(name))
    assert set(capture.values(f"{PREFIX}.scheduler.tasks.executable", "g")) == {"0"}  # no DAGs, nothing to run
    assert set(capture.values(f"{PREFIX}.pool.open_slots.default_pool", "g")) == {str(DEFAULT_POOL_SLOTS)}


def test_scheduler_stops_cleanly(capture: Capture) -> None:
    assert capture.returncode == 0, f"scheduler exited {capture.returncode} on SIGTERM\n{_diagnose(capture)}"
    assert "Exited execute loop" in capture.log, _diagnose(capture)
    assert capture.values(f"{PREFIX}.job_end", "c") == ["1"], _diagnose(capture)  # Job.complete_execution


# ---- mapping.yml through statsd_exporter's matching rules -------------------------------------

# pkg/mapper/mapper.go: what a glob match line, a metric name (with $n) and a label name may be.
_COMPONENT = r"[a-zA-Z_](-?[a-zA-Z0-9_])+"
_MATCH_LINE = re.compile(rf"^(\*\.|{_COMPONENT}\.)+(\*|{_COMPONENT})$")
_TEMPLATE = r"(\$\{?\d+\}?)"
_METRIC_NAME = re.compile(rf"^([a-zA-Z_]|{_TEMPLATE})([a-zA-Z0-9_]|{_TEMPLATE})*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]+$")
_PROMETHEUS_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_KEYS = {"match", "name", "labels", "action", "match_type", "help", "match_metric_type"}


@dataclass(frozen=True)
class Rule:
    index: int
    match: str
    name: str
    labels: dict[str, str]
    drop: bool
    regex: re.Pattern[str] | None  # None: a glob

    def captures(self, metric: str) -> list[str] | None:
        if self.regex is not None:
            found = self.regex.search(metric)
            return None if found is None else [g or "" for g in found.groups()]
        parts, pattern = metric.split("."), self.match.split(".")
        if len(parts) != len(pattern):
            return None
        out = []
        for part, want in zip(parts, pattern):
            if want == "*":
                if not part:
                    return None
                out.append(part)
            elif part != want:
                return None
        return out


def _expand(template: str, captures: list[str]) -> str:
    return re.sub(r"\$\{?(\d+)\}?", lambda m: captures[int(m.group(1)) - 1], template)


def _rules() -> list[Rule]:
    doc = yaml.safe_load(MAPPING.read_text())
    rules = []
    for i, raw in enumerate(doc["mappings"]):
        is_regex = raw.get("match_type", "glob") == "regex"
        rules.append(Rule(i, raw["match"], raw["name"], dict(raw.get("labels") or {}), raw.get("action") == "drop",
                          re.compile(raw["match"]) if is_regex else None))
    return rules


Mapped = tuple[str, dict[str, str]] | None  # None: dropped


def map_metric(rules: list[Rule], metric: str) -> tuple[Mapped, Rule | None]:
    """statsd_exporter's choice: the first glob, else the first regex, else pass through."""
    for rule in [r for r in rules if r.regex is None] + [r for r in rules if r.regex is not None]:
        found = rule.captures(metric)
        if found is not None:
            if rule.drop:
                return None, rule
            return (_expand(rule.name, found), {k: _expand(v, found) for k, v in rule.labels.items()}), rule
    return (re.sub(r"[^a-zA-Z0-9_]", "_", metric), {}), None


def test_mapping_rules_are_well_formed() -> None:
    doc = yaml.safe_load(MAPPING.read_text())
    assert set(doc) == {"mappings"}, set(doc)
    rules = _rules()
    assert len({r.match for r in rules}) == len(rules), "a match line appears twice"
    for raw, rule in zip(doc["mappings"], rules):
        assert set(raw) <= _KEYS, (rule.match, set(raw) - _KEYS)
        assert raw.get("action", "map") in {"map", "drop"}, rule.match
        assert raw.get("match_type", "glob") in {"glob", "regex"}, rule.match
        assert rule.match.startswith(f"{PREFIX}.") or rule.match.startswith(rf"^{PREFIX}\."), rule.match
        assert _METRIC_NAME.match(rule.name), rule.name
        if rule.regex is None:
            assert _MATCH_LINE.match(rule.match), f"not a statsd_exporter glob: {rule.match}"
            slots = rule.match.split(".").count("*")
        else:
            slots = rule.regex.groups
        used = [int(n) for text in [rule.name, *rule.labels.values()] for n in re.findall(r"\$\{?(\d+)\}?", text)]
        assert all(1 <= n <= slots for n in used), f"{rule.match}: ${max(used)} but {slots} captures"
        assert all(_LABEL_NAME.match(k) for k in rule.labels), (rule.match, rule.labels)
        if rule.drop:
            assert not rule.labels, rule.match
        else:
            assert slots and used, f"{rule.match}: a rule that maps must give its captures a place"
        # Reachable: a name built from the rule itself is decided by that rule, not an earlier one.
        sample = rule.match.replace("*", "x_sample") if rule.regex is None else None
        if sample is not None:
            assert map_metric(rules, sample)[1] is rule, f"{rule.match} is shadowed by an earlier rule"


def _registry() -> list[dict[str, Any]]:
    import airflow._shared.observability.metrics as metrics

    return yaml.safe_load((Path(metrics.__file__).parent / "metrics_template.yaml").read_text())["metrics"]


def _sample(template: str, variables: list[str]) -> tuple[str, dict[str, str]]:
    values = {var: f"{var}_v" for var in variables}
    return f"{PREFIX}." + template.format(**values), values


def test_mapping_gives_every_legacy_name_its_labels_and_drops_its_tagless_twin() -> None:
    rules = _rules()
    checked = 0
    for metric in _registry():
        legacy = metric["legacy_name"]
        if legacy == "-" or metric["name"].startswith(UNMAPPED_FAMILIES):
            continue
        statsd_name, values = _sample(legacy, metric["name_variables"])
        mapped, rule = map_metric(rules, statsd_name)
        assert rule is not None and mapped is not None, f"{statsd_name} has no mapping (it would pass through)"
        prom_name, labels = mapped
        assert _PROMETHEUS_NAME.match(prom_name), (statsd_name, prom_name)
        assert set(values.values()) <= set(labels.values()), f"{statsd_name}: a variable lost: {labels}"
        twin, _ = map_metric(rules, f"{PREFIX}.{metric['name']}")
        assert twin is None, f"{PREFIX}.{metric['name']} (tags only) is not dropped: it would be {twin}"
        checked += 1
    assert checked >= 30, checked  # the registry is where the names come from; an empty walk proves nothing


def test_mapping_keeps_one_label_set_per_prometheus_name() -> None:
    """statsd_exporter refuses a second label set under a name it has: every registry name, sampled."""
    rules = _rules()
    label_sets: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for metric in _registry():
        names = [_sample(metric["name"], metric["name_variables"])[0]]
        if metric["legacy_name"] != "-":
            names.append(_sample(metric["legacy_name"], metric["name_variables"])[0])
        for name in names:
            mapped, _ = map_metric(rules, name)
            if mapped is not None:
                label_sets[mapped[0]].add(tuple(sorted(mapped[1])))
    clashes = {name: sets for name, sets in label_sets.items() if len(sets) > 1}
    assert not clashes, clashes
    assert len(label_sets) > 50, len(label_sets)


@pytest.mark.parametrize(
    ("statsd_name", "expected"),
    [
        ("airflow.dag.postgres_taxi_green.load_staging.duration",
         ("airflow_task_duration_seconds", {"dag_id": "postgres_taxi_green", "task_id": "load_staging"})),
        ("airflow.dagrun.duration.success.postgres_taxi_green",
         ("airflow_dagrun_duration_seconds", {"state": "success", "dag_id": "postgres_taxi_green"})),
        ("airflow.ti.finish.postgres_taxi_green.load_staging.failed",
         ("airflow_ti_finish", {"dag_id": "postgres_taxi_green", "task_id": "load_staging", "state": "failed"})),
        ("airflow.ti.finish.dbt_taxi_postgres.staging__stg_green_tripdata_run.success",
         ("airflow_ti_finish", {"dag_id": "dbt_taxi_postgres", "task_id": "staging__stg_green_tripdata_run",
                                "state": "success"})),
        ("airflow.executor.open_slots.LocalExecutor", ("airflow_executor_open_slots", {"executor": "LocalExecutor"})),
        ("airflow.pool.open_slots.default_pool", ("airflow_pool_open_slots", {"pool": "default_pool"})),
        ("airflow.operator_failures_PythonOperator", ("airflow_operator_failures", {"operator": "PythonOperator"})),
        ("airflow.scheduler_heartbeat", ("airflow_scheduler_heartbeat", {})),
        ("airflow.pool.open_slots", None),
    ],
)
def test_mapping_examples(statsd_name: str, expected: Mapped) -> None:
    assert map_metric(_rules(), statsd_name)[0] == expected


def test_the_schedulers_names_map_or_pass_through(capture: Capture) -> None:
    """Every name the real scheduler sent: a valid Prometheus series; the asserted ones are kept."""
    rules = _rules()
    kept = {}
    for name in capture.samples:
        mapped, _ = map_metric(rules, name)
        if mapped is not None:
            assert _PROMETHEUS_NAME.match(mapped[0]), (name, mapped)
            kept[name] = mapped
    assert kept[f"{PREFIX}.scheduler_heartbeat"] == ("airflow_scheduler_heartbeat", {})
    assert kept[f"{PREFIX}.scheduler.scheduler_loop_duration"] == ("airflow_scheduler_scheduler_loop_duration", {})
    assert kept[f"{PREFIX}.scheduler.tasks.executable"] == ("airflow_scheduler_tasks_executable", {})
    assert kept[f"{PREFIX}.executor.open_slots.LocalExecutor"] == ("airflow_executor_open_slots",
                                                                   {"executor": "LocalExecutor"})
    assert kept[f"{PREFIX}.pool.open_slots.default_pool"] == ("airflow_pool_open_slots", {"pool": "default_pool"})
    assert f"{PREFIX}.executor.open_slots" not in kept  # its tagless twin, dropped
