# One virtualenv (.venv) for every service; `make help` lists the targets.
# The services, from services.toml (the one list: devstack and the tests read it too).
SERVICES := $(shell sed -n 's/^\[\([a-z_]*\)\]$$/\1/p' services.toml)
SHORT_NAMES := $(shell sed -n 's/^short = "\(.*\)"$$/\1/p' services.toml)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
export TEST_DATABASE_URL
COMPOSE := docker compose

.DEFAULT_GOAL := help
.PHONY: help install env run $(addprefix run-,$(SHORT_NAMES)) migrate test lint fmt contract logs-consumer demo bench \
	status tail dlq outbox republish rebuild up down logs clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@printf "  \033[36m%-15s\033[0m %s\n" "run-<service>" "One service alone, dev server, no Kafka: $(addprefix make run-,$(SHORT_NAMES))"

$(STAMP): requirements-dev.txt $(addsuffix /requirements.txt,$(SERVICES)) servicekit/pyproject.toml services.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt $(foreach s,$(SERVICES),-r $(s)/requirements.txt)
	@touch $@

install: $(STAMP) ## Create .venv and install every service, servicekit and the dev tools

run: $(STAMP) ## The whole stack without Docker (services.toml) behind the gateway (:8000), on SQLite files and an embedded Kafka
	$(BIN)/python -m servicekit.devstack run

# run-user, run-post, ...: one service alone on its port (listed by `make help`).
$(addprefix run-,$(SHORT_NAMES)): run-%: $(STAMP)
	$(BIN)/python -m servicekit.devstack serve $*

migrate: $(STAMP) ## Apply every service's migrations (SQLite files, or <SERVICE>_DATABASE_URL)
	$(BIN)/python -m servicekit.devstack migrate

env: $(STAMP) ## Write .env for docker compose with fresh random secrets (FORCE=1 overwrites)
	$(BIN)/python -m servicekit.devstack env $(if $(FORCE),--force)

test: $(STAMP) ## Every suite: services, servicekit, event contract, compose file, production settings, end-to-end (PostgreSQL + embedded Kafka)
	@set -e; for s in $(SERVICES); do echo "== $$s"; (cd $$s && ../$(BIN)/pytest); done
	@echo "== servicekit"; cd servicekit && ../$(BIN)/pytest
	@echo "== tests (event contract, docker-compose.yml, production settings, end-to-end stack)"; cd tests && ../$(BIN)/pytest

contract: $(STAMP) ## Write docs/asyncapi.yaml (the event contract) from every service's declarations
	$(BIN)/python -m servicekit.devstack.contract

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP) ## Format and auto-fix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

logs-consumer: ## Tail consumer_service's event log (the compose worker if it runs, else `make run`'s)
	@if $(COMPOSE) ps -q consumer-worker 2>/dev/null | grep -q .; then \
		$(COMPOSE) logs -f consumer-worker; \
	else \
		touch var/log/worker-consumer.log 2>/dev/null || { mkdir -p var/log && touch var/log/worker-consumer.log; }; \
		tail -n 50 -F var/log/worker-consumer.log; \
	fi

# Operator commands (README, Operations) go to the compose stack's containers while it runs,
# else to `make run`'s processes (their directories, databases and broker).
DEVSTACK := $(BIN)/python -m servicekit.devstack
ON_COMPOSE = $(shell $(COMPOSE) ps -q consumer-service 2>/dev/null | grep -q . && echo --compose)

status: $(STAMP) ## Health of the running stack: readiness, outbox, consumer lag, dead letters (exit 1 if unhealthy)
	@$(DEVSTACK) status $(ON_COMPOSE) $(ARGS)

tail: $(STAMP) ## Follow a topic, one line per event: make tail TOPIC=post_events [ARGS="--from beginning"]
	@test -n "$(TOPIC)" || { echo "usage: make tail TOPIC=<topic> [ARGS=\"--from beginning --type 'post.*' --json\"]" >&2; exit 2; }
	@$(DEVSTACK) manage $(ON_COMPOSE) consumer tail_events $(TOPIC) $(ARGS)

dlq: $(STAMP) ## Dead letters of every consumer; make dlq ARGS="replay --dry-run" [SERVICE=consumer]
	@$(DEVSTACK) manage $(ON_COMPOSE) $(or $(SERVICE),consumers) dead_letters $(or $(ARGS),list)

outbox: $(STAMP) ## Pending and parked outbox rows of every service; make outbox SERVICE=post ARGS="retry 42"
	@$(DEVSTACK) manage $(ON_COMPOSE) $(or $(SERVICE),relays) outbox $(or $(ARGS),list)

republish: $(STAMP) ## Snapshot events of current state: make republish SERVICE=post [ARGS="--user <id>"]
	@test -n "$(SERVICE)" || { echo "usage: make republish SERVICE=<short name of a service with relay = true in services.toml> [ARGS=\"--since 2h\"]" >&2; exit 2; }
	@$(DEVSTACK) manage $(ON_COMPOSE) $(SERVICE) republish $(ARGS)

rebuild: $(STAMP) ## Rebuild consumer_service's read model from the topics (stop its consumer first)
	@$(DEVSTACK) manage $(ON_COMPOSE) consumer rebuild_activity $(ARGS)

demo: $(STAMP) ## Scripted session against a running stack (make run or make up)
	$(BIN)/python scripts/demo.py

bench: $(STAMP) ## Benchmarks beside their baselines: pipeline, request path, footprint, gateway, revocation, tracing (bench/run.py)
	$(BIN)/python -m bench.run $(SUITES)

up: ## docker compose: build and start the whole stack (needs .env: make env)
	$(COMPOSE) up --build -d
	$(COMPOSE) ps

down: ## docker compose: stop the stack (volumes are kept; `docker compose down -v` drops them)
	$(COMPOSE) down

logs: ## docker compose: follow every container's logs
	$(COMPOSE) logs -f

clean: ## Remove the virtualenv, SQLite files, logs and caches
	rm -rf $(VENV) var */*.sqlite3 */*.sqlite3-* */staticfiles */.hypothesis .pytest_cache .ruff_cache
