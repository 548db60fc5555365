"""``rest``: historical halo rows refreshed by forward-only passes, more often than the base's protocol refreshes them.

Xue, Zhao, Shah, Liu. REST, arXiv:2410.05416 (2024): staleness comes from embeddings being refreshed less often
than the weights change; REST decouples the two, running extra forward-only passes that refresh the historical cache
at a frequency of its own. Reimplemented here on the partition-parallel setting (the paper's own code is not public).

Update rule, on a periodic base (``digest``, held and run unchanged underneath: its pulls, pushes, local steps and
model averaging): at the start of every epoch ``e > 1`` with ``(e − 1) % refresh_every == 0``, after the base's own
epoch start (a DIGEST pull, if it is one), every worker runs one forward-only pass with the current weights (eval
mode, no gradient, exact halo rows at every layer: what one exact forward pass sends, booked as this method's
``halo`` bytes, its time inside the epoch's) and writes the exact halo rows it received into the base's history as a
new snapshot, computed at the epoch's first step (so their age there is 0, and a listener such as SAT hears them).
Training then reads the base's history as the base does, until the base's next pull or the next refresh replaces
it. Epoch 1 needs no refresh: the history was filled with exact rows of the initial weights. A refresh epoch that is
also a pull epoch does both (the refresh, with the averaged weights, supersedes the pulled rows).

The rows it replaced (``HaloRows.replaced``, for the in-run comparison) are those its base would hold without the
refreshes: the rows of the base's own latest write (DIGEST's last pull). The fresh-halo control is the base's: the
refresh changes only halo rows, which the control replaces, and the eval-mode pass touches no weight, batch-norm
statistic or random state.
"""

import dataclasses
import time

from satbench.halo import as_halo_rows
from satbench.methods import Alleviation, Option, register_on_base


class REST(Alleviation):
    """The base's halo history refreshed every `refresh_every` epochs by a forward-only pass with the current
    weights."""

    name = "rest"
    shares_base_control = True
    context_attributes = ("fresh_pass",)  # the trainer's exact pass, handed in by the context
    halo_copies = 1.0  # the base's own latest rows (README, "Before any worker starts")
    options = {"refresh_every": Option(1, "epochs between refreshes: a forward-only exact pass at the start of "
                                          "every epoch e > 1 with (e-1) % refresh_every == 0", minimum=1)}

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

    def refreshes(self, epoch: int) -> bool:
        return epoch > 1 and (epoch - 1) % self.config["refresh_every"] == 0

    def start_epoch(self, epoch, step):
        super().start_epoch(epoch, step)  # the base's epoch start (DIGEST's pull) comes first
        self.refresh_time = 0.0
        if not self.refreshes(epoch):
            return
        start = time.perf_counter()
        history = self.base.history
        self.refreshing = True
        try:
            for layer, (_, halo) in self.fresh_pass().items():
                if layer in history.rows:  # with --exact-first-layer the base holds no layer-1 rows
                    history.write(layer, halo, epoch, step, masked=False)  # a forward-only pass: no masks
        finally:
            self.refreshing = False
        self.refresh_time = time.perf_counter() - start

    def supply_halo(self, layer, h_inner, partial_halo):
        supplied = as_halo_rows(self.base.supply_halo(layer, h_inner, partial_halo))
        return dataclasses.replace(supplied, replaced=self.base_rows[layer])

    def epoch_metrics(self):
        return {**self.base.epoch_metrics(), "refresh_time_s": self.refresh_time}


register_on_base("rest", REST, "digest",
                 "REST: DIGEST's halo history refreshed by a forward-only exact pass with the current weights every "
                 "`refresh_every` epochs, between its syncs.")
