"""A local Prometheus + Alertmanager watching the local Airflow: ``make monitoring-up`` / ``-down`` / ``-status``.

The alert rules (monitoring/prometheus/rules.yml) are unit-tested by promtool; this runs them for
real, on Debian's own binaries (``apt-get install prometheus prometheus-alertmanager``), against
the local Airflow's ``/taxi-loads/metrics`` (``make airflow-up``), so a failed month becomes an
alert you can see at ``http://127.0.0.1:9093/api/v2/alerts``. Both listen on 127.0.0.1 only;
Alertmanager's cluster listener (0.0.0.0:9094 by default) is switched off.

Their configs are rendered from the compose stack's (monitoring/prometheus/prometheus.yml,
monitoring/alertmanager/alertmanager.yml: one config for both), with this machine's addresses and
shorter intervals, into the run folder (``.run/monitoring/`` by default, git-ignored, beside
scripts/airflow_local.py's ``.run/airflow/``): ``prometheus.yml``, ``alertmanager.yml``, the two
data folders, ``<component>.log`` and ``<component>.pid``. Each process runs under
scripts/supervise.py and is stopped by its process group, with scripts/airflow_local.py's code.

Settings (environment): MONITORING_DIR, MONITORING_PROMETHEUS_PORT (9090),
MONITORING_ALERTMANAGER_PORT (9093), MONITORING_SCRAPE_URL (default
``http://127.0.0.1:$AIRFLOW_LOCAL_PORT/taxi-loads/metrics``, AIRFLOW_LOCAL_PORT 8080),
NY_TAXI_METRICS_TOKEN (sent as ``Authorization: Bearer``, as the plugin then requires),
MONITORING_TIMEOUT (seconds to ready, 60). Tests use :func:`running_monitoring`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.airflow_local import LocalAirflow, LocalAirflowSettings, _env_int  # noqa: E402  (stdlib-only)

PROMETHEUS_CONFIG = ROOT / "monitoring" / "prometheus" / "prometheus.yml"
RULES = ROOT / "monitoring" / "prometheus" / "rules.yml"
ALERTMANAGER_CONFIG = ROOT / "monitoring" / "alertmanager" / "alertmanager.yml"
# Locally an alert should show seconds after the month fails, not minutes: a scrape and an
# evaluation every 5 s, and Alertmanager groups for 1 s. (The compose stack keeps 15 s / 30 s:
# every scrape reads the audit table and Airflow's runs.) Rules with a `for:` keep it.
LOCAL_INTERVAL = "5s"
LOCAL_GROUP_WAIT, LOCAL_GROUP_INTERVAL = "1s", "5s"
# component -> (binaries to look for, the Debian package that has it)
BINARIES = {
    "prometheus": (("prometheus",), "prometheus"),
    "alertmanager": (("prometheus-alertmanager", "alertmanager"), "prometheus-alertmanager"),
}


class MonitoringError(RuntimeError):
    """``up`` could not start the stack; the message is one line: the cause and the fix."""


@dataclass
class MonitoringSettings:
    run_dir: Path = ROOT / ".run" / "monitoring"
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    scrape_url: str = "http://127.0.0.1:8080/taxi-loads/metrics"
    metrics_token: str = ""
    timeout: float = 60.0
    # Added to the components' environment (tests pass SUPERVISE_PARENT_PID).
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> MonitoringSettings:
        env = os.environ
        airflow_port = _env_int("AIRFLOW_LOCAL_PORT", 8080)
        return cls(
            run_dir=Path(env.get("MONITORING_DIR") or ROOT / ".run" / "monitoring").resolve(),
            prometheus_port=_env_int("MONITORING_PROMETHEUS_PORT", 9090),
            alertmanager_port=_env_int("MONITORING_ALERTMANAGER_PORT", 9093),
            scrape_url=env.get("MONITORING_SCRAPE_URL") or f"http://127.0.0.1:{airflow_port}/taxi-loads/metrics",
            metrics_token=env.get("NY_TAXI_METRICS_TOKEN", ""),
            timeout=float(_env_int("MONITORING_TIMEOUT", 60)),
        )

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"


def find_binary(component: str) -> str:
    """The component's binary on PATH, or a one-line error naming the Debian package."""
    names, package = BINARIES[component]
    found = next((path for path in map(shutil.which, names) if path), None)
    if found is None:
        raise MonitoringError(f"no {' or '.join(names)} on PATH: apt-get install {package}")
    return found


def missing_binaries() -> str | None:
    """Why the stack cannot start here (one line naming the packages), or None: for tests' skips."""
    missing = [package for names, package in BINARIES.values() if not any(map(shutil.which, names))]
    return f"needs {' and '.join(missing)}: apt-get install {' '.join(missing)}" if missing else None


# --- the configs -------------------------------------------------------------------------------


