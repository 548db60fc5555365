"""The method interface: what a halo-handling method is (:class:`Method`), how a method that corrects another's rows
holds its base (:class:`Alleviation`), its options and deviations from its authors' code as data, and how a run's
options are resolved against them. The registry that finds methods by name is :mod:`.registry`; what the command
line shows of it, :mod:`.describe`; how a method's state goes into a checkpoint, :mod:`.state`."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from ..bounds import check_bounds
from ..choices import ALLEVIATION, HISTORICAL
from ..errors import ConfigError
from ..halo import HaloRows
from ..history import HaloHistory
from ..lazy import lazy
from ..record import Column
from .state import decode_state, encode_state

torch = lazy("torch")  # imported when a method first saves or restores its state: listing the methods needs no torch

TRAIN_GRAPHS = ("full", "inner", "partial_halo")


@dataclass(frozen=True)
class Option:
    """A method hyperparameter: its default, type and one-line meaning (shown by ``satbench methods``)."""

    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None
    flag: str | None = None  # a ``satbench run`` option of its own, e.g. --sync-period (the same as -o KEY=VALUE)

    @property
    def type(self) -> type:
        return type(self.default)

    def as_json(self) -> dict[str, Any]:
        return {"default": self.default, "type": self.type.__name__, "help": self.help, "minimum": self.minimum,
                "maximum": self.maximum, "choices": list(self.choices) if self.choices else None, "flag": self.flag}


@dataclass(frozen=True)
class Deviation:
    """One way a method differs from its authors' public code (or, where there is none, from its paper): ``what``
    differs, ``why``, and ``option``, the ``-o key=value`` that removes it (None: no option does). A method's
    :attr:`Method.deviations` lists them; an empty list is an explicit claim of fidelity."""

    what: str
    why: str
    option: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"what": self.what, "why": self.why, "option": self.option}


@dataclass(frozen=True)
class MethodContext:
    """What the trainer hands a method: its communicator and the shape of training."""

    comm: Any  # satbench.comm.Communicator
    num_layers: int
    steps_per_epoch: int
    lr: float  # the GNN's learning rate (SAT's predictor defaults to it)
    graph: Any  # satbench.models.LocalGraph: the worker's exact message-passing graph
    # With --exact-first-layer: the seam's exact layer-1 halo rows of the current step (``.rows``, detached), which
    # a method may read when it supplies layers >= 2; None otherwise.
    first_layer: Any = None
    # Global (full-graph) degree of every local row, inner then halo, self loops not counted.
    degree: torch.Tensor | None = None
    # ``fresh_pass()``: a forward-only pass with the current weights (eval mode, exact halo rows at every layer);
    # per hidden layer, this worker's inner rows and the exact halo rows. Its exchange is the method's own halo
    # traffic and its time is in the epoch's (REST's refresh).
    fresh_pass: Callable[[], dict[int, tuple[torch.Tensor, torch.Tensor]]] | None = None


class Method:
    """Base class. Subclasses set ``name``, a docstring citing their paper and stating the update rule, and override
    :meth:`supply_halo`; the other hooks are optional.

    The trainer calls, per epoch: :meth:`start_epoch`, then per optimiser step :meth:`start_step`, the model's
    forward (which calls :meth:`supply_halo` before every hidden layer, through the trainer's halo seam), the
    backward, :meth:`after_backward`. Staleness is measured on the rows :meth:`supply_halo` returns, so a method
    writes no measuring code of its own.

    **Checkpoints** (``satbench run --checkpoint-every K``): between epochs the trainer saves :meth:`state_dict` with
    the model and the optimiser, and a resumed run builds the method again (``__init__``, then :meth:`setup`) and
    calls :meth:`load_state_dict`. The default saves every instance attribute except ``comm`` and those named in
    :attr:`context_attributes`, and restores it: numbers, strings, tensors, lists, tuples, dicts, deques and
    dataclasses of these (SAT's per-layer state), objects with ``state_dict``/``load_state_dict`` of their own, which
    are restored in place (modules, optimisers, a :class:`~satbench.history.HaloHistory`, a base method held inside),
    and asynchronous exchanges in flight (:class:`~satbench.comm.PendingRows`: completed at the checkpoint, their
    bytes booked when they are waited for, as without it). So a method author writes nothing, or names in
    :attr:`context_attributes` what ``__init__`` builds from the context alone (a graph of its own, a callable);
    anything else a checkpoint cannot hold is refused before the first epoch, naming the attribute. Override both
    methods only for state that is none of these.
    """

    name: ClassVar[str] = ""
    # One of FAMILIES, recorded with every run, so reports ask the record, never the name. A method that supplies
    # halo rows of its own protocol is historical unless it says otherwise.
    family: ClassVar[str] = HISTORICAL
    base: ClassVar[str | None] = None  # alleviation: the registry name of the method whose rows it corrects
    # alleviation: whether its fresh-halo control is its base's, i.e. with every halo row replaced by the exact one
    # it trains the GNN exactly as its base's control does (the workflow then runs only the base's control)
    shares_base_control: ClassVar[bool] = False
    weight_sync: ClassVar[str] = "allreduce"  # or "average": model averaging once per epoch
    local_steps: ClassVar[int] = 1  # optimiser steps per epoch
    # The message-passing graph it trains on: "full" (every edge into an inner row), "inner" (cut edges dropped:
    # no halo rows are read at all), or "partial_halo" (also the reversed cut edges, so each layer recomputes halo
    # rows from in-partition messages and hands them to supply_halo).
    train_graph: ClassVar[str] = "full"
    exact_first_layer: ClassVar[bool] = False  # built on --exact-first-layer (which it then implies)
    options: ClassVar[dict[str, Option]] = {}
    # Instance attributes __init__ builds from the context alone: the same in a resumed run, so not in a checkpoint.
    context_attributes: ClassVar[tuple[str, ...]] = ()
    # Copies of a hidden layer's halo rows the method holds at its peak (histories, rows and gradients in flight):
    # what `satbench run` adds to its memory estimate before any worker starts (satbench.runtime.memory).
    halo_copies: ClassVar[float] = 0.0
    # Its own per-epoch numbers (:meth:`epoch_metrics`), each a float column of the record's epoch rows with its unit
    # and meaning (satbench.record.Column): the record carries the declarations, and the report's epochs.parquet and
    # docs/data.md take them from there, so a new metric needs no reader changed.
    metrics: ClassVar[tuple[Column, ...]] = ()
    # Its fidelity, as data (`satbench methods`, docs/methods.md): the paper it implements (a citation; "ours: ..."
    # for a method of this benchmark's own), the authors' public code (a GitHub "owner/name", with in ``code_note``
    # where in it; or None, with in ``code_note`` why there is none) and its deviations from that code (a tuple of
    # Deviation; empty: faithful). None means undeclared, which a plug-in may leave and a built-in method may not
    # (tests/test_methods.py).
    paper: ClassVar[str | None] = None
    code: ClassVar[str | None] = None
    code_note: ClassVar[str] = ""
    deviations: ClassVar[tuple[Deviation, ...] | None] = None

    def __init__(self, context: "MethodContext", **options: Any):
        self.comm = context.comm
        self.num_layers = context.num_layers
        self.steps_per_epoch = context.steps_per_epoch
        self.config = resolve_options(type(self), options)
        self.epoch = 0
        self.step = 0
        self.epoch_first_step = 0
        self.history: HaloHistory | None = None  # a method that caches halo rows keeps them here (SAT listens)

    @classmethod
    def check_options(cls, options: dict[str, Any], name: str | None = None) -> None:
        """Reject combinations of valid values that do not work together (raise :class:`ConfigError`). ``options``:
        the class's own, resolved; ``name``: the registered method's, for the message (None: the class's; one class
        may be registered under several names, as SAT is on each base)."""

    @classmethod
    def halo_copies_with(cls, options: dict[str, Any]) -> float:
        """:attr:`halo_copies` with these options (a run's, resolved): what the memory estimate adds. A method whose
        copies depend on its options overrides this."""
        return cls.halo_copies

    @classmethod
    def detaches_halo_weights(cls, options: dict[str, Any]) -> bool:
        """With ``train_graph = "partial_halo"``: whether the layers recompute the halo rows with their weights
        detached (:attr:`satbench.models.LocalGraph.halo_weights_detached`; True, as LMC's authors compute
        out-of-batch rows), given the method's own options, resolved. A method that lets an option choose
        overrides this."""
        return True

    @classmethod
    def check_run(cls, config: Any, name: str | None = None) -> None:
        """Reject a run configuration (``satbench.config.RunConfig``, options resolved) this method cannot train;
        ``name`` as in :meth:`check_options`."""

    @classmethod
    def summary(cls) -> str:
        """One line for ``satbench methods``."""
        doc = (cls.__doc__ or sys.modules[cls.__module__].__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def setup(self, exact: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Called once before training with, per hidden layer the method supplies halo rows for (every layer
        1..L-1, or 2..L-1 with ``--exact-first-layer``), this worker's inner rows and the exact halo rows, computed
        with the initial weights in eval mode: histories are filled here. :meth:`supply_halo` is called for exactly
        these layers."""

    def start_epoch(self, epoch: int, step: int) -> None:
        """Called before every epoch (1-based) with the index of its first optimiser step (0-based, over the run)."""
        self.epoch, self.step, self.epoch_first_step = epoch, step, step

    def start_step(self, step: int) -> None:
        """Called before every optimiser step (0-based, counted over the whole run)."""
        self.step = step

    def supply_halo(self, layer: int, h_inner: torch.Tensor, partial_halo: torch.Tensor) -> torch.Tensor | HaloRows:
        """Halo rows to use before ``layer`` (1..L-1), given this worker's freshly computed inner rows and, for
        ``train_graph = "partial_halo"``, the halo rows recomputed from in-partition messages only (an empty tensor
        otherwise). Return a tensor for rows that are fresh (age 0), or :class:`~satbench.halo.HaloRows` with their
        age (``self.history.supply(layer, self.epoch, self.step)`` gives both)."""
        raise NotImplementedError

    def after_backward(self) -> None:
        """Called after the loss's backward, before the optimiser step."""

    def epoch_metrics(self) -> dict[str, float]:
        """This epoch's value of each of :attr:`metrics`, by name, on every worker and every epoch: the record keeps,
        of a metric in seconds, the slowest worker's (the max), of any other the mean over workers."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint holds of this method (see the class docstring); values ``torch.load`` reads with
        ``weights_only=True``. Raises :class:`ConfigError` naming an attribute a checkpoint cannot hold."""
        skipped = {"comm", *self.context_attributes}
        return {name: encode_state(value, f"method {self.name!r}: attribute {name}")
                for name, value in vars(self).items() if name not in skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned into this freshly built (and set up) method."""
        for name, saved in state.items():
            setattr(self, name, decode_state(getattr(self, name, None), saved, self.comm,
                                              f"method {self.name!r}: attribute {name}"))


class Alleviation(Method):
    """A method that corrects the halo rows of a base method it holds (``self.base``, built by its registry name and
    handed in by its :class:`~.registry.MethodEntry`): the base's whole protocol runs underneath (its histories,
    exchanges, syncs), and every hook calls the base's. Subclasses override :meth:`supply_halo` (by default, the base's
    rows unchanged) and are registered with :func:`~.registry.register_on_base`. Its :meth:`check_options` sees its
    own options only (the base checks its own)."""

    family = ALLEVIATION
    # The message-passing graph it needs, or None for its base's (LMC: partial_halo, for its recomputed rows).
    train_graph: ClassVar[str | None] = None

    def __init__(self, context: MethodContext, base: Method, **options: Any):
        super().__init__(context, **options)
        self.base = base

    @classmethod
    def held_copies(cls, options: dict[str, Any]) -> float:
        """Copies of a hidden layer's halo rows this method holds beyond its base's, with ``options`` (for the memory
        estimate: :attr:`Method.halo_copies`)."""
        return cls.halo_copies

    def setup(self, exact):
        self.base.setup(exact)

    def start_epoch(self, epoch, step):
        super().start_epoch(epoch, step)
        self.base.start_epoch(epoch, step)

    def start_step(self, step):
        super().start_step(step)
        self.base.start_step(step)

    def supply_halo(self, layer, h_inner, partial_halo):
        return self.base.supply_halo(layer, h_inner, partial_halo)

    def after_backward(self):
        self.base.after_backward()

    def epoch_metrics(self):
        return self.base.epoch_metrics()

    def base_history(self) -> HaloHistory:
        """The base's halo history (what this method corrects); a base without one cannot be corrected."""
        if self.base.history is None:
            raise ConfigError(f"method {self.name!r} needs a base that keeps a halo history; {self.base.name!r} has "
                              "none")
        return self.base.history


def resolve_options(method: Any, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` (a run's ``-o`` options) typed, bounded and completed with their defaults, then checked together
    (``check_options``). ``method``: a registered method (:class:`~.registry.MethodEntry`), or a Method subclass (its
    own options, as its ``__init__`` takes them)."""
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
        if option.choices is not None and resolved[key] not in option.choices:
            raise ConfigError(f"option {key!r} of method {method.name!r} must be one of "
                              f"{', '.join(map(str, option.choices))}, got {resolved[key]!r}")
        if not isinstance(resolved[key], bool):  # the same bounds check as a run setting's
            check_bounds(f"option {key!r} of method {method.name!r}", resolved[key], minimum=option.minimum,
                         maximum=option.maximum, finite=isinstance(resolved[key], float))
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


