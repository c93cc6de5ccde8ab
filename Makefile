# `make test` and `make run` set everything up from a fresh clone: venv, requirements, MNIST.
# Each step is skipped when already done (the venv stamp follows requirements.txt).
PYTHON_BIN ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: test test-fast run data bench results clean-venv

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

# The committed results/: every study with its defaults, one worker per core. Hours on 2 cores;
# killed, `make results` again resumes each study from its journal in results/.
results: data
	$(PY) -m experiments.misuse --task=all --out_dir=results/activation_misuse
	$(PY) -m experiments.misuse --task=all --dataset=digits --seeds=10 --out_dir=results/activation_misuse_digits
	$(PY) -m experiments.compare_datasets --results=results/activation_misuse,results/activation_misuse_digits --out_dir=results/mnist_vs_digits/activation_misuse
	$(PY) -m experiments.loss_misuse --task=all --out_dir=results/loss_misuse
	$(PY) -m experiments.loss_misuse --task=all --dataset=digits --seeds=10 --out_dir=results/loss_misuse_digits
	$(PY) -m experiments.compare_datasets --results=results/loss_misuse,results/loss_misuse_digits --out_dir=results/mnist_vs_digits/loss_misuse
	$(PY) -m experiments.activation_hpo --out_dir=results/activation_hpo
	$(PY) -m experiments.package_evidence --results=results

clean-venv:
	rm -rf $(VENV)
