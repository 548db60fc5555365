"""The method plug-in interface: what a halo-handling method is, and the registry that finds methods by name.

A method answers one question, once per hidden layer of every training step: *which halo rows does this worker use?*
(an exact exchange, a cached stale copy, a corrected or predicted one). It may also ask for model averaging instead of
gradient all-reduce, and for several local steps per epoch. It never talks to ``torch.distributed`` directly: all
communication goes through the :class:`~satbench.dist.comm.Communicator` it is given, which counts and times it.

Methods live one per module in ``baselines/`` (or in any directory listed in ``SATBENCH_METHOD_PATH``) and register
themselves with :func:`register_method`; nothing in the core needs editing to add one.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import pkgutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from .errors import ConfigError

WEIGHT_SYNCS = ("allreduce", "average")


@dataclass(frozen=True)
class Option:
    """A method hyperparameter: its default, type and one-line meaning (shown by ``satbench methods``)."""

    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None

    @property
    def type(self) -> type:
        return type(self.default)


@dataclass(frozen=True)
class MethodContext:
    """What the trainer hands a method: its communicator and the shape of training."""

    comm: Any  # satbench.dist.comm.Communicator
    num_layers: int
    steps_per_epoch: int
    lr: float  # the GNN's learning rate (SAT's predictor defaults to it)
    graph: Any  # satbench.models.LocalGraph: the worker's exact message-passing graph


class Method:
    """Base class. Subclasses set ``name``, a docstring citing their paper and stating the update rule, and override
    :meth:`supply_halo`; the other hooks are optional.

    The trainer calls, per epoch: :meth:`start_epoch`, then per optimiser step :meth:`start_step`, the model's
    forward (which calls :meth:`supply_halo` before every hidden layer), the backward, :meth:`after_backward`; and
    :meth:`peek_halo` / :meth:`halo_age` when it measures staleness.
    """

    name: ClassVar[str] = ""
    weight_sync: ClassVar[str] = "allreduce"  # or "average": model averaging once per epoch
    local_steps: ClassVar[int] = 1  # optimiser steps per epoch
    drops_cut_edges: ClassVar[bool] = False  # train on the partition alone (no halo rows at all)
    needs_partial_halo: ClassVar[bool] = False  # wants halo rows recomputed from in-partition messages
    options: ClassVar[dict[str, Option]] = {}

    def __init__(self, context: "MethodContext", **options: Any):
        self.comm = context.comm
        self.num_layers = context.num_layers
        self.steps_per_epoch = context.steps_per_epoch
        self.config = resolve_options(type(self), options)
        self.epoch = 0
        self.step = 0
        self.epoch_first_step = 0

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        """Reject combinations of valid values that do not work together (raise :class:`ConfigError`)."""

    def setup(self, exact: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Called once before training with, per hidden layer (index 0 = the input of layer 1), this worker's inner
        rows and the exact halo rows, computed with the initial weights in eval mode: histories are filled here."""

    def start_epoch(self, epoch: int, step: int) -> None:
        """Called before every epoch (1-based) with the index of its first optimiser step (0-based, over the run)."""
        self.epoch, self.step, self.epoch_first_step = epoch, step, step

    def start_step(self, step: int) -> None:
        """Called before every optimiser step (0-based, counted over the whole run)."""
        self.step = step

    def supply_halo(self, layer: int, h_inner: torch.Tensor, partial_halo: torch.Tensor) -> torch.Tensor:
        """Halo rows to use before ``layer`` (1..L-1), given this worker's freshly computed inner rows and, for
        methods with ``needs_partial_halo``, the halo rows recomputed from in-partition messages only (an empty
        tensor for other methods)."""
        raise NotImplementedError

    def after_backward(self) -> None:
        """Called after the loss's backward, before the optimiser step."""

    def peek_halo(self, layer: int, h_inner: torch.Tensor, partial_halo: torch.Tensor) -> torch.Tensor:
        """The halo rows :meth:`supply_halo` would use now, without changing any state (for staleness
        measurement). ``h_inner`` and ``partial_halo`` come from an exact eval-mode pass with the current weights."""
        raise NotImplementedError(f"method {self.name!r} does not implement peek_halo, which measuring staleness "
                                  f"needs; run it with --staleness-every 0")

    def halo_age(self, layer: int) -> tuple[float, float]:
        """Age of the halo rows in use before ``layer``: (epochs, optimiser steps) since they were fresh."""
        return 0.0, 0.0

    def peek_replaced_halo(self, layer: int, h_inner: torch.Tensor,
                           partial_halo: torch.Tensor) -> torch.Tensor | None:
        """For a method that corrects another's halo rows (SAT): the rows it replaced, so that staleness is
        recorded for both on the same rows with the same weights. ``None`` for everything else."""
        return None

    def epoch_metrics(self) -> dict[str, float]:
        """Extra per-epoch numbers for the run record (keys ending in ``_time_s`` are combined by max over workers,
        the rest by mean). Must return the same keys on every worker and every epoch."""
        return {}


