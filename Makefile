# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv (and node_modules for the tests' real DynamoDB server, dynalite) themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

SAM_VENV := .venv-sam
# aws-sam-cli pins its own boto3: it gets a virtual environment of its own. `sam build` needs the Lambda
# runtime's Python (3.13) on PATH; pyenv installs it at this path on these machines.
PY313_BIN ?= /root/.pyenv/versions/3.13.0/bin
SAM := PATH="$(PY313_BIN):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam

# checkov pins many dependencies of its own: a virtual environment of its own too. Pinned, because each release
# adds checks, and a new one must fail here only after someone chose to take it (and met or skipped its checks);
# the stamp names the version, so a new pin installs again.
LINT_VENV := .venv-lint
CHECKOV_VERSION := 3.3.30
LINT_STAMP := $(LINT_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: demo test lint sam-check bench bench-load clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli
	touch $@

$(LINT_STAMP):
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LINT_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(VENV)/.installed
	$(PY) demo/demo.py

lint: $(VENV)/.installed
	$(PY) -m ruff check functions tests demo bench
	$(PY) -m mypy

# The SAM application: cfn-lint with AWS's serverless rules, checkov's CloudFormation checks (met, or skipped in
# the template's Metadata with a reason; --skip-download: no calls to checkov's platform), SAM's own validation,
# and a real `sam build` (python3.13, arm64).
sam-check: $(VENV)/.installed $(SAM_VENV)/.installed $(LINT_STAMP)
	$(VENV)/bin/cfn-lint template.yaml -a cfn_lint_serverless.rules
	$(LINT_VENV)/bin/checkov -f template.yaml --framework cloudformation --quiet --compact --skip-download
	$(SAM) validate --lint --region us-east-1
	$(SAM) build --build-dir .aws-sam/build

test: $(VENV)/.installed node_modules/.installed lint sam-check
	$(PY) -m pytest -q -n 2 --dist loadgroup

# Benchmarks (not tests): each prints its figures as ratios against a baseline run side by side.
bench: $(VENV)/.installed
	$(PY) bench/writer_cost.py
	$(PY) bench/budget.py
	$(PY) bench/memory.py
	$(PY) bench/planning.py

# The load scenario of issue 7: 1,000,000 items through 4 workers into dynalite behind a throttling proxy (~9 min).
bench-load: $(VENV)/.installed node_modules/.installed
	$(PY) bench/load.py

clean:
	rm -rf $(VENV) $(SAM_VENV) $(LINT_VENV) node_modules .aws-sam .pytest_cache .mypy_cache .ruff_cache build
	find functions -name "*.so" -delete
