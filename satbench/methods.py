"""The method plug-in interface: what a halo-handling method is, and the registry that finds methods by name.

A method answers one question, once per hidden layer of every training step: *which halo rows does this worker use?*
(an exact exchange, a cached stale copy, a corrected or predicted one). It may also ask for model averaging instead of
gradient all-reduce, and for several local steps per epoch. It never talks to ``torch.distributed`` directly: all
communication goes through the :class:`~satbench.comm.Communicator` it is given, which counts and times it.

Methods live one per module in ``baselines/`` (installed as ``satbench.baselines``), in any directory listed in
``SATBENCH_METHOD_PATH``, or in an installed distribution that declares a ``satbench.methods`` entry point; they
register themselves with :func:`register_method`, and nothing in the core needs editing to add one.

Every method belongs to a *family* (:data:`FAMILIES`): ``reference`` (exact halo rows, or none at all), ``historical``
(cached halo rows of its own protocol) or ``alleviation`` (it corrects the rows of a *base* method, which it holds:
an :class:`Alleviation`, registered on its base by registry name with :func:`register_on_base`).
"""

from __future__ import annotations

import collections
import dataclasses
import importlib
import importlib.util
import os
import pkgutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, ClassVar


from .bounds import check_bounds
from .choices import WEIGHT_SYNCS
from .errors import ConfigError
from .halo import HaloRows
from .history import HaloHistory
from .lazy import lazy
from .record import EPOCH_MEASUREMENT, EPOCH_ROW, Column

torch = lazy("torch")  # imported when a method first saves or restores its state: listing the methods needs no torch

