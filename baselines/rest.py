"""``rest``: historical halo rows refreshed by forward-only passes, more often than the base's protocol refreshes them.

Xue, Zhao, Shah, Liu. REST, arXiv:2410.05416 (2024): staleness comes from embeddings being refreshed less often
than the weights change; REST decouples the two, running extra forward-only passes that refresh the historical cache
at a frequency of its own. Reimplemented here on the partition-parallel setting from the paper (its code,
RXPHD/REST, linked from the abstract, was not read).

Update rule, on a periodic base (``digest``, held and run unchanged underneath: its pulls, pushes, local steps and
model averaging): at a refresh, every worker runs one forward-only pass with the current weights (eval mode, no
gradient, exact halo rows at every layer: what one exact forward pass sends, booked as this method's ``halo`` bytes,
its time inside the epoch's) and writes the exact halo rows it received into the base's history as a new snapshot
(carrying no dropout mask: ``masked=False``), computed at the coming step (so their age there is 0, and a listener
such as SAT hears them). Training then reads the base's history as the base does, until the base's next pull or the
next refresh replaces it. Two schedules:

* ``refresh_every = E`` epochs (the default, E = 1): before the first step of every epoch ``e > 1`` with
  ``(e − 1) % E == 0``, after the base's own epoch start (a DIGEST pull, if it is one: the refresh, with the averaged
  weights, supersedes the pulled rows);
* ``refresh_steps = N`` optimiser steps: before every step ``t > 0`` (counted over the run) with ``t % N == 0``,
  between steps (DIGEST takes 3 local steps per epoch, so ``refresh_steps`` ≤ 3 refreshes at least as often as the
  weights change between syncs: 1 gives exact rows at every step). It replaces the epoch schedule
  (``refresh_every`` must then be left at 1).

The first step needs no refresh: the history was filled with exact rows of the initial weights.

The rows it replaced (``HaloRows.replaced``, for the in-run comparison) are those its base would hold without the
refreshes: the rows of the base's own latest write (DIGEST's last pull). The fresh-halo control is the base's: the
refresh changes only halo rows, which the control replaces, and the eval-mode pass touches no weight, batch-norm
statistic or random state.
"""

import dataclasses
import time

from satbench.errors import ConfigError
from satbench.halo import as_halo_rows
from satbench.methods import Alleviation, Deviation, Option, register_on_base
from satbench.record import Column


class REST(Alleviation):
    """The base's halo history refreshed every `refresh_every` epochs (or `refresh_steps` optimiser steps) by a
    forward-only pass with the current weights."""

    name = "rest"
    paper = ("Xue, Zhao, Shah, Liu. Haste Makes Waste: A Simple Approach for Scaling Graph Neural Networks (REST). "
             "ICML 2025, arXiv:2410.05416")
    code = "RXPHD/REST"
    code_note = "linked from the abstract; not read for this reimplementation, which follows the paper"
    deviations = (
        Deviation("by default one refresh per epoch, while DIGEST takes 3 local steps per epoch: the cache is "
                  "refreshed less often than the weights change",
                  "REST refreshes the cache more often than the parameters are updated; refresh_steps=1 refreshes "
                  "before every step (refresh_every stays the default that configs use)",
                  "refresh_steps=1"),
        Deviation("on DIGEST in partition-parallel training, a refresh being one forward-only pass over the "
                  "partition with exact halo rows; REST is described on single-machine historical-embedding "
                  "training (GAS-style mini-batches), its refreshes forward passes of that training",
                  "the benchmark's periodic base, whose staleness comes from syncs rarer than updates"),
    )
    shares_base_control = True
    metrics = (Column("refresh_time_s", "float", "s", "rest: time refreshing the history by forward-only passes in the "
                                                  "epoch, the slowest worker's (inside epoch_time_s)"),)
    context_attributes = ("fresh_pass",)  # the trainer's exact pass, handed in by the context
    halo_copies = 1.0  # the base's own latest rows (README, "Before any worker starts")
    options = {"refresh_every": Option(1, "epochs between refreshes: a forward-only exact pass at the start of "
                                          "every epoch e > 1 with (e-1) % refresh_every == 0", minimum=1),
               "refresh_steps": Option(0, "optimiser steps between refreshes instead (0: by epochs): a forward-only "
                                          "exact pass before every step t > 0 with t % refresh_steps == 0",
                                       minimum=0)}

    @classmethod
    def check_options(cls, options, name=None):
        if options["refresh_steps"] > 0 and options["refresh_every"] != 1:
            raise ConfigError(f"method {name or cls.name!r}: refresh_steps replaces refresh_every; set one of them")

    def __init__(self, context, base, **options):
        super().__init__(context, base, **options)
        self.fresh_pass = context.fresh_pass
        self.base_rows = {}  # layer -> the rows of the base's own latest write (what it would use without refreshes)
        self.refreshing = False
        self.refresh_time = 0.0

    def setup(self, exact):
        super().setup(exact)
        history = self.base_history()
        for layer, (_, halo) in exact.items():
            self.base_rows[layer] = halo.detach().clone()
        history.subscribe(self._on_snapshot)

    def _on_snapshot(self, snapshot):
        if not self.refreshing:  # the base's own write
            self.base_rows[snapshot.layer] = snapshot.rows.clone()

    def refreshes(self, epoch: int, step: int) -> bool:
        """Whether a refresh comes before ``step`` (0-based, over the run), the ``step - epoch_first_step``-th local
        step of ``epoch``."""
        every_steps = self.config["refresh_steps"]
        if every_steps > 0:
            return step > 0 and step % every_steps == 0
        return step == self.epoch_first_step and epoch > 1 and (epoch - 1) % self.config["refresh_every"] == 0

    def start_epoch(self, epoch, step):
        super().start_epoch(epoch, step)  # the base's epoch start (DIGEST's pull) comes first
        self.refresh_time = 0.0

    def start_step(self, step):
        super().start_step(step)
        if self.refreshes(self.epoch, step):
            self.refresh(step)

    def refresh(self, step: int) -> None:
        """Write the exact halo rows of a forward-only pass with the current weights into the base's history, as
        rows of ``step`` (the coming one)."""
        start = time.perf_counter()
        history = self.base.history
        self.refreshing = True
        try:
            for layer, (_, halo) in self.fresh_pass().items():
                if layer in history.rows:  # with --exact-first-layer the base holds no layer-1 rows
                    history.write(layer, halo, self.epoch, step, masked=False)  # a forward-only pass: no masks
        finally:
            self.refreshing = False
        self.refresh_time += time.perf_counter() - start

    def supply_halo(self, layer, h_inner, partial_halo):
        supplied = as_halo_rows(self.base.supply_halo(layer, h_inner, partial_halo))
        return dataclasses.replace(supplied, replaced=self.base_rows[layer])

    def epoch_metrics(self):
        return {**self.base.epoch_metrics(), "refresh_time_s": self.refresh_time}


register_on_base("rest", REST, "digest",
                 "REST: DIGEST's halo history refreshed by a forward-only exact pass with the current weights every "
                 "`refresh_every` epochs (or `refresh_steps` optimiser steps), between its syncs.")
