"""The sparse aggregation GCN and SAGE layers run on computes what PyG's layers compute over the edge list, forward
and backward, into inner rows only or into every row (GraphFM's partial recomputation)."""

import pytest
import torch
from torch_geometric.nn import GCNConv, SAGEConv

from satbench.models import LocalGraph, SparseAggregation, build_model, gcn_edge_weights


def local_edges(num_rows: int, num_targets: int, count: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    source = torch.randint(0, num_rows, (count,), generator=generator)
    target = torch.randint(0, num_targets, (count,), generator=generator)
    keep = source != target
    return torch.stack([source[keep], target[keep]])


@pytest.mark.parametrize("model", ["gcn", "sage"])
@pytest.mark.parametrize("num_targets", [50, 80])  # inner rows only; every row
def test_layer_on_the_sparse_aggregation_equals_the_pyg_layer_on_edge_index(model, num_targets):
    num_rows = 80
    edge_index = local_edges(num_rows, num_targets, 400, seed=num_targets)
    weight = None
    if model == "gcn":
        degree = torch.bincount(edge_index[1], minlength=num_rows)
        edge_index, weight = gcn_edge_weights(edge_index, degree, num_targets)
    nodes = torch.arange(num_rows)
    sparse = LocalGraph(edge_index, 50, nodes, weight, num_targets, SparseAggregation(edge_index, num_targets,
                                                                                         num_rows, weight))
    net = build_model(model, 12, 3, 16, 2, 0.0, seed=1)
    h = torch.randn(num_rows, 12, generator=torch.Generator().manual_seed(2), requires_grad=True)
    got = net.conv(0, h, sparse)
    conv = net.convs[0]
    assert isinstance(conv, GCNConv if model == "gcn" else SAGEConv)
    expected = (conv(h, edge_index, weight) if model == "gcn" else conv(h, edge_index))[:num_targets]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    upstream = torch.randn_like(got)
    (grad_got,) = torch.autograd.grad(got, h, upstream)
    (grad_expected,) = torch.autograd.grad(expected, h, upstream)
    torch.testing.assert_close(grad_got, grad_expected, rtol=1e-5, atol=1e-6)


def test_mean_aggregation_gives_rows_without_in_edges_zero():
    edge_index = torch.tensor([[1, 2, 2], [0, 0, 1]])  # row 2 has no in-edges
    out = SparseAggregation(edge_index, 3, 3)(torch.tensor([[1.0], [3.0], [5.0]]))
    assert out.squeeze(1).tolist() == [4.0, 5.0, 0.0]
