# The project's commands. `make run` loads months into a project-local Postgres; `make test` runs
# every test (starting Postgres and a fixture HTTP server itself). Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.8

TAXI ?= all
START ?= 2019-01
END ?= 2019-02
SOURCE ?=

.PHONY: help venv venv-dev lock run test pg-up pg-down clean

help:
	@echo "make run  [TAXI=green|yellow|all] [START=YYYY-MM] [END=YYYY-MM] [SOURCE=url-or-dir]"
	@echo "make dbt  (seed, run, test the dbt models on what make run loaded; schema analytics)"
	@echo "make backfill [TAXI=...] START=YYYY-MM END=YYYY-MM [REPROCESS=none|failed|completed]  (airflow backfill create on the local Airflow)"
	@echo "make test | make bench | make chaos | make airflow-up | make screenshots | make lock | make pg-up | make pg-down | make clean"
	@echo "make docs  (the manual: mkdocs build --strict into site/; broken links and anchors fail it)"

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(PY) -m pip install -q uv==$(UV_VERSION)
	$(UV) pip install -q --compile-bytecode --python $(PY) -r requirements.txt
	touch $@

# Test-only extras (GCP emulators); same pins as requirements.txt plus the emulators.
$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(UV) pip install -q --compile-bytecode --python $(PY) -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed
venv-dev: $(VENV)/.installed-dev

# The locks: requirements-dev.txt resolves requirements.in + requirements-dev.in together, then
# requirements.txt (what users and the Docker image install) takes the same versions for its subset.
lock: | $(VENV)/.installed
	$(UV) pip compile requirements.in requirements-dev.in --python-version 3.11 --no-header -o requirements-dev.txt
	$(UV) pip compile requirements.in -c requirements-dev.txt --python-version 3.11 --no-header -o requirements.txt

# ---- dbt (dbt/taxi_rides_ny), in its own virtualenv: its pins conflict with Airflow's ----
DBT_VENV := .venv-dbt
DBT := $(DBT_VENV)/bin/dbt
DBT_PROJECT := dbt/taxi_rides_ny
DBT_ENV := DBT_PROFILES_DIR=$(CURDIR)/$(DBT_PROJECT) DBT_SEND_ANONYMOUS_USAGE_STATS=false
DBT_FILES := $(shell find $(DBT_PROJECT) \( -path '*/target' -o -path '*/logs' \) -prune -o -type f ! -path '$(DBT_PROJECT)/manifest.json' -print)
.PHONY: venv-dbt dbt dbt-manifest dbt-sources lock-dbt

$(DBT_VENV)/.installed: requirements-dbt.txt | $(VENV)/.installed
	test -x $(DBT_VENV)/bin/python || $(PYTHON) -m venv $(DBT_VENV)
	$(UV) pip install -q --python $(DBT_VENV)/bin/python -r requirements-dbt.txt
	touch $@

venv-dbt: $(DBT_VENV)/.installed

lock-dbt: | $(VENV)/.installed
	$(UV) pip compile requirements-dbt.in --python-version 3.11 --no-header -o requirements-dbt.txt

# The manifest cosmos renders the dbt DAGs from (LoadMode.DBT_MANIFEST), committed so that parsing
# needs no dbt: `dbt parse` (no database), trimmed to what cosmos reads, with no paths, times or ids
# (taxi_pipeline/analytics/manifest.py). tests/test_dbt_project.py fails when it is stale.
$(DBT_PROJECT)/manifest.json: $(DBT_FILES) $(DBT_VENV)/.installed
	cd $(DBT_PROJECT) && $(DBT_ENV) $(CURDIR)/$(DBT) parse --quiet
	PYTHONPATH=plugins $(PY) -m taxi_pipeline.analytics.manifest $(DBT_PROJECT)/target/manifest.json $@

dbt-manifest: $(DBT_PROJECT)/manifest.json

# The sources from specs.py (a test keeps the file current).
dbt-sources: venv
	PYTHONPATH=plugins $(PY) -m taxi_pipeline.analytics.sources