def prometheus_config(s: MonitoringSettings, token_file: Path | None = None) -> dict[str, Any]:
    """The compose stack's Prometheus config with this machine's addresses: the ny_taxi job only
    (no statsd-exporter runs locally), scraping ``s.scrape_url``, alerting ``s.alertmanager_port``."""
    import yaml  # the venv's (make monitoring-up runs it); `down` and `status` need no venv

    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"].update(scrape_interval=LOCAL_INTERVAL, evaluation_interval=LOCAL_INTERVAL)
    config["rule_files"] = [str(RULES)]
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{s.alertmanager_port}"]}]}]}
    url = urlsplit(s.scrape_url)
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "ny_taxi"]
    job.update(scheme=url.scheme or "http", metrics_path=url.path or "/taxi-loads/metrics",
               static_configs=[{"targets": [url.netloc]}])
    if token_file is not None:
        job["authorization"] = {"type": "Bearer", "credentials_file": str(token_file)}
    config["scrape_configs"] = [job]
    return config


def alertmanager_config() -> dict[str, Any]:
    import yaml

    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    config["route"].update(group_wait=LOCAL_GROUP_WAIT, group_interval=LOCAL_GROUP_INTERVAL)
    return config


# --- the processes -----------------------------------------------------------------------------


class _Supervised(LocalAirflow):
    """scripts/airflow_local.py's process handling -- start under supervise.py in its own session,
    pid files, stop by process group -- for these components instead of Airflow's."""

    def __init__(self, run_dir: Path, commands: dict[str, list[str]]) -> None:
        super().__init__(LocalAirflowSettings(run_dir=run_dir))
        self._commands = commands

    @property
    def components(self) -> dict[str, list[str]]:
        return self._commands


