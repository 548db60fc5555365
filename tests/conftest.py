"""Fixtures shared by the test files, and the two test tiers.

Every test is in one of two tiers. ``multiprocess`` tests start other processes (training workers, the CLI,
snakemake, another interpreter) or join a ``torch.distributed`` group; they say so with the marker. Every other test
is ``unit``: it runs in this process (several workers, where it needs them, as threads of ``fakecomm.run_local``),
and is refused any process or process group it tries to start, so a test in the wrong tier fails rather than slowing
the fast tier (``pytest -m unit``, ``make test-unit``) down.
"""

import contextlib
import multiprocessing.process
import subprocess
from pathlib import Path
from unittest import mock

import pytest
import torch.distributed

# The offline raw files of the real datasets live next to the repository (see shared/data/README.md), not inside it.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PLANETOID_MIRROR = SHARED_DATA / "planetoid"
AMAZON_MIRROR = SHARED_DATA / "amazon"


@pytest.fixture(scope="session")
def planetoid_mirror() -> Path:
    """Mirror directory holding Cora/raw/ and CiteSeer/raw/; skips the test where it is absent."""
    if not PLANETOID_MIRROR.is_dir():
        pytest.skip(f"offline Planetoid files not found at {PLANETOID_MIRROR}")
    return PLANETOID_MIRROR


@pytest.fixture(scope="session")
def amazon_mirror() -> Path:
    """Mirror directory holding Computers/raw/ and Photo/raw/; skips the test where it is absent."""
    if not AMAZON_MIRROR.is_dir():
        pytest.skip(f"offline Amazon files not found at {AMAZON_MIRROR}")
    return AMAZON_MIRROR


def pytest_configure(config):
    # matplotlib builds its font cache on first import by running `fc-list`, a program: on a machine that has no
    # cache yet that would happen inside whichever unit test draws first, and be refused there.
    import matplotlib.font_manager  # noqa: F401


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("multiprocess") is None and item.get_closest_marker("benchmark") is None:
            item.add_marker(pytest.mark.unit)


def _refuse(what: str):
    def refused(*args, **kwargs):
        raise AssertionError(f"a unit test {what}: mark it @pytest.mark.multiprocess (see tests/conftest.py)")
    return refused


@contextlib.contextmanager
def _in_this_process_only(item):
    """For a unit test (and the fixtures set up for it): no process, no program, no torch.distributed group."""
    if item.get_closest_marker("unit") is None:
        yield
        return
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(subprocess.Popen, "_execute_child", _refuse("starts a program")))
        stack.enter_context(mock.patch.object(multiprocessing.process.BaseProcess, "start",
                                              _refuse("starts a process")))
        stack.enter_context(mock.patch.object(torch.distributed, "init_process_group",
                                              _refuse("joins a torch.distributed process group")))
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    with _in_this_process_only(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with _in_this_process_only(item):
        return (yield)
