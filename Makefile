# The two set-up commands of the README: `make dev` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install demo-data dev board board-install test test-servers lint

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo-data: install
	@test -f data/source/truth.json || $(BIN)/calback generate --out data/source

# Evidence and its packages for the board, at the versions board/package-lock.json pins; the
# postinstall step applies board/patches. Reinstalled when the lock or a patch changes.
board-install: board/node_modules/.package-lock.json

board/node_modules/.package-lock.json: board/package.json board/package-lock.json board/patches/*
	cd board && npm ci --no-audit --no-fund --loglevel=error

# The Dagster UI on :3000 and the board on :3001 (built by the board/site asset).
dev: install demo-data board-install
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/calback prepare-dbt
	@# The demo's planted outage is declared a known quiet day, as a team declares a real one.
	$(BIN)/calback board & trap "kill $$!" EXIT; \
	CALBACK_GA4_QUIET_DAYS=$$($(BIN)/python -c 'from calback_platform.demo.generator import declared_quiet_days as q; print(q("data/source"))') \
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# The last built board alone, on :3001 (CALBACK_BOARD_URL).
board: install
	$(BIN)/calback board

# The real servers the tests talk to on loopback: PostgreSQL and the Firestore emulator.
test-servers:
	tests/servers/prepare.sh

test: install board-install test-servers
	$(BIN)/pytest -n 2 --dist loadfile --durations=12

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	CALBACK_DUCKDB_PATH=$$(mktemp -d)/lint.duckdb $(BIN)/sqlfluff lint dbt_project/models
