"""Starting workers: one OS process per worker in a ``torch.distributed`` process group.

Two launchers share one worker body:

* **spawn** (one node): ``satbench run`` prepares the partition, then starts W processes with
  ``torch.multiprocessing`` (through a fork server); if any worker raises or dies, the others are terminated and
  the run fails. A single worker trains in the ``satbench run`` process itself.
* **torchrun** (one or many nodes): when ``RANK``/``WORLD_SIZE``/``MASTER_ADDR`` are set, ``satbench run`` *is* one
  worker. The first worker of each node prepares (or reuses) the partition cache, the others wait at a barrier.

Backend: gloo on CPU, NCCL on CUDA with ``cuda:{LOCAL_RANK}``. Every process group gets a timeout, so a lost peer
turns into an error rather than a hang. Torch threads are divided among the workers of a node.

``--out`` and ``--save-model`` are checked before any work. The run record (and the model) are written by rank 0 to
staging files named uniquely for this run (pid and a random token) and renamed into place only once every worker has
finished, so a failed or interrupted run leaves nothing behind: not at ``--out``, not a staging or error file.

With ``--checkpoint-every K`` every worker saves its state every K epochs beside ``--out``
(:mod:`satbench.runtime.checkpoint`), the same command resumes from the latest checkpoint, and the checkpoints are
removed once the record is written. Before any worker starts, :func:`check_capacity` warns (``--strict``: refuses)
where the parts are tiny or the estimated memory exceeds the machine's. A failed run is reported by its cause: the
earliest failure that is not the echo of another's (:data:`ECHOES`).

``--network RATE[,DELAY]`` (spawn launcher, W > 1) runs each worker in a private network namespace with a shaped
link (:mod:`satbench.runtime.network`); the links are set up before any work and deleted after every worker has been
stopped, on every way out. torchrun refuses it (a cluster has real links); a single worker sends nothing.

SIGINT and SIGTERM to ``satbench run`` (whatever their disposition was: a script's ``&`` leaves SIGINT ignored) stop
every worker and clean up; workers also die with their parent (Linux parent-death signal), so not even SIGKILL of
``satbench run`` leaves a worker training.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from .. import errors
from ..config import RunConfig
from ..errors import ConfigError, OutOfMemory, RunInterrupted, SatbenchError, WorkerFailed
from ..files import atomic_path, write_json_atomic
from ..prepared import PreparedRun
from ..record import Record, checkpoint_dir, environment
from .checkpoint import FileCheckpoints, identity, remove_checkpoints
from .outputs import CheckedOutputs, check_run_outputs
from .network import (UNDER_TORCHRUN, WorkerLinks, check_available, describe, emulated_links,
                      parse_network)
from .memory import (device_memory_bytes, estimate_peak_bytes, machine_memory_bytes, machine_peak_bytes,
                     memory_kind, oom_kills, peak_bytes, reset_peak, total_memory_bytes)
from .processes import (configure_logging, launched_by_torchrun, signals_deferred, start_fork_server,
                        stop_on_signals, worker_dies_with_parent, worker_start_method, worker_tag)
from .progress import epoch_reporter

log = logging.getLogger("satbench")


# What prepare() found, by what decides it: the seeds of a job (trained one after another in one process) load and
# partition their graph once.
_PREPARED: dict[tuple, PreparedRun] = {}


def prepare(config: RunConfig) -> PreparedRun:
    """Validate (unless validated already), load the dataset and partition it (cached on disk, and in this process
    for the next seed). Returns what workers need besides their part file."""
    config = config.validate()
    key = (config.dataset, config.data_root, config.mirror, config.workers, config.partitioner,
           config.partition_seed, config.cache_dir, config.device)
    if key not in _PREPARED or not Path(_PREPARED[key].partition_dir).is_dir():
        _PREPARED[key] = _load_and_partition(config)
    prepared = _PREPARED[key]
    check_capacity(config, prepared)
    return prepared


def _load_and_partition(config: RunConfig) -> PreparedRun:
    from ..data import check_trainable, load_dataset
    from ..partition import partition_graph

    graph = load_dataset(config.dataset, root=config.data_root, mirror=config.mirror)
    check_trainable(graph)
    if config.workers > graph.data.num_nodes:
        raise ConfigError(f"{config.workers} workers but {graph.name} has only {graph.data.num_nodes} nodes")
    if config.device == "cuda":
        local_workers = int(os.environ.get("LOCAL_WORLD_SIZE", config.workers))
        if torch.cuda.device_count() < local_workers:
            raise ConfigError(f"{local_workers} workers on this node need as many GPUs; "
                              f"torch sees {torch.cuda.device_count()}")
    log.info("partitioning %s into %d parts (%s)", graph.name, config.workers, config.partitioner)
    info = partition_graph(graph, config.workers, config.partitioner, config.partition_seed, config.cache_dir)
    stats = info.stats
    log.info("partition %s: edge cut %d, halo sizes %s, halo ratio mean %.3f, label skew mean %.3f max %.3f",
             info.directory, stats["edge_cut"], stats["halo_sizes"], stats["halo_ratio_mean"],
             stats["label_skew_mean"], stats["label_skew_max"])
    # What the run trained on, for the record: the content hash is that of the loaded, normalised dataset.
    dataset = {"name": graph.name, "content_hash": info.stats["dataset_hash"], "num_nodes": graph.num_nodes,
               "num_features": graph.num_features, "num_classes": graph.num_classes, "task": graph.task,
               "metric": graph.metric, "split": graph.split, "split_seed": graph.split_seed}
    return PreparedRun(num_features=graph.data.num_features, num_classes=graph.num_classes, task=graph.task,
                       metric=graph.metric, ogb_name=graph.ogb_name, partition_dir=str(info.directory),
                       partition=info.stats, dataset=dataset)


MIN_PART_NODES = 50  # below this, per-step overheads and communication swamp what a part computes


def check_capacity(config: RunConfig, prepared: PreparedRun) -> None:
    """Before any worker starts: warn (``--strict``: refuse) where the parts are too small to be worth a worker, or
    the workers on this machine would need more memory than it has (:func:`~.memory.estimate_peak_bytes`)."""
    problems = []
    smallest = min(prepared.partition["inner_sizes"])
    if config.workers > 1 and smallest < MIN_PART_NODES:
        problems.append(f"the smallest of the {config.workers} parts holds {smallest} nodes (fewer than "
                        f"{MIN_PART_NODES}): per-step overheads and communication dominate parts this small, so the "
                        "run says little about partition-parallel training; use fewer workers")
    estimates = estimate_peak_bytes(config, prepared.part_sizes)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", config.workers)) if launched_by_torchrun() else config.workers
    if config.device == "cpu":
        needed = machine_peak_bytes(sorted(estimates)[-local:], launcher=config.launcher)
        available = machine_memory_bytes()
        if available is not None and needed > available:
            problems.append(f"the {local} workers on this machine need an estimated {needed / 2**30:.1f} GiB at their "
                            f"peak, more than its {available / 2**30:.1f} GiB; use more machines, a smaller model or "
                            "fewer halo copies (the estimate: README, \"Before any worker starts\")")
    else:
        available = device_memory_bytes(0)
        if available is not None and max(estimates) > available:
            problems.append(f"a worker needs an estimated {max(estimates) / 2**30:.1f} GiB of GPU memory at its peak, "
                            f"more than its GPU's {available / 2**30:.1f} GiB; use more workers or a smaller model "
                            "(the estimate: README, \"Before any worker starts\")")
    for problem in problems:
        if config.strict:
            raise ConfigError(f"--strict: {problem}")
        log.warning("%s", problem)


# ---------------------------------------------------------------------------------------------------------------------
# Output paths: checked before any work, written through per-run staging files


@dataclass
class Outputs:
    """Where a run's record (and model) go, and the staging files that stand in for them until the run succeeds.

    Staging names carry this process's pid and a random token, so runs sharing an output directory never see each
    other's files, and anything of this run's left after a failure is found and removed."""

    out: Path
    model: Path | None = None
    token: str = field(default_factory=lambda: f"{os.getpid()}-{uuid.uuid4().hex[:10]}")
    created: list[Path] = field(default_factory=list)  # directories this run may create (removed again on failure)

    def __post_init__(self) -> None:
        for target in filter(None, (self.out, self.model)):
            ancestor = target.absolute().parent
            while not ancestor.exists():
                self.created.append(ancestor)
                ancestor = ancestor.parent

    @property
    def record_staging(self) -> Path:
        return self.out.with_name(f".{self.out.name}.{self.token}.partial")

    @property
    def model_staging(self) -> Path | None:
        return self.model.with_name(f".{self.model.name}.{self.token}.partial") if self.model else None

    @property
    def checkpoint(self) -> Path:
        """Where ``--checkpoint-every`` keeps the run's checkpoints (:mod:`satbench.runtime.checkpoint`)."""
        return checkpoint_dir(self.out)

    @property
    def rendezvous(self) -> Path:
        """The file the workers meet at (a ``FileStore``): unique to this run, so concurrent runs never race for a
        port; removed when the run ends."""
        return Path(tempfile.gettempdir()) / f"satbench-rendezvous-{self.token}"

    def error_file(self, rank: int) -> Path:
        return self.out.with_name(f".{self.out.name}.{self.token}.rank{rank}.error")

    def commit(self) -> None:
        """Move the staged model and record into place (the record last: it is the run's result). A signal waits
        until both are in place, so an interrupt cannot leave a model without its record."""
        if not self.record_staging.exists():
            raise WorkerFailed("workers finished but rank 0 wrote no record")
        if self.model is not None and not self.model_staging.exists():
            raise WorkerFailed("workers finished but rank 0 saved no model")
        with signals_deferred():
            if self.model is not None:
                try:
                    os.replace(self.model_staging, self.model)
                except OSError as error:
                    raise SatbenchError(f"cannot write --save-model {self.model}: {error.strerror}") from None
            try:
                os.replace(self.record_staging, self.out)
            except OSError as error:
                if self.model is not None:
                    self.model.unlink(missing_ok=True)
                raise SatbenchError(f"cannot write --out {self.out}: {error.strerror}") from None

    def discard(self) -> None:
        """Remove every file of this run that is not a result (staging, error files, their temporaries), and the
        directories this run created if they are empty."""
        for directory in {path.absolute().parent for path in filter(None, (self.out, self.model))}:
            if directory.is_dir():
                for leftover in directory.glob(f"*{self.token}*"):
                    leftover.unlink(missing_ok=True)
        for directory in self.created:  # deepest first
            with contextlib.suppress(OSError):
                directory.rmdir()


