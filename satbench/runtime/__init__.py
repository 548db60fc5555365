"""The runtime above the trainer: starting one OS process per worker in a ``torch.distributed`` group
(:mod:`.launch`), signals, process lifetimes and the workers' log lines (:mod:`.processes`), per-worker memory and
its estimate before any worker starts (:mod:`.memory`), checkpoints on disk (:mod:`.checkpoint`), what a run says
while it trains (:mod:`.progress`) and emulated network links (:mod:`.network`). Communication between workers is one
layer below the trainer, in :mod:`satbench.comm`."""
