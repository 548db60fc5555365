"""The halo seam: the one place where halo rows enter the model during training.

Before every hidden layer of every training step, the model asks the :class:`HaloSeam` for the halo rows; the seam
asks the method (:meth:`~satbench.methods.Method.supply_halo`) and then, in one place for every method:

* **the fresh-halo control** (``satbench run --halo fresh``): the values of the rows the method supplied are replaced
  by the exact rows of this layer and step, fetched by an extra exchange counted apart (category ``control``), while
  everything else the method does stays: its weight sync, local steps, sync schedule, its own traffic, and whether
  its halo rows carry a gradient (the replacement keeps the method's autograd path: ``exact + (rows − rows.detach())``);
* **exact first-layer rows** (``--exact-first-layer``): layer 1's halo rows computed exactly, with the current
  weights, from aggregates their owners sent once; the method is not asked for them;
* **staleness measurement**: when armed with the exact rows of this step (an exact pass with the same weights, mode
  and dropout masks), it compares the rows the model actually used with them, layer by layer, and keeps the used
  rows with the dropout masks each carries (:attr:`HaloRows.mask_step`) for the trainer's second comparison, against
  exact rows with the same weights and each row's own masks (:mod:`satbench.staleness`: drift apart from mask noise).
  Nothing is re-enacted: what is measured is what trained;
* **message weights**: a method may weight each halo row's message (``HaloRows.weight``: trust stale rows less). The
  rows are measured as supplied, unweighted (they are still the method's estimates of the exact rows), and the model
  receives ``rows * weight``. For GCN and SAGE a halo row enters a hidden layer only as a neighbour's message, linear
  in the row, so this scales exactly that message (GAT's attention is not linear in the row: a weighting method
  refuses it). Under the fresh-halo control the weights are dropped: the rows are exact, of age 0.

A method returns a tensor (rows that are fresh by construction, such as an exact exchange) or a :class:`HaloRows`,
which also carries the rows' age, the dropout masks they carry, for a method that corrects another's rows (SAT) the
rows it replaced, and optional per-row message weights.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable


from .choices import HALO_MODES
from .lazy import lazy

torch = lazy("torch")  # imported when the seam first runs: naming a method needs no torch
F = lazy("torch.nn.functional")


# Per hidden layer, per worker: sums that combine into relative errors and means over all workers' halo rows.
SEAM_FIELDS = ("error_sq", "exact_sq", "cosine_sum", "rows", "age_epochs_sum", "age_steps_sum",
               "replaced_error_sq", "supplied_error_sq")


# A halo row's mask step when it carries no dropout mask: computed in eval mode (the fill before training, a
# forward-only refresh) or predicted (SAT). Training steps count from 0.
NO_MASK = -1


@dataclass(frozen=True)
class HaloRows:
    """Halo rows a method supplies: the rows, their mean age, the dropout masks they carry, (SAT) the rows they
    replaced, and message weights.

    ``mask_step`` (``[num_halo]`` int64): the step whose dropout masks each row carries (:data:`NO_MASK`: none); None
    means this step's (rows computed now, such as an exact exchange). ``current_share`` (``[num_halo]`` or
    ``[num_halo, 1]``): for rows blended from this step's computation and older rows (LMC, GraphFM), the weight of
    this step's part; the masks of the rest are ``mask_step``'s."""

    rows: torch.Tensor
    age_epochs: float = 0.0  # mean over rows of epochs since each row was computed
    age_steps: float = 0.0  # the same in optimiser steps
    replaced: torch.Tensor | None = None  # a correcting method: the rows it would otherwise have used
    weight: torch.Tensor | None = None  # [num_halo]: each row's message is scaled by this (None: by 1)
    mask_step: torch.Tensor | None = None
    current_share: torch.Tensor | None = None


@dataclass
class UsedRows:
    """What a measured step trained with at one layer, kept for the drift comparison after the step."""

    layer: int
    rows: torch.Tensor  # detached
    mask_step: torch.Tensor | None  # None: this step's masks
    current_share: torch.Tensor | None


def as_halo_rows(supplied: torch.Tensor | HaloRows) -> HaloRows:
    return supplied if isinstance(supplied, HaloRows) else HaloRows(supplied)


class FirstLayerRows:
    """``--exact-first-layer``: layer-1 halo rows from their owners' static aggregates, with the current weights.

    ``compute`` builds them (differentiable, so their gradient reaches this worker's first-layer weights, as a
    halo node's would reach its owner's copy); ``rows`` holds the latest, detached, for a method that reads them."""

    def __init__(self, compute: Callable[[], torch.Tensor],
                 next_layer_partial: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.compute, self.next_layer_partial = compute, next_layer_partial
        self.rows: torch.Tensor | None = None  # this step's layer-1 halo rows
        self.inner: torch.Tensor | None = None  # this step's layer-1 inner rows

    def __call__(self, h_inner: torch.Tensor) -> torch.Tensor:
        rows = self.compute()
        self.rows, self.inner = rows.detach(), h_inner.detach()
        return rows

    def partial_next(self) -> torch.Tensor:
        """Layer 2's pre-activation of the halo rows from what this worker holds, with the current weights: the
        self loop and the edges from local neighbours, over this step's exact layer-1 rows (GCN)."""
        with torch.no_grad():
            return self.next_layer_partial(torch.cat([self.inner, self.rows]))


