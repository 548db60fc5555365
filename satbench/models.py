"""GCN, GraphSAGE and GAT built from PyG convolutions, with a layer-wise forward over one worker's local graph.

The forward pass runs on ``inner + halo`` rows. Layer 0 reads the halo's input features (static, fetched once);
before every later layer the *method* supplies the halo rows (an exact exchange, a cached copy, a prediction...).
That call, ``supply_halo(layer, h_inner)``, is the only place where halo rows enter the model.

GCN and SAGE aggregate with a sparse-dense product over a CSR adjacency (:class:`SparseAggregation`, with its
transpose kept for the backward pass) instead of materialising one message per edge and feature: that is what bounds
memory and time on graphs of a million nodes. They use the PyG layers' own parameters and compute what the layers
compute (tested against them). GAT needs per-edge attention, so it keeps ``edge_index``.

Dropout is keyed by global node id (see :class:`NodeDropout`), so a node's dropout mask is the same on its owner, on
every worker that holds it as a halo node, and in single-process full-graph training: that is what makes the
``exact`` method equal full-graph training for any number of workers, dropout included.
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GATConv, GCNConv, SAGEConv
from torch_geometric.utils import to_torch_csr_tensor

from .choices import MODELS, NORMS
from .errors import ConfigError

# Printed once per process by every worker otherwise; the CSR products used here are covered by the tests.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled", category=UserWarning)


SupplyHalo = Callable[[int, torch.Tensor], torch.Tensor]
SumAcrossWorkers = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class LocalGraph:
    """The message-passing structure a worker runs its layers on."""

    edge_index: torch.Tensor  # [2, E] over inner + halo rows; every edge ends at a target row
    num_inner: int
    node_ids: torch.Tensor  # [num_inner + num_halo] global ids (keys for NodeDropout)
    edge_weight: torch.Tensor | None = None  # GCN normalisation, from global degrees
    # Rows whose layer outputs are computed: the inner rows, or all rows when halo rows are also recomputed from
    # in-partition messages (GraphFM's partial recomputation).
    num_targets: int | None = None
    # GCN's and SAGE's aggregation into the target rows; None for GAT, which needs edge_index.
    aggregation: SparseAggregation | None = None
    # Halo rows recomputed from in-partition messages (``num_targets`` covers them) with each layer's weights
    # detached, as LMC's authors compute out-of-batch rows (``MaskGCNConv``: ``out[batch_size:] @ weight.detach()``;
    # biases stay live, as theirs): a gradient reaching such a row flows into the rows it was computed from, never
    # into the weights, so the weight gradient comes from the inner rows only. Where halo rows are recomputed,
    # ``aggregation`` covers the inner rows and ``halo_aggregation`` the halo rows (GCN, SAGE), with the weights
    # detached or not; GAT computes them with its weights detached.
    halo_weights_detached: bool = False
    halo_aggregation: SparseAggregation | None = None

    def __post_init__(self):
        if self.num_targets is None:
            self.num_targets = self.num_inner

    @property
    def num_rows(self) -> int:
        return int(self.node_ids.numel())


class _SparseProduct(torch.autograd.Function):
    """``adjacency @ x`` whose backward multiplies by a transpose built once (torch would sort one every step)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, adjacency: torch.Tensor, transposed: torch.Tensor) -> torch.Tensor:
        ctx.transposed = transposed
        return torch.sparse.mm(adjacency, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return torch.sparse.mm(ctx.transposed, grad.contiguous()), None, None


class SparseAggregation:
    """Weighted in-edge sums into ``num_targets`` rows from ``num_rows`` rows: ``out[t] = Σ_{(s,t)} w · x[s]``.

    Held as a CSR matrix ``[num_targets, num_rows]`` and its transpose (for gradients). ``weight=None`` makes it
    the mean over in-neighbours (SAGE's aggregation; rows without in-edges get 0, as PyG's scatter gives)."""

    def __init__(self, edge_index: torch.Tensor, num_targets: int, num_rows: int,
                 weight: torch.Tensor | None = None):
        source, target = edge_index
        if weight is None:
            degree = torch.bincount(target, minlength=num_targets).clamp_min(1)
            weight = 1.0 / degree.to(torch.float32)[target]
        self.num_targets, self.num_rows = num_targets, num_rows
        self.adjacency = to_torch_csr_tensor(torch.stack([target, source]), weight, size=(num_targets, num_rows))
        self.transposed = to_torch_csr_tensor(edge_index, weight, size=(num_rows, num_targets))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [num_rows, C] -> [num_targets, C]."""
        return _SparseProduct.apply(x, self.adjacency, self.transposed)


def gcn_edge_weights(edge_index: torch.Tensor, degree: torch.Tensor, num_targets: int):
    """Symmetric GCN normalisation with self loops on the target rows, computed from *global* degrees.

    A halo node's degree inside one worker's local graph is incomplete, so ``GCNConv(normalize=True)`` would get it
    wrong; the partitioner stores every local node's full-graph degree instead.
    """
    loops = torch.arange(num_targets, device=edge_index.device)
    edge_index = torch.cat([edge_index, torch.stack([loops, loops])], dim=1)
    inv_sqrt = (degree.to(torch.float32) + 1.0).rsqrt()
    return edge_index, inv_sqrt[edge_index[0]] * inv_sqrt[edge_index[1]]


def _mix32(value: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xorshift-multiply rounds) on int32 tensors; wrap-around multiplication is intended."""
    for multiplier in (0x7FEB352D, -0x7B1A6AF5):  # 0x84E5950B as a signed int32
        value = value ^ ((value >> 16) & 0xFFFF)
        value = value * multiplier
    return value ^ ((value >> 16) & 0xFFFF)


def _seed32(*keys: int) -> int:
    """Fold integer keys into one well-mixed signed 32-bit seed."""
    state = 0x243F6A88
    for key in keys:
        state = (state ^ (key & 0xFFFFFFFF)) * 0x01000193 & 0xFFFFFFFF
        state ^= state >> 15
    return state - (1 << 32) if state >= 1 << 31 else state


class NodeDropout(nn.Module):
    """Dropout whose mask is a hash of (key, global node id, feature), not of the worker's RNG stream.

    The training loop passes a key that changes every step (the run seed and the step counter). Each row and each
    column get a 32-bit hash of their own; a cell's bit pattern is one multiply-xorshift round over their xor, whose
    top 24 bits are compared with the drop probability. The mask is built in blocks of rows small enough to stay in
    cache, with the integer passes in place: on a million rows it is memory traffic, not arithmetic, that costs.

    Layer 0's input is the same feature tensor at every step, and the model says so (``constant``). Which of its cells
    are non-zero is therefore found once (:class:`_InputCells`), not at every step: a zero cell is zero whatever its
    bit, so a sparse input (bag-of-words features: about 1 % on Cora and CiteSeer) has its mask hashed at its non-zero
    cells only, and a dense one (35 % on the Amazon graphs) gets the whole mask. Any other input (a hidden layer's,
    also in a no-grad pass) gets the whole mask. Either way the output is the one the whole mask gives, bit for bit.
    """

    BLOCK_CELLS = 1 << 18  # int32 cells per block: 1 MiB

    # Below this share of non-zero cells, hashing the non-zero cells only is the cheaper way (measured on one core:
    # 8x faster than the whole mask at Cora's 1.3 %, 1.7x slower at Amazon Photo's 35 %).
    SPARSE_SHARE = 0.2

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {p}")
        self.p = p
        self._input_cells: _InputCells | None = None
        self._scratch: tuple[torch.Tensor, ...] | None = None  # the dense path's integer blocks, reused

    def _hashes(self, node_ids: torch.Tensor, width: int, key: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        row = _mix32(node_ids.to(torch.int32) * -0x61C88647 + _seed32(*key))
        column = _mix32(torch.arange(width, dtype=torch.int32, device=node_ids.device) * 0x2545F491
                        + _seed32(*key, 1))
        return row, column

    def _keep(self, bits: torch.Tensor, out: torch.Tensor | None = None,
              scratch: torch.Tensor | None = None) -> torch.Tensor:
        """The cells' survival from ``row ^ column`` bits (in place on ``bits``; ``scratch``, of its shape, is
        written too): 1 where a cell's top 24 bits, unsigned, reach the drop threshold. ``out``: bool, or a float
        tensor to hold 1.0 and 0.0."""
        bits.mul_(0x7FEB352D)
        shifted = torch.bitwise_right_shift(bits, 15, out=scratch) if scratch is not None else bits >> 15
        bits.bitwise_xor_(shifted.bitwise_and_(0x1FFFF))
        bits.mul_(-0x7B1A6AF5)
        # top24(u) >= t  <=>  u >= t * 2^8  <=>  (u - 2^31) >= t * 2^8 - 2^31, signed: the unsigned comparison of
        # int32 bits in two passes (flip the sign bit, compare) instead of three (shift, mask, compare)
        threshold = int(self.p * (1 << 24)) * (1 << 8) - (1 << 31)
        return torch.ge(bits.bitwise_xor_(-(1 << 31)), threshold, out=out)

    def keep_mask(self, node_ids: torch.Tensor, width: int, key: tuple[int, ...]) -> torch.Tensor:
        """Boolean ``[rows, width]``: which cells survive."""
        row, column = self._hashes(node_ids, width, key)
        keep = torch.empty(row.numel(), width, dtype=torch.bool, device=node_ids.device)
        block = max(1, self.BLOCK_CELLS // max(width, 1))
        for start in range(0, row.numel(), block):
            self._keep(row[start:start + block].unsqueeze(1) ^ column, out=keep[start:start + block])
        return keep

    def _cells_of(self, h: torch.Tensor) -> _InputCells:
        """The non-zero cells of the constant input, found again only when ``h`` is another tensor or has been
        written to since (a guard: the model passes one tensor)."""
        cells = self._input_cells
        if cells is None or not cells.describes(h):
            cells = self._input_cells = _InputCells.of(h, self.SPARSE_SHARE)
        return cells

    def forward(self, h: torch.Tensor, node_ids: torch.Tensor, key: tuple[int, ...],
                constant: bool = False) -> torch.Tensor:
        """``h`` with the mask of ``key`` applied; ``constant``: ``h`` is the tensor of every call (the input
        features), so its non-zero cells are found once."""
        if not self.training or self.p == 0.0:
            return h
        scale = 1.0 / (1.0 - self.p)
        if constant and not h.requires_grad and h.dim() == 2 and h.numel():
            cells = self._cells_of(h)
            if cells.rows is None:
                if cells.scaled is None:
                    cells.scaled = h * scale
                return self._dense(cells.scaled, node_ids, key)
            row, column = self._hashes(node_ids, h.size(1), key)
            keep = self._keep(row[cells.rows] ^ column[cells.columns])
            out = torch.zeros_like(h)
            out.view(-1)[cells.flat] = (cells.values * keep).mul_(scale)
            return out
        return (h * self.keep_mask(node_ids, h.size(1), key)).mul_(scale)

    def _dense(self, scaled: torch.Tensor, node_ids: torch.Tensor, key: tuple[int, ...]) -> torch.Tensor:
        """The constant input's mask applied to its scaled copy, block by block: each block's survival is written
        as 1.0 or 0.0 into the output and multiplied by the scaled cells in place. ``(h * keep) * scale`` and
        ``keep * (h * scale)`` are the same floats (a product by 1.0 or 0.0 is exact, signed zeros included), and the
        integer passes reuse two scratch blocks: at Amazon Photo's widths, fresh 4 MiB tensors cost more in page
        faults than the arithmetic."""
        rows, width = scaled.shape
        row, column = self._hashes(node_ids, width, key)
        out = torch.empty_like(scaled)
        block = max(1, self.BLOCK_CELLS // width)
        cells = min(block, rows) * width
        if self._scratch is None or self._scratch[0].numel() < cells or self._scratch[0].device != scaled.device:
            self._scratch = tuple(torch.empty(cells, dtype=torch.int32, device=scaled.device) for _ in range(2))
        for start in range(0, rows, block):
            stop = min(start + block, rows)
            bits, spare = (buffer[:(stop - start) * width].view(stop - start, width) for buffer in self._scratch)
            torch.bitwise_xor(row[start:stop].unsqueeze(1), column, out=bits)
            self._keep(bits, out=out[start:stop], scratch=spare).mul_(scaled[start:stop])
        return out


@dataclass
class _InputCells:
    """Where an input tensor is non-zero (``rows``, ``columns``, ``flat`` offsets and ``values``), or, for an input
    denser than the share given, nothing (``rows`` None: the whole mask is cheaper). It describes the tensor it was
    found in as long as that tensor lives and its version counter (bumped by every in-place write) has not moved."""

    source: weakref.ref
    version: int
    rows: torch.Tensor | None = None
    columns: torch.Tensor | None = None
    flat: torch.Tensor | None = None
    values: torch.Tensor | None = None
    scaled: torch.Tensor | None = None  # a dense input times the dropout's scale, made at its first use

    @classmethod
    def of(cls, h: torch.Tensor, sparse_share: float) -> _InputCells:
        cells = cls(weakref.ref(h), h._version)
        if not h.is_contiguous() or torch.count_nonzero(h) >= sparse_share * h.numel():
            return cells
        rows, columns = h.nonzero(as_tuple=True)
        cells.rows, cells.columns = rows, columns
        cells.flat = rows * h.size(1) + columns
        cells.values = h[rows, columns]
        return cells

    def describes(self, h: torch.Tensor) -> bool:
        return self.source() is h and self.version == h._version


class DistributedBatchNorm(nn.Module):
    """Batch norm whose statistics are taken over all workers' inner rows (sums travel through ``sum_across``).

    With ``sum_across`` the identity (one worker, or single-process full-graph training) it is plain batch norm.
    """

    def __init__(self, channels: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.momentum, self.eps = momentum, eps

    def forward(self, h: torch.Tensor, sum_across: SumAcrossWorkers, stat_rows: int | None = None) -> torch.Tensor:
        """Normalise ``h``; statistics come from its first ``stat_rows`` rows (the inner rows) on every worker."""
        if self.training:
            rows = h[:stat_rows]
            count = torch.tensor([float(rows.size(0))], device=h.device, dtype=h.dtype)
            totals = sum_across(torch.cat([rows.sum(0), (rows * rows).sum(0), count]))
            channels, n = h.size(1), totals[-1]
            mean = totals[:channels] / n
            var = (totals[channels : 2 * channels] / n - mean * mean).clamp_min(0.0)
            with torch.no_grad():
                unbiased = var * n / (n - 1).clamp_min(1.0)
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(unbiased.detach(), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (h - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


class LayerwiseGNN(nn.Module):
    """A stack of PyG convolutions evaluated layer by layer on one worker's inner + halo rows.

    Hidden layers: conv → norm → ReLU; dropout before every conv (Kipf & Welling's placement, inputs included).
    """

    def __init__(
        self,
        model: str,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        norm: str = "none",
        heads: int = 4,
    ):
        super().__init__()
        if model not in MODELS:
            raise ConfigError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
        if norm not in NORMS:
            raise ConfigError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
        if num_layers < 1 or hidden_channels < 1:
            raise ConfigError("a model needs at least one layer and one hidden channel")
        if model == "gat" and hidden_channels % heads:
            raise ConfigError(f"GAT hidden size {hidden_channels} must be divisible by heads={heads}")
        self.model, self.num_layers, self.norm_kind = model, num_layers, norm
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs = nn.ModuleList(self._conv(model, dims[i], dims[i + 1], i == num_layers - 1, heads)
                                   for i in range(num_layers))
        self.norms = nn.ModuleList(self._norm(norm, hidden_channels) for _ in range(num_layers - 1))
        self.dropout = NodeDropout(dropout)

    @staticmethod
    def _conv(model: str, fan_in: int, fan_out: int, last: bool, heads: int) -> nn.Module:
        if model == "gcn":
            return GCNConv(fan_in, fan_out, normalize=False)  # weights come from gcn_edge_weights
        if model == "sage":
            return SAGEConv(fan_in, fan_out, aggr="mean")
        if last:
            return GATConv(fan_in, fan_out, heads=1)
        return GATConv(fan_in, fan_out // heads, heads=heads)  # attention dropout off: it would break exactness

    @staticmethod
    def _norm(norm: str, channels: int) -> nn.Module:
        if norm == "batch":
            return DistributedBatchNorm(channels)
        if norm == "layer":
            return nn.LayerNorm(channels)
        return nn.Identity()

    @property
    def hidden_widths(self) -> list[int]:
        """Width of the embeddings that cross partitions before layers 1..L-1."""
        return [conv.out_channels * getattr(conv, "heads", 1) for conv in self.convs[:-1]]

    def conv(self, layer: int, h: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        """Layer ``layer``'s convolution; rows beyond ``graph.num_targets`` in the output, if any, are not used.
        With ``graph.halo_weights_detached`` the rows beyond ``graph.num_inner`` are computed with the layer's
        weights detached (its biases live); recomputed halo rows without it use the live weights."""
        conv = self.convs[layer]
        detached = graph.halo_weights_detached and graph.num_targets > graph.num_inner

        def weight(parameter: torch.Tensor) -> torch.Tensor:  # the halo rows' copy of a weight
            return parameter.detach() if detached else parameter

        split = graph.halo_aggregation is not None and graph.num_targets > graph.num_inner
        if graph.aggregation is not None and isinstance(conv, GCNConv):  # GCNConv.forward: lin, propagate, bias
            out = graph.aggregation(conv.lin(h))
            if split:
                out = torch.cat([out, graph.halo_aggregation(F.linear(h, weight(conv.lin.weight)))])
            return out + conv.bias
        if graph.aggregation is not None and isinstance(conv, SAGEConv):  # SAGEConv.forward (root weight, no norm)
            roots = graph.num_inner if split else graph.num_targets
            out = conv.lin_l(graph.aggregation(h)) + conv.lin_r(h[:roots])
            if split:
                halo = (F.linear(graph.halo_aggregation(h), weight(conv.lin_l.weight), conv.lin_l.bias)
                        + F.linear(h[roots: graph.num_targets], weight(conv.lin_r.weight), conv.lin_r.bias))
                out = torch.cat([out, halo])
            return out
        args = (h, graph.edge_index, graph.edge_weight) if isinstance(conv, GCNConv) else (h, graph.edge_index)
        out = conv(*args)
        if detached:  # the layer again with its weights detached, for the halo rows
            parameters = {name: value if name.rsplit(".", 1)[-1] == "bias" else value.detach()
                          for name, value in conv.named_parameters()}
            halo = torch.func.functional_call(conv, parameters, args)[graph.num_inner: graph.num_targets]
            out = torch.cat([out[: graph.num_inner], halo])
        return out

    def first_layer_halo(self, aggregate: torch.Tensor, x_halo: torch.Tensor) -> torch.Tensor:
        """Layer-1 rows of halo nodes from their static input aggregate (:func:`first_layer_aggregate`, computed by
        their owners) with the *current* first-layer weights: what the owner would compute, without dropout.

        GCN: ``(Â X)_v W¹ + b¹`` (the convolution is linear in its input, so aggregating first is exact); SAGE:
        ``W¹_neigh · mean_{u ∈ N(v)} x_u + b¹ + W¹_self x_v``; then the layer's norm (none or layer norm, which acts
        per row) and ReLU. (P3, Gandhi & Iyer, OSDI 2021: compute the first layer where the features live.)
        """
        conv = self.convs[0]
        if isinstance(conv, GCNConv):
            h = conv.lin(aggregate) + conv.bias
        elif isinstance(conv, SAGEConv):
            h = conv.lin_l(aggregate) + conv.lin_r(x_halo)
        else:
            raise ConfigError(f"no exact first-layer rows for {type(conv).__name__}")
        norm = self.norms[0]
        if isinstance(norm, DistributedBatchNorm):
            raise ConfigError("no exact first-layer rows with batch norm: its statistics are the step's")
        return F.relu(norm(h))

    def forward(
        self,
        x: torch.Tensor,
        graph: LocalGraph,
        supply_halo: SupplyHalo | None,
        dropout_key: tuple[int, ...] = (0,),
        sum_across: SumAcrossWorkers = _identity,
    ) -> torch.Tensor:
        """Logits of the inner rows. ``x`` holds inner + halo input features; without ``supply_halo`` the graph is
        taken to have no halo (single-process full-graph training)."""
        h = x
        for layer in range(self.num_layers):
            h = self.dropout(h, graph.node_ids, (*dropout_key, layer), constant=layer == 0)
            h = self.conv(layer, h, graph)[: graph.num_targets]
            if layer == self.num_layers - 1:
                return h[: graph.num_inner]
            norm = self.norms[layer]
            h = norm(h, sum_across, graph.num_inner) if isinstance(norm, DistributedBatchNorm) else norm(h)
            h = F.relu(h)
            h_inner = h[: graph.num_inner]
            if supply_halo is not None:  # halo rows recomputed in-partition: empty unless num_targets covers them
                h = torch.cat([h_inner, supply_halo(layer + 1, h_inner, h[graph.num_inner:])])


def first_layer_aggregate(model: str, graph: LocalGraph, x: torch.Tensor) -> torch.Tensor:
    """Per inner row, the static part of its first layer: GCN's ``(Â X)_v`` (normalised, self loop included, as in
    ``graph.edge_weight``), SAGE's mean of its neighbours' input features: the layer's own sparse aggregation. Owners
    send it once, at setup."""
    if model not in ("gcn", "sage") or graph.aggregation is None:
        raise ConfigError(f"no exact first-layer rows for {model!r}")
    return graph.aggregation(x)[: graph.num_inner]


def build_model(model: str, in_channels: int, out_channels: int, hidden: int, layers: int, dropout: float,
                norm: str = "none", heads: int = 4, seed: int = 0) -> LayerwiseGNN:
    """Build a model with parameters initialised from ``seed`` alone (identical on every worker)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LayerwiseGNN(model, in_channels, hidden, out_channels, layers, dropout, norm, heads)