TRAIN_GRAPHS = ("full", "inner", "partial_halo")
REFERENCE, HISTORICAL, ALLEVIATION = "reference", "historical", "alleviation"
FAMILIES = (REFERENCE, HISTORICAL, ALLEVIATION)


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
    def check_options(cls, options: dict[str, Any]) -> None:
        """Reject combinations of valid values that do not work together (raise :class:`ConfigError`)."""

    @classmethod
    def check_run(cls, config: Any) -> None:
        """Reject a run configuration (``satbench.config.RunConfig``, options resolved) this method cannot train."""

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
        return {name: _encode_state(value, f"method {self.name!r}: attribute {name}")
                for name, value in vars(self).items() if name not in skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned into this freshly built (and set up) method."""
        for name, saved in state.items():
            setattr(self, name, _decode_state(getattr(self, name, None), saved, self.comm,
                                              f"method {self.name!r}: attribute {name}"))


# -- a method's state in a checkpoint: plain values and tensors as they are, everything else as a tagged dict -------

def _encode_state(value: Any, where: str) -> Any:
    from .comm import PendingRows

    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value  # tensors as they are: torch.save keeps tensors that share storage shared
    if isinstance(value, PendingRows):
        return {"kind": "pending", "state": value.state_dict()}
    if callable(getattr(value, "state_dict", None)) and callable(getattr(value, "load_state_dict", None)):
        return {"kind": "state", "state": value.state_dict()}  # restored in place
    if isinstance(value, collections.deque):
        return {"kind": "deque", "maxlen": value.maxlen,
                "items": [_encode_state(item, f"{where}[{i}]") for i, item in enumerate(value)]}
    if type(value) in (list, tuple):  # exactly: a subclass (a named tuple) would come back as its base
        return {"kind": type(value).__name__,
                "items": [_encode_state(item, f"{where}[{i}]") for i, item in enumerate(value)]}
    if type(value) in (dict, collections.OrderedDict):  # not a defaultdict: its default would be lost
        for key in value:
            if not (key is None or isinstance(key, (bool, int, float, str))):
                _refuse(key, f"{where} (a key)")
        return {"kind": "dict", "items": [[key, _encode_state(item, f"{where}[{key!r}]")]
                                          for key, item in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"kind": "dataclass", "class": _class_path(type(value)),
                "fields": {f.name: _encode_state(getattr(value, f.name), f"{where}.{f.name}")
                           for f in dataclasses.fields(value)}}
    return _refuse(value, where)


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """``optimizer.load_state_dict(state)`` for a state a checkpoint loaded onto the worker's device: the step counts
    go back to the CPU, where an optimiser that is neither capturable nor fused keeps (and expects) them."""
    groups = {index: group for group in state.get("param_groups", []) for index in group["params"]}
    for index, values in state.get("state", {}).items():
        step, group = values.get("step"), groups.get(index, {})
        if isinstance(step, torch.Tensor) and step.device.type != "cpu" and not (group.get("capturable")
                                                                                 or group.get("fused")):
            values["step"] = step.cpu()
    optimizer.load_state_dict(state)


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _refuse(value: Any, where: str):
    raise ConfigError(f"{where} holds a {type(value).__name__}, which a checkpoint cannot hold: name the attribute in "
                      "the method's context_attributes if __init__ builds it from the context alone, or override "
                      "state_dict and load_state_dict (see satbench.methods.Method)")


def _decode_state(current: Any, saved: Any, comm: Any, where: str) -> Any:
    """``saved`` (from :func:`_encode_state`) as a value, restored into ``current`` where that is built already."""
    if not isinstance(saved, dict):
        return saved
    kind = saved["kind"]
    if kind == "pending":
        return comm.pending_from_state(saved["state"])
    if kind == "state":
        if not callable(getattr(current, "load_state_dict", None)):
            raise ConfigError(f"{where}: the checkpoint restores an object in place, but the freshly built method "
                              "has none there; override load_state_dict")
        if isinstance(current, torch.optim.Optimizer):
            load_optimizer_state(current, saved["state"])
        else:
            current.load_state_dict(saved["state"])
        return current
    if kind in ("list", "tuple", "deque"):
        old = list(current) if isinstance(current, (list, tuple, collections.deque)) else []
        items = [_decode_state(old[i] if i < len(old) else None, item, comm, f"{where}[{i}]")
                 for i, item in enumerate(saved["items"])]
        if kind == "deque":
            return collections.deque(items, maxlen=saved["maxlen"])
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        old = current if isinstance(current, dict) else {}
        return {key: _decode_state(old.get(key), item, comm, f"{where}[{key!r}]") for key, item in saved["items"]}
    if kind == "dataclass":
        cls = type(current) if current is not None and _class_path(type(current)) == saved["class"] else None
        if cls is None:  # a new entry: its class by name
            module, _, qualname = saved["class"].partition(":")
            cls = importlib.import_module(module)
            for part in qualname.split("."):
                cls = getattr(cls, part, None)
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
                raise ConfigError(f"{where}: the checkpoint holds a {saved['class']}, which is not a dataclass that "
                                  "can be imported")
        fields = saved["fields"]
        if current is not None and not cls.__dataclass_params__.frozen:
            for name, item in fields.items():
                setattr(current, name, _decode_state(getattr(current, name), item, comm, f"{where}.{name}"))
            return current
        return cls(**{name: _decode_state(None, item, comm, f"{where}.{name}") for name, item in fields.items()})
    raise ConfigError(f"{where}: unknown kind {kind!r} in the checkpoint")


class Alleviation(Method):
    """A method that corrects the halo rows of a base method it holds (``self.base``, built by its registry name and
    handed in by :class:`OnBase`): the base's whole protocol runs underneath (its histories, exchanges, syncs), and
    every hook calls the base's. Subclasses override :meth:`supply_halo` (by default, the base's rows unchanged) and
    are registered with :func:`register_on_base`, never by themselves."""

    family = ALLEVIATION
    # The message-passing graph it needs, or None for its base's (LMC: partial_halo, for its recomputed rows).
    train_graph: ClassVar[str | None] = None

    def __init__(self, context: MethodContext, base: Method, **options: Any):
        super().__init__(context, **options)
        self.base = base

    @classmethod
    def check_options(cls, options: dict[str, Any], name: str | None = None) -> None:
        """As :meth:`Method.check_options`, for its own options only; ``name`` is the registered method's."""

    @classmethod
    def check_run(cls, config: Any, name: str | None = None) -> None:
        """As :meth:`Method.check_run`; ``name`` is the registered method's."""

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


# Where methods register themselves: the built-in plug-ins (the repository's baselines/ folder, installed as
# satbench.baselines), the method under study (SAT's variants), the `satbench.methods` entry-point group of installed
# distributions, and the directories in SATBENCH_METHOD_PATH. They are plug-ins found by name: this module imports
# none of them, so there is no import circle.
BUILTIN_PLUGINS = "satbench.baselines"
PLUGIN_MODULES = ("satbench.sat",)
ENTRY_POINT_GROUP = "satbench.methods"
METHOD_PATH_ENV = "SATBENCH_METHOD_PATH"
_REGISTRY: dict[str, type[Method]] = {}
_discovered = False


class _Inherit:
    """An :class:`OnBase` field left to its method's class."""

    def __repr__(self) -> str:
        return "INHERIT"


INHERIT: Any = _Inherit()


@dataclass(frozen=True)
class OnBase:
    """A registered method that holds a base: ``method`` (an :class:`Alleviation`) with its options' defaults replaced
    by ``defaults``, composed with the method registered as ``base``, which is looked up by name (never imported) and
    built when this one is. It takes the base's weight sync, local steps and options, and the base's message-passing
    graph unless ``method`` needs another. Calling it builds the base, then ``method`` holding it."""

    name: str
    method: type[Alleviation]
    base: str
    description: str
    defaults: tuple[tuple[str, Any], ...] = ()
    exact_first_layer: bool = False  # built on --exact-first-layer
    # Its fidelity (see Method): ``method``'s unless given here (a variant of its own, such as SAT on another base).
    paper: str | None = INHERIT
    code: str | None = INHERIT
    code_note: str = INHERIT
    deviations: tuple[Deviation, ...] | None = INHERIT
    module: str = ""  # the module that registered it

    def __post_init__(self):
        for key in ("paper", "code", "code_note", "deviations"):
            if getattr(self, key) is INHERIT:
                object.__setattr__(self, key, getattr(self.method, key))

    @property
    def family(self) -> str:
        return self.method.family

    @property
    def shares_base_control(self) -> bool:
        return self.method.shares_base_control

    @property
    def base_method(self):
        # The registry itself once the base is there: looking it up must not start another discovery.
        return _REGISTRY[self.base] if self.base in _REGISTRY else get_method(self.base)

    @property
    def weight_sync(self) -> str:
        return self.base_method.weight_sync

    @property
    def local_steps(self) -> int:
        return self.base_method.local_steps

    @property
    def train_graph(self) -> str:
        return self.method.train_graph or self.base_method.train_graph

    @property
    def metrics(self) -> tuple[Column, ...]:
        """The base's metrics, then the held method's own (its :meth:`Alleviation.epoch_metrics` reports both)."""
        return (*self.base_method.metrics, *self.method.metrics)

    @property
    def halo_copies(self) -> float:
        """The base's copies of a hidden layer's halo rows and the held method's own, at this registration's option
        defaults."""
        defaults = {key: option.default for key, option in self.method.options.items()}
        return self.base_method.halo_copies + self.method.held_copies(dict(defaults, **dict(self.defaults)))

    @property
    def options(self) -> dict[str, Option]:
        defaults = dict(self.defaults)
        return {**self.base_method.options,
                **{key: replace(option, default=defaults.get(key, option.default))
                   for key, option in self.method.options.items()}}

    def _split(self, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the base's options, this method's own)."""
        return ({key: options[key] for key in self.base_method.options},
                {key: options[key] for key in self.method.options})

    def check_options(self, options: dict[str, Any]) -> None:
        base_options, own = self._split(options)
        self.base_method.check_options(base_options)
        self.method.check_options(own, name=self.name)

    def check_run(self, config) -> None:
        self.base_method.check_run(config)
        self.method.check_run(config, name=self.name)

    def summary(self) -> str:
        return self.description

    def __call__(self, context: MethodContext, **options) -> Alleviation:
        base_options, own = self._split(resolve_options(self, options))
        method = self.method(context, self.base_method(context, **base_options), **own)
        method.name = self.name
        return method


def register_on_base(name: str, method: type[Alleviation], base: str, description: str,
                     exact_first_layer: bool = False, *, paper: str | None = INHERIT, code: str | None = INHERIT,
                     code_note: str = INHERIT, deviations: tuple[Deviation, ...] | None = INHERIT,
                     **defaults) -> OnBase:
    """Register ``method`` on the method registered as ``base``, under ``name``, with its own option defaults and,
    where they are not ``method``'s, its own fidelity declarations (see :class:`Method`)."""
    unknown = sorted(set(defaults) - set(method.options))
    if unknown:
        raise TypeError(f"{method.__qualname__} has no options {unknown}")
    caller = sys._getframe(1)
    if caller.f_code.co_name == "sat_variant" and caller.f_back is not None:  # it registers for its caller
        caller = caller.f_back
    module = caller.f_globals.get("__name__", "")
    return register_method(OnBase(name, method, base, description, tuple(sorted(defaults.items())),
                                  exact_first_layer, paper, code, code_note, deviations, module))


