"""SAT's registered variants: each a :class:`SATVariant`, SAT's options with its own defaults on a base method held by
registry name (never imported: the base is built when the variant is)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..methods import MethodContext, Option, get_method, register_method, resolve_options
from .method import SAT
from .options import SAT_OPTIONS, check_sat_options, check_sat_run


@dataclasses.dataclass(frozen=True, eq=True)
class SATVariant:
    """A registered SAT configuration: SAT's options with its own defaults, composed with the base method registered
    as ``base`` (whose weight sync, local steps, graph and options it takes). Calling it builds the base, then SAT
    holding it."""

    name: str
    base: str
    description: str
    defaults: tuple[tuple[str, Any], ...] = ()
    exact_first_layer: bool = False  # built on --exact-first-layer
    family = "sat"

    @property
    def base_method(self):
        return get_method(self.base)

    @property
    def weight_sync(self) -> str:
        return self.base_method.weight_sync

    @property
    def local_steps(self) -> int:
        return self.base_method.local_steps

    @property
    def train_graph(self) -> str:
        return self.base_method.train_graph

    @property
    def options(self) -> dict[str, Option]:
        defaults = dict(self.defaults)
        return {**self.base_method.options,
                **{key: dataclasses.replace(option, default=defaults.get(key, option.default))
                   for key, option in SAT_OPTIONS.items()}}

    def check_options(self, options: dict[str, Any]) -> None:
        self.base_method.check_options({key: options[key] for key in self.base_method.options})
        check_sat_options(self.name, options)

    def summary(self) -> str:
        return self.description

    def check_run(self, config) -> None:
        check_sat_run(self.name, config)

    def __call__(self, context: MethodContext, **options) -> SAT:
        resolved = resolve_options(self, options)
        base = self.base_method(context, **{key: resolved[key] for key in self.base_method.options})
        sat = SAT(context, base, **{key: resolved[key] for key in SAT_OPTIONS})
        sat.name = self.name
        return sat


def sat_variant(name: str, base: str, description: str, exact_first_layer: bool = False, **defaults) -> SATVariant:
    """Register a SAT variant on the base method registered as ``base``."""
    unknown = sorted(set(defaults) - set(SAT_OPTIONS))
    if unknown:
        raise TypeError(f"unknown SAT options {unknown}")
    return register_method(SATVariant(name, base, description, tuple(sorted(defaults.items())), exact_first_layer))


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
