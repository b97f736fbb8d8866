# Two commands: `make run` brings the whole app up, `make test` runs every check and test.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The suite also runs on PostgreSQL, the production database (trust auth on this machine).
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432
PG_URL  ?= postgres://postgres@$(PG_HOST):$(PG_PORT)/finance

.DEFAULT_GOAL := help
.PHONY: help run test lint unit unit-sqlite unit-postgres bench clean

help:
	@echo "make run    set up (virtualenv, requirements, .env, database, demo user) and start"
	@echo "            web + Celery worker + beat, plus the offline Plaid emulator without keys"
	@echo "make test   lint, type-check and run the whole test suite on SQLite and PostgreSQL"
	@echo "make bench  run the benchmarks in bench/ and update docs/BENCHMARKS.md"

# Running needs only requirements.txt; the checks add the dev set (linters, a browser driver).
$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# finance.stack exits 0 on Ctrl-C: make stays quiet (no "Error 130").
run: $(VENV)/.runtime
	@$(PY) -m finance.stack

test: lint unit

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .
	$(VENV)/bin/lint-imports
	$(PY) -m djlint templates --check --lint
	$(PY) -m pip_audit --progress-spinner off --no-deps --disable-pip \
		-r requirements.txt -r requirements-dev.txt

unit: unit-sqlite unit-postgres

# (On the PostgreSQL server of PG_URL, tests/integration/test_production_install.py
# creates and drops a database of its own.)
unit-sqlite: $(VENV)/.installed
	TEST_POSTGRES_URL=$(PG_URL) $(PY) -m pytest

# Skipped with a visible reason where PostgreSQL is absent; under CI its absence fails.
unit-postgres: $(VENV)/.installed
	@if $(PY) -c "import socket; socket.create_connection(('$(PG_HOST)', $(PG_PORT)), 2)" 2>/dev/null; then \
	  echo "== The test suite on PostgreSQL ($(PG_HOST):$(PG_PORT))"; \
	  DATABASE_URL=$(PG_URL) $(PY) -m pytest; \
	elif [ -n "$$CI" ]; then \
	  echo "PostgreSQL is not reachable at $(PG_HOST):$(PG_PORT); CI must run the suite on it." >&2; exit 1; \
	else \
	  echo "SKIPPED: the PostgreSQL run of the suite (nothing listens on $(PG_HOST):$(PG_PORT))."; \
	fi

bench: $(VENV)/.installed
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .mypy_cache .ruff_cache
