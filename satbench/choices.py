"""The names a run setting may take, declared once and importable without torch (the command line's help and the
workflow's checks read them before anything heavy is loaded). The modules that implement each name import it from
here."""

MODELS = ("gcn", "sage", "gat")  # satbench.models
NORMS = ("none", "batch", "layer")  # satbench.models
PARTITIONERS = ("metis", "random")  # satbench.partition
HALO_MODES = ("method", "fresh")  # satbench.halo: the method's rows, or its fresh-halo control
WEIGHT_SYNCS = ("allreduce", "average")  # satbench.methods: gradient all-reduce every step, model averaging per epoch
DEVICES = ("cpu", "cuda")
LAUNCHERS = ("spawn", "inprocess")  # satbench.runtime.launch: worker processes, or threads of one process
# satbench.methods and satbench.report.families: a reference (exact rows, or none), a historical method (stale rows of
# its own protocol), or an alleviation method (it corrects a base method's stale rows)
REFERENCE, HISTORICAL, ALLEVIATION = "reference", "historical", "alleviation"
FAMILIES = (REFERENCE, HISTORICAL, ALLEVIATION)
