"""Halo histories: the cached halo rows a method trains with, when each row was computed, and snapshot events.

One :class:`HaloHistory` per worker holds, for every hidden layer, a ``[num_halo, width]`` tensor of the rows in use
(GNNAutoScale's ``History``, restricted to halo rows) plus, per row, the epoch and optimiser step at which the
embedding it holds was computed (integers, so ages are exact at any scale), and the step whose dropout masks it
carries (:data:`~satbench.halo.NO_MASK` for a row computed in eval mode: the fill before training, a forward-only
refresh), so that staleness can be measured apart from mask noise (:mod:`satbench.staleness`). Every write is a new *snapshot* of the
layer: its integer version goes up by one and subscribers hear ``Snapshot(layer, version, rows, epoch, step)``. A
method that builds on another's history (SAT) subscribes to those events rather than inferring arrivals from ages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


from .halo import NO_MASK, HaloRows
from .lazy import lazy

torch = lazy("torch")  # imported when a history is first written: naming a method needs no torch


@dataclass(frozen=True)
class Snapshot:
    """A layer's history was written: ``version`` counts writes (1 = the fill before training)."""

    layer: int
    version: int
    rows: torch.Tensor  # every halo row of the layer after the write (the history's own tensor: do not modify)
    epoch: int  # when the newest written rows were computed
    step: int


class HaloHistory:
    def __init__(self):
        self.rows: dict[int, torch.Tensor] = {}
        self.fresh_epoch: dict[int, torch.Tensor] = {}
        self.fresh_step: dict[int, torch.Tensor] = {}
        self.mask_step: dict[int, torch.Tensor] = {}
        self.version: dict[int, int] = {}
        self._subscribers: list[Callable[[Snapshot], None]] = []

    def subscribe(self, callback: Callable[[Snapshot], None]) -> None:
        """Call ``callback(snapshot)`` after every later write."""
        self._subscribers.append(callback)

    def write(self, layer: int, rows: torch.Tensor, epoch: int, step: int, where: torch.Tensor | None = None,
              masked: bool = True) -> None:
        """Store ``rows`` (all halo rows, or those selected by the boolean/index tensor ``where``), computed at
        (``epoch``, ``step``), and announce the new snapshot. ``masked``: the rows come from a training pass and
        carry that step's dropout masks; False for rows computed in eval mode (a step before training, ``step`` < 0,
        is always eval mode: the fill from the exact pass)."""
        rows = rows.detach()
        mask_step = int(step) if masked and step >= 0 else NO_MASK
        if layer not in self.rows:
            if where is not None:
                raise ValueError("the first write to a layer's history must cover every halo row")
            self.rows[layer] = rows.clone()
            self.fresh_epoch[layer] = torch.full((rows.size(0),), int(epoch), dtype=torch.int64, device=rows.device)
            self.fresh_step[layer] = torch.full((rows.size(0),), int(step), dtype=torch.int64, device=rows.device)
            self.mask_step[layer] = torch.full((rows.size(0),), mask_step, dtype=torch.int64, device=rows.device)
            self.version[layer] = 0
        elif where is None and self._holds_only(layer, epoch, step):
            self.rows[layer].copy_(rows)  # the snapshot already held, delivered again (DIGEST's first pull)
            return
        elif where is None:
            self.rows[layer].copy_(rows)
            self.fresh_epoch[layer].fill_(int(epoch))
            self.fresh_step[layer].fill_(int(step))
            self.mask_step[layer].fill_(mask_step)
        else:
            self.rows[layer][where] = rows
            self.fresh_epoch[layer][where] = int(epoch)
            self.fresh_step[layer][where] = int(step)
            self.mask_step[layer][where] = mask_step
        self.version[layer] += 1
        snapshot = Snapshot(layer, self.version[layer], self.rows[layer], int(epoch), int(step))
        for callback in self._subscribers:
            callback(snapshot)

    def _holds_only(self, layer: int, epoch: int, step: int) -> bool:
        """Whether every row held was computed at (``epoch``, ``step``)."""
        return bool((self.fresh_step[layer] == int(step)).all() and (self.fresh_epoch[layer] == int(epoch)).all())

    def read(self, layer: int) -> torch.Tensor:
        return self.rows[layer]

    def age(self, layer: int, epoch: int, step: int) -> tuple[float, float]:
        """Mean age of the layer's rows, in epochs and in optimiser steps, as seen at (``epoch``, ``step``)."""
        if layer not in self.rows or self.rows[layer].size(0) == 0:
            return 0.0, 0.0
        return (float((epoch - self.fresh_epoch[layer]).double().mean()),
                float((step - self.fresh_step[layer]).double().mean()))

    def state_dict(self) -> dict[str, dict]:
        """The rows held, when each was computed, and the versions (for a checkpoint; subscribers are not state)."""
        return {"rows": dict(self.rows), "fresh_epoch": dict(self.fresh_epoch), "fresh_step": dict(self.fresh_step),
                "mask_step": dict(self.mask_step), "version": dict(self.version)}

    def load_state_dict(self, state: dict[str, dict]) -> None:
        """Hold what :meth:`state_dict` returned; the subscribers stay, and hear nothing (nothing new arrived)."""
        self.rows, self.fresh_epoch = dict(state["rows"]), dict(state["fresh_epoch"])
        self.fresh_step, self.version = dict(state["fresh_step"]), {k: int(v) for k, v in state["version"].items()}
        self.mask_step = dict(state["mask_step"])

    def supply(self, layer: int, epoch: int, step: int) -> HaloRows:
        """The layer's rows, with their mean age at (``epoch``, ``step``) and the masks each carries, as a method
        hands them to the model."""
        age_epochs, age_steps = self.age(layer, epoch, step)
        return HaloRows(self.rows[layer], age_epochs=age_epochs, age_steps=age_steps,
                        mask_step=self.mask_step[layer])
