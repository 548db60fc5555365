"""satbench: a reproducibility benchmark for staleness in distributed (partition-parallel) GNN training."""

__version__ = "0.1.0"
