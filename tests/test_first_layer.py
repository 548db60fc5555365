"""--exact-first-layer: layer-1 halo rows computed exactly from an aggregate their owners send once."""

import pytest
import torch

from fakecomm import run_local
from runs import TINY_GRAPH, load_record
from satbench.config import RunConfig
from satbench.runtime.launch import launch, prepare
from satbench.errors import ConfigError
from satbench.partition import load_part
from satbench.train import Trainer


def _logits_both_ways(rank, world_size, meta, model, method, epochs):
    part = load_part(meta.partition_dir, rank)
    config = RunConfig(dataset=TINY_GRAPH, model=model, method=method, workers=world_size, epochs=epochs, hidden=8,
                       layers=2, dropout=0.0, staleness_every=0, progress=False, exact_first_layer=True,
                       method_options={"sync_period": 3} if method == "digest" else {})
    trainer = Trainer(config.validate(), meta, part, torch.device("cpu"))
    trainer.fit()
    trainer.model.eval()
    with torch.no_grad():
        seam = trainer.model(trainer.x, trainer.eval_graph, trainer.seam, sum_across=trainer.comm.sum_across)
        exact = trainer.model(trainer.x, trainer.eval_graph,
                              lambda layer, h, partial: trainer.comm.exchange(h, category="eval"),
                              sum_across=trainer.comm.sum_across)
    return seam, exact, trainer.comm.meter.bytes.get("halo", 0)


@pytest.mark.parametrize("model", ["gcn", "sage"])
def test_two_layer_digest_with_exact_first_layer_gives_exact_logits(tmp_path, model):
    meta = prepare(RunConfig(dataset=TINY_GRAPH, workers=2, cache_dir=str(tmp_path / "cache")))
    for seam, exact, halo_bytes in run_local(_logits_both_ways, 2, meta, model, "digest", 5):
        assert seam.shape == exact.shape
        torch.testing.assert_close(seam, exact, rtol=1e-5, atol=1e-6)
        assert halo_bytes == 0  # after setup, no embedding crossed a worker boundary


@pytest.mark.multiprocess
def test_layer_one_is_exact_and_its_setup_is_counted(tmp_path):
    config = RunConfig(dataset=TINY_GRAPH, method="gas", model="sage", workers=2, epochs=4, hidden=8, layers=3,
                       dropout=0.0, staleness_every=1, cache_dir=str(tmp_path / "cache"), progress=False,
                       exact_first_layer=True)
    launch(config.validate(), tmp_path / "gas.json")
    record = load_record(tmp_path / "gas.json")
    halo_rows = sum(record["partition"]["halo_sizes"])
    assert record["partition"]["first_layer_bytes"] == halo_rows * 16 * 4  # one float32 row of 16 features each
    assert record["config"]["exact_first_layer"] is True
    for row in record["epochs"]:
        first, second = row["staleness"]
        assert first["rel_error"] <= 1e-6 and first["age_steps"] == 0
    assert any(row["staleness"][1]["rel_error"] > 0 for row in record["epochs"])  # layer 2 is still GAS's


@pytest.mark.parametrize("settings, message", [
    ({"model": "gat"}, "gat layers have no static pre-aggregate"),
    ({"norm": "batch"}, "batch norm"),
    ({"dropout": 0.5}, "needs --dropout 0"),
    ({"layers": 1}, "no hidden halo rows"),
    ({"method": "partition"}, "uses no halo rows"),
])
def test_exact_first_layer_refuses_what_it_cannot_compute(settings, message):
    values = dict(dataset=TINY_GRAPH, method="digest", dropout=0.0, exact_first_layer=True)
    values.update(settings)
    with pytest.raises(ConfigError, match=message):
        RunConfig(**values).validate()


def test_sat_layer1_is_built_on_the_exact_first_layer():
    config = RunConfig(dataset=TINY_GRAPH, method="sat-layer1", layers=3, dropout=0.0).validate()
    assert config.exact_first_layer is True and config.method_options["local_delta"] is True
    with pytest.raises(ConfigError, match="local_delta.*needs --exact-first-layer, a GCN of at least 3 layers"):
        RunConfig(dataset=TINY_GRAPH, method="sat-layer1", layers=2, dropout=0.0).validate()
    with pytest.raises(ConfigError, match="local_delta"):
        RunConfig(dataset=TINY_GRAPH, method="sat", layers=3, dropout=0.0,
                  method_options={"local_delta": True}).validate()


def test_the_local_gain_is_the_least_squares_factor():
    from satbench.sat import fit_gain

    shift = torch.randn(20, 4, generator=torch.Generator().manual_seed(0))
    assert fit_gain(shift, 3 * shift) == pytest.approx(3.0)
    assert fit_gain(shift, -shift) == 0.0  # never against the local change
    assert fit_gain(shift, 100 * shift) == 10.0  # bounded
    assert fit_gain(torch.zeros(3, 2), torch.ones(3, 2)) == 0.0


def _layer_two_rows(rank, world_size, meta, epochs):
    """sat-layer1: at every layer-2 supply, the rows used, the stale copy, and the gate's verdict per owner."""
    part = load_part(meta.partition_dir, rank)
    config = RunConfig(dataset=TINY_GRAPH, method="sat-layer1", workers=world_size, epochs=epochs, hidden=8,
                       layers=3, dropout=0.0, staleness_every=0, progress=False, method_options={"sync_period": 2})
    trainer = Trainer(config.validate(), meta, part, torch.device("cpu"))
    sat, calls = trainer.method, []
    supply = sat.supply_halo

    def recording(layer, h_inner, partial):
        used = supply(layer, h_inner, partial)
        state = sat.layers[layer]
        calls.append((used.rows.clone(), used.replaced.clone(), None if state.use_prediction is None
                      else state.use_prediction[sat.halo_owner].clone(), state.delta_gain))
        return used

    sat.supply_halo = recording
    trainer.fit()
    return calls


def test_sat_layer1_uses_its_correction_only_where_the_gate_allows(tmp_path):
    meta = prepare(RunConfig(dataset=TINY_GRAPH, workers=2, cache_dir=str(tmp_path / "cache")))
    corrected = 0
    for calls in run_local(_layer_two_rows, 2, meta, 12):
        assert calls  # layer 2 only: layer 1 never reaches the method
        for used, stale, allowed, gain in calls:
            if allowed is None:
                continue
            assert torch.equal(used[~allowed], stale[~allowed])
            corrected += int((used[allowed] != stale[allowed]).any())
        assert any(gain > 0 for *_, gain in calls)  # the gain was fitted at some sync
    assert corrected > 0
