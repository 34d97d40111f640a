# Two commands on a fresh machine: `make run` and `make test` (each sets up .venv if missing).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup run test test-fast bench quality lint clean

# Installs only when the venv is missing or pyproject.toml changed, so a second run starts at once.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/cxminer run

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest.py

# Real-data quality scoreboard (needs ../shared/data for all but the sample): prints one
# table with anchors and fails when a figure fell below benchmarks/quality_baseline.json.
quality: $(STAMP)
	$(BIN)/python benchmarks/quality.py --check

# ruff, then the import layers of pyproject.toml's [tool.importlinter] contracts.
lint: $(STAMP)
	$(BIN)/ruff check pipeline flows tests benchmarks
	$(BIN)/lint-imports --no-logo

clean:
	rm -rf reports/*.duckdb reports/*.duckdb.* reports/out .pytest_cache .ruff_cache
