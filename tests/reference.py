"""Single-process full-graph training: the oracle that the distributed ``exact`` method must reproduce.

It shares only the model definition with satbench (same parameter initialisation, same node-keyed dropout); the
graph is never partitioned, GCN normalisation comes from PyG's own ``gcn_norm`` and there is no communication.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from satbench.models import LocalGraph, build_model


def full_graph_training(graph, model="gcn", epochs=5, seed=0, hidden=16, layers=2, dropout=0.5, lr=0.01,
                        weight_decay=0.0, norm="none", heads=4):
    """Returns (per-epoch losses, final state dict) of plain full-batch training."""
    data = graph.data
    edge_index, edge_weight = data.edge_index, None
    if model == "gcn":
        edge_index, edge_weight = gcn_norm(edge_index, num_nodes=data.num_nodes, add_self_loops=True)
    local = LocalGraph(edge_index, data.num_nodes, torch.arange(data.num_nodes), edge_weight)
    net = build_model(model, data.num_features, graph.num_classes, hidden, layers, dropout, norm, heads, seed=seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for step in range(epochs):
        net.train()
        optimizer.zero_grad()
        logits = net(data.x, local, supply_halo=None, dropout_key=(seed, step))
        loss = F.cross_entropy(logits[data.train_mask], data.y[data.train_mask])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, {k: v.detach().clone() for k, v in net.state_dict().items()}