class LocalMonitoring:
    def __init__(self, settings: MonitoringSettings) -> None:
        self.s = settings
        self.run_dir = settings.run_dir
        # Without the binaries there is nothing to start, but `down` still stops what the pid files name.
        self.procs = _Supervised(self.run_dir, self.commands() if missing_binaries() is None else {})

    def commands(self) -> dict[str, list[str]]:
        run = self.run_dir
        return {
            "prometheus": [
                find_binary("prometheus"), f"--config.file={run / 'prometheus.yml'}",
                f"--storage.tsdb.path={run / 'prometheus-data'}", "--storage.tsdb.retention.time=7d",
                f"--web.listen-address=127.0.0.1:{self.s.prometheus_port}",
                f"--web.external-url={self.s.prometheus_url}/",
            ],
            "alertmanager": [
                find_binary("alertmanager"), f"--config.file={run / 'alertmanager.yml'}",
                f"--storage.path={run / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{self.s.alertmanager_port}",
                f"--web.external-url={self.s.alertmanager_url}/",
                "--cluster.listen-address=",  # no HA gossip: it would listen on 0.0.0.0:9094
            ],
        }

    def urls(self) -> dict[str, str]:
        """Each component's URL: as the running stack was started (``urls.json``), else as configured."""
        saved = self.run_dir / "urls.json"
        if saved.exists() and self.procs.pids():
            return json.loads(saved.read_text())
        return {"alertmanager": self.s.alertmanager_url, "prometheus": self.s.prometheus_url}

    def write_configs(self) -> None:
        import yaml

        token_file = None
        if self.s.metrics_token:
            token_file = self.run_dir / "metrics_token"
            token_file.touch(mode=0o600)
            token_file.write_text(self.s.metrics_token)
        (self.run_dir / "prometheus.yml").write_text(
            "# Rendered by scripts/monitoring_local.py from monitoring/prometheus/prometheus.yml\n"
            + yaml.safe_dump(prometheus_config(self.s, token_file), sort_keys=False))
        (self.run_dir / "alertmanager.yml").write_text(
            "# Rendered by scripts/monitoring_local.py from monitoring/alertmanager/alertmanager.yml\n"
            + yaml.safe_dump(alertmanager_config(), sort_keys=False))

    def ready(self, component: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.urls()[component]}/-/ready", timeout=2) as resp:
                return resp.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def up(self, say=print) -> float:
        """Start both (Alertmanager first: Prometheus sends to it), wait for their /-/ready.
        Returns the seconds it took; 0.0 when both were already running and ready."""
        started = time.monotonic()
        why = missing_binaries()
        if why:
            raise MonitoringError(f"{why} (Debian's packages; the compose stack has its own images)")
        url = urlsplit(self.s.scrape_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise MonitoringError(f"the scrape URL must be http(s)://host:port/path, got {self.s.scrape_url!r}: "
                                  "set MONITORING_SCRAPE_URL (or AIRFLOW_LOCAL_PORT)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        running = {n: p for n, p in self.procs.pids().items() if self.procs.alive(p)}
        wanted = {"alertmanager": self.s.alertmanager_url, "prometheus": self.s.prometheus_url}
        if set(running) == set(self.procs.components) and self.urls() == wanted and all(map(self.ready, running)):
            say(f"monitoring already running: {', '.join(f'{n} (pid {p})' for n, p in running.items())}")
            return 0.0
        if self.procs.pids():
            say(f"stopping leftovers of an earlier start: {', '.join(self.procs.stop())}")
        for component, port, variable in (("alertmanager", self.s.alertmanager_port, "MONITORING_ALERTMANAGER_PORT"),
                                          ("prometheus", self.s.prometheus_port, "MONITORING_PROMETHEUS_PORT")):
            _check_port_free(component, port, variable)
        self.write_configs()
        (self.run_dir / "urls.json").write_text(json.dumps(
            {"alertmanager": self.s.alertmanager_url, "prometheus": self.s.prometheus_url}))
        env = {**os.environ, **self.s.env}
        before = {name: len(self.procs.restarts(name)) for name in self.procs.components}
        try:
            for component in ("alertmanager", "prometheus"):
                self.procs.start_component(component, env)
            for component in ("alertmanager", "prometheus"):
                while not self.ready(component):
                    restarts = self.procs.restarts(component)
                    if len(restarts) > before[component]:
                        raise MonitoringError(f"{component} exited at start ({restarts[-1].split('] ', 1)[1]}): "
                                              f"{_last_error(self.procs.log_path(component))} "
                                              f"(log: {self.procs.log_path(component)})")
                    if time.monotonic() - started > self.s.timeout:
                        raise MonitoringError(f"{component} not ready after {self.s.timeout:.0f} s "
                                              f"(MONITORING_TIMEOUT; log: {self.procs.log_path(component)})")
                    time.sleep(0.2)
        except BaseException:
            self.procs.stop(grace=10)
            raise
        return time.monotonic() - started

    def down(self) -> list[str]:
        return self.procs.stop(grace=10)

    def status(self) -> list[str]:
        """One line per component (pid, ready, URL), then the scrape target's health."""
        lines, pids = [], self.procs.pids()
        for component, url in self.urls().items():
            pid = pids.get(component)
            state = "not started" if pid is None else f"pid {pid} {'running' if self.procs.alive(pid) else 'NOT running'}"
            lines.append(f"{component}: {state}, {'ready' if self.ready(component) else 'not ready'}, {url}")
        try:
            with urllib.request.urlopen(f"{self.urls()['prometheus']}/api/v1/targets", timeout=5) as resp:
                targets = json.load(resp)["data"]["activeTargets"]
            for t in targets:
                error = f" ({t['lastError']})" if t.get("lastError") else ""
                lines.append(f"scrape {t['labels'].get('job')} {t['scrapeUrl']}: {t['health']}{error}")
        except (OSError, ValueError, KeyError):
            pass
        return lines


def _check_port_free(component: str, port: int, variable: str) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise MonitoringError(f"{component}: 127.0.0.1:{port} is in use ({exc.strerror}); "
                                  f"stop what listens there or set {variable}") from None


def _last_error(log: Path) -> str:
    """The component's last error line (both log logfmt: level=error ... err=...), or its last line."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line and not line.startswith("[supervise]")]
    errors = [line for line in lines if "level=error" in line or "err=" in line]
    return (errors or lines or ["no output"])[-1][:300]


@contextmanager
def running_monitoring(
    run_dir: Path, scrape_url: str, *, prometheus_port: int, alertmanager_port: int,
    metrics_token: str = "", env: Mapping[str, str] | None = None, say=print,
) -> Iterator[LocalMonitoring]:
    """Prometheus + Alertmanager on the given ports scraping ``scrape_url``, stopped on exit."""
    monitoring = LocalMonitoring(MonitoringSettings(
        run_dir=run_dir, prometheus_port=prometheus_port, alertmanager_port=alertmanager_port,
        scrape_url=scrape_url, metrics_token=metrics_token, env=dict(env or {})))
    seconds = monitoring.up(say)
    say(f"monitoring ready after {seconds:.1f} s: " + ", ".join(f"{n} {u}" for n, u in monitoring.urls().items()))
    try:
        yield monitoring
    finally:
        say(f"monitoring stopped: {', '.join(monitoring.down()) or 'nothing was running'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    settings = MonitoringSettings.from_env()
    monitoring = LocalMonitoring(settings)
    if args.command == "down":
        stopped = monitoring.down()
        print(f"stopped: {', '.join(stopped)}" if stopped else "monitoring: nothing to stop")
        return 0
    if args.command == "status":
        lines = monitoring.status()
        print("\n".join(lines))
        return 0 if all(monitoring.ready(c) for c in monitoring.urls()) else 1
    try:
        seconds = monitoring.up()
    except MonitoringError as exc:
        print(f"monitoring_local: {exc}", file=sys.stderr)
        return 1
    took = f"ready after {seconds:.1f} s" if seconds else "already running"
    print(f"monitoring is up ({took}); Prometheus scrapes {settings.scrape_url} every {LOCAL_INTERVAL}")
    print(f"  alertmanager: {settings.alertmanager_url}   (alerts: {settings.alertmanager_url}/api/v2/alerts)")
    print(f"  prometheus:   {settings.prometheus_url}   (alerts: {settings.prometheus_url}/alerts)")
    print(f"  logs:         {settings.run_dir}/<component>.log; stop: make monitoring-down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
