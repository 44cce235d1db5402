# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install migrate seed lint lint-imports check worker beat service-test bench faults clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found); set PYTHON=..."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate_all

seed: migrate
	$(PY) manage.py seed_demo --base-url http://$(HOST):$(PORT)

## Embedded mode: SQLite per module under var/, events delivered in-process. Serves admin and API.
run: seed
	@echo "Admin: http://$(HOST):$(PORT)/admin/  API: http://$(HOST):$(PORT)/api/v1/  Docs: http://$(HOST):$(PORT)/api/v1/docs/"
	$(PY) manage.py serve $(HOST):$(PORT)

lint-imports: install
	$(VENV)/bin/lint-imports

lint: install
	$(VENV)/bin/ruff check .

## lint-imports, ruff, then the whole pytest suite. With the service variables set (see .env.example),
## the same suite runs against PostgreSQL per module, Redis and a real Celery worker.
test: install
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

worker: install
	$(VENV)/bin/celery -A config worker -l INFO --concurrency 2

beat: install
	$(VENV)/bin/celery -A config beat -l INFO

## Every benchmark in turn (set the service-mode variables to measure PostgreSQL and Redis), then one table of
## every figure with its target and verdict; the figures are appended to var/bench/results.csv (bench/report.py).
bench: install
	@BENCH_RUN=$$(date -u +%Y%m%dT%H%M%SZ); export BENCH_RUN; failed=""; \
	for script in bench/*_bench.py; do echo "== $$script"; $(PY) $$script || failed="$$failed $$script"; done; \
	echo; $(PY) bench/report.py --run $$BENCH_RUN; \
	if [ -n "$$failed" ]; then echo "did not complete:$$failed"; exit 1; fi

## The fault suite: service mode (gunicorn, Celery worker and beat, PostgreSQL per module, a Redis of its own)
## under worker, web, Redis, database-connection and provider faults, money and stock checked after each.
## PROFILE=short is the part CI runs (about 5 minutes); the full suite takes under 15.
PROFILE ?= full
faults: install
	$(PY) -m tests.faults --profile $(PROFILE)

clean:
	rm -rf var/*.sqlite3* .pytest_cache .ruff_cache