# Seed, run and test the models against the local Postgres `make run` loaded (schema analytics).
# dbt's output goes to .airflow/logs/make-dbt-<time>.log; the terminal gets its errors, failures, warnings and summary.
dbt: venv dbt-manifest
	@test -x $(DBT) || { echo "make dbt: no dbt at $(DBT): make venv-dbt installs it (requirements-dbt.txt)" >&2; exit 1; }
	@scripts/pg.sh start >/dev/null
	@mkdir -p .airflow/logs && log=$(CURDIR)/.airflow/logs/make-dbt-$$(date +%Y%m%d-%H%M%S).log && \
	echo "make dbt: dbt build of $(DBT_PROJECT) (schema analytics); dbt's output: $$log" && \
	cd $(DBT_PROJECT) && { $(DBT_ENV) DBT_USE_COLORS=false $(CURDIR)/$(DBT) build > $$log 2>&1; rc=$$?; \
	grep -E ' (ERROR|FAIL|WARN) |Done\. PASS=|Encountered an error|Database Error|connection to server|Runtime Error|Compilation Error' $$log | sed -E 's/^[0-9:]+ +//'; \
	[ $$rc -eq 0 ] || echo "make dbt: dbt build failed (exit $$rc); the errors above, the whole output in $$log" >&2; exit $$rc; }
	@scripts/pg.sh psql -c "SELECT 'analytics.' || relname AS model, n_live_tup AS approx_rows FROM pg_stat_user_tables WHERE schemaname = 'analytics' ORDER BY 1"

pg-up: venv
	scripts/pg.sh start

pg-down:
	scripts/pg.sh stop

# A bad TAXI/START/END/SOURCE is one line naming it, before run_local.py starts Postgres (scripts/pg.sh);
# Airflow's logs go to .airflow/logs/make-run-*.log (VERBOSE=1: to the terminal). docs/terminal.md.
run: venv
	@$(PY) scripts/run_local.py --taxi "$(TAXI)" --start "$(START)" --end "$(END)" $(if $(SOURCE),--source "$(SOURCE)")

test: venv-dev venv-dbt
	$(PY) -m pytest

clean: pg-down
	rm -rf .airflow .pg

# ---- the docs site (mkdocs.yml, docs/), in its own virtualenv: its tools never touch Airflow's pins ----
DOCS_VENV := .venv-docs
.PHONY: venv-docs docs

$(DOCS_VENV)/.installed: requirements-docs.txt | $(VENV)/.installed
	test -x $(DOCS_VENV)/bin/python || $(PYTHON) -m venv $(DOCS_VENV)
	$(UV) pip install -q --python $(DOCS_VENV)/bin/python -r requirements-docs.txt
	touch $@

venv-docs: $(DOCS_VENV)/.installed

# --strict: a broken link, a missing page or a missing anchor fails the build (mkdocs.yml `validation`).
docs: venv-docs
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict --site-dir site

# ---- local Airflow (api-server, scheduler, dag-processor on 127.0.0.1; scripts/airflow_local.py) ----
# The DAG window is START..END (as for `make run`); SOURCE sets the Variable ny_taxi_source.
# EXECUTOR=celery: CeleryExecutor, redis-server (apt-get install redis-server) and two Celery workers.
.PHONY: airflow-up airflow-down airflow-status
airflow-up: venv
	NY_TAXI_START_MONTH=$(START) NY_TAXI_END_MONTH=$(END) $(if $(EXECUTOR),AIRFLOW_LOCAL_EXECUTOR=$(EXECUTOR)) \
	$(if $(SOURCE),AIRFLOW_VAR_NY_TAXI_SOURCE="$(if $(findstring ://,$(SOURCE)),$(SOURCE),$(abspath $(SOURCE)))") \
	$(PY) scripts/airflow_local.py up

airflow-down:
	$(if $(wildcard $(PY)),$(PY),$(PYTHON)) scripts/airflow_local.py down

