"""The method registry: methods found by name, from the built-in plug-ins, SAT's variants, installed
distributions' entry points and the directories in ``SATBENCH_METHOD_PATH``. Every registered method is one
:class:`MethodEntry`, made by :func:`register_method` (a :class:`~.interface.Method` subclass) or by
:func:`register_on_base` (an :class:`~.interface.Alleviation` held on a base method named by registry name); what a
method's record, run and listing read of it (family, protocol, graph, options, metrics, memory) is derived there, in
one place; the checks every registration passes."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
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
_REGISTRY: dict[str, "MethodEntry"] = {}
_discovered = False


class _Inherit:
    """A :class:`MethodEntry` field left to its method's class."""

    def __repr__(self) -> str:
        return "INHERIT"


INHERIT: Any = _Inherit()


@dataclass(frozen=True)
class MethodEntry:
    """A registered method: ``method`` (a :class:`Method` subclass) under ``name``, alone (``base`` None) or, for an
    :class:`Alleviation`, holding the method registered as ``base``, which is looked up by name (never imported) and
    built when this one is. ``defaults`` replace its options' defaults; ``description`` is its line in ``satbench
    methods`` (None: the class's :meth:`Method.summary`); ``exact_first_layer`` and the fidelity fields (see
    :class:`Method`) are the class's unless given (a variant of its own, such as SAT on another base); ``module`` is
    the module that registered it (by default the class's).

    What the rest of the suite reads of a method is derived here, once: alone, from its class; on a base, composed
    with it (the base's weight sync and local steps, the base's options then its own, the base's message-passing
    graph unless ``method`` needs another, the base's metrics then its own, the base's halo copies plus the ones it
    holds). Calling the entry
    with a :class:`MethodContext` and options builds the method (the base first, then ``method`` holding it)."""

    name: str
    method: type[Method]
    base: str | None = None
    description: str | None = None
    defaults: tuple[tuple[str, Any], ...] = ()
    exact_first_layer: bool = INHERIT  # built on --exact-first-layer
    paper: str | None = INHERIT
    code: str | None = INHERIT
    code_note: str = INHERIT
    deviations: tuple[Deviation, ...] | None = INHERIT
    module: str = INHERIT

    def __post_init__(self):
        for key in ("exact_first_layer", "paper", "code", "code_note", "deviations"):
            if getattr(self, key) is INHERIT:
                object.__setattr__(self, key, getattr(self.method, key, None))
        if self.module is INHERIT:
            object.__setattr__(self, "module", getattr(self.method, "__module__", ""))

    @property
    def label(self) -> str:
        """How a registration error names it."""
        return self.method.__qualname__ if self.base is None else f"method {self.name!r}"

    @property
    def family(self) -> str:
        return self.method.family

    @property
    def shares_base_control(self) -> bool:
        return self.method.shares_base_control

    @property
    def base_entry(self) -> "MethodEntry | None":
        """The entry registered as :attr:`base` (None without one)."""
        if self.base is None:
            return None
        # The registry itself once the base is there: looking it up must not start another discovery.
        return _REGISTRY[self.base] if self.base in _REGISTRY else get_method(self.base)

    @property
    def weight_sync(self) -> str:
        return self.method.weight_sync if self.base is None else self.base_entry.weight_sync

    @property
    def local_steps(self) -> int:
        return self.method.local_steps if self.base is None else self.base_entry.local_steps

    @property
    def train_graph(self) -> str:
        if self.base is None:
            return self.method.train_graph
        return self.method.train_graph or self.base_entry.train_graph

    @property
    def metrics(self) -> tuple[Column, ...]:
        """Its class's metrics; on a base, the base's, then the held method's own (its
        :meth:`Alleviation.epoch_metrics` reports both)."""
        return self.method.metrics if self.base is None else (*self.base_entry.metrics, *self.method.metrics)

    @property
    def options(self) -> dict[str, Option]:
        """Its options with this registration's defaults: on a base, the base's, then the held method's own."""
        defaults = dict(self.defaults)
        own = {key: replace(option, default=defaults[key]) if key in defaults else option
               for key, option in self.method.options.items()}
        return own if self.base is None else {**self.base_entry.options, **own}

    @property
    def halo_copies(self) -> float:
        """Copies of a hidden layer's halo rows it holds at its option defaults (:attr:`Method.halo_copies`)."""
        return self.halo_copies_with({})

    def halo_copies_with(self, options: dict[str, Any]) -> float:
        """As :attr:`halo_copies`, with a run's ``options`` over the defaults (``-o window=8`` holds more): the
        class's :meth:`Method.halo_copies_with`; on a base, the base's and the held method's
        :meth:`Alleviation.held_copies`."""
        given = {key: option.default for key, option in self.options.items()} | dict(options)
        if self.base is None:
            return self.method.halo_copies_with(given)
        return self.base_entry.halo_copies_with(given) + self.method.held_copies(given)

    def detaches_halo_weights(self, options: dict[str, Any]) -> bool:
        """:meth:`Method.detaches_halo_weights` of the method whose train graph it uses (its own unless it takes its
        base's), with a run's ``options`` over the defaults."""
        given = {key: option.default for key, option in self.options.items()} | dict(options)
        if self.base is None:
            return self.method.detaches_halo_weights(given)
        if self.method.train_graph is None:
            return self.base_entry.detaches_halo_weights(self._split(given)[0])
        return self.method.detaches_halo_weights(self._split(given)[1])

    def _split(self, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the base's options, the held method's own)."""
        return ({key: options[key] for key in self.base_entry.options},
                {key: options[key] for key in self.method.options})

    def check_options(self, options: dict[str, Any]) -> None:
        """Reject combinations of valid option values (resolved) that do not work together: the base's check of its
        options, then the class's :meth:`Method.check_options` of its own, naming this registration."""
        if self.base is None:
            self.method.check_options(options, name=self.name)
            return
        base_options, own = self._split(options)
        self.base_entry.check_options(base_options)
        self.method.check_options(own, name=self.name)

    def check_run(self, config: Any) -> None:
        """Reject a run configuration this method cannot train: the base's check, then the class's
        :meth:`Method.check_run`, naming this registration."""
        if self.base is not None:
            self.base_entry.check_run(config)
        self.method.check_run(config, name=self.name)

    def summary(self) -> str:
        """Its line in ``satbench methods``."""
        return self.method.summary() if self.description is None else self.description

    def __call__(self, context: MethodContext, **options) -> Method:
        resolved = resolve_options(self, options)
        if self.base is None:
            return self.method(context, **resolved)
        base_options, own = self._split(resolved)
        method = self.method(context, self.base_entry(context, **base_options), **own)
        method.name = self.name  # one held class serves several registrations (SAT on each base)
        return method


