"""``pipegcn`` and ``pipegcn-gf``: pipelined feature *and* gradient communication, one epoch stale.

Wan, Li, Wolfe, Kyrillidis, Kim, Lin. *PipeGCN: Efficient Full-Graph Training of Graph Convolutional Networks with
Pipelined Feature Communication.* ICLR 2022 (code: GATECH-EIC/PipeGCN).

Update rule, per hidden layer ``l`` and epoch ``t``: the worker trains with the halo rows its peers sent during epoch
``t-1``, ``h̃_halo^l(t) = h_halo^l(t-1)``, while its own inner rows ``h_inner^l(t)`` travel to the peers in the
background (an asynchronous ``all_to_all`` that overlaps the rest of the forward and backward pass). Symmetrically,
the gradient of the loss with respect to the halo rows it used at ``t`` travels back to their owners in the background
and is added to the owners' inner-row gradient at epoch ``t+1``. Weight gradients are all-reduced every step (not
stale). ``pipegcn-gf`` smooths both streams, ``avg ← γ·avg + (1−γ)·received`` with γ = 0.95 (PipeGCN's
``--feat-corr`` and ``--grad-corr``). Before the first epoch the halo rows are exact and the stale gradients zero;
``start=zeros`` starts from zero halo rows instead, as the authors' buffers do (``helper/feature_buffer.py``: the
receive and smoothing buffers are zeros, so their epoch 0 trains with zero boundary features and, with smoothing, the
average starts from zero).
"""

import dataclasses

from satbench.baselines.gas import GAS
from satbench.lazy import lazy
from satbench.methods import Deviation, Option, register_method

# imported when the method first trains, so that listing the methods needs no torch
torch = lazy("torch")
autograd = lazy("satbench.baselines._autograd")


@register_method
class PipeGCN(GAS):
    """Halo features and their gradients one epoch stale, exchanged asynchronously while computing."""

    name = "pipegcn"
    paper = ("Wan, Li, Wolfe, Kyrillidis, Kim, Lin. PipeGCN: Efficient Full-Graph Training of Graph Convolutional "
             "Networks with Pipelined Feature Communication. ICLR 2022")
    code = "GATECH-EIC/PipeGCN"
    code_note = "helper/feature_buffer.py"
    deviations = (
        Deviation("the first epoch trains on exact halo rows (the fill before training); the authors' receive "
                  "buffers start at zero, so their epoch 0 trains with zero boundary features (and, with "
                  "smoothing, the average starts from zero)",
                  "every historical method here starts from the same exact fill, so that the first epoch compares "
                  "protocols, not initialisations",
                  "start=zeros"),
    )
    halo_copies = 9.0  # GAS's, gradients in flight, stale inner gradients (README, "Before any worker starts")
    options = {"smoothing": Option(0.0, "γ of avg ← γ·avg + (1−γ)·received for features and gradients; 0: none",
                                   minimum=0.0, maximum=1.0),
               "start": Option("exact", "halo rows before the first exchange arrives: exact (the fill before "
                                        "training) or zeros (the authors' zero buffers)", choices=("exact", "zeros"))}

    def __init__(self, context, **options):
        super().__init__(context, **options)
        self.pending_grads = {}  # layer -> gradients in flight to the owners, for the next epoch
        self.inner_grad = {}  # layer -> (smoothed) stale gradient of my inner rows

    def setup(self, exact):
        if self.config["start"] == "zeros":
            exact = {layer: (inner, torch.zeros_like(halo)) for layer, (inner, halo) in exact.items()}
        super().setup(exact)
        for layer, (inner, _) in exact.items():
            self.inner_grad[layer] = torch.zeros_like(inner)

    def received(self, layer, average, rows):
        gamma = self.config["smoothing"]
        return rows if gamma == 0.0 else gamma * average + (1.0 - gamma) * rows

    def collect(self, layer):
        super().collect(layer)
        if layer in self.pending_grads:
            grads = self.pending_grads.pop(layer).wait()
            summed = torch.zeros_like(self.inner_grad[layer]).index_add_(0, self.comm.send_index, grads)
            self.inner_grad[layer] = self.received(layer, self.inner_grad[layer], summed)

    def supply_halo(self, layer, h_inner, partial_halo):
        halo = super().supply_halo(layer, h_inner, partial_halo)

        def send_gradient(grad_halo):
            self.pending_grads[layer] = self.comm.start_rows(grad_halo.contiguous(), self.comm.halo_counts,
                                                             self.comm.send_counts, "halo_grad")

        return dataclasses.replace(halo, rows=autograd.StaleHalo.apply(h_inner, halo.rows, self.inner_grad[layer],
                                                               send_gradient))


@register_method
class PipeGCNSmoothed(PipeGCN):
    """PipeGCN with feature and gradient smoothing (PipeGCN-GF), γ = 0.95."""

    name = "pipegcn-gf"
    options = {**PipeGCN.options, "smoothing": dataclasses.replace(PipeGCN.options["smoothing"], default=0.95)}
