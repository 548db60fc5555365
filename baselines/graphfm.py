"""``graphfm``: GraphFM-OB feature momentum on top of GAS-style histories.

Yu, Wang, Wang, Liu, Yang, Ji. *GraphFM: Improving Large-Scale GNN Training via Feature Momentum.* ICML 2022
(code: divelab/DIG, ``dig/lsgraph``).

Update rule, per hidden layer: before a halo row is used, its history moves toward a partial recomputation from the
messages available inside the partition, ``h̃ ← γ·x̄ + (1−γ)·h_hist``, where ``x̄`` is the layer applied to the halo
node with only its in-partition neighbours (and its own cached row) as inputs; ``h_hist`` is the GAS history (pushed
by the owner every step, one step old). No gradient flows into halo rows. γ is tuned per dataset in the paper
(0.1–0.5); ours defaults to 0.2.
"""

import dataclasses

from satbench.baselines.gas import GAS
from satbench.lazy import lazy
from satbench.methods import Deviation, Option, register_method

torch = lazy("torch")  # imported when the method first trains: listing the methods needs no torch


@register_method
class GraphFM(GAS):
    """GAS histories corrected by momentum toward an in-partition recomputation (GraphFM-OB)."""

    name = "graphfm"
    paper = ("Yu, Wang, Wang, Liu, Yang, Ji. GraphFM: Improving Large-Scale GNN Training via Feature Momentum "
             "(GraphFM-OB). ICML 2022")
    code = "divelab/DIG"
    code_note = "dig/lsgraph/method/GraphFMOB/models/gcn.py, dig/lsgraph/method/FM.py"
    deviations = (
        Deviation("the partial row x̄ of a halo node is the layer applied to its in-partition neighbours and to its "
                  "own row (its self loop); DIG aggregates its in-batch neighbours only (adj_t[:, batch_size:]ᵀ "
                  "times the in-batch rows), without the node's own row",
                  "x̄ comes from the same in-partition recomputation LMC uses (partial_halo graph, self loops on "
                  "the halo rows)"),
        Deviation("with batch norm, x̄ is normalised with the step's batch statistics (of the inner rows); DIG "
                  "normalises it in eval mode (running statistics)",
                  "the layer computes inner and halo rows in one pass, through the same norm"),
        Deviation("partition-parallel, as gas: the momentum acts on rows one step old that every owner pushes at "
                  "every step, and what it moves is what the model reads this step (the owners' next push "
                  "overwrites it, as a node's own batch overwrites DIG's history)",
                  "the benchmark studies staleness in distributed training"),
    )
    train_graph = "partial_halo"
    options = {"momentum": Option(0.2, "γ of h ← γ·x̄ + (1−γ)·h_hist", minimum=0.0, maximum=1.0)}

    def supply_halo(self, layer, h_inner, partial_halo):
        stale = super().supply_halo(layer, h_inner, partial_halo)
        gamma = self.config["momentum"]
        # The momentum step moves what the model reads this step, not the history the owners push into.
        return dataclasses.replace(stale, rows=gamma * partial_halo.detach() + (1.0 - gamma) * stale.rows,
                                   current_share=torch.full((stale.rows.size(0),), gamma, device=stale.rows.device))
