"""``gas``: GNNAutoScale historical embeddings, distributed.

Fey, Lenssen, Weichert, Leskovec. *GNNAutoScale: Scalable and Expressive Graph Neural Networks via Historical
Embeddings.* ICML 2021 (code: rusty1s/pyg_autoscale).

Update rule, per hidden layer ``l`` and step ``t``: a worker trains with the halo rows of its history,
``h̃_halo^l(t) = H^l``, with no gradient flowing into them; after computing its inner rows ``h_inner^l(t)`` it pushes
them (an asynchronous send that overlaps the rest of the step) and every holder overwrites its history with them
before their next use: ``H^l ← h^l(t)``. In partition-parallel training every partition is "in the batch" at every
step, so the rows a worker uses are exactly one step old. Histories are filled once before training by an exact pass
(GAS fills them by inference before training; unlike ``pyg_autoscale`` nothing refreshes them at evaluation time:
evaluation is a separate exact pass).
"""

from satbench.history import HaloHistory
from satbench.methods import HISTORICAL, Deviation, Method, register_method


@register_method
class GAS(Method):
    """Historical embeddings pushed every step and used one step later, without halo gradients."""

    name = "gas"
    family = HISTORICAL
    paper = ("Fey, Lenssen, Weichert, Leskovec. GNNAutoScale: Scalable and Expressive Graph Neural Networks via "
             "Historical Embeddings. ICML 2021")
    code = "rusty1s/pyg_autoscale"
    code_note = "History; ScalableGNN.push_and_pull"
    deviations = (
        Deviation("partition-parallel: every partition is in the batch at every step and pushes its rows to the "
                  "workers that hold them, so the rows used are one step old; GAS trains one mini-batch of METIS "
                  "clusters at a time on one GPU, its out-of-batch rows up to an epoch old",
                  "the benchmark studies staleness in distributed training: this is GAS's protocol there"),
        Deviation("evaluation is a separate exact full-graph pass that writes nothing into the histories; "
                  "pyg_autoscale evaluates by layer-wise historical inference (mini_inference), which rewrites "
                  "every history row",
                  "one evaluation for every method, so that how often a run evaluates cannot change how it trains"),
    )
    halo_copies = 3.0  # history, rows in flight (README, "Before any worker starts")

    def __init__(self, context, **options):
        super().__init__(context, **options)
        self.history = HaloHistory()
        self.pending_rows = {}  # layer -> (rows in flight, (epoch, step) they were computed at)

    def setup(self, exact):
        for layer, (_, halo) in exact.items():
            self.history.write(layer, halo, epoch=0, step=-1)

    def received(self, layer, average, rows):
        """How rows arriving from the owners enter the history (PipeGCN-GF smooths them)."""
        return rows

    def collect(self, layer):
        """Take delivery of the rows pushed for ``layer`` at the previous step."""
        if layer in self.pending_rows:
            rows, (epoch, step) = self.pending_rows.pop(layer)
            self.history.write(layer, self.received(layer, self.history.read(layer), rows.wait()), epoch, step)

    def push(self, layer, h_inner):
        self.pending_rows[layer] = (self.comm.exchange_async(h_inner), (self.epoch, self.step))

    def supply_halo(self, layer, h_inner, partial_halo):
        self.collect(layer)
        self.push(layer, h_inner)
        return self.history.supply(layer, self.epoch, self.step)