def _set_threads(local_world_size: int) -> None:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world_size))


def run_worker(config: RunConfig, prepared: PreparedRun, out: Path | None, launcher: str,
               model_out: Path | None = None, checkpoints: Path | None = None,
               group: Any = None) -> dict[str, Any] | None:
    """The body every worker runs once its process group is initialised, whatever the launcher. Rank 0 returns the
    record, and writes it to ``out`` and the final weights to ``model_out`` where given (the launcher's staging
    files). ``checkpoints``: the directory of the run's checkpoints (used with ``--checkpoint-every``). ``group``:
    the group this worker belongs to (``torch.distributed``, or the in-process launcher's
    :class:`~satbench.runtime.inprocess.LocalGroup`, which knows each thread's rank)."""
    from ..methods import get_method
    from ..partition import load_part
    from ..train import Trainer

    group = dist if group is None else group
    rank, world_size = group.get_rank(), group.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", rank)) if group is dist else rank
    device = torch.device(f"cuda:{local_rank}" if config.device == "cuda" else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    reset_peak(device)
    part = load_part(prepared.partition_dir, rank)
    trainer = Trainer(config, prepared, part, device)
    config = trainer.config  # validated (launch() hands its workers a validated one)
    store = None
    if config.checkpoint_every and checkpoints is not None:
        store = FileCheckpoints(checkpoints, identity(config, prepared), trainer.comm)
    on_epoch, close = epoch_reporter(config, world_size) if rank == 0 else (None, lambda: None)
    try:
        rows = trainer.fit(on_epoch, store)
    finally:
        close()
    peaks = torch.zeros(world_size, dtype=torch.float64, device=device)
    peaks[rank] = float(peak_bytes(device))
    peaks = trainer.comm.all_reduce(peaks, "stats")  # also the barrier: every worker has finished training
    if rank != 0:
        return None
    # With the emulated link the times were measured on, and the checkpoint a resumed run started from (the epochs up
    # to it were trained by an earlier invocation).
    env = environment(config.device, group.get_backend(), world_size, launcher, network=prepared.network,
                      resumed_from_epoch=store.resumed_epoch if store is not None else None)
    partition = dict(prepared.partition, setup_bytes=trainer.setup_bytes, first_layer_bytes=trainer.first_layer_bytes)
    # Each worker's peak while it trained (memory.py says what is measured on each device).
    record = Record.build(config, get_method(config.method), env, prepared.dataset, partition, rows,
                          memory_kind(device), [int(peak) for peak in peaks.tolist()], prepared.command,
                          model_parameters=sum(parameter.numel() for parameter in trainer.model.parameters()))
    if model_out is not None:
        save_state_atomic(trainer.model, model_out)
    if out is not None:
        write_json_atomic(out, record.to_json())
    return record.to_json()


def save_state_atomic(model: torch.nn.Module, path: str | os.PathLike) -> None:
    with atomic_path(path) as staging:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, staging)


