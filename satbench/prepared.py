"""What a run is prepared with before any worker starts: its graph's facts, its partition and what the record will
say of both (:class:`PreparedRun`, made once by :func:`satbench.runtime.launch.prepare`, validated there), and the
part sizes the memory estimate reads (:class:`PartSizes`), which the workflow plans by the same type before any job
has partitioned anything."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PartSizes:
    """Each part's inner and halo rows, and the graph's undirected edges, nodes, input features and classes: what
    :func:`satbench.runtime.memory.estimate_peak_bytes` needs, measured (:attr:`PreparedRun.part_sizes`) or planned
    (:func:`satbench.workflow.estimate`)."""

    inner_sizes: tuple[int, ...]
    halo_sizes: tuple[int, ...]
    num_edges: float
    num_nodes: int
    num_features: int
    num_classes: int


@dataclass(frozen=True)
class PreparedRun:
    """What the workers of a run need besides their part file, and what its record says of the graph and its parts.

    ``partition``: the partition's statistics as the record holds them (sizes, edge cut, halo ratio, label skew,
    content hash); ``dataset``: what the run trained on, as the record holds it (name, content hash, size, split);
    ``network``: the emulated links as the record holds them (None over loopback); ``command``: the command line,
    for the record."""

    num_features: int
    num_classes: int
    task: str
    metric: str
    ogb_name: str | None = None
    partition_dir: str = ""
    partition: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    network: dict[str, Any] | None = None
    command: str | None = None

    @property
    def part_sizes(self) -> PartSizes:
        stats = self.partition
        return PartSizes(tuple(stats["inner_sizes"]), tuple(stats["halo_sizes"]), stats["num_edges"],
                         self.dataset["num_nodes"], self.num_features, self.num_classes)

    def replace(self, **changes: Any) -> "PreparedRun":
        return dataclasses.replace(self, **changes)