class HaloSeam:
    """Callable handed to the model as ``supply_halo``; see the module docstring."""

    def __init__(self, method: Any, comm: Any, halo: str = "method",
                 first_layer: Callable[[], torch.Tensor] | None = None):
        if halo not in HALO_MODES:
            raise ValueError(f"halo must be one of {HALO_MODES}, got {halo!r}")
        self.method, self.comm, self.fresh = method, comm, halo == "fresh"
        # --exact-first-layer: layer 1's halo rows, exact, computed here from the owners' static aggregates with
        # the current weights (differentiable); the method then supplies only layers >= 2.
        self.first_layer = first_layer
        self._reference: list[torch.Tensor] | None = None
        self._measured: list[dict[str, float]] = []
        self._used: list[UsedRows] = []
        self.measure_time = 0.0  # seconds spent comparing rows (kept out of the epoch's time)

    def arm(self, reference: list[torch.Tensor]) -> None:
        """Measure the next forward pass against ``reference`` (exact halo rows per hidden layer)."""
        self._reference, self._measured, self._used = reference, [], []

    def take_measurement(self) -> tuple[list[dict[str, float]], list[UsedRows]]:
        """Per layer: the sums of the comparison with the armed reference, and the rows used (with their masks)."""
        measured, used = self._measured, self._used
        self._reference, self._measured, self._used = None, [], []
        return measured, used

    def __call__(self, layer: int, h_inner: torch.Tensor, partial_halo: torch.Tensor) -> torch.Tensor:
        with self.comm.position.at(layer):  # a collective failing in here names the layer
            return self._supply(layer, h_inner, partial_halo)

    def _supply(self, layer: int, h_inner: torch.Tensor, partial_halo: torch.Tensor) -> torch.Tensor:
        computed_here = layer == 1 and self.first_layer is not None
        if computed_here:
            supplied = HaloRows(self.first_layer(h_inner))
        else:
            supplied = as_halo_rows(self.method.supply_halo(layer, h_inner, partial_halo))
        rows = supplied.rows
        if self.fresh and not computed_here:  # rows computed here are exact already
            # satbench.comm.Traffic.CONTROL (named by its value: the communicator is not imported here)
            exact = self.comm.exchange(h_inner.detach(), category="control")
            rows = exact + (rows - rows.detach()) if rows.requires_grad else exact
        if self._reference is not None:
            start = time.perf_counter()
            with torch.no_grad():
                self._measured.append(self._compare(layer, rows, supplied))
                fresh_rows = self.fresh or computed_here  # exact rows of this step: this step's masks
                self._used.append(UsedRows(layer, rows.detach().clone(),
                                           None if fresh_rows else supplied.mask_step,
                                           None if fresh_rows else supplied.current_share))
            self.measure_time += time.perf_counter() - start
        if supplied.weight is not None and not self.fresh:  # the control's rows are exact: nothing to discount
            rows = rows * supplied.weight.to(rows.dtype).unsqueeze(1)
        return rows

    def _compare(self, layer: int, used: torch.Tensor, supplied: HaloRows) -> dict[str, float]:
        exact = self._reference[layer - 1]
        count = float(exact.size(0))

        def error_sq(rows: torch.Tensor | None) -> float:
            return float((rows.detach() - exact).pow(2).sum()) if rows is not None else -1.0  # -1: none

        age_epochs, age_steps = (0.0, 0.0) if self.fresh else (supplied.age_epochs, supplied.age_steps)
        return {
            "error_sq": error_sq(used),
            "exact_sq": float(exact.pow(2).sum()),
            "cosine_sum": float(F.cosine_similarity(used.detach(), exact, dim=1, eps=1e-12).sum()) if count else 0.0,
            "rows": count,
            "age_epochs_sum": age_epochs * count,
            "age_steps_sum": age_steps * count,
            "replaced_error_sq": error_sq(supplied.replaced),
            "supplied_error_sq": error_sq(supplied.rows) if self.fresh else -1.0,
        }