def _init_process_group(config: RunConfig, rank: int, world_size: int, rendezvous: Path | None = None) -> None:
    """Join the run's process group: at the run's rendezvous file (one machine), or through torchrun's store."""
    backend = "nccl" if config.device == "cuda" else "gloo"
    timeout = timedelta(seconds=config.timeout_s)
    if rendezvous is None:
        dist.init_process_group(backend, rank=rank, world_size=world_size, timeout=timeout)
        return
    store = dist.FileStore(str(rendezvous), world_size)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world_size, timeout=timeout)


def _spawned_worker(local_rank: int, config: RunConfig, prepared: PreparedRun, outputs: Outputs,
                    links: WorkerLinks | None = None, log_level: int = logging.INFO) -> None:
    worker_dies_with_parent()
    configure_logging(log_level, worker_tag(local_rank, config.workers), force=True)
    try:
        if links is not None:  # into this worker's namespace before any socket exists: gloo then uses its link
            links.enter(local_rank)
            os.environ["MASTER_ADDR"] = links.master_addr
        os.environ.update(LOCAL_RANK=str(local_rank), LOCAL_WORLD_SIZE=str(config.workers))
        _set_threads(config.workers)
        _init_process_group(config, local_rank, config.workers, outputs.rendezvous)
        if local_rank == 0:
            run_worker(config, prepared, outputs.record_staging, "spawn", outputs.model_staging, outputs.checkpoint)
        else:
            run_worker(config, prepared, None, "spawn", checkpoints=outputs.checkpoint)
    except BaseException as error:
        # When one worker fails its peers fail too (their collectives lose a partner); the time stamp lets the
        # launcher report the first failure, the cause, rather than whichever it happens to notice first.
        write_json_atomic(outputs.error_file(local_rank),
                          {"time": time.time(), "rank": local_rank, "type": type(error).__name__,
                           "error": str(error).strip()})
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


