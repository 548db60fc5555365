"""Tables printed in the terminal summary (also under ``--benchmark-only``): the methods benchmark's per-epoch figures and
the million-node benchmark's epoch time and peak memory per worker."""

import pytest

METHOD_SUMMARY = pytest.StashKey[dict]()
MILLION_SUMMARY = pytest.StashKey[dict]()


@pytest.fixture
def method_summary(request) -> dict:
    """method -> per-epoch figures from its run record; shared by the session, printed at the end."""
    return request.config.stash.setdefault(METHOD_SUMMARY, {})


@pytest.fixture
def million_summary(request) -> dict:
    """label -> epoch time and peak memory per worker at a million nodes; printed at the end."""
    return request.config.stash.setdefault(MILLION_SUMMARY, {})


def pytest_terminal_summary(terminalreporter, config):
    million = config.stash.get(MILLION_SUMMARY, {})
    if million:
        terminalreporter.section("a million nodes: epoch time and peak memory per worker")
        terminalreporter.write_line(f"{'run':<28} {'epoch s':>8} {'peak GiB per worker':>22}")
        for label, row in million.items():
            peaks = " ".join(f"{peak / 2**30:.2f}" for peak in row["peak_memory_bytes"])
            terminalreporter.write_line(f"{label:<28} {row['epoch_time_s']:8.2f} {peaks:>22}")
    summary = config.stash.get(METHOD_SUMMARY, {})
    if not summary:
        return
    terminalreporter.section("per-epoch figures from the run records (first epoch left out)")
    terminalreporter.write_line(f"{'method':<12} {'epoch s':>8} {'comm s':>8} {'MB/epoch':>9} {'emb MB':>8} {'pred s':>7}")
    for method, row in sorted(summary.items()):
        terminalreporter.write_line(
            f"{method:<12} {row['epoch_time_s']:8.4f} {row['comm_time_s']:8.4f} {row['mb_per_epoch']:9.3f} "
            f"{row['embedding_mb_per_epoch']:8.3f} {row['predictor_time_s']:7.4f}")
