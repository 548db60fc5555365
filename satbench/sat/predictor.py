"""SAT's embedding predictor (Bai et al. 2023): an LSTM over a window of halo snapshots, then a 2-layer GCN over the
worker's local graph; and the replay batches it trains on online."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint
from torch_geometric.nn import GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from ..models import SparseAggregation


class PredictorGraph:
    """The predictor's graph over a worker's inner + halo rows, as two CSR adjacencies: every row (the first
    convolution) and the halo rows only (the second one, whose output is read only there). Sparse products never
    materialise one message per edge and feature.

    ``normalise``: weighted as GCNConv does (self loops, symmetric degrees); otherwise a plain sum over the edges and
    a self loop on every row, as the authors' predictor (``digest/auxiliary_models/lstm_gcn.py``: PyG's ``GCN`` with
    ``normalize=False``, over a subgraph whose loader adds the self loops)."""

    def __init__(self, edge_index: torch.Tensor, num_inner: int, num_rows: int, normalise: bool = True):
        if normalise:
            edge_index, weight = gcn_norm(edge_index, None, num_rows, add_self_loops=True)
        else:
            loops = torch.arange(num_rows, device=edge_index.device)
            edge_index = torch.cat([edge_index, torch.stack([loops, loops])], dim=1)
            weight = torch.ones(edge_index.size(1), device=edge_index.device)
        self.num_inner = num_inner
        self.all_rows = SparseAggregation(edge_index, num_rows, num_rows, weight)
        into_halo = edge_index[1] >= num_inner
        halo_edges = edge_index[:, into_halo] - torch.tensor([[0], [num_inner]], device=edge_index.device)
        self.halo_rows = SparseAggregation(halo_edges, num_rows - num_inner, num_rows, weight[into_halo])


def induced_subgraph_edges(comm, graph) -> torch.Tensor:
    """Every edge of the full graph between two of this worker's rows (inner or halo), self loops left out, over
    local rows: the worker's own edges into its inner rows, and from each halo row's owner the edges into that row
    whose source this worker holds (halo-to-halo edges included). The subgraph the authors' loader hands their
    predictor (``digest/loader.py``, ``compute_subgraph``); a worker here holds no edge into a halo row, so the owners
    send them once, before training (``graph``: the worker's :class:`~satbench.models.LocalGraph`)."""
    device = graph.edge_index.device
    edges = graph.edge_index[:, graph.edge_index[0] != graph.edge_index[1]]  # GCN's graph carries self loops
    edges = edges[:, edges[1] < graph.num_inner]
    node_ids = graph.node_ids
    # As owner: the in-neighbours (global ids) of every row a peer holds, row after row in the order it is sent.
    order = torch.argsort(edges[1], stable=True)
    sources = node_ids[edges[0, order]]
    degree = torch.bincount(edges[1], minlength=graph.num_inner)
    starts = torch.cumsum(degree, 0) - degree
    sent_degree = degree[comm.send_index]
    offsets = torch.cumsum(sent_degree, 0) - sent_degree
    within = torch.arange(int(sent_degree.sum()), device=device) - torch.repeat_interleave(offsets, sent_degree)
    sent_sources = sources[torch.repeat_interleave(starts[comm.send_index], sent_degree) + within]
    # satbench.comm.Traffic.SETUP, by its value: before training, as the authors' loader builds the subgraph offline
    received_degree = comm.exchange_rows(sent_degree.unsqueeze(1), comm.send_counts, comm.halo_counts,
                                         "setup").flatten()
    send_totals = [int(block.sum()) for block in sent_degree.split(comm.send_counts)]
    receive_totals = [int(block.sum()) for block in received_degree.split(comm.halo_counts)]
    received_sources = comm.exchange_rows(sent_sources.unsqueeze(1), send_totals, receive_totals, "setup").flatten()
    # As receiver: keep the edges whose source is one of my rows.
    targets = torch.repeat_interleave(torch.arange(graph.num_inner, graph.num_rows, device=device), received_degree)
    sorted_ids, rows = torch.sort(node_ids)
    position = torch.searchsorted(sorted_ids, received_sources).clamp_max(graph.num_rows - 1)
    held = sorted_ids[position] == received_sources
    halo_edges = torch.stack([rows[position[held]], targets[held]])
    return torch.cat([edges, halo_edges], dim=1)


def _propagate(conv: GCNConv, aggregation: SparseAggregation, h: torch.Tensor) -> torch.Tensor:
    """``conv`` on a batch of node features ``h`` [batch, nodes, width] -> [batch, aggregation targets, width]."""
    h = conv.lin(h)
    batch, nodes, width = h.shape
    out = aggregation(h.transpose(0, 1).reshape(nodes, batch * width))
    return out.reshape(-1, batch, width).transpose(0, 1) + conv.bias


class EmbeddingPredictor(nn.Module):
    """LSTM over a window of snapshots, then a 2-layer GCN over the local graph; outputs halo rows.

    ``forward`` takes one window; ``forward_batch`` several windows of the same length at once (the replay buffer in
    one pass).
    """

    LSTM_BLOCK = 4_096  # halo rows per recomputed block of the LSTM (about 150 MB of activations at width 128)

    def __init__(self, width: int, residual: bool):
        super().__init__()
        self.lstm = nn.LSTM(width, width, batch_first=True)
        self.conv1 = GCNConv(width, width)  # parameters only: propagation is over a PredictorGraph
        self.conv2 = GCNConv(width, width)
        self.residual = residual
        if residual:  # an untrained residual predictor outputs the latest snapshot unchanged
            nn.init.zeros_(self.conv2.lin.weight)
            nn.init.zeros_(self.conv2.bias)

    def _last_hidden(self, sequences: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(sequences)  # zero initial state
        return hidden[-1]

    def _summaries(self, sequences: torch.Tensor) -> torch.Tensor:
        """The LSTM's last hidden state per sequence, in blocks of rows: the LSTM's working tensors take about
        K x 4 x width floats per row even without autograd (gigabytes at a million nodes). Under autograd each block's
        activations are recomputed in the backward pass instead of kept."""
        if sequences.size(0) <= self.LSTM_BLOCK:
            return self._last_hidden(sequences)
        blocks = sequences.split(self.LSTM_BLOCK)
        if not torch.is_grad_enabled():
            return torch.cat([self._last_hidden(block) for block in blocks])
        return torch.cat([checkpoint(self._last_hidden, block, use_reentrant=False) for block in blocks])

    def forward(self, window: list[torch.Tensor], inner: torch.Tensor | None, graph: PredictorGraph) -> torch.Tensor:
        return self.forward_batch(torch.stack(window, dim=1).unsqueeze(0), inner, graph)[0]

    def forward_batch(self, windows: torch.Tensor, inner: torch.Tensor | None,
                      graph: PredictorGraph) -> torch.Tensor:
        """``windows`` [batch, num_halo, K, width], ``inner`` [num_inner, width] -> [batch, num_halo, width].

        ``inner`` None: the inner rows enter as the authors' do (``digest/models/gcn.py``: a zero row for every inner
        node in each window entry, through the LSTM): the LSTM's last hidden state over K zero rows, one row for all
        of them (every inner sequence is the same)."""
        batch, num_halo, length, width = windows.shape
        halo = self._summaries(windows.reshape(batch * num_halo, length, width)).reshape(batch, num_halo, width)
        if inner is None:
            inner = self._last_hidden(windows.new_zeros(1, length, width)).expand(graph.num_inner, width)
        h = torch.cat([inner.expand(batch, -1, -1), halo], dim=1)  # [batch, nodes, width]
        h = F.relu(_propagate(self.conv1, graph.all_rows, h))
        out = _propagate(self.conv2, graph.halo_rows, h)
        return windows[:, :, -1] + out if self.residual else out


def replay_batches(replay) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(window, target) pairs stacked into one batch per window length (shorter only at the start)."""
    by_length: dict[int, list] = {}
    for window, target in replay:
        by_length.setdefault(len(window), []).append((torch.stack(window, dim=1), target))
    return [(torch.stack([w for w, _ in pairs]), torch.stack([t for _, t in pairs])) for pairs in by_length.values()]
