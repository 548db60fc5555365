# The two commands a new user runs (README): `make reproduce` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
CORES ?= all
CONFIG ?=
PYTEST_ARGS ?=
MIRROR := $(abspath $(CURDIR)/../shared/data/planetoid)
export SATBENCH_DATA_MIRROR ?= $(if $(wildcard $(MIRROR)),$(MIRROR),)

BIN := $(VENV)/bin
SNAKEMAKE := $(BIN)/snakemake --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG),)

.PHONY: help venv test reproduce figures report bench clean-results

help:
	@echo "make reproduce   run the default reproduction (CONFIG=config/X.yaml for another grid, CORES=N)"
	@echo "make test        run the test suite (PYTEST_ARGS=... to pass options)"
	@echo "make figures     rebuild tables and plots from existing run records, without training"
	@echo "make report      snakemake --report report.html"
	@echo "make bench       run the benchmarks (pytest-benchmark)"

# CPU PyTorch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet '$(TORCH_SPEC)'
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/.installed

test: venv
	SATBENCH_OFFLINE=1 $(BIN)/python -m pytest -q $(PYTEST_ARGS)

reproduce: venv
	PATH="$(abspath $(BIN)):$$PATH" $(SNAKEMAKE)

figures: venv
	PATH="$(abspath $(BIN)):$$PATH" $(SNAKEMAKE) figures

report: venv
	PATH="$(abspath $(BIN)):$$PATH" $(SNAKEMAKE) --report report.html

bench: venv
	$(BIN)/python -m pytest tests/benchmarks -m benchmark --benchmark-only $(PYTEST_ARGS)

clean-results:
	rm -rf results/runs results/tables results/logs results/benchmarks plots/*.png plots/*.pdf
