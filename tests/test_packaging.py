"""The install files agree with each other and with the README's two commands (`make test`, `make reproduce`).

Only the standard library and PyYAML (a runtime dependency); nothing is installed or run.
"""

import os
import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# Conda names of the same distributions.
CONDA_ALIASES = {"pytorch": "torch", "pyg": "torch-geometric", "pytorch-geometric": "torch-geometric"}
# Entries of environment.yml that are tooling, not dependencies of the package: the interpreter, pip itself and
# conda's CUDA selectors.
NOT_DEPENDENCIES = {"python", "pip", "pytorch-cuda", "cuda-version", "cuda-runtime", "cudatoolkit", "pytorch-gpu"}


def normalise(requirement: str) -> str:
    """Distribution name of a pip or conda requirement: lowercase, `_` and `.` as `-`, conda aliases mapped."""
    name = re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0]
    name = re.sub(r"[-_.]+", "-", name).lower()
    return CONDA_ALIASES.get(name, name)


def pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def environment_dependencies() -> set[str]:
    """Names environment.yml installs, from the conda list and its pip section, minus tooling and `-e .`."""
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    names = set()
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            names |= {normalise(r) for r in entry.get("pip", []) if not r.lstrip().startswith("-")}
        else:
            names.add(normalise(str(entry)))
    return names - NOT_DEPENDENCIES


def makefile_recipes() -> dict[str, str]:
    """Target name -> its prerequisites line and recipe, as one string (enough to check what a target runs)."""
    recipes, target = {}, None
    for line in (REPO / "Makefile").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.$()/-]+)\s*:(?!=)(.*)$", line)
        if match:
            target = match.group(1)
            recipes[target] = match.group(2)
        elif target and line.startswith("\t"):
            recipes[target] += "\n" + line.strip()
        elif line.strip() and not line.startswith("#"):
            target = None
    return recipes


def test_environment_yml_declares_the_same_dependencies_as_pyproject():
    """Agree means: the set of runtime + `test` and `cluster` extra dependencies of pyproject.toml equals the set of
    packages
    environment.yml installs (conda list and pip section together), after normalising names and mapping conda names
    (pytorch -> torch, pyg -> torch_geometric), and ignoring python, pip, `-e .` and CUDA selector packages.
    Version bounds are not compared."""
    project = pyproject()["project"]
    extras = project["optional-dependencies"]
    assert set(extras) == {"test", "cluster"}
    declared = {normalise(r) for r in project["dependencies"] + extras["test"] + extras["cluster"]}
    listed = environment_dependencies()
    assert not declared - listed, f"in pyproject.toml, missing from environment.yml: {sorted(declared - listed)}"
    assert not listed - declared, f"in environment.yml, missing from pyproject.toml: {sorted(listed - declared)}"


def test_environment_yml_installs_the_package_itself():
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(entry["pip"] for entry in environment["dependencies"] if isinstance(entry, dict))
    assert "-e ." in [r.strip() for r in pip]


def test_the_rules_environment_is_environment_yml():
    """envs/satbench.yaml (the Snakefile's `conda:` environment) installs what environment.yml does, entry for entry
    and bound for bound, except the package itself, which its post-deploy script installs from the checkout (a
    relative `-e .` in a file Snakemake copies into .snakemake/conda/ would not name it)."""
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    rules = yaml.safe_load((REPO / "envs" / "satbench.yaml").read_text())
    assert rules["channels"] == environment["channels"]

    def without_package(dependencies):
        return [{"pip": [r for r in entry["pip"] if r.strip() != "-e ."]} if isinstance(entry, dict) else entry
                for entry in dependencies]

    assert rules["dependencies"] == without_package(environment["dependencies"])
    deploy = REPO / "envs" / "satbench.post-deploy.sh"
    assert os.access(deploy, os.X_OK)
    commands = [line.strip() for line in deploy.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert "set -euo pipefail" in commands and "python -m pip install --no-deps --editable ." in commands
    snakefile = (REPO / "Snakefile").read_text()
    assert 'ENV = "envs/satbench.yaml"' in snakefile


def test_pyproject_packages_and_entry_point():
    config = pyproject()
    assert config["project"]["scripts"]["satbench"] == "satbench.cli:main"
    setuptools = config["tool"]["setuptools"]
    # every package of satbench is installed, and the plug-in folder baselines/ as satbench.baselines, never as a
    # top-level `baselines` (another PyPI project's name, and shadowed by any baselines/ folder in the cwd)
    found = {".".join(path.parent.relative_to(REPO).parts) for path in REPO.glob("satbench/**/__init__.py")}
    assert found | {"satbench.baselines"} == set(setuptools["packages"])
    assert setuptools["package-dir"] == {"satbench.baselines": "baselines"}
    assert "baselines" not in setuptools["packages"]
    pytest_options = config["tool"]["pytest"]["ini_options"]
    assert pytest_options["testpaths"] == ["tests"]
    assert "--benchmark-skip" not in pytest_options.get("addopts", "")
    markers = {m.split(":")[0] for m in pytest_options["markers"]}
    assert {"slow", "benchmark", "unit", "multiprocess"} <= markers


def test_ci_runs_the_makefile_test_target():
    """.ci/run is executable, fails on errors, and runs `make test`; that target installs and then runs pytest."""
    ci = REPO / ".ci" / "run"
    assert os.access(ci, os.X_OK), ".ci/run is not executable"
    text = ci.read_text()
    assert "set -euo pipefail" in text
    commands = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert "make test" in commands
    recipes = makefile_recipes()
    assert "venv" in recipes["test"].split("\n")[0], "make test must install first"
    # the tests and the reproductions read the same offline data mirror, offline by default
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^SNAKEMAKE := \$\(DATA_ENV\) ", makefile, re.MULTILINE)
    assert "$(DATA_ENV)" in recipes["test"] and "SATBENCH_OFFLINE=$(SATBENCH_OFFLINE)" in makefile
    assert "pytest" in recipes["test"] and "-m unit" not in recipes["test"]  # both tiers
    # The fast tier alone: installs first, runs only the unit tests, takes the same PYTEST_ARGS.
    assert "venv" in recipes["test-unit"].split("\n")[0]
    assert "pytest" in recipes["test-unit"] and "-m unit" in recipes["test-unit"]
    assert "$(PYTEST_ARGS)" in recipes["test-unit"]
    assert "venv" in recipes["reproduce"].split("\n")[0] and "snakemake" in recipes["reproduce"].lower()
    installed = recipes["$(INSTALLED)"] if "$(INSTALLED)" in recipes else recipes[".venv/.installed"]
    # The pinned CPU torch goes in before the project, so the project's torch range never pulls a CUDA build.
    assert installed.index("TORCH_SPEC") < installed.index("-e '.[test,cluster]'")
    assert re.search(r"^TORCH_SPEC \?= torch==2\.13\.0$", (REPO / "Makefile").read_text(), re.MULTILINE)


def test_readme_names_the_two_commands_early():
    readme = REPO / "README.md"
    if not readme.exists():
        pytest.skip("no README.md")
    head = "\n".join(readme.read_text().splitlines()[:30])
    assert "make test" in head and "make reproduce" in head
