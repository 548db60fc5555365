"""A method's state in a checkpoint (:meth:`satbench.methods.Method.state_dict`): plain values and tensors as they
are, everything else as a tagged dict that ``torch.load(weights_only=True)`` reads; and the optimiser's state as a
checkpoint loaded onto a device gives it back. The trainer's checkpoints (satbench.runtime.checkpoint) hold what
this encodes."""

from __future__ import annotations

import collections
import dataclasses
import importlib
from typing import Any

from ..errors import ConfigError
from ..lazy import lazy

torch = lazy("torch")  # imported when a method first saves or restores its state: listing the methods needs no torch


def encode_state(value: Any, where: str) -> Any:
    from ..comm import PendingRows

    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value  # tensors as they are: torch.save keeps tensors that share storage shared
    if isinstance(value, PendingRows):
        return {"kind": "pending", "state": value.state_dict()}
    if callable(getattr(value, "state_dict", None)) and callable(getattr(value, "load_state_dict", None)):
        return {"kind": "state", "state": value.state_dict()}  # restored in place
    if isinstance(value, collections.deque):
        return {"kind": "deque", "maxlen": value.maxlen,
                "items": [encode_state(item, f"{where}[{i}]") for i, item in enumerate(value)]}
    if type(value) in (list, tuple):  # exactly: a subclass (a named tuple) would come back as its base
        return {"kind": type(value).__name__,
                "items": [encode_state(item, f"{where}[{i}]") for i, item in enumerate(value)]}
    if type(value) in (dict, collections.OrderedDict):  # not a defaultdict: its default would be lost
        for key in value:
            if not (key is None or isinstance(key, (bool, int, float, str))):
                _refuse(key, f"{where} (a key)")
        return {"kind": "dict", "items": [[key, encode_state(item, f"{where}[{key!r}]")]
                                          for key, item in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"kind": "dataclass", "class": _class_path(type(value)),
                "fields": {f.name: encode_state(getattr(value, f.name), f"{where}.{f.name}")
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


def decode_state(current: Any, saved: Any, comm: Any, where: str) -> Any:
    """``saved`` (from :func:`encode_state`) as a value, restored into ``current`` where that is built already."""
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
        items = [decode_state(old[i] if i < len(old) else None, item, comm, f"{where}[{i}]")
                 for i, item in enumerate(saved["items"])]
        if kind == "deque":
            return collections.deque(items, maxlen=saved["maxlen"])
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        old = current if isinstance(current, dict) else {}
        return {key: decode_state(old.get(key), item, comm, f"{where}[{key!r}]") for key, item in saved["items"]}
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
                setattr(current, name, decode_state(getattr(current, name), item, comm, f"{where}.{name}"))
            return current
        return cls(**{name: decode_state(None, item, comm, f"{where}.{name}") for name, item in fields.items()})
    raise ConfigError(f"{where}: unknown kind {kind!r} in the checkpoint")


