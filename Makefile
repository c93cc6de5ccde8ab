# `make test` and `make run` set everything up from a fresh clone: venv, requirements, MNIST.
# Each step is skipped when already done: the venv is made anew when PYTHON_BIN is another
# interpreter than the one it was made with, and its requirements reinstalled when
# requirements.txt changes.
# PYTHON_BIN: the newest Python that requirements.txt's current-JAX set is tested on, 3.13 then
# 3.12, from PATH or pyenv's versions (each is run, since a pyenv shim of a version that is not
# active is on PATH but fails); else python3.11 (the Python 3.11 set), else python3.
# Both stay overridable: make test PYTHON_BIN=python3.11 VENV=.venv-py311
ifeq ($(origin PYTHON_BIN),undefined)
PYTHON_BIN := $(shell for v in 3.13 3.12; do \
	  for p in python$$v $$(ls -d "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/$$v.*/bin/python 2>/dev/null | sort -rV); do \
	    "$$p" -c 'import sys, sysconfig; sys.exit(sys.version_info[:2] != ('"$${v%.*}, $${v#*.}"') or bool(sysconfig.get_config_var("Py_GIL_DISABLED")))' 2>/dev/null \
	      && { command -v "$$p"; exit; }; \
	  done; \
	done; command -v python3.11 || command -v python3)
endif
VENV := .venv
PY := $(VENV)/bin/python
CFG := $(VENV)/pyvenv.cfg
STAMP := $(VENV)/.requirements-installed

# An interpreter's version and base prefix; empty where it does not run (no venv yet).
python_id = $(shell $(1) -c 'import platform, sys; print(platform.python_version(), sys.base_prefix)' 2>/dev/null)
ifneq ($(call python_id,$(PYTHON_BIN)),$(call python_id,$(PY)))
$(CFG): FORCE
endif

.PHONY: test test-fast run data bench results clean-venv which-python FORCE

$(CFG):
	@test ! -e $(VENV) -o -f $(CFG) || { echo "$(VENV) exists and is not a venv: left alone" >&2; exit 1; }
	$(PYTHON_BIN) -m venv --clear $(VENV)

$(STAMP): requirements.txt $(CFG)
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
	$(PY) -m experiments.bench_device

# The committed results/: every study with its defaults, one worker per core. Hours on 2 cores;
# killed, `make results` again resumes each study from its journal in results/.
results: data
	$(PY) -m experiments.misuse --task=all --out_dir=results/activation_misuse --unit_cache=results/unit_cache.jsonl
	$(PY) -m experiments.misuse --task=all --dataset=digits --seeds=10 --out_dir=results/activation_misuse_digits --unit_cache=results/unit_cache.jsonl
	$(PY) -m experiments.compare_datasets --results=results/activation_misuse,results/activation_misuse_digits --out_dir=results/mnist_vs_digits/activation_misuse
	$(PY) -m experiments.loss_misuse --task=all --out_dir=results/loss_misuse --unit_cache=results/unit_cache.jsonl
	$(PY) -m experiments.loss_misuse --task=all --dataset=digits --seeds=10 --out_dir=results/loss_misuse_digits --unit_cache=results/unit_cache.jsonl
	$(PY) -m experiments.compare_datasets --results=results/loss_misuse,results/loss_misuse_digits --out_dir=results/mnist_vs_digits/loss_misuse
	$(PY) -m experiments.activation_hpo --out_dir=results/activation_hpo
	$(PY) -m experiments.activation_factorial --out_dir=results/activation_factorial
	$(PY) -m experiments.dying_relu --out_dir=results/dying_relu
	$(PY) -m experiments.package_evidence --results=results

clean-venv:
	rm -rf $(VENV)

# The interpreter `make` picks, and so which pinned set of requirements.txt the venv gets.
which-python:
	@echo "$(PYTHON_BIN): Python $(word 1,$(call python_id,$(PYTHON_BIN)))"

FORCE:
