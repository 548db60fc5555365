"""The method registry: methods found by name, from the built-in plug-ins, SAT's variants, installed
distributions' entry points and the directories in ``SATBENCH_METHOD_PATH``; a method that holds a base is registered
on it by name (:class:`OnBase`, :func:`register_on_base`); the checks every registration passes."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..choices import ALLEVIATION, FAMILIES, WEIGHT_SYNCS
from ..errors import ConfigError
from ..record import EPOCH_MEASUREMENT, EPOCH_ROW, Column
from .interface import TRAIN_GRAPHS, Alleviation, Deviation, Method, MethodContext, Option, resolve_options

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
        return self.halo_copies_with({})

    def halo_copies_with(self, options: dict[str, Any]) -> float:
        """As :attr:`halo_copies`, with a run's ``options`` over the defaults (``-o window=8`` holds more)."""
        given = {key: option.default for key, option in self.options.items()} | dict(options)
        return self.base_method.halo_copies_with(given) + self.method.held_copies(given)

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
    folder = Path(__file__).resolve().parents[2] / "baselines"
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


