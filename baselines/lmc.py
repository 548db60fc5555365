"""``lmc``: Local Message Compensation on GAS histories, forward and backward.

Shi, Liang, Wang, et al. *LMC: Fast Training of GNNs via Subgraph Sampling with Provable Convergence.* ICLR 2023
(code: MIRALab-USTC/GNN-LMC, built on PyGAS: ``hist_conv`` in ``models/gcn.py``, the backward hook in
``models/base.py``, the per-node α in ``loader.py``). Partition-parallel training is LMC with the partition as the
batch and every partition in the batch at every step; a worker's halo nodes are LMC's out-of-batch 1-hop nodes.

Update rule, per hidden layer ``l`` and step ``t``, on ``gas`` (held and run unchanged underneath: every owner pushes
its inner rows each step, so the history ``h_hist`` of a halo row is one step old, and it carries no gradient):

* forward: halo row ``j`` is used as ``h̃_j = α_j·h_partial_j + (1 − α_j)·h_hist_j``, where ``h_partial_j`` is the
  layer applied to ``j`` with only the inputs this worker holds (its in-partition neighbours' rows and ``j``'s own
  row of the previous layer: ``train_graph = "partial_halo"``, normalised with global degrees), with the layer's
  weights *detached* (its bias live), as the authors compute out-of-batch rows (``MaskGCNConv``:
  ``out[batch_size:] @ self.weight.detach()``; :attr:`satbench.models.LocalGraph.halo_weights_detached`;
  ``-o halo_weights=live``, the form this suite had before, gives the weights the halo rows' share too, and is kept
  only to measure what the difference moves: docs/options.md);
* backward: the gradient of ``h̃_j`` is compensated, ``g̃_j = α_j·g_j + (1 − α_j)·g_hist_j``, and ``g̃_j`` flows
  whole into ``h_partial_j`` (as in the authors' ``emb + (1 − α)(hist − emb.detach())`` with its hook: the blend's
  value, the identity's gradient), so through ``j``'s in-partition computation into this worker's inner rows, but
  not into the weights: the weight gradient comes from the inner (in-batch) rows only. ``h_hist`` gets none.
  Nothing is sent to ``j``'s owner (a halo row's gradient stays with the worker that used it, as in LMC, where an
  out-of-batch node's gradient reaches the batch through its partial computation);
* ``g_hist_j`` is the gradient of ``j``'s row on its owner at the previous step (the gradient of the owner's loss
  with respect to its inner row, as the authors' hook pushes ``grad[:batch_size]`` into the gradient history): every
  owner pushes the gradients of the rows its peers hold during its backward pass (``halo_grad`` bytes, as many as
  ``exact``'s halo gradients), and the holders take delivery at their next step. Before the first push it is 0
  (the authors' histories start at zero).

``α_j`` is the authors' ``beta · score(f_j)``, with ``f_j`` the fraction of ``j``'s inputs this worker holds:
``(in-partition neighbours of j + 1) / (degree of j + 1)``, the node itself counted as one input (their adjacency has
self loops). As in their loader, a row with ``f_j = 1`` (every input held: ``h_partial_j`` is exact) takes
``α_j = 1`` whatever ``beta``. Options: ``score`` ∈ {linear ``f``, concave ``f(2 − f)``, convex ``f²``, const ``1``}
and ``beta``; their ``sin`` is left out, being negative for ``f < 1/2``; ``score=const`` makes ``α = beta`` a
constant. The defaults (linear, beta 1) are their yaml defaults (``conf_large/model/gcn.yaml``); the ``variant.json``
configs their README reproduces the paper with choose per dataset and model, and differ: score ``const`` in 4 of 8
(GCN arxiv and flickr, GCNII flickr and reddit), concave in 2, convex and linear in 1 each, with β ∈ {0.2, 0.8,
0.9, 1.0} (GCN: arxiv const/1.0, flickr const/0.8, ppi convex/0.8, reddit concave/1.0). Deviations (declared in
:attr:`deviations`): the blend acts on the rows that cross partitions here, after the layer's norm and ReLU (theirs
before the ReLU); no halo-to-halo edges are held, so ``h_partial`` counts in-partition neighbours only; GAS's history
is pushed by the owners rather than written by the batch that computed it.

The rows it replaced (``HaloRows.replaced``) are GAS's history rows; their age is reported as the history's. Its
fresh-halo control is its own, not GAS's: with exact rows its halo gradients still take the compensated path through
``h_partial`` and its gradient pushes still cross, where GAS's rows carry no gradient at all.
"""

from __future__ import annotations

import dataclasses

from satbench.halo import as_halo_rows
from satbench.lazy import lazy
from satbench.methods import Alleviation, Deviation, Option, register_on_base

# imported when the method first trains, so that listing the methods needs no torch
torch = lazy("torch")
autograd = lazy("satbench.baselines._autograd")

SCORES = {
    "linear": lambda f: f,
    "concave": lambda f: f * (2 - f),
    "convex": lambda f: f * f,
    "const": lambda f: torch.ones_like(f),
}


