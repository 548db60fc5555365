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

    @property
    def type(self) -> type:
        return type(self.default)


class Method:
    """Base class. Subclasses set ``name``, a docstring citing their paper, and override :meth:`supply_halo`."""

    name: ClassVar[str] = ""
    weight_sync: ClassVar[str] = "allreduce"  # or "average": model averaging once per epoch
    local_steps: ClassVar[int] = 1  # optimiser steps per epoch
    options: ClassVar[dict[str, Option]] = {}

    def __init__(self, comm, num_layers: int, **options: Any):
        self.comm = comm
        self.num_layers = num_layers
        self.config = resolve_options(type(self), options)
        self.epoch = 0

    def start_epoch(self, epoch: int) -> None:
        """Called before the first step of every epoch (1-based)."""
        self.epoch = epoch

    def supply_halo(self, layer: int, h_inner: torch.Tensor) -> torch.Tensor:
        """Halo rows to use before ``layer`` (1..L-1), given this worker's freshly computed inner rows."""
        raise NotImplementedError


def resolve_options(method: type[Method], given: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(method.options))
    if unknown:
        known = ", ".join(sorted(method.options)) or "none"
        raise ConfigError(f"method {method.name!r} has no option {', '.join(unknown)}; its options: {known}")
    resolved = {}
    for key, option in method.options.items():
        value = given.get(key, option.default)
        try:
            resolved[key] = option.type(value)
        except (TypeError, ValueError):
            raise ConfigError(f"option {key!r} of method {method.name!r} must be {option.type.__name__}, "
                              f"got {value!r}") from None
    return resolved


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
