"""Graph partitioning into per-worker parts with their 1-hop halos.

A *part* is everything one worker holds: its inner nodes (features, labels, masks), the global ids of its 1-hop
halo nodes grouped by owner, the index lists that tell it which inner rows each peer needs from it, and the local
edge index over ``inner + halo`` rows restricted to edges that end at an inner node (the only edges whose messages
the worker aggregates). Parts are computed once per (dataset content, W, partitioner, seed) and cached on disk, so
every run and every worker reuses them; a worker loads only its own part file.

Every part file has its SHA-256 beside it (``part{r}.pt.sha256``), and the partition's content hash (over the part
hashes, in rank order) is in its ``stats.json``. The launching process checks every part before a run and rebuilds
a cache entry that does not match (altered, truncated, missing); a worker checks its own part again as it loads it
and fails with one line naming the file if it does not match. The run record carries both the partition's and the
dataset's content hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .choices import PARTITIONERS
from .errors import CacheCorrupted, ConfigError
from .files import directory_mode

if TYPE_CHECKING:
    from .data import Graph

log = logging.getLogger(__name__)

# Bump when the part layout or the statistics change, so stale caches are not reused (2: part content hashes; 3: label
# skew and mean halo ratio in stats.json).
_CACHE_FORMAT = 3


@dataclass
class Part:
    """One worker's share of the graph. Local row order is ``inner nodes (ascending global id) + halo nodes``."""

    rank: int
    world_size: int
    num_nodes_total: int
    num_train_total: int
    inner_nodes: torch.Tensor  # [n_inner] global ids
    halo_nodes: torch.Tensor  # [n_halo] global ids, grouped by owner rank, ascending within a group
    halo_counts: list[int]  # rows received from each peer (0 for self)
    send_index: torch.Tensor  # local inner indices sent to peers, concatenated in peer order
    send_counts: list[int]  # rows sent to each peer (0 for self)
    edge_index: torch.Tensor  # [2, E_local] src in [0, n_inner + n_halo), dst in [0, n_inner)
    degree: torch.Tensor  # [n_inner + n_halo] global degree (no self loops), for GCN normalisation
    x: torch.Tensor  # [n_inner, F]
    y: torch.Tensor  # [n_inner] or [n_inner, C]
    train_mask: torch.Tensor
    val_mask: torch.Tensor
    test_mask: torch.Tensor

    @property
    def num_inner(self) -> int:
        return int(self.inner_nodes.numel())

    @property
    def num_halo(self) -> int:
        return int(self.halo_nodes.numel())

    @property
    def local_nodes(self) -> torch.Tensor:
        return torch.cat([self.inner_nodes, self.halo_nodes])


@dataclass
class PartitionInfo:
    """Where a cached partition lives, and its statistics."""

    directory: Path
    world_size: int
    stats: dict = field(default_factory=dict)

    def part_path(self, rank: int) -> Path:
        return self.directory / f"part{rank}.pt"


