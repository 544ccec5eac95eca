"""docker-compose.yaml, Dockerfile and .env.example, validated without a Docker engine (there is none here).

Two validators, each producing the resolved configuration the same assertions then check:

* ``compose-cli``: ``docker compose config`` (the v2 plugin) or ``docker-compose config`` (Debian's
  ``docker-compose`` package), whichever is installed -- neither needs an engine for ``config``.
  Skipped when neither is installed (this machine's ``docker`` client has no compose plugin).
* ``yaml``: always runs: PyYAML (anchors and ``<<`` merges) plus ``${VAR:-default}``
  interpolation from .env.example, and a check that every service uses only Compose
  Specification service keys.

The project directory for both is a temporary copy with ``.env`` made from ``.env.example``, the way
the README tells users to start.

The monitoring services' configs are checked by the tools that read them: ``promtool check config``
(Debian's ``prometheus``) and ``amtool check-config`` (``prometheus-alertmanager``), on the compose
files and on the local ones scripts/monitoring_local.py renders from them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from taxi_pipeline.settings import GCP_CONN_ID, GCP_VARIABLES, POSTGRES_CONN_ID
from taxi_pipeline.settings import SOURCE_VARIABLE
from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
AIRFLOW_SERVICES = {
    "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
    "airflow-triggerer", "airflow-init",
}
REQUIRED_SERVICES = AIRFLOW_SERVICES | {
    "postgres", "redis", "pgdatabase", "pgadmin", "fake-gcs-server", "bigquery-emulator",
}
MONITORING_SERVICES = {"prometheus", "alertmanager", "statsd-exporter", "grafana"}
PROMTOOL, AMTOOL = shutil.which("promtool"), shutil.which("amtool")
# Top-level keys a service may have in the Compose Specification (services.* in compose-spec.json).
SERVICE_KEYS = {
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup", "cgroup_parent",
    "command", "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota",
    "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "credential_spec", "depends_on",
    "deploy", "develop", "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname",
    "entrypoint", "env_file", "environment", "expose", "extends", "external_links", "extra_hosts",
    "group_add", "healthcheck", "hostname", "image", "init", "ipc", "isolation", "labels", "links",
    "logging", "mac_address", "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit",
    "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit", "platform",
    "ports", "privileged", "profiles", "pull_policy", "read_only", "restart", "runtime", "scale",
    "security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal", "storage_opt",
    "sysctls", "tmpfs", "tty", "ulimits", "user", "userns_mode", "uts", "volumes", "volumes_from",
    "working_dir",
}


def read_env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what compose reads, with .env made from .env.example."""
    root = tmp_path_factory.mktemp("compose")
    for name in ("docker-compose.yaml", "Dockerfile", "requirements.txt"):
        shutil.copy(ROOT / name, root / name)
    for folder in ("dags", "plugins", "include", "monitoring"):
        (root / folder).symlink_to(ROOT / folder)
    shutil.copy(ENV_EXAMPLE, root / ".env")
    return root


def compose_cli() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=60)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ``${VAR}`` / ``${VAR:-default}`` interpolation; ``$$`` is a literal ``$``."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, str):
        parts = value.split("$$")
        return "$".join(_VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), p) for p in parts)
    return value


def resolved_by_yaml(project: Path) -> dict[str, Any]:
    raw = yaml.safe_load((project / "docker-compose.yaml").read_text())
    config = interpolate(raw, read_env_file(project / ".env"))
    for name, service in config["services"].items():
        unknown = set(service) - SERVICE_KEYS
        assert not unknown, f"service {name}: keys not in the Compose Specification: {sorted(unknown)}"
        env = dict(service.get("environment") or {})
        if service.get("env_file"):
            env = {**read_env_file(project / service["env_file"]), **env}
        service["environment"] = env
    return config


