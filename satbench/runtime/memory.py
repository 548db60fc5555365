"""Peak memory of a worker, and whether the kernel's out-of-memory killer ended one.

CPU: the process's peak resident set size (``VmHWM``), reset when the worker starts (writing ``5`` to
``/proc/self/clear_refs``), so a worker that trains in the launching process does not report what preparing the
dataset took. CUDA: the caching allocator's peak of allocated bytes on the worker's device.

A worker killed by the OOM killer dies of SIGKILL and writes nothing; the launcher tells it from other deaths by
the kernel's count of OOM kills (``oom_kill`` in ``/proc/vmstat``, which also counts kills inside a memory cgroup),
read before the workers start and after one died.
"""

from __future__ import annotations

import contextlib
import resource
from pathlib import Path

import torch

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