# Errors that echo another worker's failure (its process ended, so its connections closed): the cause is reported
# before any of these, whatever their time stamps say (a timed-out peer may close its connections before it has
# written its own report).
ECHOES = (errors.PeerLost.__name__,)


def _first_failure(outputs: Outputs, world_size: int) -> dict[str, Any] | None:
    """The cause among the errors the workers of this run reported (their error files are this run's alone): the
    earliest that is not an echo of another's, else the earliest."""
    failures = []
    for rank in range(world_size):
        path = outputs.error_file(rank)
        if path.exists():
            with contextlib.suppress(OSError, ValueError):
                failures.append(json.loads(path.read_text()))
            path.unlink(missing_ok=True)
    return min(failures, key=lambda failure: (failure.get("type") in ECHOES, failure["time"])) if failures else None


def _failure_error(failure: dict[str, Any]) -> SatbenchError:
    """A worker's error as the launcher raises it: satbench's own errors (training diverged, a corrupt cache file)
    keep their type and one-line message, as when a single worker trains in-process; others become WorkerFailed."""
    kind = getattr(errors, failure["type"], None)
    message = failure["error"].splitlines()[-1] if failure["error"] else failure["type"]
    if out_of_memory(failure["type"], message):
        return OutOfMemory(f"worker {failure['rank']} ran out of memory: {message}")
    if isinstance(kind, type) and issubclass(kind, SatbenchError) and kind is not WorkerFailed:
        return kind(message)
    return WorkerFailed(f"worker {failure['rank']} failed: {failure['type']}: {message}")


