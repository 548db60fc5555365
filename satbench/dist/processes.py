"""Process start-up helpers that import nothing heavy, so the CLI can call them before torch is loaded."""

from __future__ import annotations

import os

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
FORK_SERVER_PRELOAD = ["satbench.train", "satbench.dist.launch", "satbench.sat"]


def launched_by_torchrun() -> bool:
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


def worker_start_method(device: str, workers: int) -> str:
    """How worker processes are started on one node.

    ``fork`` is cheapest (nothing is imported again) and safe when every worker runs torch single-threaded on the
    CPU: a forked child must not enter OpenMP regions its parent's thread pool may have left behind, and must not
    touch CUDA. Otherwise a fork server, which has run neither, forks them.
    """
    if device == "cpu" and (os.cpu_count() or 1) // max(workers, 1) <= 1:
        return "fork"
    return "forkserver"


def start_fork_server() -> None:
    """Start the process that forks the workers, with the training code imported once.

    W interpreters importing torch and PyG each would cost seconds per run; forking the (OpenMP-free) server is safe
    where forking the launching process, which has run OpenMP regions while partitioning, would not be. Started
    early by the CLI, the server imports while the launching process loads and partitions the data.
    """
    import multiprocessing
    import multiprocessing.forkserver

    multiprocessing.set_forkserver_preload(FORK_SERVER_PRELOAD)
    multiprocessing.forkserver.ensure_running()
