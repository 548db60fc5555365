"""``exact`` is exact: distributed training equals single-process full-graph training for any worker count."""

import pytest
import torch

from reference import full_graph_training
from runs import TINY_GRAPH, load_record, without_timings
from satbench.config import RunConfig
from satbench.data import load_dataset
from satbench.runtime.launch import launch

# Every test here launches worker processes or the CLI.
pytestmark = pytest.mark.multiprocess

EPOCHS = 4


@pytest.fixture(scope="module")
def tiny_graph():
    return load_dataset(TINY_GRAPH)


def distributed_run(tmp_path, model, workers, epochs_override=None, **settings):
    out, weights = tmp_path / f"{model}-w{workers}.json", tmp_path / f"{model}-w{workers}.pt"
    config = RunConfig(dataset=TINY_GRAPH, model=model, workers=workers, epochs=epochs_override or EPOCHS,
                       hidden=16, dropout=0.5,
                       cache_dir=str(tmp_path / "cache"), progress=False, save_model=str(weights), **settings)
    launch(config.validate(), out)
    return load_record(out), torch.load(weights)


@pytest.mark.parametrize("model", ["gcn", "sage", "gat"])
def test_exact_equals_full_graph_training(tmp_path, tiny_graph, model):
    ref_losses, ref_weights = full_graph_training(tiny_graph, model=model, epochs=EPOCHS, hidden=16, dropout=0.5)
    assert ref_losses[-1] < ref_losses[0]  # the oracle itself trains
    for workers in (1, 2, 4):
        record, weights = distributed_run(tmp_path, model, workers)
        losses = [row["loss"] for row in record["epochs"]]
        assert losses == pytest.approx(ref_losses, abs=1e-4), f"W={workers}"
        assert weights.keys() == ref_weights.keys()
        for name, value in weights.items():
            torch.testing.assert_close(value, ref_weights[name], atol=1e-4, rtol=0, msg=f"{name} at W={workers}")
        if workers > 1:
            assert all(row["halo_bytes"] > 0 and row["halo_grad_bytes"] > 0 and row["reduce_bytes"] > 0
                       for row in record["epochs"])
        else:
            assert record["summary"]["total_comm_bytes"] == 0


def test_exact_with_batch_norm_equals_full_graph_training(tmp_path, tiny_graph):
    ref_losses, ref_weights = full_graph_training(tiny_graph, model="gcn", epochs=EPOCHS, hidden=16, dropout=0.5,
                                                  norm="batch")
    record, weights = distributed_run(tmp_path, "gcn", 2, norm="batch")
    assert [row["loss"] for row in record["epochs"]] == pytest.approx(ref_losses, abs=1e-4)
    # Batch norm cancels the conv bias before it: that bias's gradient is rounding noise, which Adam rescales to
    # full steps, so it differs between any two summation orders. It has no effect on the output (the losses above
    # agree); it shifts only the running mean, which tracks it.
    for name, value in weights.items():
        if name in ("convs.0.bias", "norms.0.running_mean"):
            continue
        torch.testing.assert_close(value, ref_weights[name], atol=1e-4, rtol=0, msg=name)


def test_same_seed_gives_identical_records(tmp_path):
    records = []
    for attempt in range(2):
        out = tmp_path / f"run{attempt}.json"
        config = RunConfig(dataset=TINY_GRAPH, workers=2, epochs=3, hidden=16, cache_dir=str(tmp_path / "cache"),
                           progress=False)
        launch(config.validate(), out)
        records.append(without_timings(load_record(out)))
    assert records[0] == records[1]


def test_model_averaging_with_one_worker_is_plain_training(tmp_path, tiny_graph):
    """``--weight-sync average --local-steps 3``: 2 epochs of one worker are 6 full-graph steps."""
    ref_losses, ref_weights = full_graph_training(tiny_graph, epochs=6, hidden=16, dropout=0.5)
    record, weights = distributed_run(tmp_path, "gcn", 1, weight_sync="average", local_steps=3, epochs_override=2)
    per_epoch = [sum(ref_losses[i:i + 3]) / 3 for i in (0, 3)]
    assert [row["loss"] for row in record["epochs"]] == pytest.approx(per_epoch, abs=1e-4)
    for name, value in weights.items():
        torch.testing.assert_close(value, ref_weights[name], atol=1e-4, rtol=0, msg=name)


def test_model_averaging_trains_with_several_workers(tmp_path):
    record, _ = distributed_run(tmp_path, "gcn", 2, weight_sync="average", local_steps=3, epochs_override=6)
    assert all(row["reduce_bytes"] > 0 for row in record["epochs"])
    assert record["epochs"][-1]["loss"] < record["epochs"][0]["loss"]