def out_of_memory(error_type: str, message: str) -> bool:
    """Whether a worker's error is an allocation that failed (host or device)."""
    return error_type in ("MemoryError", "OutOfMemoryError") or "can't allocate memory" in message


def death_error(rank: int, signal_name: str | None, description: str, oom_kills_before: int | None,
                oom_kills_after: int | None) -> WorkerFailed:
    """The error for a worker that died without reporting one: :class:`OutOfMemory` when it died of SIGKILL while
    the kernel's OOM-kill count grew, else what killed it."""
    if signal_name == "SIGKILL" and None not in (oom_kills_before, oom_kills_after) \
            and oom_kills_after > oom_kills_before:
        total = total_memory_bytes()
        machine = f" ({total / 2**30:.1f} GiB on this machine)" if total else ""
        return OutOfMemory(f"worker {rank} was killed by the kernel's out-of-memory killer: the run needs more "
                           f"memory than is available{machine}; use more workers (smaller parts), a smaller model, "
                           f"or a machine with more memory")
    return WorkerFailed(f"a worker died: {description}")


def _run_inline(config: RunConfig, prepared: PreparedRun, outputs: Outputs) -> None:
    """One worker needs no other process: a process group of one, in this process."""
    os.environ.update(LOCAL_RANK="0", LOCAL_WORLD_SIZE="1")
    _init_process_group(config, 0, 1, outputs.rendezvous)
    try:
        run_worker(config, prepared, outputs.record_staging, "inline", outputs.model_staging, outputs.checkpoint)
    except (MemoryError, RuntimeError) as error:  # torch.OutOfMemoryError is a RuntimeError
        message = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        if not out_of_memory(type(error).__name__, message):
            raise
        raise OutOfMemory(f"the worker ran out of memory: {message}") from None
    finally:
        dist.destroy_process_group()
        outputs.rendezvous.unlink(missing_ok=True)


