"""What a run of the real-graph study costs with each launcher, and how far the in-process run is from the compute
floor. Run with ``make bench PYTEST_ARGS='-k launchers'``; skipped without the offline Planetoid files.

The setting is real-quick's Cora job (config/real-quick.yaml: GCN, 2 layers, lr 0.01, dropout 0.5, weight decay
5e-4, 200 epochs, W = 4, METIS parts, staleness measured every 5 epochs), method ``exact``, with 64 hidden units (the
floor's width; real-quick trains Cora at 16):

* launchers: one whole ``satbench run`` command (interpreter start-up, imports, loading the cached partition,
  training, evaluation, the record) with ``--launcher spawn`` (4 worker processes) and with ``--launcher inprocess``
  (4 worker threads), rounds of each; the ratio of their medians is printed at the end;
* compute floor: what the in-process run spends training and evaluating, from its record (the sum over epochs of
  ``epoch_time_s`` and ``eval_time_s``; start-up, partition loading and the staleness measurement are not in it),
  against a single-process full-graph PyG GCN (``GCNConv``, 2 layers, 64 hidden, Adam at the same lr and weight
  decay, satbench's keyed dropout ``satbench.models.NodeDropout`` at p = 0.5, 200 epochs, evaluation on train,
  validation and test after every epoch), timed as a whole, on one intra-op thread: the work itself, as each of
  the in-process run's workers has one on a machine of up to 2W - 1 cores (cores // W), and free of OpenMP's spinning
  threads, which on a machine with other work beside them made a 2-thread epoch 2-6x slower than a 1-thread one
  (measured on 2 cores: 45 against 110-260 ms).

Nothing here asserts a time: pytest-benchmark prints them, and the terminal summary prints both ratios.
"""

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv

from runs import REPO, load_record

pytestmark = pytest.mark.benchmark

EPOCHS, HIDDEN, WORKERS, DROPOUT, LR, WEIGHT_DECAY = 200, 64, 4, 0.5, 0.01, 5e-4
ROUNDS = 3
SETTING = ["--dataset", "cora", "--model", "gcn", "--method", "exact", "--workers", str(WORKERS), "--epochs",
           str(EPOCHS), "--hidden", str(HIDDEN), "--layers", "2", "--lr", str(LR), "--weight-decay", str(WEIGHT_DECAY),
           "--dropout", str(DROPOUT), "--staleness-every", "5", "--no-progress"]
GROUP = f"a whole run: Cora, GCN 2x{HIDDEN}, W={WORKERS}, {EPOCHS} epochs"


@pytest.fixture(scope="module")
def cora(planetoid_mirror, tmp_path_factory):
    """Where the runs keep Cora's files and partitions: loaded and partitioned once, before anything is timed."""
    root = tmp_path_factory.mktemp("launchers")
    env = dict(os.environ, PYTHONPATH=str(REPO), SATBENCH_DATA_MIRROR=str(planetoid_mirror), SATBENCH_OFFLINE="1")
    arguments = ["--data-root", str(root / "data"), "--cache-dir", str(root / "cache")]
    warm = [*SETTING, *arguments, "--epochs", "1", "--launcher", "inprocess", "--out", str(root / "warm.json")]
    subprocess.run([sys.executable, "-m", "satbench", "run", *warm], env=env, check=True, capture_output=True,
                   timeout=600)
    return root, env, arguments


def run_command(launcher: str, cora) -> dict:
    root, env, arguments = cora
    out = root / f"{launcher}.json"
    out.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-m", "satbench", "run", *SETTING, *arguments, "--launcher", launcher,
                    "--out", str(out)], env=env, check=True, capture_output=True, timeout=1200)
    return load_record(out)


@pytest.mark.parametrize("launcher", ["spawn", "inprocess"])
def test_whole_run(benchmark, cora, launcher_summary, launcher):
    benchmark.group = GROUP
    record = benchmark.pedantic(run_command, args=(launcher, cora), rounds=ROUNDS, iterations=1)
    assert record["env"]["launcher"] == launcher
    launcher_summary[launcher] = {"wall_s": benchmark.stats.stats.median, "train_eval_s": train_and_eval_s(record),
                                  "rounds": ROUNDS}
    benchmark.extra_info.update(launcher_summary[launcher])


def train_and_eval_s(record: dict) -> float:
    """Training and evaluation seconds of a run, from its record (the staleness measurement left out)."""
    return sum(row["epoch_time_s"] + (row.get("eval_time_s") or 0.0) for row in record["epochs"])


class FloorGCN(torch.nn.Module):
    """Two GCNConv layers with satbench's keyed dropout before each, as satbench's GCN drops."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int):
        super().__init__()
        from satbench.models import NodeDropout

        self.conv1 = GCNConv(in_channels, hidden, cached=True)
        self.conv2 = GCNConv(hidden, out_channels, cached=True)
        self.dropout = NodeDropout(DROPOUT)

    def forward(self, x, edge_index, node_ids, step: int):
        x = self.dropout(x, node_ids, (0, step, 0), constant=True)
        x = self.conv1(x, edge_index).relu()
        x = self.dropout(x, node_ids, (0, step, 1))
        return self.conv2(x, edge_index)


def floor_run(data) -> float:
    """200 epochs of full-graph training, each followed by an evaluation on every split; returns the last test
    accuracy (so nothing is optimised away)."""
    torch.manual_seed(0)
    model = FloorGCN(data.num_features, HIDDEN, int(data.y.max()) + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    node_ids = torch.arange(data.num_nodes)
    accuracy = 0.0
    for epoch in range(1, EPOCHS + 1):
        model.train()
        optimizer.zero_grad()
        out = model(data.x, data.edge_index, node_ids, epoch)
        F.cross_entropy(out[data.train_mask], data.y[data.train_mask]).backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            predicted = model(data.x, data.edge_index, node_ids, epoch).argmax(dim=1)
            accuracy = [float((predicted[mask] == data.y[mask]).float().mean())
                        for mask in (data.train_mask, data.val_mask, data.test_mask)][-1]
    return accuracy


def test_compute_floor_plain_pyg(benchmark, cora, launcher_summary):
    from satbench.data import load_dataset

    root, env, _ = cora
    data = load_dataset("cora", root=root / "data", mirror=env["SATBENCH_DATA_MIRROR"], download=False).data
    benchmark.group = f"train + evaluate: Cora, GCN 2x{HIDDEN}, {EPOCHS} epochs"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        benchmark.pedantic(floor_run, args=(data,), rounds=ROUNDS, iterations=1, warmup_rounds=1)
    finally:
        torch.set_num_threads(threads)
    if "inprocess" not in launcher_summary:  # run alone (-k floor): one in-process run for its record
        launcher_summary["inprocess"] = {"wall_s": None, "rounds": 1,
                                         "train_eval_s": train_and_eval_s(run_command("inprocess", cora))}
    launcher_summary["floor"] = {"train_eval_s": benchmark.stats.stats.median, "rounds": ROUNDS}
    benchmark.extra_info.update(inprocess_train_eval_s=launcher_summary["inprocess"]["train_eval_s"])