# `make run` through the real Airflow: (re)start it with the window, let the scheduler catch up
# TAXI's Postgres DAGs, wait, print every run and the rows per file. Airflow keeps running.
.PHONY: run-airflow
run-airflow: venv
	NY_TAXI_START_MONTH=$(START) NY_TAXI_END_MONTH=$(END) \
	$(if $(SOURCE),AIRFLOW_VAR_NY_TAXI_SOURCE="$(if $(findstring ://,$(SOURCE)),$(SOURCE),$(abspath $(SOURCE)))") \
	$(PY) scripts/airflow_local.py run --taxi $(TAXI)

# `airflow backfill create` over START..END for TAXI's Postgres DAGs, on the local Airflow (re)started
# with START..END as its window; waits, prints the runs and rows per file. REPROCESS=none|failed|completed
# (months that already have a run), MAX_ACTIVE_RUNS (2).
.PHONY: backfill
backfill: venv
	$(if $(SOURCE),AIRFLOW_VAR_NY_TAXI_SOURCE="$(if $(findstring ://,$(SOURCE)),$(SOURCE),$(abspath $(SOURCE)))") \
	$(PY) scripts/airflow_local.py backfill --taxi $(TAXI) --start $(START) --end $(END) \
	    --reprocess $(or $(REPROCESS),none) --max-active-runs $(or $(MAX_ACTIVE_RUNS),2)

# The manual's pictures (docs/ui/*.png) from a real run: its own Postgres, Airflow and fixture months,
# driven by headless chromium (apt-get install chromium chromium-driver). scripts/screenshots.py.
.PHONY: screenshots
screenshots: venv-dev dbt-manifest
	$(PY) scripts/screenshots.py

airflow-status:
	$(if $(wildcard $(PY)),$(PY),$(PYTHON)) scripts/airflow_local.py status

# ---- benchmarks (benchmarks/run.py; not part of `make test`) ----
# Starts its own Postgres, runs the cases, writes benchmarks/RESULTS.md and results.png. ROWS= size
# of the generated month, DATA=<mirror dir> real files instead; more knobs in benchmarks/run.py.
.PHONY: bench
bench: venv-dev dbt-manifest  # matplotlib for the chart is a dev pin; case dbt runs dbt
	ROWS="$(ROWS)" DATA="$(if $(DATA),$(abspath $(DATA)))" REPS="$(REPS)" CASES="$(CASES)" \
	GROWTH="$(GROWTH)" MEMORY_ROWS="$(MEMORY_ROWS)" $(PY) benchmarks/run.py

# The backfill under chaos (tests/e2e/test_e2e_chaos.py, also part of `make test`): twelve months
# through a fault-injecting proxy, a Postgres restart and a SIGKILLed scheduler; writes what it
# played, the retries and the wall time to benchmarks/chaos/RESULTS.md.
.PHONY: chaos
chaos: venv-dev dbt-manifest
	CHAOS_RESULTS=$(CURDIR)/benchmarks/chaos/RESULTS.md $(PY) -m pytest -p no:cacheprovider tests/e2e/test_e2e_chaos.py

# ---- local monitoring: Prometheus + Alertmanager on the local Airflow (scripts/monitoring_local.py) ----
# Debian's binaries (apt-get install prometheus prometheus-alertmanager), on 127.0.0.1:9090 / :9093
# (MONITORING_PROMETHEUS_PORT / MONITORING_ALERTMANAGER_PORT), scraping AIRFLOW_LOCAL_PORT's
# /taxi-loads/metrics with monitoring/prometheus/rules.yml. docs/monitoring.md.
.PHONY: monitoring-up monitoring-down monitoring-status
monitoring-up: venv
	$(PY) scripts/monitoring_local.py up

monitoring-down:
	$(if $(wildcard $(PY)),$(PY),$(PYTHON)) scripts/monitoring_local.py down

monitoring-status:
	$(if $(wildcard $(PY)),$(PY),$(PYTHON)) scripts/monitoring_local.py status