def graph_fingerprint(graph: Graph) -> str:
    """Content hash of everything a part stores, so a changed dataset never reuses an old partition."""
    digest = hashlib.blake2b(digest_size=16)
    data = graph.data
    for tensor in (data.x, data.y, data.edge_index, data.train_mask, data.val_mask, data.test_mask):
        tensor = tensor.contiguous()
        digest.update(str((tuple(tensor.shape), str(tensor.dtype))).encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def assign_nodes(graph: Graph, world_size: int, partitioner: str = "metis", seed: int = 0) -> torch.Tensor:
    """Owner rank of every node: METIS (pymetis, minimising the edge cut) or a seeded uniform random split."""
    num_nodes = graph.data.num_nodes
    if partitioner not in PARTITIONERS:
        raise ConfigError(f"unknown partitioner {partitioner!r}; choose one of {', '.join(PARTITIONERS)}")
    if not 1 <= world_size <= num_nodes:
        raise ConfigError(f"cannot split {graph.name} ({num_nodes} nodes) into {world_size} parts")
    if world_size == 1:
        return torch.zeros(num_nodes, dtype=torch.long)
    if partitioner == "random":
        generator = torch.Generator().manual_seed(seed)
        # A balanced random split: a random permutation dealt round-robin.
        owner = torch.empty(num_nodes, dtype=torch.long)
        owner[torch.randperm(num_nodes, generator=generator)] = torch.arange(num_nodes) % world_size
        return owner
    import pymetis

    src, dst = graph.data.edge_index
    order = torch.argsort(src * num_nodes + dst)
    adjncy = dst[order].numpy().astype(np.int32)
    xadj = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(src.numpy(), minlength=num_nodes), out=xadj[1:])
    adjacency = pymetis.CSRAdjacency(xadj.astype(np.int32), adjncy)
    _, membership = pymetis.part_graph(world_size, adjacency=adjacency, options=pymetis.Options(seed=seed))
    owner = torch.as_tensor(np.asarray(membership), dtype=torch.long)
    # METIS may leave a part empty on tiny or disconnected graphs; a worker with no nodes cannot train.
    if torch.bincount(owner, minlength=world_size).min() == 0:
        raise ConfigError(f"METIS left an empty part splitting {graph.name} into {world_size}; use fewer workers")
    return owner


def build_parts(graph: Graph, owner: torch.Tensor, world_size: int) -> list[Part]:
    """Split ``graph`` by ``owner`` into parts with halos and matching send/receive index lists."""
    data = graph.data
    num_nodes = data.num_nodes
    src, dst = data.edge_index
    degree = torch.bincount(dst, minlength=num_nodes)
    # Position of every node inside its owner's ascending inner list: the local row it lives in at its owner.
    order = torch.argsort(owner * num_nodes + torch.arange(num_nodes))
    counts = torch.bincount(owner, minlength=world_size)
    starts = torch.cumsum(counts, 0) - counts
    position_in_owner = torch.empty(num_nodes, dtype=torch.long)
    position_in_owner[order] = torch.arange(num_nodes) - starts[owner[order]]
    num_train_total = int(data.train_mask.sum())

    halos: list[torch.Tensor] = []
    local_edges: list[torch.Tensor] = []
    for rank in range(world_size):
        inner = torch.nonzero(owner == rank).flatten()
        ends_here = owner[dst] == rank
        part_src, part_dst = src[ends_here], dst[ends_here]
        halo = torch.unique(part_src[owner[part_src] != rank])
        halo = halo[torch.argsort(owner[halo] * num_nodes + halo)]
        local_index = torch.full((num_nodes,), -1, dtype=torch.long)
        local_index[inner] = torch.arange(inner.numel())
        local_index[halo] = inner.numel() + torch.arange(halo.numel())
        halos.append(halo)
        local_edges.append(torch.stack([local_index[part_src], local_index[part_dst]]))

    parts = []
    for rank in range(world_size):
        inner = torch.nonzero(owner == rank).flatten()
        halo = halos[rank]
        halo_counts = torch.bincount(owner[halo], minlength=world_size).tolist()
        # Peer p's halo rows owned by me, in p's order, mapped to my local rows.
        outgoing = [halos[peer][owner[halos[peer]] == rank] for peer in range(world_size)]
        send_index = torch.cat([position_in_owner[nodes] for nodes in outgoing])
        parts.append(
            Part(
                rank=rank,
                world_size=world_size,
                num_nodes_total=num_nodes,
                num_train_total=num_train_total,
                inner_nodes=inner,
                halo_nodes=halo,
                halo_counts=halo_counts,
                send_index=send_index,
                send_counts=[int(nodes.numel()) for nodes in outgoing],
                edge_index=local_edges[rank],
                degree=degree[torch.cat([inner, halo])],
                x=data.x[inner].clone(),
                y=data.y[inner].clone(),
                train_mask=data.train_mask[inner].clone(),
                val_mask=data.val_mask[inner].clone(),
                test_mask=data.test_mask[inner].clone(),
            )
        )
    return parts


