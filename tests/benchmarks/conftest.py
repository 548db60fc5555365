"""Tables printed in the terminal summary (also under ``--benchmark-only``): the methods benchmark's per-epoch figures,
the million-node benchmark's epoch time and peak memory per worker, and the launchers benchmark's ratios."""

import pytest

METHOD_SUMMARY = pytest.StashKey[dict]()
MILLION_SUMMARY = pytest.StashKey[dict]()
LAUNCHER_SUMMARY = pytest.StashKey[dict]()


@pytest.fixture
def method_summary(request) -> dict:
    """method -> per-epoch figures from its run record; shared by the session, printed at the end."""
    return request.config.stash.setdefault(METHOD_SUMMARY, {})


@pytest.fixture
def million_summary(request) -> dict:
    """label -> epoch time and peak memory per worker at a million nodes; printed at the end."""
    return request.config.stash.setdefault(MILLION_SUMMARY, {})


@pytest.fixture
def launcher_summary(request) -> dict:
    """spawn, inprocess -> a whole run's median wall time and its training and evaluation time (from its record);
    floor -> plain PyG's training and evaluation time; printed at the end with their ratios."""
    return request.config.stash.setdefault(LAUNCHER_SUMMARY, {})


def _launcher_lines(summary: dict) -> list[str]:
    lines = []
    spawn, inprocess, floor = (summary.get(key) for key in ("spawn", "inprocess", "floor"))
    if spawn and inprocess and inprocess["wall_s"]:
        lines.append(f"whole run (median of {spawn['rounds']}): spawn {spawn['wall_s']:.2f} s, inprocess "
                     f"{inprocess['wall_s']:.2f} s; spawn / inprocess = {spawn['wall_s'] / inprocess['wall_s']:.2f}")
    if floor and inprocess:
        lines.append(f"train + evaluate: inprocess run {inprocess['train_eval_s']:.2f} s (its record: epoch_time_s + "
                     f"eval_time_s), plain PyG {floor['train_eval_s']:.2f} s (median of {floor['rounds']}); "
                     f"inprocess / PyG = {inprocess['train_eval_s'] / floor['train_eval_s']:.2f}")
    return lines


def pytest_terminal_summary(terminalreporter, config):
    launchers = _launcher_lines(config.stash.get(LAUNCHER_SUMMARY, {}))
    if launchers:
        terminalreporter.section("launchers: a whole run, and the in-process run against the compute floor")
        for line in launchers:
            terminalreporter.write_line(line)
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
