# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv (and node_modules for the tests' real DynamoDB server, dynalite) themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint unit clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/ddb-restore demo

lint: $(VENV)/.installed
	$(PY) -m ruff check functions tests
	$(PY) -m mypy

test: $(VENV)/.installed node_modules/.installed lint
	$(PY) -m pytest -q -n 2

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
