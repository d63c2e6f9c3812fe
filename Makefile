# Areion — `make run` serves the showcase, `make test` runs the whole suite.
# Both create .venv and install the core, every plugin and the example plugin (editable).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
STAMP  := $(VENV)/.areion-installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: setup run test system-deps packaging-test reliability fuzz bench lint clean

$(STAMP): pyproject.toml requirements-dev.txt $(wildcard plugins/*/pyproject.toml) examples/plugin_example/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
		{ echo "Areion needs Python 3.11 or newer: run make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e . $(addprefix -e ,$(PLUGIN_DIRS)) -e examples/plugin_example -r requirements-dev.txt
	@touch $@

setup: $(STAMP)

run: setup
	@echo "Serving examples/showcase on http://$(HOST):$(PORT)"
	$(BIN)/areion run examples.showcase.app:server --host $(HOST) --port $(PORT)

system-deps:
	@scripts/system-deps.sh

test: setup system-deps
	$(BIN)/python -m pytest -q

packaging-test: setup
	@scripts/packaging_test.sh

# The reliability suite with its long budgets (CI runs the same tests, shorter, in `make test`).
reliability: setup system-deps
	AREION_RELIABILITY=full $(BIN)/python -m pytest -q tests/reliability

# Fuzzing alone, long: Hypothesis against the real server, then atheris when it installs.
FUZZ_SECONDS ?= 300
fuzz: setup
	AREION_RELIABILITY=full $(BIN)/python -m pytest -q tests/reliability/test_fuzz.py
	@scripts/fuzz_atheris.sh $(FUZZ_SECONDS)

bench: setup
	bench/setup.sh
	.venv-bench/bin/python bench/run.py

lint: setup
	$(BIN)/ruff check areion_core plugins
	$(BIN)/mypy areion_core $(dir $(wildcard plugins/*/areion_*/__init__.py))

clean:
	rm -rf $(VENV) .venv-bench build dist *.egg-info
