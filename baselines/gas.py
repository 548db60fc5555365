"""``gas``: GNNAutoScale historical embeddings, distributed.

Fey, Lenssen, Weichert, Leskovec. *GNNAutoScale: Scalable and Expressive Graph Neural Networks via Historical
Embeddings.* ICML 2021 (code: rusty1s/pyg_autoscale).

Update rule, per hidden layer ``l`` and step ``t``: a worker trains with the halo rows of its history,
``h̃_halo^l(t) = H^l``, with no gradient flowing into them; after computing its inner rows ``h_inner^l(t)`` it pushes
them, and every holder overwrites its history: ``H^l ← h^l(t)``. In partition-parallel training every partition is
"in the batch" at every step, so the rows a worker pulls are exactly one step old. Histories are filled once before
training by an exact pass (GAS fills them by inference before training; unlike ``pyg_autoscale`` nothing refreshes
them at evaluation time: evaluation is a separate exact pass).
"""

from satbench.history import HaloHistory
from satbench.methods import Method, register_method


@register_method
class GAS(Method):
    """Historical embeddings pushed every step and pulled one step later, without halo gradients."""

    name = "gas"

    def __init__(self, context, **options):
        super().__init__(context, **options)
        self.history = HaloHistory()

    def setup(self, exact):
        for layer, (_, halo) in enumerate(exact, start=1):
            self.history.write(layer, halo, epoch=0, step=-1)

    def push(self, layer, h_inner):
        self.history.write(layer, self.comm.exchange(h_inner.detach()), self.epoch, self.step)

    def supply_halo(self, layer, h_inner, partial_halo):
        used = self.history.read(layer).clone()
        self.push(layer, h_inner)
        return used

    def peek_halo(self, layer, h_inner, partial_halo):
        return self.history.read(layer)

    def halo_age(self, layer):
        return self.history.age(layer, self.epoch, self.step)
