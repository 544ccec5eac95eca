"""The month's one-line summary as its DAG-run note: the grid shows month, rows and quality verdict
without anyone opening a log ("green 2020-03: 223,406 rows inserted, 0 skipped, quality ok").

check_quality, the last task, sets it, and a failed task's callback sets the failure's line
(alerts.py), through Airflow's public REST API (``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}?update_mask=note``): the Task SDK's execution API, which
tasks otherwise talk to, has no way to write a note. The API's base URL and a user come from the
``ny_taxi_airflow_api`` connection (``http://<user>:<password>@<api-server>:8080``; ``make
airflow-up`` and the compose stack define it); without that connection no note is set. A note that
cannot be set is logged and changes nothing else.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from taxi_pipeline.settings import AIRFLOW_API_CONN_ID

log = logging.getLogger(__name__)


def set_run_note(dag_id: str, run_id: str, note: str, *, timeout: float = 10) -> bool:
    """Set the run's note; False (and a log line) when there is no connection or the API refuses."""
    import requests
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(AIRFLOW_API_CONN_ID)
    except AirflowNotFoundException:
        log.info("no %s connection: the run's note is not set", AIRFLOW_API_CONN_ID)
        return False
    base = f"{conn.schema or 'http'}://{conn.host}:{conn.port or 8080}"
    try:
        answer = requests.post(f"{base}/auth/token", json={"username": conn.login, "password": conn.password},
                               timeout=timeout)
        answer.raise_for_status()
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        url = f"{base}/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
        requests.patch(url, params={"update_mask": "note"}, json={"note": note}, headers=headers,
                       timeout=timeout).raise_for_status()
    except (requests.RequestException, KeyError, ValueError) as exc:
        log.error("could not set the run's note through %s: %s", base, exc)
        return False
    log.info("run note set: %s", note)
    return True
