# The front door. `make demo` runs the main job on the sandbox; `make test` runs the tests, setting up
# everything they need on a fresh machine (Docker engine, virtual environment, local base image).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SCENARIO ?= report

.PHONY: setup engine base-image chromium test test-loaded lint bench bench-ansible-env bench-ansible bench-10k fuzz mutate

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

engine:
	bash scripts/engine.sh

base-image: engine
	bash scripts/base-image.sh

# headless Chromium for the HTML report's rendering test (tests/test_report_html.py)
chromium:
	bash scripts/chromium.sh

# TESTS picks test files or pytest options, e.g. `make test TESTS=tests/test_sandbox.py`.
TESTS ?=
test: setup base-image chromium
	$(BIN)/ruff check .
	$(BIN)/pytest $(TESTS)

# The tests on a busy machine: three CPU-bound processes run beside them (killed when it ends).
# The sandbox's healthchecks and the tests' waits must hold under this load.
BURNERS ?= 3
test-loaded: setup base-image chromium
	$(BIN)/ruff check .
	bash scripts/cpu-load.sh $(BURNERS) $(BIN)/pytest $(TESTS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check remediator tests benchmarks sandbox

bench: setup
	$(BIN)/python benchmarks/check_suite.py

# The peer of `remediate check`: ansible-core in a virtual environment of its own (never in .venv: it is
# not a dependency of remediator), from PyPI. benchmarks/ansible.py finds it there.
ANSIBLE_VENV := .venv-ansible
bench-ansible-env: $(ANSIBLE_VENV)/.installed

$(ANSIBLE_VENV)/.installed:
	$(PYTHON) -m venv $(ANSIBLE_VENV)
	$(ANSIBLE_VENV)/bin/pip install -q --upgrade pip
	$(ANSIBLE_VENV)/bin/pip install -q 'ansible-core>=2.16,<2.19'
	touch $@

# remediate check against the same suite as an Ansible playbook, side by side on a private sandbox.
bench-ansible: setup bench-ansible-env base-image
	$(BIN)/python benchmarks/ansible.py

# 1,000 and 10,000 generated checks against a local HTTP server: check and validate, time and memory.
bench-10k: setup
	$(BIN)/python benchmarks/scale.py

# Hostile input: 10,000 generated files and 10,000 templates (the normal test run does 150 of each).
fuzz: setup
	REMEDIATOR_FUZZ_EXAMPLES=10000 $(BIN)/pytest -q -s tests/test_fuzz.py

# Mutation testing of the pure rooms (schedule, loop, step, diagnosis, env editor) against the tests that
# need no engine ([tool.mutmut] in pyproject.toml): 38 minutes on 2 heavily shared cores (about 8 minutes
# of CPU). Lists every survivor not named as equivalent in the code; fails below 85 % killed. Not part of
# `make test`.
mutate: setup
	rm -rf mutants
	time $(BIN)/mutmut run --max-children 2 > /dev/null
	$(BIN)/python scripts/mutants.py --fail-under 85

# --- the sandbox: a stand-in of the PyAirtable dev stack (see sandbox/README.md) ----------------
.PHONY: sandbox-up sandbox-break sandbox-down sandbox-scenarios demo

sandbox-up: setup base-image
	$(BIN)/python sandbox/sandbox.py up

sandbox-break: setup
	$(BIN)/python sandbox/sandbox.py break $(SCENARIO)

sandbox-down: setup
	$(BIN)/python sandbox/sandbox.py down

sandbox-scenarios: setup
	$(BIN)/python sandbox/sandbox.py scenarios

# The main job: break the sandbox as the report says, show the plan, heal it until 80 % pass.
# sandbox/run/inventory.yml is the default target's own inventory (it also knows a suite copy that
# SCENARIO=history may write).
DEMO_INVENTORY := sandbox/run/inventory.yml
demo: sandbox-up
	$(BIN)/python sandbox/sandbox.py break $(SCENARIO)
	$(BIN)/remediate check -i $(DEMO_INVENTORY) --until 0.8 || true
	$(BIN)/remediate plan -i $(DEMO_INVENTORY)
	$(BIN)/remediate apply -i $(DEMO_INVENTORY) --until 0.8 --report reports/demo.html

# The healer on the sandbox: a cycle every minute and on Docker events, heal below 100 %; /metrics and
# /healthz on 127.0.0.1:$(WATCH_PORT); the guards' memory in sandbox/run/.remediate (remediate status).
# Ctrl-C stops it after the cycle in progress.
.PHONY: watch
WATCH_PORT ?= 9464
watch: sandbox-up
	$(BIN)/remediate watch -i $(DEMO_INVENTORY) --listen 127.0.0.1:$(WATCH_PORT)
