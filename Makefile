# urbangrid: `make run` and `make test` each set up everything they need on a fresh Debian machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)

.PHONY: setup run test lint typecheck services bench clean

$(STAMP): pyproject.toml
	bash infra/bootstrap.sh "$(VENV)"
	@echo "setup: installing urbangrid and its dependencies into $(VENV) (a few minutes the first time)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on -e '.[dev]'
	$(PY) -c 'import urbangrid, intake, workers, geo, dashboard'
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

# The embedded default: SQLite under ./var and a broker that needs no server, with a demo city.
run: setup
	$(BIN)/urbangrid db upgrade
	$(BIN)/urbangrid demo seed
	$(BIN)/urbangrid run

# PostgreSQL + PostGIS and RabbitMQ for the integration tests (installed and started if missing).
services:
	bash infra/services.sh
	bash infra/browser.sh
	bash infra/ocr.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy urbangrid geo intake workers dashboard

test: setup services lint typecheck
	$(BIN)/pytest -n auto --dist worksteal --durations=20 --doctest-modules \
	  --ignore=urbangrid/migrations --ignore=intake/main.py tests urbangrid geo intake workers

# PostGIS to compare with: a scratch database on the local server, created when missing.
BENCH_POSTGIS_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/urbangrid_bench
BENCH_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672//

bench: setup services
	-psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname = 'urbangrid_bench'" \
	  | grep -q 1 || createdb -h 127.0.0.1 -U postgres urbangrid_bench
	$(BIN)/urbangrid bench geo --postgis-url "$(BENCH_POSTGIS_URL)"
	$(BIN)/urbangrid bench intake --database-url "$(BENCH_POSTGIS_URL)" --broker-url "$(BENCH_AMQP_URL)"
	$(BIN)/urbangrid bench dashboard
	$(BIN)/urbangrid bench pipeline --database-url "$(BENCH_POSTGIS_URL)" --broker-url "$(BENCH_AMQP_URL)"

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