def _run_inprocess(config: RunConfig, prepared: PreparedRun, outputs: Outputs) -> None:
    """The W workers as threads of this process (:mod:`satbench.runtime.inprocess`): the same worker body, over an
    in-process group; rank 0 writes the staging files as a spawned rank 0 does."""
    from .inprocess import local_group_of, run_local

    # Torch's intra-op threads are one setting for the whole process: the cores divided among the worker threads, as
    # among worker processes (more oversubscribes the cores: measured slower on Cora, W = 4, 2 cores).
    _set_threads(config.workers)

    def worker(rank: int, world_size: int) -> None:
        group = local_group_of()
        if rank == 0:
            run_worker(config, prepared, outputs.record_staging, "inprocess", outputs.model_staging, outputs.checkpoint,
                       group=group)
        else:
            run_worker(config, prepared, None, "inprocess", checkpoints=outputs.checkpoint, group=group)

    try:
        run_local(worker, config.workers, timeout=config.timeout_s)
    except (MemoryError, RuntimeError) as error:  # torch.OutOfMemoryError is a RuntimeError
        message = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        if isinstance(error, SatbenchError):
            raise
        if out_of_memory(type(error).__name__, message):
            raise OutOfMemory(f"a worker ran out of memory: {message}") from None
        raise WorkerFailed(f"a worker failed: {type(error).__name__}: {message}") from error


def _stop_workers(processes: list, grace_s: float = 5.0) -> None:
    """SIGTERM every live worker (they die at once: workers keep SIGTERM's default action), SIGKILL any that is
    still there after ``grace_s``, and reap them all."""
    live = [process for process in processes if process is not None and process.is_alive()]
    for process in live:
        with contextlib.suppress(OSError):
            process.terminate()
    deadline = time.monotonic() + grace_s
    for process in live:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in live:
        if process.is_alive():
            with contextlib.suppress(OSError):
                process.kill()
            process.join()


FAILURE_GRACE_S = 1.0
# torch says so each time it stops the other workers of a failed run: our own clean-up, not news to the user.
logging.getLogger("torch.multiprocessing.spawn").setLevel(logging.ERROR)


def _spawn(config: RunConfig, prepared: PreparedRun, outputs: Outputs, links: WorkerLinks | None = None) -> None:
    method = worker_start_method(config.device, config.workers)
    if method == "forkserver":
        start_fork_server()
    oom_kills_before = oom_kills()
    context = None
    try:
        with signals_deferred():  # an interrupt waits until every worker is started and in hand
            context = mp.start_processes(_spawned_worker,
                                         args=(config, prepared, outputs, links, log.getEffectiveLevel()),
                                         nprocs=config.workers, join=False, start_method=method)
        # A worker that raises or dies fails the run; join then stops the others, after a moment in which a peer
        # whose collective failed with it can still report why.
        while not context.join(grace_period=FAILURE_GRACE_S):
            pass
    except mp.ProcessRaisedException as error:
        first = _first_failure(outputs, config.workers)
        killed = [(index, process.exitcode) for index, process in enumerate(context.processes)
                  if process.exitcode is not None and process.exitcode < 0 and -process.exitcode != signal.SIGTERM]
        if first is not None and first.get("type") in ECHOES and killed:  # a peer died of a signal: that is the cause
            index, exitcode = killed[0]
            name = signal.Signals(-exitcode).name
            raise death_error(index, name, f"process {index} terminated with signal {name}", oom_kills_before,
                              oom_kills()) from None
        if first is not None:
            raise _failure_error(first) from None
        raise WorkerFailed(f"a worker failed: {str(error).strip().splitlines()[-1]}") from None
    except mp.ProcessExitedException as error:  # its peers' errors only echo the death
        raise death_error(error.error_index, error.signal_name, str(error), oom_kills_before, oom_kills()) from None
    finally:
        if context is not None:
            _stop_workers(context.processes)  # interrupted: nothing may keep training
            for error_file in context.error_files:  # torch's own traceback files, in the temporary directory
                with contextlib.suppress(OSError):
                    os.unlink(error_file)
        outputs.rendezvous.unlink(missing_ok=True)


