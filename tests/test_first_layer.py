"""--exact-first-layer: layer-1 halo rows computed exactly from an aggregate their owners send once."""

import pytest
import torch

from runs import TINY_GRAPH, load_record, run_in_process_group
from satbench.config import RunConfig
from satbench.dist.launch import launch, prepare
from satbench.errors import ConfigError
from satbench.partition import load_part
from satbench.train import Trainer


def _logits_both_ways(rank, world_size, meta, model, method, epochs):
    part = load_part(meta["partition_dir"], rank)
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
    for seam, exact, halo_bytes in run_in_process_group(_logits_both_ways, 2, meta, model, "digest", 5):
        assert seam.shape == exact.shape
        torch.testing.assert_close(seam, exact, rtol=1e-5, atol=1e-6)
        assert halo_bytes == 0  # after setup, no embedding crossed a worker boundary


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
