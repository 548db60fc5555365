"""``partition``: partition-based training with no halo at all (cut edges dropped).

Each worker trains on the subgraph induced by its own nodes, with degrees counted inside the part, and never sends
an embedding; only gradients are all-reduced. This is the no-communication lower bound of partition-parallel
training: PSGD-PA (parallel SGD with periodic averaging; ``--weight-sync average --local-steps K``) and the local
step of LLCG (Ramezani et al., *Learn Locally, Correct Globally*, ICLR 2022). Evaluation stays exact (full graph).
Staleness is reported against zero halo rows: the rows it uses are missing, a relative error of 1.
"""

from satbench.halo import HaloRows
from satbench.methods import REFERENCE, Deviation, Method, register_method


@register_method
class PartitionOnly(Method):
    """No halo rows: cut edges are dropped and nothing but gradients is communicated."""

    name = "partition"
    family = REFERENCE
    train_graph = "inner"
    paper = ("Ramezani, Cong, Mahdavi, Kandemir, Sivasubramaniam. Learn Locally, Correct Globally: A Distributed "
             "Algorithm for Training Graph Neural Networks (LLCG; its PSGD-PA baseline). ICLR 2022")
    code = "MortezaRamezani/llcg"
    code_note = "PSGD-PA: dgnn/train/dist/distgnn.py"
    deviations = (
        Deviation("weights kept in sync by a gradient all-reduce at every step (the gradient of the global mean "
                  "loss), not by local Adam steps and a parameter average weighted by each worker's training-set "
                  "size",
                  "the no-communication bound of this benchmark's synchronous protocol; `--weight-sync average "
                  "--local-steps K` gives local steps and an (unweighted) average instead"),
        Deviation("full-partition steps, not mini-batches sampled inside the partition (subgraph or neighbour "
                  "sampler)", "every method here trains full-batch on its own partition"),
    )

    def supply_halo(self, layer, h_inner, partial_halo):
        # No edge reads these rows; they only keep the layout inner + halo. Never fresh: as old as the run.
        return HaloRows(h_inner.new_zeros(self.comm.num_halo, h_inner.size(1)), age_epochs=float(self.epoch),
                        age_steps=float(self.step))
