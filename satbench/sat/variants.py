"""SAT's registered variants: each SAT (:class:`~satbench.sat.method.SAT`) with its own option defaults, registered on
a base method held by registry name (never imported: the base is built when the variant is; see
:class:`~satbench.methods.OnBase`)."""

from __future__ import annotations

from ..methods import OnBase, register_on_base
from .method import SAT

SATVariant = OnBase  # what a registered SAT variant is


def sat_variant(name: str, base: str, description: str, exact_first_layer: bool = False, **defaults) -> OnBase:
    """Register a SAT variant on the base method registered as ``base``."""
    return register_on_base(name, SAT, base, description, exact_first_layer, **defaults)


sat_variant("sat", "digest", "SAT (faithful): LSTM+GCN halo-embedding prediction on top of DIGEST.")
sat_variant("sat+gas", "gas", "SAT (faithful) on top of GAS histories.")
sat_variant("sat+pipegcn", "pipegcn", "SAT (faithful) on top of PipeGCN.")
sat_variant("sat-layer1", "digest",
            "SAT-layer1 (ours): exact first-layer halo rows (--exact-first-layer, implied); layer 2 predicted as "
            "the snapshot plus the change of its locally computable pre-activation since it arrived, scaled by a "
            "gain fitted online at every sync, gated per owner.",
            exact_first_layer=True, residual=True, local_delta=True, gated=True, predictor_steps=0)
sat_variant("sat-plus", "digest",
            "SAT-plus (ours): residual predictor anchored at the damped linear extrapolation, time-aware, gated "
            "(margin 0.8) with the owners' evidence; 5 steps per sync on a replay buffer of 2.",
            residual=True, time_aware=True, gated=True, gate_margin=0.8, extrapolate=True, predictor_steps=5,
            replay=2, owner_check=True)
