# HDMS: `make up` for a working stack, `make test` for the whole suite. See README.md.
SHELL := /bin/bash
PY := .venv/bin/python
export PYTHONPATH := $(CURDIR)/libs/hdms-platform/src:$(CURDIR)/libs/hdms-tools/src

.PHONY: help env deps infra up down down-purge status verify test test-compose images chaos lint bench bench-pgbench observe observe-down backup restore

help:
	@echo "make up      start infrastructure, migrate, run the four services and a Celery worker"
	@echo "make down    stop everything (data kept; make down-purge deletes it)"
	@echo "make test    install what is needed, run every test on a private stack, tear it down"
	@echo "make backup  every database, the media and the broker's tasks -> backups/hdms-<time>/ (BACKUP_DIR)"
	@echo "make restore BACKUP=backups/hdms-<time>  into a stack whose programs are stopped (make down; make infra)"
	@echo "make test-compose  the compose suite alone (also run by make test): dev and prod on a real Docker engine"
	@echo "make images  a Docker engine, the offline image set (Debian's packages) and the app image"
	@echo "make chaos   the fault suite alone (also run by make test): faults under load, a table of results"
	@echo "make verify  check every connection of the running stack (scripts/verify-all-connections.sh)"
	@echo "make observe Prometheus + PgBouncer/Redis exporters scraping the running stack (PROMETHEUS_PORT, 9090)"
	@echo "make infra   PostgreSQL -> PgBouncer -> Redis only"
	@echo "make lint    ruff and mypy (the same checks as make test and the pre-commit hook)"
	@echo "make bench   benchmarks on a private production-like stack -> docs/performance.md (~5 min)"

env:
	@python3 -m hdms_tools.envfile

deps:
	@bash scripts/bootstrap.sh

infra: env deps
	@bash scripts/start-infrastructure.sh

# Where the stack runs: compose when a Docker engine can start it (HDMS_STACK_MODE; `python3 -m
# hdms_tools.stack mode` says which and why), else natively.
up: env deps
	@if [ "$$(python3 -m hdms_tools.stack mode)" = docker ]; then python3 -m hdms_tools.stack up; else \
	  bash scripts/start-infrastructure.sh && bash scripts/migrate-all.sh && $(PY) -m hdms_tools.processes start; fi

down:
	@if [ "$$(python3 -m hdms_tools.stack mode 2>/dev/null)" = docker ]; then python3 -m hdms_tools.stack stop; else \
	  { [ ! -x $(PY) ] || $(PY) -m hdms_tools.processes stop; }; bash scripts/stop-infrastructure.sh; fi

down-purge:
	@-[ -x $(PY) ] && $(PY) -m hdms_tools.processes stop
	@bash scripts/stop-infrastructure.sh --purge

observe: deps
	@$(PY) -m hdms_tools.processes start pgbouncer-exporter redis-exporter prometheus

observe-down:
	@-[ -x $(PY) ] && $(PY) -m hdms_tools.processes stop pgbouncer-exporter redis-exporter prometheus

backup: deps
	@$(PY) -m hdms_tools.backup create

restore: deps
	@[ -n "$(BACKUP)" ] || { echo "error: say which backup: make restore BACKUP=backups/hdms-<time>" >&2; exit 2; }
	@$(PY) -m hdms_tools.backup restore "$(BACKUP)"

status:
	@if [ "$$(python3 -m hdms_tools.stack mode 2>/dev/null)" = docker ]; then python3 -m hdms_tools.stack status; else \
	  python3 -m hdms_tools.stack status; infra=$$?; \
	  if [ -x $(PY) ]; then $(PY) -m hdms_tools.processes status; else false; fi && exit $$infra; fi

verify:
	@bash scripts/verify-all-connections.sh

lint: deps
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@$(PY) -m hdms_tools.testrun --only mypy

test: deps
	@$(PY) -m hdms_tools.testrun

chaos: deps
	@$(PY) -m hdms_tools.testrun --only chaos

test-compose: deps
	@$(PY) -m hdms_tools.testrun --only compose

images:
	@python3 -m hdms_tools.images


bench: deps
	@$(PY) -m bench.run

bench-pgbench: deps
	@$(PY) bench/pgbench_pooling.py