def label_skew(graph: Graph, owner: torch.Tensor, world_size: int) -> list[float]:
    """Each part's label skew: the total-variation distance ``½ Σ_c |p_part(c) − p_global(c)|`` between the label
    distribution of its training nodes and that of all training nodes. 0 when the part's training labels are
    distributed as the whole graph's; a part that trains on class c alone has 1 − p_global(c) (0.75 for one of four
    balanced classes).

    Multi-label data: the distribution of positive labels (each label's share of all positive training labels).
    A part without (positive) training labels has no distribution; its skew is 1.0, the largest a distance between
    distributions can be, as it learns nothing of the global one (possible only on tiny graphs or splits).
    """
    data = graph.data
    train = data.train_mask
    if data.y.dim() == 2:  # multi-label
        counts = torch.zeros(world_size, data.y.size(1), dtype=torch.float64)
        counts.index_add_(0, owner[train], data.y[train].double())
    else:
        labels = data.y[train]
        counts = torch.bincount(owner[train] * graph.num_classes + labels, minlength=world_size * graph.num_classes)
        counts = counts.reshape(world_size, graph.num_classes).double()
    total = counts.sum()
    per_part = counts.sum(1)
    if total == 0:
        return [1.0] * world_size
    global_share = counts.sum(0) / total
    skew = 0.5 * (counts / per_part.clamp(min=1).unsqueeze(1) - global_share).abs().sum(1)
    return torch.where(per_part > 0, skew, 1.0).tolist()


def partition_stats(graph: Graph, owner: torch.Tensor, parts: list[Part]) -> dict:
    """What a partition is like, for stats.json and every run record: sizes, the edge cut, each part's halo ratio
    (halo nodes per inner node) and label skew (`label_skew`), with their means (and the largest skew) over parts."""
    src, dst = graph.data.edge_index
    inner_sizes = [p.num_inner for p in parts]
    halo_sizes = [p.num_halo for p in parts]
    halo_ratio = [h / max(i, 1) for i, h in zip(inner_sizes, halo_sizes)]
    skew = label_skew(graph, owner, len(parts))
    return {
        "num_nodes": graph.data.num_nodes,
        "num_edges": int(src.numel()) // 2,  # undirected edges
        "edge_cut": int((owner[src] != owner[dst]).sum()) // 2,
        "inner_sizes": inner_sizes,
        "halo_sizes": halo_sizes,
        "halo_ratio": halo_ratio,
        "halo_ratio_mean": sum(halo_ratio) / len(halo_ratio),
        "label_skew": skew,
        "label_skew_mean": sum(skew) / len(skew),
        "label_skew_max": max(skew),
        "balance": max(inner_sizes) / (sum(inner_sizes) / len(inner_sizes)),
        "local_edges": [int(p.edge_index.size(1)) for p in parts],
    }


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _part_file(directory: Path, rank: int) -> Path:
    return directory / f"part{rank}.pt"


def _hash_file(part_file: Path) -> Path:
    return part_file.with_name(part_file.name + ".sha256")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def partition_hash(part_hashes: list[str]) -> str:
    """Content hash of a whole partition: over its parts' hashes, in rank order."""
    return _sha256("\n".join(part_hashes).encode())


def _read_verified(part_file: Path) -> bytes:
    """The bytes of a part file, checked against the hash stored beside it; CacheCorrupted names the file if not."""
    try:
        expected = _hash_file(part_file).read_text().strip()
    except OSError as error:
        raise CacheCorrupted(f"partition cache file {part_file} has no readable content hash beside it "
                             f"({error.strerror})") from None
    try:
        data = part_file.read_bytes()
    except OSError as error:
        raise CacheCorrupted(f"cannot read partition cache file {part_file}: {error.strerror}") from None
    if _sha256(data) != expected:
        raise CacheCorrupted(f"partition cache file {part_file} does not match its content hash (altered or "
                             f"truncated)")
    return data


