# Two entry points for a fresh machine (see README.md):
#   make book   install, reproduce with the default profile, build the book
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

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

book: install
	$(BIN)/wbcrepro train dataset=synthetic arch=efficientnet_b0 img_size=64 epochs=2 --out runs/default

clean:
	rm -rf _build runs/default
