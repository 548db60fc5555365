"""A million nodes: epoch time and peak memory per worker of ``exact`` at W = 1, 2, 4 against plain PyG in one
process, with both of PyG's message-passing paths (``edge_index``, and a CSR adjacency from
``torch_geometric.utils.to_torch_csr_tensor``). Run with ``make bench PYTEST_ARGS='-k million'``.

GCN 2x128 with dropout 0.5 on ``sbm-1m`` (1M nodes, ~10M directed edges, 64 features). satbench's runs are whole
``satbench run`` jobs; their per-epoch time (first epoch left out) and each worker's peak memory come from the run
record. PyG's peak is this process's resident peak over its epochs (reset before them). Nothing here asserts a time:
pytest-benchmark prints them, and the terminal summary prints the table.
"""

import pytest
import torch
from plain_pyg import PlainGCN, epoch_step
from runs import load_record
from torch_geometric.utils import to_torch_csr_tensor

from satbench.config import RunConfig
from satbench.data import load_dataset
from satbench.runtime.launch import launch
from satbench.runtime.memory import peak_bytes, reset_peak

pytestmark = pytest.mark.benchmark

DATASET, HIDDEN, DROPOUT, EPOCHS = "sbm-1m", 128, 0.5, 4
GROUP = f"epoch: GCN 2x{HIDDEN} on {DATASET}"


@pytest.fixture(scope="module")
def graph():
    return load_dataset(DATASET)


@pytest.mark.parametrize("path", ["edge_index", "csr"])
def test_epoch_plain_pyg(benchmark, graph, million_summary, path):
    data = graph.data
    adjacency = data.edge_index
    if path == "csr":  # row = target: PyG's layout for a sparse adjacency (adj_t)
        adjacency = to_torch_csr_tensor(data.edge_index.flip(0), size=(data.num_nodes, data.num_nodes))
    torch.manual_seed(0)
    model = PlainGCN(data.num_features, HIDDEN, graph.num_classes, DROPOUT)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    epoch_step(model, optimizer, data, adjacency)  # the cached normalisation is built here
    reset_peak(torch.device("cpu"))
    benchmark.group = GROUP
    benchmark.pedantic(epoch_step, args=(model, optimizer, data, adjacency), rounds=EPOCHS - 1, iterations=1)
    million_summary[f"PyG {path}, one process"] = {"epoch_time_s": benchmark.stats.stats.median,
                                                  "peak_memory_bytes": [peak_bytes(torch.device("cpu"))]}


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_epoch_satbench_exact(benchmark, tmp_path_factory, million_summary, workers):
    out = tmp_path_factory.mktemp(f"w{workers}") / "run.json"
    config = RunConfig(dataset=DATASET, method="exact", workers=workers, epochs=EPOCHS, hidden=HIDDEN, layers=2,
                       dropout=DROPOUT, eval_every=EPOCHS, staleness_every=0,
                       cache_dir=str(tmp_path_factory.getbasetemp() / "cache"), progress=False)
    benchmark.group = GROUP
    benchmark.pedantic(launch, args=(config.validate(), out), rounds=1, iterations=1)
    record = load_record(out)
    rows = record["epochs"][1:]  # the first epoch includes warm-up
    million_summary[f"satbench exact, W={workers}"] = {
        "epoch_time_s": sum(row["epoch_time_s"] for row in rows) / len(rows),
        "peak_memory_bytes": record["memory"]["per_worker_bytes"]}
    benchmark.extra_info.update(million_summary[f"satbench exact, W={workers}"])
