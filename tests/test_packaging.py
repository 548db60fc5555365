"""The install files agree with each other and with the README's two commands."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

# Conda names for the same distributions; conda-only helpers that pip installs implicitly.
CONDA_ALIASES = {"pytorch": "torch", "pyg": "torch-geometric"}
CONDA_ONLY = {"python", "pip", "pytorch-cuda"}
# Installed in the conda environment for cluster runs only (the SLURM profile); not a dependency of the package.
ENVIRONMENT_EXTRAS = {"snakemake-executor-plugin-slurm"}


def _name(requirement: str) -> str:
    name = re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")
    return CONDA_ALIASES.get(name, name)


def test_environment_yml_declares_the_same_dependencies_as_pyproject():
    """Agree means: the runtime and test dependencies of pyproject.toml are exactly the packages environment.yml
    installs (conda or pip section), apart from conda's own tooling and the cluster-only executor plugin."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    listed = set()
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            listed |= {_name(r) for r in entry["pip"] if not r.startswith("-e")}
        else:
            listed.add(_name(entry))
    assert declared == listed - CONDA_ONLY - ENVIRONMENT_EXTRAS


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.MULTILINE)
    head = "\n".join((REPO / "README.md").read_text().splitlines()[:30])
    assert "make test" in head and "make reproduce" in head
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test: venv$", makefile, re.MULTILINE) and re.search(r"^reproduce: venv$", makefile,
                                                                             re.MULTILINE)
    assert "torch==2.13.0" in makefile  # the CPU build, pinned
