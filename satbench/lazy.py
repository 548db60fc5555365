"""Modules imported when they are first used.

Naming a method, listing the registry or reading the command line needs none of torch or PyG, which take seconds to
import; the modules that a method registers from (``satbench.methods``, ``halo``, ``history``, the built-in
plug-ins, SAT) therefore hold torch as a :class:`LazyModule` and import it, in the ordinary way, the first time they
use it (when a method is built and trains).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module ``name``: the first attribute looked up on it imports the module."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r}, {state}>"


def lazy(name: str) -> Any:
    """The module ``name``, imported on first use (see :class:`LazyModule`)."""
    return LazyModule(name)
