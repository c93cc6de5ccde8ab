# `make test` and `make run` set everything up from a fresh clone: venv, requirements, MNIST.
# Each step is skipped when already done (the venv stamp follows requirements.txt).
PYTHON_BIN ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: test test-fast run data bench clean-venv

$(PY):
	$(PYTHON_BIN) -m venv $(VENV)

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

data: $(STAMP)
	$(PY) -m jaxact.data

test: data
	$(PY) -m pytest -q tests

test-fast: $(STAMP)
	$(PY) -m pytest -q tests -m "not data"

run: data
	$(PY) -m experiments.misuse --task=regression

bench: data
	$(PY) -m experiments.bench

clean-venv:
	rm -rf $(VENV)
