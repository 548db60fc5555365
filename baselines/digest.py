"""``digest``: periodic stale-representation synchronisation with local training and model averaging.

Chai, Bai, Zhao, Cheng. *Distributed Graph Neural Network Training with Periodic Stale Representation
Synchronization* (DIGEST). arXiv:2206.00057 (code: Ziyang-Yu/SAT-DIGEST, ``run/main_dist.py``).

Update rule, per hidden layer, with sync period τ and 0-based epoch ``e``: each worker trains full-batch on its
partition for ``local_steps`` (3) Adam steps per epoch, reading halo rows from its cache (no gradient flows into
them); it *pushes* its inner rows (from the epoch's last step) to the representation store when ``(e+1) % τ == 0``
and *pulls* its halo rows from the store when ``e % τ == 0``; models are averaged after every epoch. The store is
sharded by owner (each worker keeps its own pushed rows), so only the pull crosses the network: about
``1/τ`` of ``exact``'s embedding traffic per epoch. Halo rows are 1 to τ epochs old. Before training the store holds
exact rows of the initial model.
"""

from satbench.history import HaloHistory
from satbench.methods import HISTORICAL, Deviation, Method, Option, register_method


@register_method
class DIGEST(Method):
    """Periodic pull/push of halo rows every τ epochs; local steps and model averaging every epoch."""

    name = "digest"
    family = HISTORICAL
    paper = ("Chai, Bai, Zhao, Cheng. Distributed Graph Neural Network Training with Periodic Stale Representation "
             "Synchronization (DIGEST). arXiv:2206.00057")
    code = "Ziyang-Yu/SAT-DIGEST"
    code_note = "run/main_dist.py"
    deviations = (
        Deviation("the representation store is sharded by owner (each worker keeps the rows it pushed), so only the "
                  "pull crosses the network; the authors' store is a server on rank 0, which push and pull both "
                  "cross",
                  "no central server in a peer-to-peer benchmark; the rows pulled are the same"),
        Deviation("evaluation is an exact full-graph pass on every worker, not historical inference on rank 0",
                  "one evaluation for every method"),
    )
    halo_copies = 3.0  # rows in use, the store's shard (README, "Before any worker starts")
    weight_sync = "average"
    local_steps = 3
    options = {"sync_period": Option(10, "τ: pull halo rows when epoch % τ == 0, push when (epoch+1) % τ == 0",
                                     minimum=1, flag="--sync-period")}

    def __init__(self, context, **options):
        super().__init__(context, **options)
        self.history = HaloHistory()  # the halo rows in use; the store below is where they are pulled from
        self.store = {}  # layer -> (my pushed inner rows, epoch, step): my shard of the representation store
        self.last_local_step = None

    @property
    def period(self):
        return self.config["sync_period"]

    def setup(self, exact):
        for layer, (inner, halo) in exact.items():
            self.store[layer] = (inner, 0, -1)
            self.history.write(layer, halo, epoch=0, step=-1)

    def pulls(self, epoch):
        return (epoch - 1) % self.period == 0

    def pushes(self, epoch):
        return epoch % self.period == 0

    def start_epoch(self, epoch, step):
        super().start_epoch(epoch, step)
        self.last_local_step = step + self.steps_per_epoch - 1
        if self.pulls(epoch):
            for layer, (inner, pushed_epoch, pushed_step) in self.store.items():
                self.history.write(layer, self.comm.exchange(inner), pushed_epoch, pushed_step)

    def supply_halo(self, layer, h_inner, partial_halo):
        if self.pushes(self.epoch) and self.step == self.last_local_step:
            self.store[layer] = (h_inner.detach().clone(), self.epoch, self.step)
        return self.history.supply(layer, self.epoch, self.step)
