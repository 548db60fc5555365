"""Epoch time of ``exact`` with one worker against a plain PyG full-batch GCN on the same graph.

Run with ``make bench`` (``pytest tests/benchmarks -m benchmark``); pytest-benchmark prints both in one group. The
goal is satbench/PyG <= 1.25: the layer-wise forward, node-keyed dropout and the communicator should cost little.
"""

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv

from satbench.config import RunConfig
from satbench.data import load_dataset
from satbench.partition import assign_nodes, build_parts
from satbench.train import Trainer

pytestmark = pytest.mark.benchmark

DATASET, HIDDEN, DROPOUT = "sbm-100k", 128, 0.5


@pytest.fixture(scope="module")
def graph():
    return load_dataset(DATASET)


def test_epoch_satbench_exact_one_worker(benchmark, graph):
    part = build_parts(graph, assign_nodes(graph, 1), 1)[0]
    config = RunConfig(dataset=DATASET, workers=1, hidden=HIDDEN, dropout=DROPOUT, progress=False)
    meta = {"num_features": graph.data.num_features, "num_classes": graph.num_classes, "task": graph.task,
            "metric": graph.metric, "ogb_name": None}
    trainer = Trainer(config, meta, part, torch.device("cpu"))
    benchmark.group = f"epoch: GCN 2x{HIDDEN} on {DATASET}"
    benchmark.pedantic(trainer.train_epoch, args=(1,), rounds=5, warmup_rounds=1)


class PlainGCN(torch.nn.Module):
    """PyG's own ``examples/gcn.py`` model: dropout on the input and the hidden layer, cached normalisation."""

    def __init__(self, in_channels, hidden, out_channels):
        super().__init__()
        self.conv1 = GCNConv(in_channels, hidden, cached=True)
        self.conv2 = GCNConv(hidden, out_channels, cached=True)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=DROPOUT, training=self.training)
        x = self.conv1(x, edge_index).relu()
        x = F.dropout(x, p=DROPOUT, training=self.training)
        return self.conv2(x, edge_index)


def test_epoch_plain_pyg_gcn(benchmark, graph):
    data = graph.data
    torch.manual_seed(0)
    model = PlainGCN(data.num_features, HIDDEN, graph.num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    def epoch():
        model.train()
        optimizer.zero_grad()
        out = model(data.x, data.edge_index)
        F.cross_entropy(out[data.train_mask], data.y[data.train_mask]).backward()
        optimizer.step()

    benchmark.group = f"epoch: GCN 2x{HIDDEN} on {DATASET}"
    benchmark.pedantic(epoch, rounds=5, warmup_rounds=1)
