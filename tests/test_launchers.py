"""The in-process launcher against the spawned one: the same records apart from timings, for every registered method.

``--launcher inprocess`` runs the W workers as threads of one process over an in-process group; ``--launcher spawn``
as W OS processes in a gloo group. Both run the same worker body, so a method written for one is right on the other:
every loss and score within 1e-6 (gloo's ring all-reduce adds in another order than the in-process group's rank
order: the last bits of a float sum may differ), the same bytes in every traffic category, the same staleness rows;
at W = 2 and 4, for each method's own run and its fresh-halo control, with checkpoints written (and removed) on the
way. Only the launcher itself differs: the record says which ran it.
"""

from __future__ import annotations

import math

import pytest

from runs import TINY_GRAPH, load_record, without_timings
from satbench.config import RunConfig
from satbench.methods import discover_methods, get_method
from satbench.runtime.launch import launch

pytestmark = pytest.mark.multiprocess  # the spawned runs start worker processes

TOLERANCE = 1e-6
EPOCHS = 4


def _config(method: str, workers: int, launcher: str, cache, halo: str = "method") -> RunConfig:
    # exact first-layer rows need dropout 0 (and sat-layer1's correction of layer 2, three layers)
    first_layer = get_method(method).exact_first_layer
    return RunConfig(dataset=TINY_GRAPH, method=method, workers=workers, epochs=EPOCHS, launcher=launcher,
                     halo=halo, dropout=0.0 if first_layer else 0.5, layers=3 if first_layer else 2,
                     staleness_every=1, checkpoint_every=2, progress=False,
                     cache_dir=str(cache), timeout_s=60)


def _compare(mine, theirs, path: str = "") -> list[str]:
    """Where two records (timings removed) differ: numbers beyond TOLERANCE, anything else at all."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        differences = [f"{path}.{key}: only in one" for key in set(mine) ^ set(theirs)]
        for key in set(mine) & set(theirs):
            differences += _compare(mine[key], theirs[key], f"{path}.{key}")
        return differences
    if isinstance(mine, list) and isinstance(theirs, list):
        if len(mine) != len(theirs):
            return [f"{path}: {len(mine)} against {len(theirs)} items"]
        return [difference for index, (a, b) in enumerate(zip(mine, theirs))
                for difference in _compare(a, b, f"{path}[{index}]")]
    if isinstance(mine, float) and isinstance(theirs, (int, float)) and not isinstance(theirs, bool):
        same = (math.isnan(mine) and math.isnan(theirs)) or abs(mine - theirs) <= TOLERANCE * max(1.0, abs(theirs))
        return [] if same else [f"{path}: {mine!r} against {theirs!r}"]
    return [] if mine == theirs else [f"{path}: {mine!r} against {theirs!r}"]


def _comparable(record: dict) -> dict:
    record = without_timings(record)
    record["config"].pop("launcher")
    record.pop("command")
    return record


def _runs(method: str, workers: int, halo: str, tmp_path) -> tuple[dict, dict]:
    records = {}
    for launcher in ("inprocess", "spawn"):
        out = tmp_path / f"{method}-{workers}-{halo}-{launcher}.json"
        launch(_config(method, workers, launcher, tmp_path / "cache", halo).validate(), out)
        records[launcher] = load_record(out)
        assert not (tmp_path / f"{out.name}.checkpoint").exists()  # written on the way, removed at the end
    return records["inprocess"], records["spawn"]


def _controllable(method: str) -> bool:
    return get_method(method).train_graph != "inner"


@pytest.fixture(autouse=True)
def clean_worker_processes(monkeypatch):
    """Spawned workers come from the fork server: this test process has run worker threads (the in-process runs),
    and a process forked from one that has may inherit a lock some thread held."""
    import satbench.runtime.launch as launch_module

    monkeypatch.setattr(launch_module, "worker_start_method", lambda device, workers: "forkserver")


@pytest.mark.parametrize("method", sorted(discover_methods()))
def test_inprocess_records_equal_spawned(method, tmp_path):
    for workers, halo in ((2, "method"), (4, "method"), (2, "fresh")):
        if halo == "fresh" and not _controllable(method):
            continue
        inprocess, spawned = _runs(method, workers, halo, tmp_path)
        assert inprocess["env"]["launcher"] == "inprocess" and spawned["env"]["launcher"] == "spawn"
        assert inprocess["config"]["launcher"] == "inprocess"
        differences = _compare(_comparable(inprocess), _comparable(spawned))
        assert not differences, f"{method}, W = {workers}, halo {halo}: {differences[:5]}"
        if workers > 1 and halo == "method":  # the comparison saw traffic and (where there are halo rows) staleness
            assert sum(row["comm_bytes"] for row in inprocess["epochs"]) > 0
