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


def _reference_keep(node: int, feature: int, key: tuple[int, ...], p: float) -> bool:
    """The mask's definition in unsigned 32-bit integers, written out apart from the tensor code: a row hash of the
    node, a column hash of the feature (two multiply-xorshift rounds each), one more round over their xor, and the
    top 24 bits against the drop threshold."""
    mask = 0xFFFFFFFF

    def mix(value: int) -> int:
        for multiplier in (0x7FEB352D, 0x84E5950B):
            value ^= value >> 16
            value = value * multiplier & mask
        return value ^ (value >> 16)

    def seed(*keys: int) -> int:
        return models._seed32(*keys) & mask

    row = mix((node * -0x61C88647 + seed(*key)) & mask)
    column = mix((feature * 0x2545F491 + seed(*key, 1)) & mask)
    bits = (row ^ column) * 0x7FEB352D & mask
    bits ^= bits >> 15
    bits = bits * 0x84E5950B & mask
    return bits >> 8 >= int(p * (1 << 24))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_the_mask_is_its_definition(p):
    """Every path (the whole mask, the sparse and the dense constant input) keeps exactly the cells the definition
    keeps, so a faster evaluation of the hash cannot change a run."""
    dropout = NodeDropout(p).train()
    node_ids = torch.tensor([0, 1, 7, 2708, 99_999, 2 ** 31 - 1])
    key = (3, 41, 1)
    width = 37
    expected = torch.tensor([[_reference_keep(int(node), feature, key, p) for feature in range(width)]
                             for node in node_ids])
    assert torch.equal(dropout.keep_mask(node_ids, width, key), expected)
    scale = 1.0 / (1.0 - p)
    for density in (0.05, 1.0):  # the sparse path, and the dense one
        x = _features(density, rows=len(node_ids), width=width, seed=4) - 0.25 * (density == 1.0)
        out = NodeDropout(p).train()(x, node_ids, key, constant=True)
        assert torch.equal(out, (x * expected).mul_(scale))
        assert torch.equal(torch.signbit(out), torch.signbit((x * expected).mul_(scale)))  # signed zeros too


def test_the_dense_path_blocks_and_reuses_its_scratch(monkeypatch):
    """Rows split over several blocks (and a last, shorter one), and a second call with the scratch blocks reused,
    give the whole mask's output."""
    monkeypatch.setattr(NodeDropout, "BLOCK_CELLS", 7 * 40)
    dropout = NodeDropout(0.4).train()
    x = _features(0.9, rows=30, width=40) - 0.3
    node_ids = torch.arange(100, 130)
    for step in range(2):
        out = dropout(x, node_ids, (1, step, 0), constant=True)
        assert dropout._scratch is not None and dropout._scratch[0].numel() == 7 * 40
        assert torch.equal(out, _whole_mask(dropout, x, node_ids, (1, step, 0)))
