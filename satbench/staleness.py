"""Measuring staleness: when (a seeded schedule no method's cycle can lock onto) and against what (drift told apart
from dropout-mask noise).

**When.** Halo rows of a periodic method change with its phase: DIGEST's rows are fresh right after a sync and
oldest before the next, REST's are exact right after a refresh. A measurement taken at a fixed phase (the first step of
every K-th epoch, with K = τ) sees one phase only. :class:`MeasurementSchedule` splits a run into windows of
``staleness_every`` = K epochs and measures once per window, at one of the window's S = K × local_steps steps: window w
measures the step at position ``order[w mod S]`` of a permutation ``order`` of the S positions drawn from the run's
seed. So every position of a window, (epoch within the window, local step), is measured once in every S consecutive
windows, in an order no method's cycle shares, and a time average over the measurements weighs every phase alike. For
a method of period τ epochs, write τ = kK: its phase (epoch mod τ, local step) is (w mod k, position), and by the
Chinese remainder theorem every one of its τ × local_steps phases is measured within k × S windows whenever k and S
are coprime (K = 5 with 3 local steps: τ = 5 within 75 epochs, τ = 10 within 150, τ = 20 within 300; K = 1: every
local step within local_steps epochs). A run shorter than that, or a period for which they are not coprime, still
measures phases spread over the cycle, though not every one. ``staleness_every`` = 1 with one local step measures every epoch.

**Against what.** Dropout masks are a pure function of (seed, step, node, feature, layer)
(:class:`satbench.models.NodeDropout`), and each cached halo row knows the step whose masks it carries
(:attr:`satbench.halo.HaloRows.mask_step`). At a measured step, with the weights of that step, three sets of exact
rows are compared per hidden layer, over all workers' halo rows:

* ``rel_error``: the rows used against the exact rows with the *current* step's masks (what the step trained with
  against what exact training would have used);
* ``drift_rel_error``: the rows used against the exact rows with *each row's own* masks (what staleness alone costs:
  the weights moved since the row was computed); rows that carry no mask (:data:`~satbench.halo.NO_MASK`: the fill
  before training, a forward-only refresh, a prediction) are compared with the exact rows in eval mode, and
  ``unmasked_share`` says how many did;
* ``mask_rel_error``: the exact rows with each row's own masks against those with the current masks (the floor a
  perfectly fresh row with another step's masks would show).

At dropout 0 the three reference sets coincide and ``drift_rel_error`` equals ``rel_error``. Rows blended from this
step's computation and older rows (LMC, GraphFM: ``current_share``) are compared with the same blend of references.
Relative errors are Frobenius norms of the differences over the norm of the reference they are measured against
(``drift_rel_error``: of the own-mask reference).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable

from .halo import NO_MASK, UsedRows
from .lazy import lazy

torch = lazy("torch")

# Per hidden layer, per worker: the drift comparison's sums (added to the seam's, satbench.halo.STALENESS_FIELDS).
DRIFT_FIELDS = ("drift_error_sq", "own_sq", "mask_error_sq", "unmasked_rows")
# At most this many reference passes with older steps' masks per measurement (SANCUS's rows may each come from
# another step); rows of older steps than these are compared with the eval-mode rows and counted as unmasked.
MAX_MASK_PASSES = 8


@dataclass(frozen=True)
class MeasurementSchedule:
    """At which (epoch, local step) a run measures staleness: one step per window of ``every`` epochs (module
    docstring). ``every`` = 0 measures nothing."""

    seed: int
    every: int
    local_steps: int
    epochs: int

    @property
    def window_steps(self) -> int:
        return self.every * self.local_steps

    def _offset(self, window: int) -> int:
        """The measured step's position inside window ``window`` (0-based): the run's seeded permutation."""
        order = list(range(self.window_steps))
        random.Random(f"satbench-staleness:{self.seed}:{self.every}:{self.local_steps}").shuffle(order)
        return order[window % self.window_steps]

    def local_step(self, epoch: int) -> int | None:
        """The local step (0-based) at which epoch ``epoch`` (1-based) measures, or None."""
        if self.every <= 0 or not 1 <= epoch <= self.epochs:
            return None
        window = (epoch - 1) // self.every
        measured_epoch, local_step = divmod(self._offset(window), self.local_steps)
        return local_step if window * self.every + 1 + measured_epoch == epoch else None

    def measured(self) -> list[tuple[int, int]]:
        """Every (epoch, local step) the run measures, in order."""
        return [(epoch, step) for epoch in range(1, self.epochs + 1)
                if (step := self.local_step(epoch)) is not None]


def mask_steps(used: list[UsedRows], current_step: int) -> set[int]:
    """The older masks (steps, and :data:`NO_MASK`) that this worker's used rows carry."""
    steps: set[int] = set()
    for item in used:
        if item.mask_step is not None:
            steps.update(int(step) for step in torch.unique(item.mask_step).tolist())
    steps.discard(current_step)
    return steps


