# Shenzhen border-crossings pipeline. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
JARS := .cache/jars
FUNCTIONS_JAR := $(JARS)/flink/crossings-functions.jar
FUNCTIONS_SRC := $(wildcard pipeline/jvm/crossings/flink/*.java) pipeline/jvm/META-INF/services/org.apache.flink.table.factories.Factory
PYTEST := $(VENV)/bin/python -m pytest

.PHONY: help setup lint test test-unit test-integration demo bench bench-produce bench-job bench-ablation bench-load bench-forecast chaos clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: $(VENV)/.installed $(JARS)/.resolved $(FUNCTIONS_JAR) .env ## Install Python deps into .venv, resolve the JVM jars, build our Flink functions (idempotent)

$(VENV)/.installed: pyproject.toml
	@deploy/check-prerequisites.sh
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

$(JARS)/.resolved: deploy/pom.xml
	@deploy/check-prerequisites.sh
	mvn --batch-mode --quiet -f deploy/pom.xml package -Djars.dir=$(CURDIR)/$(JARS)
	touch $@

# Our JVM format and functions, compiled against the Flink inside PyFlink (no download).
$(FUNCTIONS_JAR): $(FUNCTIONS_SRC) $(VENV)/.installed $(JARS)/.resolved
	rm -rf .cache/build/functions && mkdir -p .cache/build/functions
	javac --release 17 -nowarn -d .cache/build/functions \
	  -cp "$$($(VENV)/bin/python -c 'import pyflink, os; print(os.path.dirname(pyflink.__file__))')/lib/*" $(filter %.java,$(FUNCTIONS_SRC))
	cp -r pipeline/jvm/META-INF .cache/build/functions/
	jar cf $@ -C .cache/build/functions .

.env: .env.example
	@if [ -f .env ]; then echo ".env is older than .env.example: compare them and add the new variables"; touch .env; \
	 else sed "s|^PRIVACY_HMAC_KEY=.*|PRIVACY_HMAC_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_hex(32))')|" .env.example > .env; \
	      echo "wrote .env with a new random PRIVACY_HMAC_KEY"; fi

test: setup lint ## Run every test: the linters, unit tests, then integration tests against real Kafka, Flink and chdb
	$(PYTEST) -m unit -q
	$(PYTEST) -m integration -q

lint: setup ## ruff's checks and formatting, and the import layers (lint-imports); rules in pyproject.toml
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

demo: setup ## The whole pipeline on a simulated day with a live board, then a summary and an HTML report (DEMO_ARGS="--speed 480 ...")
	$(VENV)/bin/crossings demo $(DEMO_ARGS)

test-unit: setup ## Run the fast unit tests only (no services)
	$(PYTEST) -m unit -q

test-integration: setup ## Run the integration tests only (starts Kafka, Flink, chdb on free ports)
	$(PYTEST) -m integration -q

EVENTS ?= 2000000
QUIX_VENV := .cache/venv-quix
bench: setup $(QUIX_VENV)/.installed ## The whole pipeline on EVENTS events (default 2 million) against Kafka's raw read limit and the Quix Streams peer, as JSON; appends to bench/results.jsonl
	$(VENV)/bin/python -m bench.pipeline --events $(EVENTS) $(BENCH_ARGS)

# The Quix Streams peer of `make bench` pins older confluent-kafka and pydantic than .venv: a venv of its own.
$(QUIX_VENV)/.installed: bench/peers/requirements.txt
	$(PYTHON) -m venv $(QUIX_VENV)
	$(QUIX_VENV)/bin/pip install --quiet -r bench/peers/requirements.txt
	touch $@

bench-produce: setup ## Events/s from the simulator into a real broker (kafka-python vs confluent-kafka), as JSON
	$(VENV)/bin/python -m bench.produce

bench-load: setup ## Rows/s of clean events into chdb (insert path and from Kafka) and produce-to-queryable p99, as JSON
	$(VENV)/bin/python -m bench.load

bench-job: setup ## The job alone on a cluster of one TaskManager with 2 slots: events/s on a 2M backlog (and per quarter), CPU per process and thread, checkpoints, TaskManager RSS, produce-to-window latency, as JSON (BENCH_ARGS="--events N")
	$(VENV)/bin/python -m bench.job $(BENCH_ARGS)

bench-ablation: setup ## Events/s of the job's stages added one at a time on one backlog (BENCH_ARGS="--events 600000"), as JSON
	$(VENV)/bin/python -m bench.ablation $(BENCH_ARGS)

bench-forecast: setup ## Clearance forecast 15/30/60 min ahead against persistence and seasonal baselines on 7 simulated scenario days, early-warning lead times and false warnings, as JSON
	$(VENV)/bin/python -m bench.forecast $(BENCH_ARGS)

chaos: setup ## Fault scenarios (dirty input, TaskManager kill, cluster restart, broker restart and kill, loader kill, ClickHouse and webhook outages), final state against a recomputation, as a table
	$(VENV)/bin/python -m bench.chaos $(CHAOS_ARGS)

clean: ## Remove local state (var/); keeps .venv and the jar cache
	rm -rf var
