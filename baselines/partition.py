"""``partition``: partition-based training with no halo at all (cut edges dropped).

Each worker trains on the subgraph induced by its own nodes, with degrees counted inside the part, and never sends
an embedding; only gradients are all-reduced. This is the no-communication lower bound of partition-parallel
training: PSGD-PA (parallel SGD with periodic averaging; ``--weight-sync average --local-steps K``) and the local
step of LLCG (Ramezani et al., *Learn Locally, Correct Globally*, ICLR 2022). Evaluation stays exact (full graph).
Staleness is reported against zero halo rows: the rows it uses are missing, a relative error of 1.
"""

from satbench.halo import HaloRows
from satbench.methods import REFERENCE, Method, register_method


@register_method
class PartitionOnly(Method):
    """No halo rows: cut edges are dropped and nothing but gradients is communicated."""

    name = "partition"
    family = REFERENCE
    train_graph = "inner"

    def supply_halo(self, layer, h_inner, partial_halo):
        # No edge reads these rows; they only keep the layout inner + halo. Never fresh: as old as the run.
        return HaloRows(h_inner.new_zeros(self.comm.num_halo, h_inner.size(1)), age_epochs=float(self.epoch),
                        age_steps=float(self.step))