def resolved_by_cli(project: Path) -> dict[str, Any]:
    cli = compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` (plugin) nor `docker-compose` is installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PG", "NY_TAXI"))}
    done = subprocess.run(
        [*cli, "--profile", "gcp-emulators", "config"], cwd=project, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{' '.join(cli)} config failed:\n{done.stderr}"
    return yaml.safe_load(done.stdout)


@pytest.fixture(scope="module", params=["compose-cli", "yaml"])
def config(request: pytest.FixtureRequest, project: Path) -> dict[str, Any]:
    return resolved_by_cli(project) if request.param == "compose-cli" else resolved_by_yaml(project)


def published_ports(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host ip, published port) of every published port, short or long syntax."""
    out = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            out.append((port.get("host_ip", ""), str(port.get("published", ""))))
        else:
            parts = str(port).split("/")[0].split(":")
            out.append((parts[0] if len(parts) == 3 else "", parts[-2] if len(parts) >= 2 else parts[0]))
    return out


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> host source of every volume."""
    out = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            out[volume["target"]] = str(volume.get("source", ""))
        else:
            source, target = str(volume).split(":")[:2]
            out[target] = source
    return out


def test_services_the_readme_names_exist(config):
    services = set(config["services"])
    assert REQUIRED_SERVICES <= services, sorted(REQUIRED_SERVICES - services)
    readme = (ROOT / "docs" / "docker-compose.md").read_text()  # the manual's page
    section = readme.split("# The docker-compose stack", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.M))
    assert named and named <= services, sorted(named - services)
    assert REQUIRED_SERVICES <= named  # and the README describes every required one


def test_airflow_services_use_the_project_image_celery_and_mount_the_bundle(config):
    for name in AIRFLOW_SERVICES:
        service = config["services"][name]
        assert service["image"].startswith("ny-taxi-airflow") and "build" in service, name
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert not env.get("_PIP_ADDITIONAL_REQUIREMENTS")  # dependencies are in the image
        volume = mounts(service)
        for folder in ("dags", "plugins", "include"):
            assert Path(volume[f"/opt/airflow/{folder}"]).name == folder, (name, folder)
    assert config["services"]["postgres"]["image"].startswith("postgres:")
    assert config["services"]["redis"]["image"].startswith("redis:")


def test_every_published_port_is_on_127_0_0_1_and_the_databases_are_reachable_only_there(config):
    published = {name: published_ports(s) for name, s in config["services"].items() if published_ports(s)}
    assert published, "nothing is published"
    for name, ports in published.items():
        assert all(ip == "127.0.0.1" for ip, _ in ports), (name, ports)
    assert published["pgdatabase"] == [("127.0.0.1", "5432")]
    assert published["airflow-apiserver"] == [("127.0.0.1", "8080")]
    assert "postgres" not in published and "redis" not in published  # Airflow's own: not published


def test_pgdatabase_is_the_courses_postgres_and_the_connection_points_at_it(config):
    db = config["services"]["pgdatabase"]["environment"]
    assert (db["POSTGRES_USER"], db["POSTGRES_PASSWORD"], db["POSTGRES_DB"]) == ("root", "root", "ny_taxi")
    conn = config["services"]["airflow-worker"]["environment"][f"AIRFLOW_CONN_{POSTGRES_CONN_ID.upper()}"]
    assert conn == "postgresql://root:root@pgdatabase:5432/ny_taxi"


def test_gcp_emulators_are_an_opt_in_profile(config):
    for name in ("fake-gcs-server", "bigquery-emulator"):
        assert config["services"][name]["profiles"] == ["gcp-emulators"]
    assert config["services"]["fake-gcs-server"]["image"].startswith("fsouza/fake-gcs-server:")
    assert config["services"]["bigquery-emulator"]["image"].startswith("ghcr.io/goccy/bigquery-emulator:")


def test_env_example_names_the_connections_and_variables_the_code_reads():
    text = ENV_EXAMPLE.read_text()
    env = read_env_file(ENV_EXAMPLE)
    assert f"AIRFLOW_CONN_{POSTGRES_CONN_ID.upper()}" in env
    assert f"AIRFLOW_CONN_{GCP_CONN_ID.upper()}=" in text  # commented: real key or emulator, user's choice
    for variable in GCP_VARIABLES:
        assert f"AIRFLOW_VAR_{variable.upper()}" in env, variable
    assert f"AIRFLOW_VAR_{SOURCE_VARIABLE.upper()}=" in text
    # No secret is committed: the generated ones are left blank for the user to fill in.
    for secret in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_ADMIN_PASSWORD"):
        assert env[secret] == "", secret
    assert "PRIVATE KEY" not in text and '"private_key"' not in text


def test_dotenv_is_ignored_and_the_example_is_not():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", ".env", ".env.example"], cwd=ROOT, capture_output=True, text=True)
    assert ignored.stdout.split() == [".env"]


def test_dockerfile_builds_on_the_locked_airflow_version_and_installs_the_lock():
    dockerfile = (ROOT / "Dockerfile").read_text()
    locked = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), flags=re.M).group(1)
    assert re.search(rf"^FROM apache/airflow:{re.escape(locked)}-python3\.11$", dockerfile, flags=re.M)
    assert re.search(r"^RUN pip install .*-r /tmp/requirements\.txt", dockerfile, flags=re.M)
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in dockerfile.split("\nFROM", 1)[1]


# --- monitoring: Prometheus, Alertmanager, statsd-exporter, Grafana (docs/monitoring.md) ----------


def bind_mounts(service: dict[str, Any], project: Path) -> dict[str, Path]:
    """container path -> host path of every bind mount (a source that is a path, not a named volume)."""
    return {target: (project / source).resolve() for target, source in mounts(service).items()
            if source.startswith((".", "/"))}


def test_monitoring_services_use_pinned_images_and_mount_files_that_exist(config, project):
    services = config["services"]
    assert MONITORING_SERVICES <= set(services), sorted(MONITORING_SERVICES - set(services))
    images = {"prometheus": "prom/prometheus", "alertmanager": "prom/alertmanager",
              "statsd-exporter": "prom/statsd-exporter", "grafana": "grafana/grafana-oss"}
    for name, repository in images.items():
        image, _, tag = services[name]["image"].rpartition(":")
        assert image == repository and re.fullmatch(r"v?\d+\.\d+\.\d+", tag), (name, services[name]["image"])
        files = bind_mounts(services[name], project)
        assert files, f"{name} mounts none of the project's files"
        for target, source in files.items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"


def test_monitoring_ports_are_on_127_0_0_1_and_statsd_exporter_is_not_published(config):
    published = {name: published_ports(config["services"][name]) for name in MONITORING_SERVICES}
    assert published == {"prometheus": [("127.0.0.1", "9090")], "alertmanager": [("127.0.0.1", "9093")],
                         "grafana": [("127.0.0.1", "3000")], "statsd-exporter": []}


def test_airflow_sends_statsd_to_the_exporter_which_reads_the_mapping_file(config):
    for name in AIRFLOW_SERVICES:
        env = config["services"][name]["environment"]
        assert (str(env["AIRFLOW__METRICS__STATSD_ON"]).lower(), env["AIRFLOW__METRICS__STATSD_HOST"],
                str(env["AIRFLOW__METRICS__STATSD_PORT"]), env["AIRFLOW__METRICS__STATSD_PREFIX"]) == (
            "true", "statsd-exporter", "9125", "airflow"), name
    exporter = config["services"]["statsd-exporter"]
    [mapping] = [arg.split("=", 1)[1] for arg in exporter["command"] if arg.startswith("--statsd.mapping-config=")]
    assert Path(mounts(exporter)[mapping]).name == "mapping.yml"
    assert Path(mounts(exporter)[mapping]).parent.name == "statsd"


def test_prometheus_scrapes_the_plugin_and_the_exporter_and_alerts_through_alertmanager(config, project):
    """The compose config's addresses are the compose services' names and container ports."""
    prometheus = yaml.safe_load((ROOT / "monitoring" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert set(jobs) == {"ny_taxi", "airflow"}
    assert jobs["ny_taxi"]["metrics_path"] == "/taxi-loads/metrics"  # the plugin's url_prefix
    assert jobs["ny_taxi"]["static_configs"] == [{"targets": ["airflow-apiserver:8080"]}]
    assert jobs["airflow"]["static_configs"] == [{"targets": ["statsd-exporter:9102"]}]
    assert prometheus["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]
    assert prometheus["rule_files"] == ["rules.yml"]  # beside it in the mounted folder
    assert "--web.listen-address=:9102" in config["services"]["statsd-exporter"]["command"]
    assert mounts(config["services"]["prometheus"])["/etc/prometheus"].rstrip("/").endswith("monitoring/prometheus")
    # Grafana's datasource is this Prometheus; its dashboard provider reads the mounted dashboards folder.
    grafana = ROOT / "monitoring" / "grafana" / "provisioning"
    [source] = yaml.safe_load((grafana / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert (source["type"], source["url"], source["uid"]) == ("prometheus", "http://prometheus:9090", "prometheus")
    [provider] = yaml.safe_load((grafana / "dashboards" / "ny_taxi.yml").read_text())["providers"]
    folder = bind_mounts(config["services"]["grafana"], project)[provider["options"]["path"]]
    assert (folder / "ny_taxi.json").exists(), folder


def local_configs(tmp_path: Path) -> Path:
    """The local stack's configs, rendered as ``make monitoring-up`` renders them, into ``tmp_path``."""
    from scripts.monitoring_local import LocalMonitoring, MonitoringSettings

    LocalMonitoring(MonitoringSettings(run_dir=tmp_path, scrape_url="http://127.0.0.1:8080/taxi-loads/metrics",
                                       metrics_token="s3cret")).write_configs()
    return tmp_path


@pytest.mark.skipif(PROMTOOL is None, reason="needs promtool: apt-get install prometheus")
@pytest.mark.parametrize("which", ["compose", "local"])
def test_promtool_checks_the_prometheus_configs(which: str, tmp_path: Path) -> None:
    path = ROOT / "monitoring" / "prometheus" / "prometheus.yml" if which == "compose" else \
        local_configs(tmp_path) / "prometheus.yml"
    done = subprocess.run([PROMTOOL, "check", "config", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout and "SUCCESS: 5 rules found" in done.stdout


@pytest.mark.skipif(AMTOOL is None, reason="needs amtool: apt-get install prometheus-alertmanager")
@pytest.mark.parametrize("which", ["compose", "local"])
def test_amtool_checks_the_alertmanager_configs(which: str, tmp_path: Path) -> None:
    path = ROOT / "monitoring" / "alertmanager" / "alertmanager.yml" if which == "compose" else \
        local_configs(tmp_path) / "alertmanager.yml"
    done = subprocess.run([AMTOOL, "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout and " - 1 receivers" in done.stdout


def test_the_local_configs_are_the_compose_ones_with_local_addresses(tmp_path: Path) -> None:
    """One config for both: the local one differs only in addresses, intervals and grouping waits."""
    rendered = local_configs(tmp_path)
    local = yaml.safe_load((rendered / "prometheus.yml").read_text())
    compose = yaml.safe_load((ROOT / "monitoring" / "prometheus" / "prometheus.yml").read_text())
    assert local["global"] == {"scrape_interval": "5s", "evaluation_interval": "5s"}
    assert local["rule_files"] == [str(ROOT / "monitoring" / "prometheus" / "rules.yml")]
    assert local["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": ["127.0.0.1:9093"]}]}]
    [job] = local["scrape_configs"]
    [compose_job] = [j for j in compose["scrape_configs"] if j["job_name"] == "ny_taxi"]
    assert job == {**compose_job, "scheme": "http", "static_configs": [{"targets": ["127.0.0.1:8080"]}],
                   "authorization": {"type": "Bearer", "credentials_file": str(rendered / "metrics_token")}}
    assert (rendered / "metrics_token").read_text() == "s3cret" and (rendered / "metrics_token").stat().st_mode & 0o077 == 0
    am_local = yaml.safe_load((rendered / "alertmanager.yml").read_text())
    am_compose = yaml.safe_load((ROOT / "monitoring" / "alertmanager" / "alertmanager.yml").read_text())
    assert am_local == {**am_compose, "route": {**am_compose["route"], "group_wait": "1s", "group_interval": "5s"}}
