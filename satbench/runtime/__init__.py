"""The runtime above the trainer: starting one OS process per worker in a ``torch.distributed`` group
(:mod:`.launch`), signals and process lifetimes (:mod:`.processes`), per-worker memory (:mod:`.memory`) and emulated
network links (:mod:`.network`). Communication between workers is one layer below the trainer, in
:mod:`satbench.comm`."""
