# The few commands people type. `make help` lists them.
VENV ?= .venv
PY    := $(VENV)/bin/python
SHELL := /bin/bash

.PHONY: help install web browser run test lint unit servers wrk bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## create .venv and install the project with its test tools

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

web: node_modules/.installed ## bundle the browser parts (forms, dashboard) from npm packages into each service's static/build/
	npm run --silent build

node_modules/.installed: package.json package-lock.json
	npm ci --no-fund --no-audit --loglevel=error
	touch $@

browser: ## install Debian's Chromium and CJK fonts if missing (the browser tests drive it with Playwright)
	@command -v chromium >/dev/null || { s=$$([ "$$(id -u)" = 0 ] || echo sudo); $$s apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$s apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk >/dev/null; }

run: install web ## run the whole system on the embedded default (SQLite + SQL event log); seeds a year of demo data on the first start; prints the URLs
	$(VENV)/bin/score run --demo

servers: ## install PostgreSQL (and promtool, docker-compose) if missing and fetch the Kafka jars (tests start both themselves)
	deploy/local/postgres install
	deploy/local/kafka/kafka fetch
	@command -v promtool >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null \
		|| echo "promtool missing (apt-get install prometheus): tests/integration/test_prometheus.py fails on CI"; }
	@command -v docker-compose >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-compose >/dev/null \
		|| echo "docker-compose missing (apt-get install docker-compose): tests/integration/test_deploy_manifests.py fails on CI"; }

lint: install ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: install web browser servers wrk lint ## every test, on SQLite and on real PostgreSQL + Apache Kafka
	$(VENV)/bin/pytest

unit: install ## the fast tests only (no servers)
	$(VENV)/bin/pytest tests/unit

wrk: ## install wrk (Debian's HTTP load generator) if missing: the intake benchmark drives gunicorn with it
	@command -v wrk >/dev/null || { s=$$([ "$$(id -u)" = 0 ] || echo sudo); $$s apt-get update -qq && $$s apt-get install -y -qq wrk; }

bench: install servers wrk ## every stage next to its ceiling in one run: one table, a results file in bench/results/
	$(PY) -m bench.run $(BENCH_ARGS)

clean: ## remove local state (var/) and caches
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
