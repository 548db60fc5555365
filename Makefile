# The two commands a new user runs (README): `make reproduce` and `make test`. Both install into .venv first.
#   make test PYTEST_ARGS='-k exact -x'      make reproduce CONFIG=config/X.yaml CORES=8
#   make test-unit                           (the fast tier alone: tests that start no process)
#   make venv TORCH_SPEC='torch==2.13.0'      (another torch version)
#   make venv TORCH_INDEX=https://download.pytorch.org/whl/cu126 TORCH_WHEELS=   (a CUDA build instead of the CPU one)
#   make evidence STUDY=real-graphs CONFIG=config/real.yaml   then   make docs   (documents from the shipped evidence)
PYTHON ?= python3
VENV ?= .venv
# CPU PyTorch, pinned and installed first: the project's `torch>=2.3` is then already satisfied, whereas an
# unpinned torch would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
# Where that pin is taken from. PyPI's Linux wheel of it is the CUDA build (several GB of NVIDIA libraries), so the CPU
# build comes from PyTorch's CPU wheel index (Linux, macOS, WSL)...
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# ...unless a local wheel directory that pip already reads (its find-links, from its config or $PIP_FIND_LINKS)
# holds a torch wheel: then that one, offline, as on machines without access to the index. `TORCH_WHEELS=` ignores
# such a directory; `TORCH_WHEELS=DIR` names one.
PIP_FIND_LINKS_CONFIGURED = $(PIP_FIND_LINKS) $(shell $(PYTHON) -m pip config list 2>/dev/null | \
	sed -n "s/^[^=]*find-links='\(.*\)'$$/\1/p")
