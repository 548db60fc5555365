"""SAT's embedding predictor (Bai et al. 2023): an LSTM over a window of halo snapshots, then a 2-layer GCN over the
worker's local graph; and the replay batches it trains on online."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GCNConv


class EmbeddingPredictor(nn.Module):
    """LSTM over a window of snapshots, then a 2-layer GCN over the local graph; outputs halo rows.

    ``forward`` takes one window; ``forward_batch`` several windows of the same length at once (the replay buffer in
    one pass: PyG's GCNConv propagates ``[batch, nodes, width]`` features along the nodes axis).
    """

    def __init__(self, width: int, residual: bool):
        super().__init__()
        self.lstm = nn.LSTM(width, width, batch_first=True)
        self.conv1 = GCNConv(width, width, cached=True)
        self.conv2 = GCNConv(width, width, cached=True)
        self.residual = residual
        if residual:  # an untrained residual predictor outputs the latest snapshot unchanged
            nn.init.zeros_(self.conv2.lin.weight)
            nn.init.zeros_(self.conv2.bias)

    def forward(self, window: list[torch.Tensor], inner: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.forward_batch(torch.stack(window, dim=1).unsqueeze(0), inner, edge_index)[0]

    def forward_batch(self, windows: torch.Tensor, inner: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """``windows`` [batch, num_halo, K, width], ``inner`` [num_inner, width] -> [batch, num_halo, width]."""
        batch, num_halo, length, width = windows.shape
        _, (hidden, _) = self.lstm(windows.reshape(batch * num_halo, length, width))  # zero initial state
        halo = hidden[-1].reshape(batch, num_halo, width)
        h = torch.cat([inner.expand(batch, -1, -1), halo], dim=1)  # [batch, nodes, width]
        h = F.relu(self.conv1(h, edge_index))
        out = self.conv2(h, edge_index)[:, inner.size(0):]
        return windows[:, :, -1] + out if self.residual else out


def replay_batches(replay) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(window, target) pairs stacked into one batch per window length (shorter only at the start)."""
    by_length: dict[int, list] = {}
    for window, target in replay:
        by_length.setdefault(len(window), []).append((torch.stack(window, dim=1), target))
    return [(torch.stack([w for w, _ in pairs]), torch.stack([t for _, t in pairs])) for pairs in by_length.values()]
