"""What the bytes between workers are for: the :class:`Traffic` categories, declared once with their role.

The communicator (:mod:`satbench.comm`) books every byte under one category; the record's byte columns
(:mod:`satbench.record`) and the report's are derived from the categories declared here. This module imports no
torch, so reading a record's declarations needs none.
"""

from __future__ import annotations

import enum


class Traffic(str, enum.Enum):
    """What a collective's bytes are for. A ``str`` enum, so ``"halo"`` and ``Traffic.HALO`` are one category.

    The method's own traffic (:attr:`counted`: in the record's ``comm_bytes`` and ``comm_time_s``, and in its epoch
    time): ``HALO`` (halo rows), ``HALO_GRAD`` (their gradients, back to the owners), ``REDUCE`` (weight
    synchronisation, and batch-norm sums), ``PROTOCOL`` (a method's own control messages: SANCUS's broadcast
    decisions, SAT's owner evidence). Kept apart: ``CONTROL`` and ``CONTROL_GRAD`` (the exact rows the fresh-halo
    control adds, reported as ``control_bytes`` and left out of the epoch time), ``MEASURE`` (staleness reference
    passes), ``EVAL`` (evaluation), ``SETUP`` (before training: input features, history fills), ``STATS`` (the
    trainer's own per-epoch bookkeeping).
    """

    HALO = "halo"
    HALO_GRAD = "halo_grad"
    REDUCE = "reduce"
    PROTOCOL = "protocol"
    CONTROL = "control"
    CONTROL_GRAD = "control_grad"
    MEASURE = "measure"
    EVAL = "eval"
    SETUP = "setup"
    STATS = "stats"

    # As its string hashes (Enum's own hash is its name's): a dict keyed by categories answers "halo" too.
    __hash__ = str.__hash__

    @property
    def counted(self) -> bool:
        """Part of the method's cost (``comm_bytes``, ``comm_time_s``, the epoch time)."""
        return self in _METHOD_TRAFFIC

    @property
    def column(self) -> str | None:
        """The epoch row's byte column of a counted category, e.g. ``halo_bytes``."""
        return f"{self.value}_bytes" if self.counted else None

    @property
    def gradient(self) -> "Traffic":
        """The category of the gradients that flow back through an exchange of this category."""
        return {Traffic.HALO: Traffic.HALO_GRAD, Traffic.CONTROL: Traffic.CONTROL_GRAD}.get(self, self)

    @property
    def description(self) -> str:
        """What the category's bytes are, in words (for a failed collective's message, and the data dictionary)."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Traffic.HALO: "halo rows", Traffic.HALO_GRAD: "halo-row gradients",
    Traffic.REDUCE: "weight synchronisation", Traffic.PROTOCOL: "the method's protocol messages",
    Traffic.CONTROL: "the fresh-halo control's rows", Traffic.CONTROL_GRAD: "the fresh-halo control's gradients",
    Traffic.MEASURE: "the staleness reference pass", Traffic.EVAL: "evaluation",
    Traffic.SETUP: "setup data (input features, the histories' first rows)",
    Traffic.STATS: "epoch statistics",
}


_METHOD_TRAFFIC = frozenset({Traffic.HALO, Traffic.HALO_GRAD, Traffic.REDUCE, Traffic.PROTOCOL})
METHOD_TRAFFIC = tuple(t for t in Traffic if t in _METHOD_TRAFFIC)  # in declaration order: the record's columns
CONTROL_TRAFFIC = (Traffic.CONTROL, Traffic.CONTROL_GRAD)