def _cache_problem(directory: Path, world_size: int) -> tuple[str | None, dict | None]:
    """Why a cache entry cannot be used (None if it can), and its statistics."""
    try:
        stats = json.loads((directory / "stats.json").read_text())
        hashes = [_hash_file(_part_file(directory, rank)).read_text().strip() for rank in range(world_size)]
    except (OSError, ValueError) as error:
        return f"partition cache {directory} is unreadable ({type(error).__name__}: {error})", None
    if stats.get("content_hash") != partition_hash(hashes):
        return f"partition cache file {directory / 'stats.json'} does not match the part hashes", None
    for rank in range(world_size):
        try:
            _read_verified(_part_file(directory, rank))
        except CacheCorrupted as error:
            return str(error), None
    return None, stats


def partition_graph(
    graph: Graph,
    world_size: int,
    partitioner: str = "metis",
    seed: int = 0,
    cache_dir: str | os.PathLike = "cache",
) -> PartitionInfo:
    """Partition ``graph`` into ``world_size`` parts, reusing the on-disk cache when it holds this exact split.

    The cache key is (dataset name, W, partitioner, seed, content hash). Writing goes to a temporary directory that
    is renamed into place, so an interrupted partitioning never leaves a half-written cache entry. A cache entry
    whose files do not match their stored hashes is set aside and rebuilt (with a warning naming the file).
    """
    fingerprint = graph_fingerprint(graph)
    key = f"{partitioner}-w{world_size}-s{seed}-{fingerprint[:16]}-v{_CACHE_FORMAT}"
    directory = Path(cache_dir) / "partitions" / _safe_name(graph.name) / key
    stats_path = directory / "stats.json"
    if stats_path.exists():
        problem, stats = _cache_problem(directory, world_size)
        if problem is None:
            return PartitionInfo(directory, world_size, stats)
        log.warning("%s; rebuilding the partition", problem)
        _discard(directory)

    owner = assign_nodes(graph, world_size, partitioner, seed)
    parts = build_parts(graph, owner, world_size)
    stats = {"partitioner": partitioner, "seed": seed, "world_size": world_size}
    stats.update(partition_stats(graph, owner, parts))

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{key}-"))
    try:
        staging.chmod(directory_mode())  # mkdtemp's 0700 would hide a shared cache from other users
        hashes = []
        for part in parts:
            buffer = io.BytesIO()
            torch.save(part.__dict__, buffer)
            data = buffer.getvalue()
            hashes.append(_sha256(data))
            _part_file(staging, part.rank).write_bytes(data)
            _hash_file(_part_file(staging, part.rank)).write_text(hashes[-1] + "\n")
        stats["content_hash"] = partition_hash(hashes)
        stats["dataset_hash"] = fingerprint
        (staging / "stats.json").write_text(json.dumps(stats, indent=1))
        try:
            os.rename(staging, directory)
        except OSError:
            if not stats_path.exists():  # not a concurrent writer that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PartitionInfo(directory, world_size, stats)


def _discard(directory: Path) -> None:
    """Move a cache entry aside (atomically, so a concurrent run sees it whole or not at all), then delete it."""
    aside = directory.with_name(f".{directory.name}-corrupt-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(directory, aside)
    except FileNotFoundError:  # a concurrent run set it aside first
        return
    shutil.rmtree(aside, ignore_errors=True)


def load_part(info_or_dir: PartitionInfo | str | os.PathLike, rank: int) -> Part:
    """Load one worker's part, verified against its stored content hash (CacheCorrupted names the file if not)."""
    directory = info_or_dir.directory if isinstance(info_or_dir, PartitionInfo) else Path(info_or_dir)
    part_file = _part_file(directory, rank)
    try:
        data = _read_verified(part_file)
    except CacheCorrupted as error:  # changed since the launcher checked it: its next run rebuilds the partition
        raise CacheCorrupted(f"{error}; run again to rebuild it") from None
    try:
        return Part(**torch.load(io.BytesIO(data), weights_only=True))
    except Exception as error:  # matching hash but unloadable: written by an incompatible torch, say
        raise CacheCorrupted(f"cannot load partition cache file {part_file}: {type(error).__name__}: "
                             f"{str(error).strip().splitlines()[0] if str(error).strip() else ''}") from None