def register_on_base(name: str, method: type[Alleviation], base: str, description: str,
                     exact_first_layer: bool = False, *, paper: str | None = INHERIT, code: str | None = INHERIT,
                     code_note: str = INHERIT, deviations: tuple[Deviation, ...] | None = INHERIT,
                     **defaults) -> MethodEntry:
    """Register ``method`` (an :class:`Alleviation` subclass) on the method registered as ``base``, under ``name``,
    with its own option defaults and, where they are not ``method``'s, its own fidelity declarations (see
    :class:`Method`). Returns its :class:`MethodEntry`."""
    if not (isinstance(method, type) and issubclass(method, Alleviation)):
        raise TypeError(f"register_on_base takes an Alleviation subclass, got {method!r}")
    unknown = sorted(set(defaults) - set(method.options))
    if unknown:
        raise TypeError(f"{method.__qualname__} has no options {unknown}")
    caller = sys._getframe(1)
    if caller.f_code.co_name == "sat_variant" and caller.f_back is not None:  # it registers for its caller
        caller = caller.f_back
    module = caller.f_globals.get("__name__", "")
    return _register(MethodEntry(name, method, base, description, tuple(sorted(defaults.items())),
                                 exact_first_layer, paper, code, code_note, deviations, module))


def register_method(method: type[Method]) -> type[Method]:
    """Make the :class:`Method` subclass ``method`` available under ``method.name`` (used as a class decorator:
    returns the class). A method that corrects another's rows is registered on its base with
    :func:`register_on_base`; what depends on a base is checked once every method is registered
    (:func:`discover_methods`)."""
    if not (isinstance(method, type) and issubclass(method, Method)):
        raise TypeError(f"register_method takes a satbench.methods.Method subclass, got {method!r}; a method that "
                        "holds a base is registered with register_on_base")
    _register(MethodEntry(method.name, method, method.base))
    return method