TORCH_WHEELS ?= $(firstword $(foreach dir,$(patsubst file://%,%,$(PIP_FIND_LINKS_CONFIGURED)),\
	$(if $(wildcard $(dir)/torch-*.whl),$(dir))))
TORCH_SOURCE = $(if $(strip $(TORCH_WHEELS)),--find-links '$(strip $(TORCH_WHEELS))',--index-url '$(TORCH_INDEX)')
CORES ?= all
CONFIG ?=
STUDY ?=
PYTEST_ARGS ?=
# Local copies of the raw dataset files, for the tests and the reproductions alike: $SATBENCH_DATA_MIRROR if set,
# else those of ../shared/data/planetoid and ../shared/data/amazon that exist, joined by ':' (searched in order).
# Offline by default (SATBENCH_OFFLINE=0 lets the loaders download what no mirror holds).
SHARED_MIRRORS := $(wildcard $(abspath $(CURDIR)/../shared/data/planetoid) $(abspath $(CURDIR)/../shared/data/amazon))
DATA_MIRROR ?= $(or $(SATBENCH_DATA_MIRROR),$(subst $() ,:,$(strip $(SHARED_MIRRORS))))
SATBENCH_OFFLINE ?= 1
DATA_ENV := $(if $(DATA_MIRROR),SATBENCH_DATA_MIRROR='$(DATA_MIRROR)') SATBENCH_OFFLINE=$(SATBENCH_OFFLINE)

BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Snakemake's jobs call the `satbench` console script, so the venv's bin goes first on PATH.
SNAKEMAKE := $(DATA_ENV) PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake
# `make figures` and `make report` train nothing, so they run where the workflow is already installed: the active conda
# environment when it has snakemake and satbench (environment.yml), else .venv, installed first. A GPU user then
# needs no second, CPU environment; REPORT_BIN=.venv/bin chooses the venv whatever is active.
REPORT_BIN ?= $(or $(if $(CONDA_PREFIX),$(and $(wildcard $(CONDA_PREFIX)/bin/snakemake),$(wildcard \
	$(CONDA_PREFIX)/bin/satbench),$(CONDA_PREFIX)/bin)),$(BIN))
REPORT_NEEDS := $(if $(filter $(abspath $(BIN)),$(abspath $(REPORT_BIN))),venv)
REPORT_SNAKEMAKE := $(DATA_ENV) PATH="$(abspath $(REPORT_BIN)):$$PATH" $(REPORT_BIN)/snakemake
# --rerun-incomplete: after an interrupt, rerun the jobs Snakemake saw start but not finish (a record is written
# atomically, so one that exists is whole, but Snakemake cannot know) instead of stopping for a manual step; finished
# jobs are not redone. --configfile=X, not `--configfile X`: the option takes several values and would swallow a
# target named after it (`tables`).
SNAKEMAKE_OPTIONS := --cores $(CORES) --rerun-incomplete $(if $(CONFIG),--configfile=$(CONFIG))

.DEFAULT_GOAL := help
# The GPU check runs in the environment that has the CUDA build of torch: the active conda environment
# (environment.yml), else .venv (whose CPU build makes the check say so and skip).
GPU_PYTHON ?= $(or $(if $(CONDA_PREFIX),$(wildcard $(CONDA_PREFIX)/bin/python)),$(wildcard $(BIN)/python),$(PYTHON))

.PHONY: help venv test test-unit gpu-check reproduce figures report evidence docs bench clean-results

help:
	@echo "make reproduce      install into .venv, run the default reproduction (CONFIG=config/X.yaml, CORES=N)"
	@echo "make test           install into .venv, run the test suite, as CI does (PYTEST_ARGS=... for options)"
	@echo "make test-unit      the fast tier alone: tests that start no process (PYTEST_ARGS=... for options)"
	@echo "make figures        rebuild tables, plots and data files from existing run records, without training"
	@echo "make report         snakemake --report report.html"
	@echo "                    (figures, report: in the active conda environment if it has snakemake and satbench)"
	@echo "make evidence       a config's run records as evidence in docs/evidence/STUDY (STUDY=name CONFIG=config/X.yaml)"
	@echo "make docs           re-render the evidence blocks and figures of README.md and docs/*.md from docs/evidence"
	@echo "                    (check only: $(BIN)/python -m satbench.docs render --check)"
	@echo "make bench          run the timing benchmarks in tests/benchmarks (pytest-benchmark)"
	@echo "make gpu-check      exact and SAT on CUDA against the CPU, peak CUDA memory, CUDA timing (skips without CUDA)"
	@echo "make venv           only create .venv, with PyTorch's CPU build (TORCH_SPEC='torch==X', TORCH_INDEX=URL)"
	@echo "make clean-results  delete generated run records, tables, logs and plots"

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(TORCH_SOURCE) '$(TORCH_SPEC)'
	$(BIN)/pip install -e '.[test,cluster]'
	touch $@

venv: $(INSTALLED)

test: venv
	$(DATA_ENV) $(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-unit: venv
	$(DATA_ENV) $(BIN)/python -m pytest -q -m unit $(PYTEST_ARGS)

gpu-check:
	@$(GPU_PYTHON) tests/gpu_check.py

reproduce: venv
	$(SNAKEMAKE) $(SNAKEMAKE_OPTIONS)

figures: $(REPORT_NEEDS)
	$(REPORT_SNAKEMAKE) tables figures data $(SNAKEMAKE_OPTIONS) --config existing_only=true --forcerun tables figures data

report: $(REPORT_NEEDS)
	$(REPORT_SNAKEMAKE) $(SNAKEMAKE_OPTIONS) --report report.html

# The records of CONFIG that exist under results/ (and results/timing/, if present) as compact evidence in
# docs/evidence/STUDY: Parquet, the tables' CSVs, a manifest (satbench.report.evidence).
evidence: venv
	@test -n "$(STUDY)" -a -n "$(CONFIG)" || { echo "usage: make evidence STUDY=name CONFIG=config/X.yaml" >&2; exit 2; }
	$(BIN)/python -m satbench.docs export $(STUDY) --config $(CONFIG)

# Every marker block of README.md and docs/*.md (tables, numbers, figures) rewritten from docs/evidence.
docs: venv
	$(BIN)/python -m satbench.docs render

bench: venv
	$(DATA_ENV) $(BIN)/python -m pytest tests/benchmarks -m benchmark --benchmark-only $(PYTEST_ARGS)

clean-results:
	rm -rf results/.finished results/runs results/controls results/sweep results/bandwidth results/timing results/tables results/logs results/benchmarks .snakemake report.html
	rm -f results/runs.parquet results/epochs.parquet results/staleness.parquet
	rm -f plots/*.png plots/*.pdf plots/*.svg
