"""Keyed dropout on the constant input (layer 0's features, which the model marks): its non-zero cells are found
once, and the output is still the one the whole mask gives, bit for bit (the exactness and launcher tests hold the
rest)."""

import pytest
import torch

from satbench import models
from satbench.models import NodeDropout


def _whole_mask(dropout: NodeDropout, h, node_ids, key):
    return (h * dropout.keep_mask(node_ids, h.size(1), key)).mul_(1.0 / (1.0 - dropout.p))


def _features(density: float, rows: int = 300, width: int = 200, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(rows, width, generator=generator) < density).float() * torch.rand(rows, width,
                                                                                          generator=generator)


@pytest.mark.parametrize("density", [0.01, 0.35, 1.0])
def test_input_dropout_equals_the_whole_mask_at_every_step(density):
    dropout = NodeDropout(0.5).train()
    x = _features(density)
    node_ids = torch.randperm(5000, generator=torch.Generator().manual_seed(1))[:x.size(0)]
    for step in range(4):
        key = (7, step, 0)
        assert torch.equal(dropout(x, node_ids, key, constant=True), _whole_mask(dropout, x, node_ids, key))


def test_the_non_zero_cells_are_found_once_and_again_after_a_write(monkeypatch):
    found = []
    original = models._InputCells.of.__func__

    def counting(cls, h, share):
        found.append(h)
        return original(cls, h, share)

    monkeypatch.setattr(models._InputCells, "of", classmethod(counting))
    dropout = NodeDropout(0.3).train()
    x = _features(0.02)
    node_ids = torch.arange(x.size(0))
    for step in range(5):
        dropout(x, node_ids, (0, step, 0), constant=True)
        dropout(_features(0.02, seed=step + 1), node_ids, (0, step, 1))  # another input between: not searched
    assert len(found) == 1

    x[0, :] = 1.0  # an in-place write: the cells found before no longer describe x
    out = dropout(x, node_ids, (0, 9, 0), constant=True)
    assert len(found) == 2
    assert torch.equal(out, _whole_mask(dropout, x, node_ids, (0, 9, 0)))

    other = x.clone()  # the same values in another tensor: found for it
    dropout(other, node_ids, (0, 10, 0), constant=True)
    assert len(found) == 3


def test_an_input_that_needs_a_gradient_is_masked_whole():
    dropout = NodeDropout(0.5).train()
    h = _features(0.02).requires_grad_()
    node_ids = torch.arange(h.size(0))
    out = dropout(h, node_ids, (3, 0, 1), constant=True)
    assert dropout._input_cells is None
    assert torch.equal(out.detach(), _whole_mask(dropout, h.detach(), node_ids, (3, 0, 1)))


def test_the_model_marks_its_features_constant_and_searches_them_once_per_worker(monkeypatch):
    """In a forward pass only layer 0's input is the constant one: hidden inputs of no-grad passes (evaluation,
    staleness measurement) are not searched, so they cannot push the features' cells out."""
    from satbench.models import LocalGraph, build_model

    found = []
    original = models._InputCells.of.__func__
    monkeypatch.setattr(models._InputCells, "of", classmethod(lambda cls, h, share: found.append(h) or
                                                             original(cls, h, share)))
    x = _features(0.02, rows=50, width=30)
    edge_index = torch.randint(0, 50, (2, 200), generator=torch.Generator().manual_seed(2))
    graph = LocalGraph(edge_index, 50, torch.arange(50), torch.ones(edge_index.size(1)), 50)
    model = build_model("gcn", 30, 4, hidden=8, layers=3, dropout=0.5).train()
    with torch.no_grad():
        for step in range(3):
            model(x, graph, None, dropout_key=(0, step))
    assert len(found) == 1 and found[0] is x