def register_method(entry):
    """Make a method available under ``entry.name``: a :class:`Method` subclass (used as a class decorator), or an
    :class:`OnBase` (see :func:`register_on_base`), or any factory with the same attributes (``name``, ``family``,
    ``base``, ``shares_base_control``, ``weight_sync``, ``local_steps``, ``train_graph``, ``options``,
    ``check_options``, ``check_run``, ``summary``) that builds the method when called with a :class:`MethodContext`
    and options. What depends on a base is checked once every method is registered (:func:`discover_methods`)."""
    label = getattr(entry, "__qualname__", repr(entry))
    if not entry.name:
        raise TypeError(f"{label} needs a non-empty `name`")
    if entry.family not in FAMILIES:
        raise TypeError(f"{label}.family must be one of {FAMILIES}, got {entry.family!r}")
    if (entry.family == ALLEVIATION) != isinstance(entry.base, str):
        raise TypeError(f"{label}: a method of family {ALLEVIATION!r} names its base (a registered method), and "
                        "only such a method does")
    if not isinstance(entry.shares_base_control, bool) or (entry.shares_base_control and entry.base is None):
        raise TypeError(f"{label}.shares_base_control must be a bool, and true only for a method with a base")
    if not isinstance(entry, OnBase):  # an OnBase takes these from its base, registered maybe later
        _check_protocol(entry)
    existing = _REGISTRY.get(entry.name)
    if existing is not None and existing != entry and getattr(existing, "__qualname__", None) != label:
        raise TypeError(f"method name {entry.name!r} is taken by {existing!r}")
    _REGISTRY[entry.name] = entry
    return entry


def _check_protocol(entry) -> None:
    label = getattr(entry, "__qualname__", repr(entry))
    if entry.weight_sync not in WEIGHT_SYNCS:
        raise TypeError(f"{label}.weight_sync must be one of {WEIGHT_SYNCS}")
    if entry.train_graph not in TRAIN_GRAPHS:
        raise TypeError(f"{label}.train_graph must be one of {TRAIN_GRAPHS}")
    _check_metrics(label, getattr(entry, "metrics", ()))


def _check_metrics(label: str, metrics) -> None:
    """A method's :attr:`Method.metrics`: float columns (satbench.record.Column), each name once, none of them one of
    the record's own epoch columns."""
    if not isinstance(metrics, tuple) or not all(isinstance(metric, Column) for metric in metrics):
        raise TypeError(f"{label}.metrics must be a tuple of satbench.record.Column")
    names = [metric.name for metric in metrics]
    taken = {column.name for column in (*EPOCH_ROW, *EPOCH_MEASUREMENT)}
    for metric in metrics:
        if metric.dtype != "float" or metric.optional:
            raise TypeError(f"{label}.metrics: {metric.name} must be a float reported every epoch (dtype 'float', not "
                            "optional)")
        if metric.name in taken or names.count(metric.name) > 1:
            raise TypeError(f"{label}.metrics: {metric.name} is declared twice, or is one of the record's own columns")


def _check_bases() -> None:
    """Every base is registered, and what a method takes from its base is valid (its options too: no name twice)."""
    for name, entry in _REGISTRY.items():
        if entry.base is None:
            continue
        if entry.base not in _REGISTRY:
            raise ConfigError(f"method {name!r} is built on {entry.base!r}, which is not a registered method")
        _check_protocol(entry)
        if isinstance(entry, OnBase):
            shared = sorted(set(entry.base_method.options) & set(entry.method.options))
            if shared:
                raise TypeError(f"method {name!r}: options {shared} are both its own and its base's")


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


