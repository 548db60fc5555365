"""Staleness measured without bias: a seeded schedule that covers every phase of a method's cycle, and drift told
apart from dropout-mask noise (``satbench.staleness``). Runs are in-process (threads), as unit tests."""

from __future__ import annotations

import statistics

import pytest

from runs import TINY_GRAPH, load_record
from satbench.config import RunConfig
from satbench.runtime.launch import launch
from satbench.staleness import MAX_MASK_PASSES, MeasurementSchedule, kept_mask_steps

NO_MASK = -1


# -- the schedule ----------------------------------------------------------------------------------------------------


def test_one_measurement_per_window_same_seed_same_steps():
    schedule = MeasurementSchedule(seed=3, every=5, local_steps=3, epochs=200)
    measured = schedule.measured()
    assert len(measured) == 40
    assert sorted({(epoch - 1) // 5 for epoch, _ in measured}) == list(range(40))  # one in every window
    assert measured == MeasurementSchedule(3, 5, 3, 200).measured()
    assert measured != MeasurementSchedule(4, 5, 3, 200).measured()
    assert MeasurementSchedule(3, 0, 3, 200).measured() == []


@pytest.mark.parametrize("seed", range(5))
def test_digest_and_rest_are_measured_at_every_phase(seed):
    """DIGEST at τ = 10 with 3 local steps: every (epoch mod τ, local step) of its 30 phases within a 200-epoch run
    measured every 5 epochs (the real-graph configs); REST refreshes every epoch: every local step is measured."""
    digest = MeasurementSchedule(seed, every=5, local_steps=3, epochs=200).measured()
    assert {((epoch - 1) % 10, step) for epoch, step in digest} == {(e, s) for e in range(10) for s in range(3)}
    assert {step for _, step in digest} == {0, 1, 2}  # REST's refresh phase is the local step
    # the old schedule (the first step of every 10th epoch) saw a single phase of each
    assert len({((epoch - 1) % 10, 0) for epoch in range(10, 201, 10)}) == 1


def test_never_locked_to_a_period():
    """For any τ, measurements fall at several phases (not one, as a schedule with K = τ did)."""
    measured = MeasurementSchedule(0, every=10, local_steps=1, epochs=200).measured()
    for tau in (2, 5, 10, 20):
        assert len({(epoch - 1) % tau for epoch, _ in measured}) > 1


def test_reference_passes_are_bounded():
    steps = set(range(20)) | {NO_MASK}
    kept = kept_mask_steps(steps)
    assert len(kept) == MAX_MASK_PASSES and NO_MASK in kept and max(kept) == 19
    assert kept_mask_steps({3, NO_MASK}) == [NO_MASK, 3]


# -- drift and mask noise --------------------------------------------------------------------------------------------
# These run whole in-process runs through the launcher, whose record asks git for the commit: a program, so they are
# in the multiprocess tier although their workers are threads.


def _staleness(tmp_path, method: str, dropout: float, epochs: int = 8, dataset: str = TINY_GRAPH, workers: int = 2,
               mirror: str | None = None, **settings) -> list[dict]:
    out = tmp_path / f"{method}-{dropout}.json"
    config = RunConfig(dataset=dataset, method=method, workers=workers, epochs=epochs, dropout=dropout,
                       launcher="inprocess", staleness_every=1, progress=False, cache_dir=str(tmp_path / "cache"),
                       data_root=str(tmp_path / "data"), mirror=mirror, **settings).validate()
    launch(config, out)
    return [dict(layer, epoch=row["epoch"]) for row in load_record(out)["epochs"]
            for layer in row.get("staleness") or [] if layer["rel_error"] is not None]


@pytest.mark.multiprocess
@pytest.mark.parametrize("method", ["gas", "digest", "rest", "lmc", "graphfm", "sancus", "sat", "pipegcn"])
def test_at_dropout_zero_drift_is_the_whole_error(method, tmp_path):
    measured = _staleness(tmp_path, method, 0.0)
    assert measured
    for layer in measured:
        assert layer["drift_rel_error"] == pytest.approx(layer["rel_error"], rel=1e-5, abs=1e-7)
        assert layer["mask_rel_error"] == pytest.approx(0.0, abs=1e-7)
        assert {"local_step", "unmasked_share"} <= set(layer)
    if method in ("gas", "digest", "lmc", "sat"):
        assert max(layer["rel_error"] for layer in measured) > 0.01  # the comparison had something to see


@pytest.mark.multiprocess
def test_rows_without_masks_are_compared_in_eval_mode(tmp_path):
    """REST's refreshed rows come from a forward-only pass, SAT's from its predictor: no dropout mask; DIGEST's
    fill before training too; GAS's rows from the previous training step carry that step's masks."""
    rest = _staleness(tmp_path, "rest", 0.5)
    assert all(layer["unmasked_share"] == 1.0 for layer in rest if layer["epoch"] > 1)
    gas = _staleness(tmp_path, "gas", 0.5)
    assert all(layer["unmasked_share"] == 0.0 for layer in gas if layer["epoch"] > 1)


@pytest.mark.multiprocess
def test_gas_drift_is_below_half_its_total_at_dropout_half_on_cora(tmp_path, planetoid_mirror):
    """GAS's rows are one step old: at dropout 0.5 what separates them from the exact rows is mostly the masks they
    carry (the previous step's), not drift. Time-averaged over 20 epochs at W = 2: drift / total = 0.42 (0.145 / 0.346;
    the mask floor 0.317), falling as training settles."""
    measured = _staleness(tmp_path, "gas", 0.5, epochs=20, dataset="cora", workers=2, mirror=str(planetoid_mirror))
    drift = statistics.mean(layer["drift_rel_error"] for layer in measured)
    total = statistics.mean(layer["rel_error"] for layer in measured)
    assert drift < 0.5 * total, (drift, total)
    assert statistics.mean(layer["mask_rel_error"] for layer in measured) > 0.1  # the floor is real


@pytest.mark.multiprocess
def test_sancus_and_gas_drift_never_exceed_their_total_by_much(tmp_path):
    for method in ("gas", "sancus"):
        for layer in _staleness(tmp_path, method, 0.5):
            assert layer["drift_rel_error"] <= layer["rel_error"] + layer["mask_rel_error"] + 1e-6