def _torchrun(config: RunConfig, outputs: Outputs, command: list[str]) -> None:
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if world_size != config.workers:
        raise ConfigError(f"--workers {config.workers} but torchrun started WORLD_SIZE={world_size}")
    if config.network is not None:
        raise ConfigError(UNDER_TORCHRUN)
    _set_threads(int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    _init_process_group(config, rank, world_size)
    try:
        # One process per node partitions (nodes may not share a disk); the others wait, then reuse the cache.
        prepared = [prepare(config).replace(command=command) if local_rank == 0 else None]
        # Every node's first worker has finished writing its node's partition before any worker reads one.
        dist.barrier()
        dist.broadcast_object_list(prepared, src=0)
        if rank == 0:
            run_worker(config, prepared[0], outputs.record_staging, "torchrun", outputs.model_staging,
                       outputs.checkpoint)
        else:
            run_worker(config, prepared[0], None, "torchrun", checkpoints=outputs.checkpoint)
        dist.barrier()
        if rank == 0:
            outputs.commit()
        if config.checkpoint_every:
            dist.barrier()  # the record is in place (had rank 0 failed to write it, this barrier would fail)
            remove_checkpoints(outputs.checkpoint)  # every node its own copy, where nodes share no disk
    except SatbenchError:
        raise
    except Exception as error:  # one line, as the spawn launcher reports a worker's error, not a traceback
        lines = str(error).strip().splitlines()
        raise _failure_error({"rank": rank, "type": type(error).__name__,
                              "error": lines[-1] if lines else ""}) from error
    finally:
        if rank == 0:
            outputs.discard()
        dist.destroy_process_group()


def launch(config: RunConfig, out: str | os.PathLike, command: list[str] | None = None) -> None:
    """Run training as configured and write the record to ``out`` (atomically; nothing on failure or interrupt).

    ``out``: the record's path, checked here before any work with the model's and the checkpoints'
    (:func:`~.outputs.check_run_outputs`), or the :class:`~.outputs.CheckedOutputs` that check returned for this
    configuration (the command line checks every seed's first), taken as checked. ``config`` is validated here
    unless it is already (:attr:`RunConfig.validated`): the workers get the validated one. ``command``: the command
    line the record states (default: this process's)."""
    command = list(command) if command is not None else [os.path.basename(sys.argv[0]), *sys.argv[1:]]
    checked = out if isinstance(out, CheckedOutputs) and out.serves(config) else (
        check_run_outputs(out, config.save_model, config.checkpoint_every))
    config = config.validate()
    outputs = Outputs(checked.out, checked.model)
    if launched_by_torchrun():
        _torchrun(config, outputs, command)  # torchrun owns the workers' signals and lifetimes
        return
    with stop_on_signals():
        try:
            spec = parse_network(config.network) if config.network is not None else None
            shaped = spec is not None and config.workers > 1
            if shaped:
                check_available()
            # The links exist before any work (a kernel without netem is refused at once) and go only once every
            # worker has stopped: _spawn stops them on every way out before this block ends.
            with emulated_links(spec, config.workers) if shaped else contextlib.nullcontext() as links:
                prepared = prepare(config).replace(command=command)
                if spec is not None:
                    prepared = prepared.replace(network=describe(spec, config.workers))
                if config.launcher == "inprocess":
                    log.info("training %d worker%s as threads of this process (in-process group; timings do not "
                             "represent a deployment)", config.workers, "s" if config.workers > 1 else "")
                    _run_inprocess(config, prepared, outputs)
                elif config.workers == 1:
                    log.info("training in this process (one worker, %s)%s",
                             "nccl" if config.device == "cuda" else "gloo",
                             "; --network is moot: a single worker sends nothing" if spec is not None else "")
                    _run_inline(config, prepared, outputs)
                else:
                    log.info("starting %d worker processes (%s)", config.workers,
                             "nccl" if config.device == "cuda" else "gloo")
                    _spawn(config, prepared, outputs, links)
            outputs.commit()
            if config.checkpoint_every:
                remove_checkpoints(outputs.checkpoint)  # the record is written
        except RunInterrupted as error:
            raise RunInterrupted(error.signum, "workers stopped, nothing written") from None
        finally:
            outputs.discard()