class LMC(Alleviation):
    """Halo rows and their gradients compensated: α·(in-partition recomputation) + (1−α)·(history), forward and
    backward."""

    name = "lmc"
    paper = ("Shi, Liang, Wang, et al. LMC: Fast Training of GNNs via Subgraph Sampling with Provable Convergence. "
             "ICLR 2023")
    code = "MIRALab-USTC/GNN-LMC"
    code_note = "pyg_autoscale/models/gcn.py (hist_conv), layers/graphconv.py (MaskGCNConv), models/base.py"
    deviations = (
        Deviation("the blend acts on the rows that cross partitions, after the layer's norm and ReLU; the authors "
                  "blend before the ReLU (push_and_pull after batch norm)",
                  "a layer's outputs after its activation are what crosses partitions here, for every method"),
        Deviation("no halo-to-halo edges are held, so h_partial counts in-partition neighbours only; the authors' "
                  "subgraph also holds the edges among out-of-batch 1-hop nodes",
                  "a worker knows only the edges into its own nodes"),
        Deviation("GAS's history is pushed by the owners at every step (one step old), not written by the batch "
                  "that computed it",
                  "partition-parallel: every partition is in the batch at every step"),
        Deviation("the option defaults are the authors' yaml defaults (score linear, beta 1); the variant.json "
                  "configs their README reproduces the paper with choose per dataset (GCN: arxiv const/1.0, flickr "
                  "const/0.8, ppi convex/0.8, reddit concave/1.0; const in 4 of their 8 configs, beta 0.2-1.0)",
                  "no per-dataset defaults here: set -o score and -o beta per dataset"),
    )
    shares_base_control = False  # its gradient path through h_partial and its gradient pushes are its own
    train_graph = "partial_halo"
    # the partial recomputation, the gradient history, gradients in flight (README, "Before any worker starts")
    halo_copies = 8.0
    options = {
        "score": Option("linear", "α_j = beta * score(f_j), f_j = (in-partition neighbours of halo node j + 1) / "
                                  "(degree + 1): linear f, concave f(2-f), convex f^2, const 1",
                        choices=tuple(SCORES)),
        "beta": Option(1.0, "scales every α_j below 1 (the authors' yaml default; their variant.json configs use "
                            "0.2-1.0)", minimum=0.0, maximum=1.0),
        "halo_weights": Option("detached", "the weights h_partial is computed with: detached (the authors': the "
                                           "weight gradient from the inner rows only) or live (this suite's form "
                                           "before it followed theirs, kept to measure what the difference moves)",
                               choices=("detached", "live")),
    }

    @classmethod
    def detaches_halo_weights(cls, options):
        return options["halo_weights"] == "detached"

    def __init__(self, context, base, **options):
        super().__init__(context, base, **options)
        graph = context.graph
        num_halo = self.comm.num_halo
        cut = graph.edge_index[:, graph.edge_index[0] >= graph.num_inner]  # halo -> inner: inputs this worker holds
        held = torch.bincount(cut[0] - graph.num_inner, minlength=num_halo).double()
        degree = context.degree[graph.num_inner:].double()
        fraction = (held + 1) / (degree + 1)
        alpha = self.config["beta"] * SCORES[self.config["score"]](fraction)
        # Column of per-row weights; a halo row whose inputs are all held is computed exactly here.
        self.alpha = torch.where(fraction >= 1, torch.ones_like(alpha), alpha).float().unsqueeze(1)
        self.grad_history = {}  # layer -> g_hist: the owners' latest gradients of my halo rows
        self.pending_grads = {}  # layer -> gradients in flight from the owners

    def setup(self, exact):
        super().setup(exact)
        self.base_history()  # refuse a base without one before training
        for layer, (_, halo) in exact.items():
            self.grad_history[layer] = torch.zeros_like(halo)

    def collect_gradients(self, layer: int) -> None:
        """Take delivery of the gradients the owners pushed for ``layer`` at the previous step."""
        if layer in self.pending_grads:
            self.grad_history[layer] = self.pending_grads.pop(layer).wait()

    def push_gradients(self, layer: int, h_inner: torch.Tensor) -> None:
        """In the backward pass, send the gradient of my inner rows to the peers that hold them as halo rows."""
        comm = self.comm

        def push(grad):
            self.pending_grads[layer] = comm.start_rows(grad[comm.send_index].contiguous(), comm.send_counts,
                                                        comm.halo_counts, "halo_grad")

        h_inner.register_hook(push)

    def supply_halo(self, layer, h_inner, partial_halo):
        stale = as_halo_rows(self.base.supply_halo(layer, h_inner, partial_halo))
        self.collect_gradients(layer)
        history = stale.rows.detach()
        alpha = self.alpha.to(history.dtype)
        rows = autograd.Compensated.apply(partial_halo, history, alpha, self.grad_history[layer].to(history.dtype))
        if h_inner.requires_grad:
            self.push_gradients(layer, h_inner)
        # α of each row is computed now, with this step's masks; the rest is the history's row with its own.
        return dataclasses.replace(stale, rows=rows, replaced=history, current_share=self.alpha)


register_on_base("lmc", LMC, "gas",
                 "LMC (local message compensation) on GAS histories: halo rows and their gradients blended "
                 "α·(in-partition recomputation) + (1−α)·(history), α per row from its neighbours held here.")
