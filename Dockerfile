# The project's Airflow image for docker-compose.yaml: the official Airflow 3.3 image plus the
# project's pinned lock. Dependencies are baked in at build time (never _PIP_ADDITIONAL_REQUIREMENTS,
# which reinstalls them on every container start). dags/, plugins/ and include/ are mounted, not
# copied, so editing a DAG needs no rebuild; changing requirements.txt does (`docker compose build`).
FROM apache/airflow:3.3.2-python3.11

COPY requirements.txt /tmp/requirements.txt
# Naming apache-airflow with its version keeps pip from moving Airflow itself while it installs the
# lock (which pins the same version). The base image brings the Celery and Redis providers the
# CeleryExecutor needs.
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r /tmp/requirements.txt

# dbt in its own virtualenv (its pins conflict with Airflow's), and the dbt project with the manifest
# cosmos renders the dbt DAGs from: the repository's dbt/taxi_rides_ny/manifest.json (`make
# dbt-manifest`; a test keeps it current), so the build runs no `dbt parse`. The project is baked in,
# not mounted: the manifest must match it, so changing a model means `docker compose build`.
COPY requirements-dbt.txt /tmp/requirements-dbt.txt
RUN python -m venv /opt/dbt-venv && /opt/dbt-venv/bin/pip install --no-cache-dir -r /tmp/requirements-dbt.txt
COPY --chown=airflow:0 dbt/taxi_rides_ny /opt/airflow/dbt/taxi_rides_ny
