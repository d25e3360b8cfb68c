# Assay: `make up` starts the demo hub, `make test` runs the whole suite.
PYTHON ?= python3
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
CHP := node_modules/.bin/configurable-http-proxy
CHP_VERSION := 5.3.0
PYTEST_ARGS ?=

.PHONY: up install test test-deps lint bench clean

$(BIN)/assay: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	$(BIN)/assay kernels install --sys-prefix  # an editable install skips data files
	touch $@

$(CHP):
	npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
		configurable-http-proxy@$(CHP_VERSION)

install: $(BIN)/assay $(CHP)

up: install
	$(BIN)/assay up --port $(PORT)

$(VENV)/.test-deps: $(BIN)/assay setup.cfg
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

test-deps: install $(VENV)/.test-deps
	@{ command -v chromium >/dev/null && test -x /usr/lib/postgresql/15/bin/initdb; } || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium postgresql >/dev/null; }

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .

test: test-deps lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: test-deps
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) node_modules var *.egg-info
