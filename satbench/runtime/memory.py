"""Peak memory of a worker, and whether the kernel's out-of-memory killer ended one.

CPU: the process's peak resident set size (``VmHWM``), reset when the worker starts (writing ``5`` to
``/proc/self/clear_refs``), so a worker that trains in the launching process does not report what preparing the
dataset took. CUDA: the caching allocator's peak of allocated bytes on the worker's device.

A worker killed by the OOM killer dies of SIGKILL and writes nothing; the launcher tells it from other deaths by
the kernel's count of OOM kills (``oom_kill`` in ``/proc/vmstat``, which also counts kills inside a memory cgroup),
read before the workers start and after one died.

Before any worker starts, :func:`estimate_peak_bytes` estimates each worker's peak from its part's size, the model
and the method (calibrated against ``memory.per_worker_bytes`` of real runs, README "Before any worker starts"), and
:func:`machine_memory_bytes` says what the machine has, so that a run that cannot fit is said to be one.
"""

from __future__ import annotations

import contextlib
import resource
from pathlib import Path
from typing import Any

import torch

from ..prepared import PartSizes

PROC = Path("/proc")


def reset_peak(device: torch.device) -> None:
    """Start measuring this worker's peak now (best effort: where the reset is refused, the peak covers the whole
    process)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    with contextlib.suppress(OSError):
        (PROC / "self" / "clear_refs").write_text("5")


def peak_bytes(device: torch.device) -> int:
    """This worker's peak memory since :func:`reset_peak`: device bytes on CUDA, resident bytes on CPU."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    with contextlib.suppress(OSError, ValueError):
        for line in (PROC / "self" / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports kB


def memory_kind(device: torch.device) -> str:
    return "cuda_max_allocated" if device.type == "cuda" else "peak_rss"


def oom_kills() -> int | None:
    """How many processes the kernel's OOM killer has killed since boot; None where the kernel does not say."""
    with contextlib.suppress(OSError, ValueError):
        for line in (PROC / "vmstat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    return None


def total_memory_bytes() -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in (PROC / "meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return None


# A worker's peak, fitted to the peak RSS of 22 CPU workers of 8 runs (GCN, exact; 2k to 100k nodes, 64 and 512
# features, W = 2 and 4, width 16 to 256, 2 and 3 layers; README "Before any worker starts"), all within 12 %:
PROCESS_BYTES = 330 * 2**20  # the interpreter with torch and PyG, and what a forked worker shares of its launcher's
# Of which the pages the workers of a machine share (libraries, their launcher's or fork server's memory, copied on
# write: 270-275 MiB of a 311 MiB worker, from /proc/PID/smaps_rollup): counted once per machine.
SHARED_BYTES = 270 * 2**20
FEATURE_COPIES = 5.0  # per byte of the part's input features (inner + halo rows)
EDGE_BYTES = 150.0  # per edge into an inner row (indices, weights, both CSR adjacencies, and building them)
ACTIVATION_COPIES = {"gcn": 4.3, "sage": 6.0, "gat": 4.3}  # per byte of a hidden layer's rows (inner + halo)
GAT_EDGE_COPIES = 4.0  # GAT, per byte of a hidden layer's messages (one row per edge)
PARAMETER_COPIES = 5  # weights, gradients, Adam's two moments, the flat buffer of their all-reduce


def estimate_peak_bytes(config: Any, sizes: PartSizes) -> list[int]:
    """Each worker's estimated peak memory: resident bytes on the CPU, device bytes on CUDA (without the process).

    ``config``: a resolved :class:`~satbench.config.RunConfig`; ``sizes``: its parts' sizes and the graph's
    (:attr:`satbench.prepared.PreparedRun.part_sizes` of a prepared run, or the workflow's plan). The method adds
    ``halo_copies`` copies of its hidden layers' halo rows at the run's options
    (:meth:`satbench.methods.MethodEntry.halo_copies_with`)."""
    from ..methods import get_method

    nodes, features, classes = sizes.num_nodes, sizes.num_features, sizes.num_classes
    width, hidden_layers = config.hidden, max(config.layers - 1, 0)
    parameters = (features * width + max(config.layers - 2, 0) * width * width + width * classes
                  if config.layers > 1 else features * classes)
    halo_copies = float(get_method(config.method).halo_copies_with(config.method_options))
    estimates = []
    for inner, halo in zip(sizes.inner_sizes, sizes.halo_sizes):
        rows = inner + halo
        edges = 2 * sizes.num_edges * inner / max(nodes, 1) + inner  # messages into inner rows, self loops
        layer_rows = rows * width * 4 * hidden_layers
        peak = (FEATURE_COPIES * rows * features * 4 + EDGE_BYTES * edges
                + ACTIVATION_COPIES[config.model] * layer_rows + halo_copies * halo * width * 4 * hidden_layers
                + PARAMETER_COPIES * parameters * 4)
        if config.model == "gat":
            peak += GAT_EDGE_COPIES * edges * width * 4 * hidden_layers
        estimates.append(int(peak + (PROCESS_BYTES if config.device == "cpu" else 0)))
    return estimates


def machine_peak_bytes(estimates: list[int], device: str = "cpu", launcher: str = "spawn") -> int:
    """What the workers of :func:`estimate_peak_bytes` need of their machine together: their shared pages once; with
    the in-process launcher (threads of one process) the whole process once."""
    if device != "cpu" or not estimates:
        return sum(estimates)
    once = PROCESS_BYTES if launcher == "inprocess" else SHARED_BYTES
    return once + sum(estimate - once for estimate in estimates)


def machine_memory_bytes() -> int | None:
    """The memory this machine's processes may use: its total, or less where a cgroup (a container, a SLURM job)
    limits it; None where neither can be read."""
    limits = [total_memory_bytes()]
    for path in (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")):
        with contextlib.suppress(OSError, ValueError):
            limits.append(int(path.read_text().strip()))  # "max": no limit (ValueError)
    limits = [limit for limit in limits if limit]
    return min(limits) if limits else None


def device_memory_bytes(local_rank: int) -> int | None:
    """The memory of the GPU a worker of this local rank uses; None without CUDA."""
    if not torch.cuda.is_available() or local_rank >= torch.cuda.device_count():
        return None
    return int(torch.cuda.get_device_properties(local_rank).total_memory)
