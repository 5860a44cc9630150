# The front door. `make demo` runs the main job on the sandbox; `make test` runs the tests, setting up
# everything they need on a fresh machine (Docker engine, virtual environment, local base image).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SCENARIO ?= report

.PHONY: setup engine base-image test lint bench

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

test: setup base-image
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check remediator tests benchmarks

bench: setup
	$(BIN)/python benchmarks/check_suite.py
