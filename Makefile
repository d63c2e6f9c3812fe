# Areion — `make run` serves the showcase, `make test` runs the whole suite.
# Both create .venv. `make run` installs only what serving needs: the core, the shared
# libraries of libs/, every plugin and the example plugin (editable). `make test` (and lint, packaging-test, reliability, fuzz,
# bench) installs that plus the dev tools of requirements-dev.txt. Two stamps keep the two
# sets apart: `make run` after `make test` installs nothing, `make test` after `make run`
# installs only the dev tools.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
# Shared libraries the plugins import (libs/redis: the one Redis connection layer); not plugins.
LIB_DIRS    := $(patsubst %/pyproject.toml,%,$(wildcard libs/*/pyproject.toml))
SERVE_DIRS  := . $(LIB_DIRS) $(PLUGIN_DIRS) examples/plugin_example
SERVE_STAMP := $(VENV)/.areion-serve
DEV_STAMP   := $(VENV)/.areion-dev
# The compiled modules (areion_core/_compiled.py, built by setup.py with Cython): rebuilt in place
# whenever a module of areion_core changes, so a stale extension never shadows a newer .py
# (Cython and build_ext compile again only what changed). AREION_PURE=1 builds none.
EXT_STAMP   := $(VENV)/.areion-compiled
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: setup setup-serve run test system-deps packaging-test reliability fuzz bench lint clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
		{ echo "Areion needs Python 3.11 or newer: run make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Where a fresh clone's time went: a pip upgrade (never needed: Python 3.11's own pip builds
# PEP 660 editables) and one isolated build environment per editable package, each
# downloading setuptools again. Now setuptools>=77 (what every pyproject.toml here asks for)
# is installed once and the seven editables are built in one pip call without isolation.
$(SERVE_STAMP): $(addsuffix /pyproject.toml,$(SERVE_DIRS)) | $(BIN)/python
	@$(BIN)/python -c 'import sys; from importlib.metadata import version; \
		sys.exit(tuple(map(int, version("pip").split(".")[:2])) < (21, 3))' 2>/dev/null || \
		$(PIP) install --upgrade pip
	$(PIP) install 'setuptools>=77' 'cython>=3.3'
	$(PIP) install --no-build-isolation $(addprefix -e ,$(SERVE_DIRS))
	@touch $@

$(EXT_STAMP): setup.py $(wildcard areion_core/*.py areion_core/*.pxd) | $(SERVE_STAMP)
	$(BIN)/python setup.py -q build_ext --inplace
	@touch $@

# Order-only on the serving set: a changed plugin pyproject.toml reinstalls the serving set,
# not the dev tools.
$(DEV_STAMP): requirements-dev.txt | $(SERVE_STAMP)
	$(PIP) install -r requirements-dev.txt
	@touch $@

setup-serve: $(SERVE_STAMP) $(EXT_STAMP)

setup: setup-serve $(DEV_STAMP)

run: setup-serve
	@echo "Serving examples/showcase on http://$(HOST):$(PORT)"
	$(BIN)/areion run examples.showcase.app:server --host $(HOST) --port $(PORT)

system-deps:
	@scripts/system-deps.sh

# The whole suite (on the compiled modules where they were built: tests/core/test_compiled.py
# says which), then the core's smoke suite with the eager request driver off and on Python 3.12
# and 3.13 where they are installed (scripts/smoke.sh; pure Python there). AREION_PURE=1 make test
# runs the whole suite on the pure-Python modules.
# The suite runs the compiled build (AREION_REQUIRE_COMPILED=1: tests/core/test_compiled.py
# fails on a module that was not built), unless AREION_PURE=1 asks for the pure-Python one.
test: setup system-deps
	AREION_REQUIRE_COMPILED=$(if $(filter 1,$(AREION_PURE)),0,1) $(BIN)/python -m pytest -q
	@scripts/smoke.sh

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
	$(BIN)/ruff check areion_core libs plugins
	$(BIN)/mypy areion_core $(dir $(wildcard libs/*/areion_*/__init__.py)) $(dir $(wildcard plugins/*/areion_*/__init__.py))

clean:
	rm -rf $(VENV) .venv-bench .venv-3.12 .venv-3.13 build dist *.egg-info areion_core/*.so
