"""SAT's gate: where a prediction may be used at all, per layer and owning peer.

At each sync the receiver compares, per owner, the error of the prediction it made for the new snapshot with the
stale copy's (``gated``; ``gate_margin`` < 1 demands a win by that factor); with ``owner_check`` the owners add their
own evidence, measured against their rows at the current weights (see ``satbench.sat``).
"""

from __future__ import annotations

import torch


def error_per_owner(rows: torch.Tensor, target: torch.Tensor, owner: torch.Tensor, world_size: int) -> torch.Tensor:
    """Squared error summed over the halo rows of each owning peer (``owner``: the owner of each row); shape [W]."""
    per_row = (rows - target).pow(2).sum(1)
    return torch.zeros(world_size, device=rows.device).index_add_(0, owner, per_row)


def owner_approves(evidence: torch.Tensor, damping: float, margin: float) -> torch.Tensor:
    """Per owning peer: did the trend at ``damping`` beat the stale copy by ``margin`` on the owner's rows at the
    current weights? ``evidence`` [W, 3] holds ‖gap‖², f<gap, d>, f²‖d‖²; the trend's squared error is
    ‖gap‖² − 2ρ f<gap, d> + ρ² f²‖d‖²."""
    stale, cross, trend = evidence.unbind(1)
    error = stale - 2 * damping * cross + damping ** 2 * trend
    return (stale > 0) & (error < margin * stale)
