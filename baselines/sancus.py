"""``sancus``: staleness-aware, communication-avoiding broadcasts with a staleness bound.

Peng, Chen, Shao, Shen, Chen, Cao. *SANCUS: Staleness-Aware Communication-Avoiding Full-Graph Decentralized Training
in Large-Scale Graph Neural Networks.* VLDB 2022 (code: chenzhao/light-dist-gnn).

Update rule, per hidden layer and step: a worker compares its fresh inner rows with the copy it last broadcast,
``δ = ‖h_inner − h_sent‖_F / ‖h_sent‖_F``, and re-broadcasts them (to every peer that holds them as halo rows) only
when ``δ > threshold`` or when the last broadcast is ``staleness_bound`` epochs old; otherwise its peers keep using the
last broadcast copy. Workers announce their decision with a one-number all-gather (the method's ``protocol``
traffic: it is also a synchronisation point that waits for the slowest worker, and its time is part of the epoch).
Cached rows carry no gradient. The defaults (threshold 0.1, bound 10 epochs) are ours: the paper tunes both.
"""


from satbench.history import HaloHistory
from satbench.lazy import lazy
from satbench.methods import HISTORICAL, Method, Option, register_method

torch = lazy("torch")  # imported when the method first trains: listing the methods needs no torch


@register_method
class SANCUS(Method):
    """Skip re-broadcasting embeddings that changed little since the last broadcast, up to a staleness bound."""

    name = "sancus"
    family = HISTORICAL
    halo_copies = 3.0  # history, the last broadcast (README, "Before any worker starts")
    options = {
        "threshold": Option(0.1, "re-broadcast when the relative change since the last broadcast exceeds this",
                            minimum=0.0),
        "staleness_bound": Option(10, "re-broadcast at the latest after this many epochs", minimum=1),
    }

    def __init__(self, context, **options):
        super().__init__(context, **options)
        self.history = HaloHistory()
        self.last_sent = {}  # layer -> (inner rows at the last broadcast, its epoch)
        owners = torch.arange(self.comm.world_size)
        self.halo_owner = owners.repeat_interleave(torch.tensor(self.comm.halo_counts)).to(self.comm.device)

    def setup(self, exact):
        for layer, (inner, halo) in exact.items():
            self.history.write(layer, halo, epoch=0, step=-1)
            self.last_sent[layer] = (inner.clone(), 0)

    def wants_broadcast(self, layer, inner):
        sent, sent_epoch = self.last_sent[layer]
        change = (inner - sent).norm() / sent.norm().clamp_min(1e-12)
        return bool(change > self.config["threshold"]) or self.epoch - sent_epoch >= self.config["staleness_bound"]

    def supply_halo(self, layer, h_inner, partial_halo):
        inner = h_inner.detach()
        mine = self.wants_broadcast(layer, inner)
        flags = self.comm.gather_rows(torch.tensor([float(mine)], device=inner.device), "protocol")[:, 0] > 0
        send_counts = [count if mine else 0 for count in self.comm.send_counts]
        recv_counts = [count if flag else 0 for count, flag in zip(self.comm.halo_counts, flags.tolist())]
        outgoing = inner[self.comm.send_index] if mine else inner.new_empty(0, inner.size(1))
        received = self.comm.exchange_rows(outgoing, send_counts, recv_counts, "halo")
        if flags.any():
            self.history.write(layer, received, self.epoch, self.step, where=flags[self.halo_owner])
        if mine:
            self.last_sent[layer] = (inner.clone(), self.epoch)
        return self.history.supply(layer, self.epoch, self.step)