def kept_mask_steps(steps: set[int]) -> list[int]:
    """The masks the reference passes are run for: the most recent :data:`MAX_MASK_PASSES`, with the eval-mode pass
    standing in for older ones."""
    ordered = sorted(steps, reverse=True)
    if len(ordered) <= MAX_MASK_PASSES:
        return sorted(ordered)
    kept = [step for step in ordered if step != NO_MASK][:MAX_MASK_PASSES - 1]
    return sorted(kept + [NO_MASK])


def drift_sums(used: list[UsedRows], current: list[torch.Tensor], own_masks: dict[int, list[torch.Tensor]] | None,
               current_step: int) -> list[dict[str, float]]:
    """Per measured layer (in ``used``'s order): the sums of :data:`DRIFT_FIELDS`. ``current``: exact rows per hidden
    layer with this step's masks; ``own_masks[m]``: the same with step ``m``'s masks (``NO_MASK``: eval mode); None
    where every step's masks give the current rows (no dropout, no batch norm: the passes would repeat ``current``)."""
    sums = []
    for item in used:
        exact_now = current[item.layer - 1]
        own = exact_now.clone()
        unmasked = 0.0
        if item.mask_step is not None:
            steps = item.mask_step.to(exact_now.device)
            for step in torch.unique(steps).tolist():
                if step == current_step:
                    continue
                rows = steps == step
                source = step if own_masks is None or step in own_masks else NO_MASK  # older than the passes kept
                if own_masks is not None:
                    own[rows] = own_masks[source][item.layer - 1][rows]
                if source == NO_MASK:
                    unmasked += float(rows.sum())
        if item.current_share is not None:
            share = item.current_share.to(exact_now.dtype).reshape(-1, 1)
            own = share * exact_now + (1.0 - share) * own
        sums.append({
            "drift_error_sq": float((item.rows - own).pow(2).sum()),
            "own_sq": float(own.pow(2).sum()),
            "mask_error_sq": float((own - exact_now).pow(2).sum()),
            "unmasked_rows": unmasked,
        })
    return sums


def combine_drift(item: dict[str, float]) -> dict[str, float]:
    """The drift columns of one layer from its sums over all workers (with the seam's ``exact_sq`` and ``rows``)."""
    return {
        "drift_rel_error": math.sqrt(item["drift_error_sq"] / item["own_sq"]) if item["own_sq"] > 0 else 0.0,
        "mask_rel_error": math.sqrt(item["mask_error_sq"] / item["exact_sq"]) if item["exact_sq"] > 0 else 0.0,
        "unmasked_share": item["unmasked_rows"] / item["rows"] if item["rows"] else 0.0,
    }


def agreed_mask_steps(local: set[int], gather: Callable[[torch.Tensor], torch.Tensor]) -> list[int]:
    """The union of every worker's mask steps (each reference pass is a collective: all run the same ones).
    ``gather``: a worker's equal-length float64 vector -> ``[W, n]``."""
    count = gather(torch.tensor([float(len(local))], dtype=torch.float64))
    longest = int(count.max())
    if longest == 0:
        return []
    padded = sorted(local) + [math.nan] * (longest - len(local))
    values = gather(torch.tensor(padded, dtype=torch.float64)).flatten().tolist()
    return kept_mask_steps({int(value) for value in values if not math.isnan(value)})
