"""Epoch time of ``exact`` with one worker against a plain PyG full-batch GCN on the same graph.

Run with ``make bench`` (``pytest tests/benchmarks -m benchmark``); pytest-benchmark prints both in one group. The
goal is satbench/PyG <= 1.25: the layer-wise forward, node-keyed dropout and the communicator should cost little.
"""

import pytest
import torch
from plain_pyg import PlainGCN, epoch_step

from satbench.config import RunConfig
from satbench.data import load_dataset
from satbench.partition import assign_nodes, build_parts
from satbench.prepared import PreparedRun
from satbench.train import Trainer

pytestmark = pytest.mark.benchmark

DATASET, HIDDEN, DROPOUT = "sbm-100k", 128, 0.5


@pytest.fixture(scope="module")
def graph():
    return load_dataset(DATASET)


def test_epoch_satbench_exact_one_worker(benchmark, graph):
    part = build_parts(graph, assign_nodes(graph, 1), 1)[0]
    config = RunConfig(dataset=DATASET, workers=1, hidden=HIDDEN, dropout=DROPOUT, progress=False)
    meta = PreparedRun(num_features=graph.data.num_features, num_classes=graph.num_classes, task=graph.task,
                       metric=graph.metric)
    trainer = Trainer(config, meta, part, torch.device("cpu"))
    benchmark.group = f"epoch: GCN 2x{HIDDEN} on {DATASET}"
    benchmark.pedantic(trainer.train_epoch, args=(1,), rounds=5, warmup_rounds=1)


def test_epoch_plain_pyg_gcn(benchmark, graph):
    data = graph.data
    torch.manual_seed(0)
    model = PlainGCN(data.num_features, HIDDEN, graph.num_classes, DROPOUT)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    benchmark.group = f"epoch: GCN 2x{HIDDEN} on {DATASET}"
    benchmark.pedantic(epoch_step, args=(model, optimizer, data, data.edge_index), rounds=5, warmup_rounds=1)
