# Two entry points for a fresh machine (see README.md):
#   make book   install, reproduce with the default profile (PROFILE=cpu|smoke|paper), build the book
#   make test   install, lint, run the test suite
# Each installs what it needs into $(VENV) by itself; the install is redone when pyproject.toml changes.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.wbcrepro-installed
# Real data: ../shared/data when it is there (read-only is fine: caches go to ~/.cache/wbcrepro).
SHARED_DATA := $(abspath ../shared/data)
export WBCREPRO_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)

.PHONY: install test book clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

# The suite on every core (pytest-xdist): tests that share the smoke book run on one worker (the
# scheduler in tests/conftest.py), the others wherever a worker is free, the longest first.
# PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= auto

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

# The default profile: `cpu` (real public data) when the data root holds the data sets, else
# `smoke` (the embedded synthetic data; the book then says so on every page).
PROFILE ?= $(if $(WBCREPRO_DATA),cpu,smoke)

book: install
	$(BIN)/wbcrepro reproduce --profile $(PROFILE)

clean:
	rm -rf _build