def resolve_options(method: type[Method], given: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(method.options))
    if unknown:
        known = ", ".join(sorted(method.options)) or "none"
        raise ConfigError(f"method {method.name!r} has no option {', '.join(unknown)}; its options: {known}")
    resolved = {}
    for key, option in method.options.items():
        value = given.get(key, option.default)
        try:
            resolved[key] = _convert(option.type, value)
        except (TypeError, ValueError):
            raise ConfigError(f"option {key!r} of method {method.name!r} must be {option.type.__name__}, "
                              f"got {value!r}") from None
        if isinstance(resolved[key], float) and not math.isfinite(resolved[key]):  # NaN passes any range check
            raise ConfigError(f"option {key!r} of method {method.name!r} must be finite, got {value!r}")
        if option.choices is not None and resolved[key] not in option.choices:
            raise ConfigError(f"option {key!r} of method {method.name!r} must be one of "
                              f"{', '.join(map(str, option.choices))}, got {resolved[key]!r}")
        low, high = option.minimum, option.maximum
        if (low is not None and resolved[key] < low) or (high is not None and resolved[key] > high):
            raise ConfigError(f"option {key!r} of method {method.name!r} must be within "
                              f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}], "
                              f"got {resolved[key]!r}")
    method.check_options(resolved)
    return resolved


def _convert(kind: type, value: Any) -> Any:
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(value)
        return value.lower() in ("true", "1", "yes")
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return kind(value)


_REGISTRY: dict[str, type[Method]] = {}
_discovered = False


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: make a method available under ``cls.name``."""
    if not cls.name:
        raise TypeError(f"{cls.__qualname__} needs a non-empty `name`")
    if cls.weight_sync not in WEIGHT_SYNCS:
        raise TypeError(f"{cls.__qualname__}.weight_sync must be one of {WEIGHT_SYNCS}")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise TypeError(f"method name {cls.name!r} is taken by {existing.__module__}.{existing.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def _import_directory(directory: Path) -> None:
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module_name = f"satbench_user_methods.{path.stem}"
        if module_name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)


def discover_methods() -> dict[str, type[Method]]:
    """Import every module of the ``baselines`` package and of the directories in ``SATBENCH_METHOD_PATH``."""
    global _discovered
    if not _discovered:
        import baselines

        importlib.import_module("satbench.sat")  # the method under study registers like a baseline
        for module in pkgutil.iter_modules(baselines.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"baselines.{module.name}")
        _discovered = True
    for entry in filter(None, os.environ.get("SATBENCH_METHOD_PATH", "").split(os.pathsep)):
        if not Path(entry).is_dir():
            raise ConfigError(f"SATBENCH_METHOD_PATH entry {entry!r} is not a directory")
        _import_directory(Path(entry))
    return dict(_REGISTRY)


def get_method(name: str) -> type[Method]:
    methods = discover_methods()
    if name not in methods:
        raise ConfigError(f"unknown method {name!r}; known: {', '.join(sorted(methods))}")
    return methods[name]
