# One virtualenv (.venv) for every service; `make help` lists the targets.
SERVICES := user_service post_service note_service consumer_service
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
export TEST_DATABASE_URL
# Development defaults for the single-service targets: DEBUG on, so the dev secrets apply.
DEV_ENV := DEBUG=$${DEBUG:-True}
COMPOSE := docker compose

.DEFAULT_GOAL := help
.PHONY: help install run run-user run-post run-note migrate test lint fmt logs-consumer demo bench \
	up down logs clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements-dev.txt $(wildcard */requirements.txt) servicekit/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(STAMP) ## Create .venv and install every service, servicekit and the dev tools

run: $(STAMP) ## The whole stack without Docker: 4 web servers, 3 relays, 3 consumers, embedded Kafka
	$(BIN)/python -m servicekit.devstack run

run-user: $(STAMP) ## user_service alone on 127.0.0.1:8001 (dev server, no Kafka needed)
	cd user_service && $(DEV_ENV) ../$(BIN)/python manage.py migrate --no-input -v 0
	cd user_service && $(DEV_ENV) ../$(BIN)/python manage.py runserver 127.0.0.1:8001

run-post: $(STAMP) ## post_service alone on 127.0.0.1:8002 (dev server)
	cd post_service && $(DEV_ENV) ../$(BIN)/python manage.py migrate --no-input -v 0
	cd post_service && $(DEV_ENV) ../$(BIN)/python manage.py runserver 127.0.0.1:8002

run-note: $(STAMP) ## note_service alone on 127.0.0.1:8003 (dev server)
	cd note_service && $(DEV_ENV) ../$(BIN)/python manage.py migrate --no-input -v 0
	cd note_service && $(DEV_ENV) ../$(BIN)/python manage.py runserver 127.0.0.1:8003

migrate: $(STAMP) ## Apply every service's migrations (SQLite files, or <SERVICE>_DATABASE_URL)
	$(BIN)/python -c "from servicekit import devstack as d; [d.manage(s, d.dev_environment(), 'migrate', '--no-input') for s in d.SERVICES]"

test: $(STAMP) ## Every suite: services, servicekit, compose file, end-to-end (PostgreSQL + embedded Kafka)
	@set -e; for s in $(SERVICES); do echo "== $$s"; (cd $$s && ../$(BIN)/pytest); done
	@echo "== servicekit"; cd servicekit && ../$(BIN)/pytest
	@echo "== tests (docker-compose.yml, end-to-end stack)"; cd tests && ../$(BIN)/pytest

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
		touch var/log/consume-consumer.log 2>/dev/null || { mkdir -p var/log && touch var/log/consume-consumer.log; }; \
		tail -n 50 -F var/log/consume-consumer.log; \
	fi

demo: $(STAMP) ## Scripted session against a running stack (make run or make up)
	$(BIN)/python scripts/demo.py

bench: $(STAMP) ## Benchmarks: commit-to-topic latency, consumer throughput, HTTP (see bench/)
	$(BIN)/python bench/run.py

up: ## docker compose: build and start the whole stack (needs .env: cp .env.example .env)
	$(COMPOSE) up --build -d
	$(COMPOSE) ps

down: ## docker compose: stop the stack (volumes are kept; `docker compose down -v` drops them)
	$(COMPOSE) down

logs: ## docker compose: follow every container's logs
	$(COMPOSE) logs -f

clean: ## Remove the virtualenv, SQLite files, logs and caches
	rm -rf $(VENV) var */*.sqlite3 */*.sqlite3-* */staticfiles .pytest_cache .ruff_cache
