"""``staleness-weighted`` and ``staleness-weighted+gas``: an age-decay weighting of halo messages (ours).

A stale neighbour's message counts less, by its age. Ours, inspired by VISAGNN's staleness-aware attention (Xue,
*VISAGNN: Versatile Staleness-Aware Efficient Training on Large-Scale Graphs*, arXiv:2511.12434, 2025), which learns
how much to attend to a historical embedding from its staleness, alongside a staleness-aware loss and staleness-
augmented embeddings. No public code of VISAGNN is known to us (its arXiv record links none), and this is not it: one fixed exponential decay in the row's age,
nothing learned, no loss or embedding term. (ReFresh / FreshGNN, arXiv:2301.07482, is a cache *admission* policy,
keeping a cached embedding only while its gradient is small and its age under a bound; it never weights messages, and
nothing here is taken from it.)

Update rule, per hidden layer and step, on a base that keeps a halo history (``digest``, or ``gas`` for ``+gas``,
held and run unchanged underneath): the rows used are the base's rows, and halo row ``j``'s message into every inner
node is scaled by ``w_j = exp(−age_j / λ)``, where ``age_j`` (epochs) = optimiser steps since the base computed the
row (its history's per-row ``fresh_step``; the fill before training counts as step −1) / steps per epoch. Inner
neighbours (fresh) are never scaled, and a fresh halo row (age 0) has ``w = 1``. The scaling is *not renormalised*:
no mass moves onto the fresh neighbours (GCN's normalisation and SAGE's mean keep their weights), so a node's
aggregate shrinks by the stale part it distrusts; "renormalised so that a node's fresh neighbours are not scaled"
means exactly this, ``w(0) = 1``. With λ → ∞ every ``w`` is 1 and the method is its base (tested). The weights enter
at the trainer's halo seam (``HaloRows.weight``), which measures staleness on the rows as supplied (unweighted: still
the base's estimates of the exact rows) and drops the weights under the fresh-halo control (exact rows, age 0), so
that control is the base's. GCN and SAGE only: a halo row's message is linear in the row there, so scaling the row
scales the message; GAT's attention is not (refused).
"""

from __future__ import annotations

import dataclasses


from satbench.errors import ConfigError
from satbench.halo import as_halo_rows
from satbench.lazy import lazy
from satbench.methods import Alleviation, Deviation, Option, register_on_base

torch = lazy("torch")  # imported when the method first trains: listing the methods needs no torch


class StalenessWeighted(Alleviation):
    """The base's halo rows, each message scaled by exp(−age/λ), age in epochs since the row was computed."""

    name = "staleness-weighted"
    paper = ("ours: an age-decay weighting inspired by VISAGNN's staleness-aware attention (Xue, VISAGNN: Versatile "
             "Staleness-Aware Efficient Training on Large-Scale Graphs, arXiv:2511.12434, 2025)")
    code_note = "ours; no public code of VISAGNN is known (its arXiv record links none)"
    deviations = (
        Deviation("one fixed exponential decay exp(-age/λ) of each halo message, nothing learned; VISAGNN learns a "
                  "staleness-aware attention and adds a staleness-aware loss and staleness-augmented embeddings",
                  "ours: the simplest staleness weighting, a reference point for the idea, not a reimplementation "
                  "of VISAGNN"),
    )
    shares_base_control = True  # the weights are dropped under the control, where it trains as its base
    halo_copies = 1.0  # the weighted rows (README, "Before any worker starts")
    options = {"lambda": Option(10.0, "λ (epochs): a halo row of age a (epochs) sends its message scaled by "
                                      "exp(-a/λ)", minimum=1e-6)}

    @classmethod
    def check_run(cls, config, name=None):
        if config.model not in ("gcn", "sage"):
            raise ConfigError(f"method {name or cls.name!r} scales halo rows' messages, which needs gcn or sage (a "
                              f"{config.model} message is not linear in the row)")

    def setup(self, exact):
        super().setup(exact)
        self.base_history()  # refuse a base without one before training

    def weights(self, layer: int) -> torch.Tensor:
        """Per halo row of ``layer``: exp(−age/λ), age in epochs (float64, so a huge λ gives exactly 1)."""
        steps = (self.step - self.base.history.fresh_step[layer]).double()
        return torch.exp(-(steps / self.steps_per_epoch) / self.config["lambda"])

    def supply_halo(self, layer, h_inner, partial_halo):
        supplied = as_halo_rows(self.base.supply_halo(layer, h_inner, partial_halo))
        return dataclasses.replace(supplied, weight=self.weights(layer).to(supplied.rows.dtype))


register_on_base("staleness-weighted", StalenessWeighted, "digest",
                 "Staleness-weighted (ours: age decay, inspired by VISAGNN's staleness attention): DIGEST's halo rows, "
                 "each message scaled by exp(-age/λ).")
register_on_base("staleness-weighted+gas", StalenessWeighted, "gas",
                 "Staleness-weighted (ours: age decay, inspired by VISAGNN's staleness attention) on GAS histories: "
                 "each halo message scaled by exp(-age/λ).")
