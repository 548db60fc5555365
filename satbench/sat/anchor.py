"""What SAT's residual predictor is anchored at, beyond the latest snapshot: the fits of the anchor's factors.

``extrapolate``: the latest snapshot plus its last change damped by ρ (:func:`fit_damping`); ``local_delta``: plus
the change of the locally computable part of the pre-activation since the snapshot arrived, scaled by γ
(:func:`fit_gain`). Both factors are least-squares fits refitted at every sync.
"""

from __future__ import annotations

import torch


def fit_gain(shift: torch.Tensor, change: torch.Tensor, largest: float = 10.0) -> float:
    """γ = <change, shift> / ‖shift‖², clipped to [0, largest]: how much of a change between snapshots the local
    shift explained (> 1 when the rest of the neighbourhood moved with it)."""
    norm = float(shift.pow(2).sum())
    if norm == 0.0:
        return 0.0
    return min(max(float((change * shift).sum()) / norm, 0.0), largest)


def fit_damping(before: torch.Tensor, last: torch.Tensor, new: torch.Tensor) -> float:
    """ρ = <new − last, last − before> / ‖last − before‖², clipped to [0, 1]: the least-squares factor by which the
    previous change between snapshots predicted the latest one (1: steady drift, 0: no trend or a reversal)."""
    previous_change, latest_change = last - before, new - last
    norm = float(previous_change.pow(2).sum())
    if norm == 0.0:
        return 0.0
    return min(max(float((latest_change * previous_change).sum()) / norm, 0.0), 1.0)
