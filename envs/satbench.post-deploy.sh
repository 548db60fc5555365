#!/usr/bin/env bash
# Run by Snakemake inside the new environment of envs/satbench.yaml, in the workflow's working directory (the
# checkout: run snakemake from the repository root): installs satbench itself, as environment.yml's `-e .` does.
set -euo pipefail
python -m pip install --no-deps --editable .
