"""Start-up of the command line: ``satbench --help``, ``satbench methods`` and ``satbench datasets`` against an
interpreter that does nothing (``python -c pass``), each a whole process, in one benchmark group.

Run with ``make bench PYTEST_ARGS='-k cli'``. The commands import neither torch nor PyG (tests/test_config.py checks
the import for ``--help``), so they should start within a few tenths of a second of a bare interpreter.
"""

import subprocess
import sys

import pytest

from runs import REPO

pytestmark = pytest.mark.benchmark


def run(*argv: str) -> None:
    subprocess.run([sys.executable, *argv], cwd=REPO, check=True, capture_output=True, timeout=120)


@pytest.mark.parametrize("command", [["-c", "pass"], ["-m", "satbench", "--help"], ["-m", "satbench", "methods"],
                                     ["-m", "satbench", "datasets"]], ids=["python -c pass", "satbench --help",
                                                                           "satbench methods", "satbench datasets"])
def test_start_up(benchmark, command):
    benchmark.group = "start-up of a whole process"
    benchmark.pedantic(run, args=command, rounds=7, warmup_rounds=1)
