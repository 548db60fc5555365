"""Starting workers: one OS process per worker in a ``torch.distributed`` process group.

Two launchers share one worker body:

* **spawn** (one node): ``satbench run`` prepares the partition, then starts W processes with
  ``torch.multiprocessing`` (through a fork server); if any worker raises or dies, the others are terminated and
  the run fails. A single worker trains in the ``satbench run`` process itself.
* **torchrun** (one or many nodes): when ``RANK``/``WORLD_SIZE``/``MASTER_ADDR`` are set, ``satbench run`` *is* one
  worker. The first worker of each node prepares (or reuses) the partition cache, the others wait at a barrier.

Backend: gloo on CPU, NCCL on CUDA with ``cuda:{LOCAL_RANK}``. Every process group gets a timeout, so a lost peer
turns into an error rather than a hang. Torch threads are divided among the workers of a node.

The run record is written by rank 0 to a temporary file and renamed to ``--out`` only once every worker has finished,
so a failed run never leaves a result behind.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ..config import RunConfig
from ..errors import ConfigError, WorkerFailed
from ..record import RECORD_VERSION, environment, summarize, write_json_atomic
from .processes import launched_by_torchrun, start_fork_server, worker_start_method

log = logging.getLogger("satbench")

def prepare(config: RunConfig) -> dict[str, Any]:
    """Validate, load the dataset and partition it (cached). Returns what workers need besides their part file."""
    from ..data import load_dataset
    from ..partition import partition_graph

    config.validate()
    graph = load_dataset(config.dataset, root=config.data_root, mirror=config.mirror)
    if config.workers > graph.data.num_nodes:
        raise ConfigError(f"{config.workers} workers but {graph.name} has only {graph.data.num_nodes} nodes")
    if config.device == "cuda":
        local_workers = int(os.environ.get("LOCAL_WORLD_SIZE", config.workers))
        if torch.cuda.device_count() < local_workers:
            raise ConfigError(f"{local_workers} workers on this node need as many GPUs; "
                              f"torch sees {torch.cuda.device_count()}")
    log.info("partitioning %s into %d parts (%s)", graph.name, config.workers, config.partitioner)
    info = partition_graph(graph, config.workers, config.partitioner, config.partition_seed, config.cache_dir)
    log.info("partition %s: edge cut %d, halo sizes %s", info.directory, info.stats["edge_cut"],
             info.stats["halo_sizes"])
    return {
        "num_features": graph.data.num_features,
        "num_classes": graph.num_classes,
        "task": graph.task,
        "metric": graph.metric,
        "ogb_name": graph.ogb_name,
        "partition_dir": str(info.directory),
        "partition": info.stats,
    }


def _staging_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.partial")


def _set_threads(local_world_size: int) -> None:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world_size))


def run_worker(config: RunConfig, meta: dict[str, Any], out: Path | None, launcher: str) -> dict[str, Any] | None:
    """The body every worker runs once its process group is initialised. Rank 0 returns the record."""
    from ..methods import get_method
    from ..partition import load_part
    from ..train import Trainer

    rank, world_size = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = torch.device(f"cuda:{local_rank}" if config.device == "cuda" else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    part = load_part(meta["partition_dir"], rank)
    trainer = Trainer(config, meta, part, device)
    progress = None
    if rank == 0 and config.progress:
        from tqdm.auto import tqdm

        progress = tqdm(total=config.epochs, desc=f"{config.method} w{world_size} {config.dataset}",
                        unit="epoch", file=sys.stderr, dynamic_ncols=True)
    try:
        rows = trainer.fit(progress)
    finally:
        if progress is not None:
            progress.close()
    trainer.comm.barrier()  # every worker has finished training
    if rank != 0:
        return None
    method = get_method(config.method)
    record = {
        "version": RECORD_VERSION,
        "config": config.to_dict(),
        # What ran, as the registry knows it: reports ask this, never the name.
        "method": {"name": config.method, "family": method.family, "base": method.base, "halo": config.halo},
        "env": environment(config.device, dist.get_backend(), world_size, launcher),
        "partition": dict(meta["partition"], setup_bytes=trainer.setup_bytes,
                          first_layer_bytes=trainer.first_layer_bytes),
        "epochs": rows,
        "summary": summarize(rows),
    }
    if config.save_model:
        save_state_atomic(trainer.model, config.save_model)
    if out is not None:
        write_json_atomic(out, record)
    return record


def save_state_atomic(model: torch.nn.Module, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.partial")
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, staging)
    os.replace(staging, path)


def _init_process_group(config: RunConfig, rank: int, world_size: int) -> None:
    backend = "nccl" if config.device == "cuda" else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=world_size, timeout=timedelta(seconds=config.timeout_s))


def _error_file(staging: Path, rank: int) -> Path:
    return staging.with_name(f"{staging.name}.rank{rank}.error")


def _spawned_worker(local_rank: int, config: RunConfig, meta: dict[str, Any], staging: Path, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), LOCAL_RANK=str(local_rank),
                      LOCAL_WORLD_SIZE=str(config.workers))
    _set_threads(config.workers)
    _init_process_group(config, local_rank, config.workers)
    try:
        run_worker(config, meta, staging if local_rank == 0 else None, "spawn")
    except BaseException as error:
        # When one worker fails its peers fail too (their collectives lose a partner); the time stamp lets the
        # launcher report the first failure, the cause, rather than whichever it happens to notice first.
        write_json_atomic(_error_file(staging, local_rank),
                          {"time": time.time(), "rank": local_rank, "error": f"{type(error).__name__}: {error}"})
        raise
    finally:
        dist.destroy_process_group()


def _first_failure(staging: Path, world_size: int) -> str | None:
    failures = []
    for rank in range(world_size):
        path = _error_file(staging, rank)
        if path.exists():
            failures.append(json.loads(path.read_text()))
            path.unlink()
        for partial in path.parent.glob(f".{path.name}.*.tmp"):  # a peer terminated while writing
            partial.unlink(missing_ok=True)
    if not failures:
        return None
    first = min(failures, key=lambda failure: failure["time"])
    return f"worker {first['rank']} failed: {first['error'].strip().splitlines()[-1]}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run_inline(config: RunConfig, meta: dict[str, Any], out: Path) -> None:
    """One worker needs no other process: a process group of one, in this process."""
    staging = _staging_path(out)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), LOCAL_RANK="0", LOCAL_WORLD_SIZE="1")
    _init_process_group(config, 0, 1)
    try:
        run_worker(config, meta, staging, "inline")
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    finally:
        dist.destroy_process_group()
    os.replace(staging, out)


def _spawn(config: RunConfig, meta: dict[str, Any], out: Path) -> None:
    staging = _staging_path(out)
    staging.unlink(missing_ok=True)
    method = worker_start_method(config.device, config.workers)
    if method == "forkserver":
        start_fork_server()
    try:
        mp.start_processes(_spawned_worker, args=(config, meta, staging, _free_port()), nprocs=config.workers,
                           join=True, start_method=method)
    except mp.ProcessRaisedException as error:
        staging.unlink(missing_ok=True)
        first = _first_failure(staging, config.workers)
        raise WorkerFailed(first or f"a worker failed: {str(error).strip().splitlines()[-1]}") from None
    except mp.ProcessExitedException as error:
        staging.unlink(missing_ok=True)
        _first_failure(staging, config.workers)  # its peers' errors only echo the death
        raise WorkerFailed(f"a worker died: {error}") from None
    except BaseException:
        staging.unlink(missing_ok=True)
        _first_failure(staging, config.workers)
        raise
    if not staging.exists():
        raise WorkerFailed("workers finished but rank 0 wrote no record")
    os.replace(staging, out)


def _torchrun(config: RunConfig, out: Path) -> None:
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if world_size != config.workers:
        raise ConfigError(f"--workers {config.workers} but torchrun started WORLD_SIZE={world_size}")
    _set_threads(int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    config.validate()
    _init_process_group(config, rank, world_size)
    try:
        # One process per node partitions (nodes may not share a disk); the others wait, then reuse the cache.
        meta = [prepare(config) if local_rank == 0 else None]
        # A collective, so also the barrier: every node's first worker has finished preparing.
        dist.broadcast_object_list(meta, src=0)
        staging = _staging_path(out)
        run_worker(config, meta[0], staging if rank == 0 else None, "torchrun")
        dist.barrier()
        if rank == 0:
            os.replace(staging, out)
    finally:
        dist.destroy_process_group()


def launch(config: RunConfig, out: str | os.PathLike) -> None:
    """Run training as configured and write the record to ``out`` (atomically; nothing on failure)."""
    out = Path(out)
    if launched_by_torchrun():
        _torchrun(config, out)
        return
    meta = prepare(config)
    if config.workers == 1:
        log.info("training in this process (one worker, %s)", "nccl" if config.device == "cuda" else "gloo")
        _run_inline(config, meta, out)
        return
    log.info("starting %d worker processes (%s)", config.workers, "nccl" if config.device == "cuda" else "gloo")
    _spawn(config, meta, out)