def _register(entry: MethodEntry) -> MethodEntry:
    label = entry.label
    if not entry.name:
        raise TypeError(f"{label} needs a non-empty `name`")
    if entry.family not in FAMILIES:
        raise TypeError(f"{label}.family must be one of {FAMILIES}, got {entry.family!r}")
    if (entry.family == ALLEVIATION) != isinstance(entry.base, str):
        raise TypeError(f"{label}: a method of family {ALLEVIATION!r} names its base (a registered method), and "
                        "only such a method does")
    if entry.base is not None and not issubclass(entry.method, Alleviation):
        raise TypeError(f"{label}: a method that holds a base is an Alleviation subclass")
    if not isinstance(entry.shares_base_control, bool) or (entry.shares_base_control and entry.base is None):
        raise TypeError(f"{label}.shares_base_control must be a bool, and true only for a method with a base")
    for hook in ("check_options", "check_run"):  # one signature: the entry names the registration it checks
        parameters = inspect.signature(getattr(entry.method, hook)).parameters
        if "name" not in parameters and not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            raise TypeError(f"{label}.{hook} must take `name` (the registered method's name, None for the "
                            f"class's): def {hook}(cls, {'options' if hook == 'check_options' else 'config'}, "
                            "name=None)")
    if entry.base is None:  # one on a base takes these from its base, registered maybe later
        _check_protocol(entry)
    existing = _REGISTRY.get(entry.name)
    # The same class registered again (a module imported anew) replaces its entry; another method may not.
    same_class = (existing is not None and existing.base is None and entry.base is None
                  and existing.method.__qualname__ == entry.method.__qualname__)
    if existing is not None and existing != entry and not same_class:
        raise TypeError(f"method name {entry.name!r} is taken by {existing.label}")
    _REGISTRY[entry.name] = entry
    return entry


def _check_protocol(entry: MethodEntry) -> None:
    label = entry.label
    if entry.weight_sync not in WEIGHT_SYNCS:
        raise TypeError(f"{label}.weight_sync must be one of {WEIGHT_SYNCS}")
    if entry.train_graph not in TRAIN_GRAPHS:
        raise TypeError(f"{label}.train_graph must be one of {TRAIN_GRAPHS}")
    _check_metrics(label, entry.metrics)


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
        shared = sorted(set(entry.base_entry.options) & set(entry.method.options))
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


def discover_methods() -> dict[str, MethodEntry]:
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
    """The module that registered ``entry`` (a :class:`MethodEntry`; of a class, the module that defines it)."""
    return entry.module if isinstance(entry, MethodEntry) else getattr(entry, "__module__", "")


def is_builtin(entry) -> bool:
    """Registered by the built-in plug-ins or :data:`PLUGIN_MODULES` (not by a user's plug-in)."""
    module = origin(entry)
    return any(module == package or module.startswith(f"{package}.") for package in (BUILTIN_PLUGINS,
                                                                                      *PLUGIN_MODULES))


def fidelity_problems(name: str, entry) -> list[str]:
    """What is missing or malformed in a method's fidelity declaration (:class:`Method`'s ``paper``, ``code``,
    ``code_note``, ``deviations``; ``entry`` a :class:`MethodEntry`, or a Method subclass not yet registered); empty
    when it is complete."""
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


def get_method(name: str) -> MethodEntry:
    """The method registered as ``name`` (every method is discovered first), or ConfigError naming the known ones."""
    methods = discover_methods()
    if name not in methods:
        raise ConfigError(f"unknown method {name!r}; known: {', '.join(sorted(methods))}")
    return methods[name]


