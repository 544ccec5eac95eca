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

.PHONY: help venv lock run test pg-up pg-down clean

help:
	@echo "make run  [TAXI=green|yellow|all] [START=YYYY-MM] [END=YYYY-MM] [SOURCE=url-or-dir]"
	@echo "make test | make lock | make pg-up | make pg-down | make clean"

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(PY) -m pip install -q uv==$(UV_VERSION)
	$(UV) pip install -q --python $(PY) -r requirements.txt
	touch $@

venv: $(VENV)/.installed

# requirements.txt is the lock: regenerate it from requirements.in (every version pinned).
lock: | $(VENV)/.installed
	$(UV) pip compile requirements.in --python-version 3.11 --no-header -o requirements.txt

pg-up: venv
	scripts/pg.sh start

pg-down:
	scripts/pg.sh stop

run: pg-up
	$(PY) scripts/run_local.py --taxi $(TAXI) --start $(START) --end $(END) $(if $(SOURCE),--source $(SOURCE))

test: venv
	$(PY) -m pytest

clean: pg-down
	rm -rf .airflow .pg
