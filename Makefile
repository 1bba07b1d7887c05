# One virtualenv (.venv) for every service; see `make help`.
SERVICES := user_service post_service note_service consumer_service
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
export TEST_DATABASE_URL

# Services that exist so far (a directory with a manage.py).
PRESENT := $(foreach s,$(SERVICES),$(if $(wildcard $(s)/manage.py),$(s)))
# Development defaults for `make run-*`: DEBUG on, so the dev secrets apply.
DEV_ENV := DEBUG=$${DEBUG:-True}

.DEFAULT_GOAL := help
.PHONY: help install test lint fmt migrate run-user clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements-dev.txt $(wildcard */requirements.txt) servicekit/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(STAMP) ## Create .venv and install every service, servicekit and the dev tools

test: $(STAMP) ## Run every suite: services, servicekit, compose file, end-to-end (PostgreSQL + embedded Kafka)
	@set -e; for s in $(PRESENT); do \
		echo "== $$s"; (cd $$s && ../$(BIN)/pytest); \
	done
	@echo "== servicekit"; cd servicekit && ../$(BIN)/pytest
	@echo "== tests (docker-compose.yml, end-to-end stack)"; cd tests && ../$(BIN)/pytest

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP) ## Format and auto-fix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: $(STAMP) ## Apply migrations for every service (DATABASE_URL or SQLite files)
	@set -e; for s in $(PRESENT); do (cd $$s && $(DEV_ENV) ../$(BIN)/python manage.py migrate --no-input -v 0); done

run-user: migrate ## Run user_service alone on 127.0.0.1:8001 (dev server)
	cd user_service && $(DEV_ENV) ../$(BIN)/python manage.py runserver 127.0.0.1:8001

clean: ## Remove the virtualenv, SQLite files and caches
	rm -rf $(VENV) */*.sqlite3 */*.sqlite3-* .pytest_cache .ruff_cache
