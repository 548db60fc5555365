"""``exact``: synchronous halo exchange at every layer of every step (the reference all staleness is measured against).

Fresh halo rows come from an ``all_to_all`` before each hidden layer and their gradients travel back to the owners, so
distributed training equals single-process full-graph training for any number of workers.
"""

from satbench.methods import REFERENCE, Method, register_method


@register_method
class Exact(Method):
    """Synchronous exchange of halo rows and their gradients at every layer and step."""

    name = "exact"
    family = REFERENCE
    paper = ("none of its own: the reference, synchronous full-graph training distributed exactly (the models: Kipf "
             "& Welling, ICLR 2017; GraphSAGE; GAT)")
    code_note = ("this is the reference, equal to single-process full-graph training for any number of workers "
                 "(tests/test_exact.py)")
    deviations = ()

    def supply_halo(self, layer, h_inner, partial_halo):
        return self.comm.exchange(h_inner)
