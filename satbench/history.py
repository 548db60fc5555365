"""Halo histories: the cached halo rows a method trains with, and when each row was last fresh.

One :class:`HaloHistory` per worker holds, for every hidden layer, a ``[num_halo, width]`` tensor of the rows in use
(GNNAutoScale's ``History``, restricted to halo rows) plus, per row, the epoch and step at which the embedding it
holds was computed. Ages reported in run records come from here, so every cached method reports them the same way.
"""

from __future__ import annotations

import torch


class HaloHistory:
    def __init__(self):
        self.rows: dict[int, torch.Tensor] = {}
        self.fresh_epoch: dict[int, torch.Tensor] = {}
        self.fresh_step: dict[int, torch.Tensor] = {}

    def write(self, layer: int, rows: torch.Tensor, epoch: int, step: int, where: torch.Tensor | None = None) -> None:
        """Store ``rows`` (all halo rows, or those selected by the boolean/index tensor ``where``), computed at
        (``epoch``, ``step``)."""
        rows = rows.detach()
        if layer not in self.rows:
            if where is not None:
                raise ValueError("the first write to a layer's history must cover every halo row")
            self.rows[layer] = rows.clone()
            self.fresh_epoch[layer] = torch.full((rows.size(0),), float(epoch), device=rows.device)
            self.fresh_step[layer] = torch.full((rows.size(0),), float(step), device=rows.device)
        elif where is None:
            self.rows[layer].copy_(rows)
            self.fresh_epoch[layer].fill_(float(epoch))
            self.fresh_step[layer].fill_(float(step))
        else:
            self.rows[layer][where] = rows
            self.fresh_epoch[layer][where] = float(epoch)
            self.fresh_step[layer][where] = float(step)

    def read(self, layer: int) -> torch.Tensor:
        return self.rows[layer]

    def age(self, layer: int, epoch: int, step: int) -> tuple[float, float]:
        """Mean age of the layer's rows, in epochs and in optimiser steps, as seen at (``epoch``, ``step``)."""
        if layer not in self.rows or self.rows[layer].size(0) == 0:
            return 0.0, 0.0
        return (float((epoch - self.fresh_epoch[layer]).mean()), float((step - self.fresh_step[layer]).mean()))