def _builtin_plugins():
    """The built-in plug-in package: installed as ``satbench.baselines`` (the repository's ``baselines/`` folder,
    mapped by pyproject.toml), or, in a source checkout used without installing it, that folder beside the package.
    Never a ``baselines`` package of the current directory or of another distribution."""
    try:
        return importlib.import_module(BUILTIN_PLUGINS)
    except ModuleNotFoundError as error:
        if error.name != BUILTIN_PLUGINS:
            raise
    folder = Path(__file__).resolve().parents[1] / "baselines"
    spec = importlib.util.spec_from_file_location(BUILTIN_PLUGINS, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[BUILTIN_PLUGINS] = module
    spec.loader.exec_module(module)
    return module


def _load_entry_points() -> None:
    """Methods of installed distributions: each entry point of the ``satbench.methods`` group names a module (or an
    object in one) whose import registers its methods."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as error:  # a broken plug-in must say which one, not fail somewhere later
            raise ConfigError(f"method plug-in {entry.name!r} ({entry.value}, entry point group "
                              f"{ENTRY_POINT_GROUP}) failed to load: {type(error).__name__}: {error}") from None


def discover_methods() -> dict[str, type[Method]]:
    """Register every method: the built-in plug-ins, :data:`PLUGIN_MODULES`, the ``satbench.methods`` entry points
    and the directories in ``SATBENCH_METHOD_PATH``."""
    global _discovered
    if not _discovered:
        package = _builtin_plugins()
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{BUILTIN_PLUGINS}.{module.name}")
        for module_name in PLUGIN_MODULES:
            importlib.import_module(module_name)
        _load_entry_points()
        _discovered = True
    for entry in filter(None, os.environ.get(METHOD_PATH_ENV, "").split(os.pathsep)):
        if not Path(entry).is_dir():
            raise ConfigError(f"{METHOD_PATH_ENV} entry {entry!r} is not a directory")
        _import_directory(Path(entry))
    _check_bases()
    return dict(_REGISTRY)


def origin(entry) -> str:
    """The module that registered ``entry``."""
    return entry.module if isinstance(entry, OnBase) else getattr(entry, "__module__", "")


def is_builtin(entry) -> bool:
    """Registered by the built-in plug-ins or :data:`PLUGIN_MODULES` (not by a user's plug-in)."""
    module = origin(entry)
    return any(module == package or module.startswith(f"{package}.") for package in (BUILTIN_PLUGINS,
                                                                                      *PLUGIN_MODULES))


def fidelity_problems(name: str, entry) -> list[str]:
    """What is missing or malformed in a method's fidelity declaration (:class:`Method`'s ``paper``, ``code``,
    ``code_note``, ``deviations``); empty when it is complete."""
    import re

    problems = []
    paper, code, note = getattr(entry, "paper", None), getattr(entry, "code", None), getattr(entry, "code_note", "")
    deviations = getattr(entry, "deviations", None)
    if not (isinstance(paper, str) and paper.strip()):
        problems.append(f"{name}: no paper (a citation, or 'ours: ...')")
    if code is None:
        if not (isinstance(note, str) and note.strip()):
            problems.append(f"{name}: code is None without a reason (code_note)")
    elif not (isinstance(code, str) and re.fullmatch(r"[\w.-]+/[\w.-]+", code)):
        problems.append(f"{name}: code must be a GitHub 'owner/name', got {code!r}")
    if deviations is None:
        problems.append(f"{name}: no deviations attribute (an empty tuple claims fidelity)")
        return problems
    if not isinstance(deviations, (tuple, list)):
        return problems + [f"{name}: deviations must be a tuple of Deviation, got {type(deviations).__name__}"]
    for index, deviation in enumerate(deviations):
        where = f"{name}: deviation {index + 1}"
        if not isinstance(deviation, Deviation):
            problems.append(f"{where} is a {type(deviation).__name__}, not a Deviation")
            continue
        if not (deviation.what.strip() and deviation.why.strip()):
            problems.append(f"{where} needs what and why")
        if deviation.option is None:
            continue
        key, equals, value = deviation.option.partition("=")
        if not equals or key not in entry.options:
            problems.append(f"{where}: option {deviation.option!r} is not KEY=VALUE with one of its options")
            continue
        try:
            resolved = resolve_options(entry, {key: value})[key]
        except ConfigError as error:
            problems.append(f"{where}: option {deviation.option!r}: {error}")
            continue
        if resolved == entry.options[key].default:
            problems.append(f"{where}: option {deviation.option!r} is the default, which has the deviation")
    return problems


def get_method(name: str) -> type[Method]:
    methods = discover_methods()
    if name not in methods:
        raise ConfigError(f"unknown method {name!r}; known: {', '.join(sorted(methods))}")
    return methods[name]


# -- what the command line shows of the registry ----------------------------------------------------------------------


def option_shortcuts() -> list[tuple[str, str, type, str]]:
    """``(flag, option, type, help)`` of every method option declared with a flag of its own, each flag once (one
    option key per flag, checked)."""
    shortcuts: dict[str, tuple[str, str, type, str]] = {}
    for name, method in sorted(discover_methods().items()):
        for key, option in method.options.items():
            if option.flag is None:
                continue
            known = shortcuts.setdefault(option.flag, (option.flag, key, option.type, option.help))
            if known[1] != key:
                raise ConfigError(f"method {name!r} declares {option.flag} for option {key!r}, but it is taken by "
                                  f"option {known[1]!r}")
    return sorted(shortcuts.values())


def registry_as_json() -> str:
    """``satbench methods --json``: every method's declaration, for scripts."""
    import json

    return json.dumps({name: {"summary": method.summary(), "family": method.family, "base": method.base,
                              "shares_base_control": method.shares_base_control,
                              "weight_sync": method.weight_sync, "local_steps": method.local_steps,
                              "train_graph": method.train_graph, "exact_first_layer": method.exact_first_layer,
                              "options": {key: option.as_json() for key, option in method.options.items()},
                              "metrics": [metric.as_json() for metric in getattr(method, "metrics", ())],
                              **_fidelity_json(method)}
                       for name, method in sorted(discover_methods().items())}, indent=1, default=str)


def _fidelity_json(method) -> dict[str, Any]:
    deviations = getattr(method, "deviations", None)
    return {"paper": getattr(method, "paper", None), "code": getattr(method, "code", None),
            "code_note": getattr(method, "code_note", "") or None,
            "deviations": None if deviations is None else [deviation.as_json() if isinstance(deviation, Deviation)
                                                           else str(deviation) for deviation in deviations]}


def _fidelity_lines(method) -> list[str]:
    """``satbench methods``: the paper, the authors' code and each deviation (what, and the option removing it)."""
    paper, code, note = (getattr(method, key, None) for key in ("paper", "code", "code_note"))
    deviations = getattr(method, "deviations", None)
    lines = [f"    paper: {paper or 'not declared'}"]
    if code:
        lines.append(f"    authors' code: {code}" + (f" ({note})" if note else ""))
    else:
        lines.append(f"    authors' code: none" + (f": {note}" if note else ""))
    if deviations is None:
        lines.append("    deviations: not declared")
    elif not deviations:
        lines.append("    deviations: none (faithful)")
    else:
        for deviation in deviations:
            removed = f" [-o {deviation.option}]" if getattr(deviation, "option", None) else ""
            lines.append(f"    deviation: {getattr(deviation, 'what', deviation)}{removed}")
    return lines


def describe_methods() -> str:
    """``satbench methods``: one block per method. Options that several methods share (the same key and meaning:
    SAT's, for every SAT variant) are explained once, at the end, with their usual default; each method names the
    groups it has and only the defaults in which it differs."""
    from collections import Counter

    methods = sorted(discover_methods().items())
    holders: dict[tuple[str, str], list[str]] = {}
    for name, method in methods:
        for key, option in method.options.items():
            holders.setdefault((key, option.help), []).append(name)
    groups: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for (key, meaning), names in holders.items():
        if len(names) > 1:
            groups.setdefault(tuple(names), []).append((key, meaning))
    group_of = {key_help: index for index, keys in enumerate(groups.values(), start=1) for key_help in keys}
    usual = {key_help: Counter(repr(dict(methods)[name].options[key_help[0]].default)
                               for name in names).most_common(1)[0][0]
             for names, keys in groups.items() for key_help in keys}
    lines = []
    for name, method in methods:
        lines.append(f"{name}: {method.summary()}")
        base = ""
        if method.base:
            control = "the base's" if method.shares_base_control else "its own"
            base = f", base: {method.base} (fresh-halo control: {control})"
        lines.append(f"    family: {method.family}{base}, weight sync: {method.weight_sync}, local steps: "
                     f"{method.local_steps}")
        lines += _fidelity_lines(method)
        own, shared = [], {}
        for key, option in method.options.items():
            if (key, option.help) in group_of:
                differs = shared.setdefault(group_of[key, option.help], [])
                if repr(option.default) != usual[key, option.help]:
                    differs.append(f"{key}={option.default!r}")
            else:
                own.append(f"    -o {key}={option.default!r}{f' ({option.flag})' if option.flag else ''}  "
                           f"{option.help}")
        lines += own
        for index, differs in sorted(shared.items()):
            lines.append(f"    options [{index}]" + (f", except {', '.join(differs)}" if differs else ""))
    lines += ["", "Why each deviation: satbench methods --json, or docs/methods.md (satbench methods --markdown)."]
    if groups:
        lines += ["", "Shared options [N] (-o KEY=VALUE), with their usual default:"]
        for index, (names, keys) in enumerate(groups.items(), start=1):
            lines.append(f"  [{index}] {', '.join(names)}:")
            for key, meaning in keys:
                flag = next((o.flag for _, m in methods for k, o in m.options.items() if k == key and o.flag), None)
                lines.append(f"    -o {key}={usual[key, meaning]}{f' ({flag})' if flag else ''}  {meaning}")
    return "\n".join(lines)


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ").strip()


def render_fidelity_table() -> str:
    """docs/methods.md: one table of every built-in method's paper, its authors' code and its deviations from that
    code, each with why and the ``-o key=value`` that removes it (``satbench methods --markdown``; a test holds the
    file to it)."""
    lines = [
        "# Methods: faithful to the authors' code, or the difference named",
        "",
        "Each built-in method declares, beside its paper, its authors' public code and every way it deviates from",
        "that code (or, where there is none, from its paper), as data (`paper`, `code`, `deviations` in",
        "`satbench/methods.py`'s `Method`; `satbench methods`, `satbench methods --json`). This file is what",
        "`satbench methods --markdown` renders from the registry; `tests/test_methods.py` fails when it differs.",
        "\"none (faithful)\" is an explicit claim of fidelity. *Option* is the `-o key=value` that removes the",
        "deviation, where one does.",
        "",
        "Common to every method, and not repeated below: partition-parallel training, full-batch on one partition per",
        "worker; dropout masks keyed by global node id (a halo row carries its owner's mask, so that `exact` equals",
        "full-graph training); evaluation by an exact full-graph pass.",
        "",
        "| method | paper | authors' code | deviation | why | option |",
        "|---|---|---|---|---|---|",
    ]
    for name, method in sorted(discover_methods().items()):
        if not is_builtin(method):
            continue
        code = f"[{method.code}](https://github.com/{method.code})" if method.code else "none"
        if method.code_note:
            code += f" ({method.code_note})" if method.code else f": {method.code_note}"
        head = [f"`{name}`", _cell(method.paper), _cell(code)]
        deviations = method.deviations
        if deviations is None:
            lines.append("| " + " | ".join(head + ["not declared", "", ""]) + " |")
            continue
        if not deviations:
            lines.append("| " + " | ".join(head + ["none (faithful)", "", ""]) + " |")
        for index, deviation in enumerate(deviations):
            cells = head if index == 0 else ["", "", ""]
            option = f"`-o {deviation.option}`" if deviation.option else ""
            lines.append("| " + " | ".join(cells + [_cell(deviation.what), _cell(deviation.why), option]) + " |")
    return "\n".join(lines) + "\n"
