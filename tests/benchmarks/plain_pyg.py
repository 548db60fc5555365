"""Plain PyG, as the benchmarks compare satbench with it."""

import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv


class PlainGCN(torch.nn.Module):
    """PyG's own ``examples/gcn.py`` model: dropout on the input and the hidden layer, cached normalisation. The
    adjacency is an ``edge_index`` or a sparse adjacency (row = target), PyG's two message-passing paths."""

    def __init__(self, in_channels, hidden, out_channels, dropout):
        super().__init__()
        self.conv1 = GCNConv(in_channels, hidden, cached=True)
        self.conv2 = GCNConv(hidden, out_channels, cached=True)
        self.dropout = dropout

    def forward(self, x, adjacency):
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.conv1(x, adjacency).relu()
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.conv2(x, adjacency)


def epoch_step(model, optimizer, data, adjacency):
    """One full-batch training step."""
    model.train()
    optimizer.zero_grad()
    out = model(data.x, adjacency)
    F.cross_entropy(out[data.train_mask], data.y[data.train_mask]).backward()
    optimizer.step()
