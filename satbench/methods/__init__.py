"""The method plug-in interface: what a halo-handling method is, and the registry that finds methods by name.

A method answers one question, once per hidden layer of every training step: *which halo rows does this worker use?*
(an exact exchange, a cached stale copy, a corrected or predicted one). It may also ask for model averaging instead of
gradient all-reduce, and for several local steps per epoch. It never talks to ``torch.distributed`` directly: all
communication goes through the :class:`~satbench.comm.Communicator` it is given, which counts and times it.

Methods live one per module in ``baselines/`` (installed as ``satbench.baselines``), in any directory listed in
``SATBENCH_METHOD_PATH``, or in an installed distribution that declares a ``satbench.methods`` entry point; they
register themselves with :func:`register_method` (a :class:`Method` subclass, as a class decorator), and nothing in the
core needs editing to add one. Either way of registering makes one :class:`MethodEntry`, what :func:`get_method`
returns: the method as the suite reads it (its family, protocol, options, metrics) and the factory that builds it.

Every method belongs to a *family* (:data:`FAMILIES`): ``reference`` (exact halo rows, or none at all), ``historical``
(cached halo rows of its own protocol) or ``alleviation`` (it corrects the rows of a *base* method, which it holds:
an :class:`Alleviation`, registered on its base by registry name with :func:`register_on_base`).

The package in parts: :mod:`.interface` (the method, its options and deviations), :mod:`.registry` (finding methods
by name), :mod:`.describe` (what the command line shows), :mod:`.state` (a method's state in a checkpoint). Import
from here: the names below are the plug-in interface.
"""

from ..choices import ALLEVIATION, FAMILIES, HISTORICAL, REFERENCE
from ..errors import ConfigError
from .describe import describe_methods, option_shortcuts, registry_as_json, render_fidelity_table
from .interface import (TRAIN_GRAPHS, Alleviation, Deviation, Method, MethodContext, Option, _convert,
                        resolve_options)
from .registry import (BUILTIN_PLUGINS, ENTRY_POINT_GROUP, INHERIT, METHOD_PATH_ENV, PLUGIN_MODULES, _REGISTRY,
                       MethodEntry, _check_bases, _check_metrics, _check_protocol, _load_entry_points,
                       discover_methods, fidelity_problems, get_method, is_builtin, origin, register_method,
                       register_on_base)
from .state import load_optimizer_state

__all__ = [
    "ALLEVIATION", "FAMILIES", "HISTORICAL", "REFERENCE", "ConfigError", "TRAIN_GRAPHS", "Alleviation", "Deviation",
    "Method", "MethodContext", "Option", "resolve_options", "MethodEntry", "INHERIT", "register_method",
    "register_on_base", "discover_methods", "get_method", "origin", "is_builtin", "fidelity_problems",
    "describe_methods", "option_shortcuts", "registry_as_json", "render_fidelity_table", "load_optimizer_state",
    "BUILTIN_PLUGINS", "ENTRY_POINT_GROUP", "METHOD_PATH_ENV", "PLUGIN_MODULES",
]
