"""The in-process launcher's cluster: W workers as threads of one process, meeting in an in-process group.

``satbench run --launcher inprocess`` runs a run's W workers here, for the accuracy and staleness studies: one
interpreter, one import of torch, one load of the graph, no sockets. Every worker runs the same worker body as a
spawned or torchrun process (:func:`satbench.runtime.launch.run_worker`) over the real
:class:`~satbench.comm.Communicator` (its halo exchange, reductions and byte metering through
:class:`~satbench.comm.CommMeter` are unchanged); only the four ``torch.distributed`` collectives it calls
(``all_to_all_single``, ``all_reduce``, ``all_gather``, ``barrier``) are served by a :class:`LocalGroup`, which the
threads share. Records equal the spawned run's apart from timings (``tests/test_launchers.py`` holds this for every
registered method); timings of threads that share one interpreter say nothing of a deployment, so the throughput,
bandwidth and overhead studies keep one process per worker (the record names its launcher).

:func:`run_local` runs ``function(rank, world_size, *args)`` in ``world_size`` threads (one worker: in the calling
thread). Collectives are matched as a process group matches them: the k-th collective a worker calls meets the k-th
of every other worker. A worker blocks until all have arrived (asynchronous ones: until ``wait()``), so the workers
step in lockstep. Only as many workers run at a time as the machine has cores (*turns*); a worker gives its turn up
while it waits in a collective. Without turns, W threads contend for the interpreter lock, which every torch call
drops and takes again: at W = 32 on 2 cores a Cora run spent more time handing the lock around than computing (40
epochs: 37 s wall, 24 s user and 29 s system time; with turns 16.7 s). Each slot wakes only its own waiters, once
complete, not every waiting thread at every arrival. Results do not depend on thread scheduling: a sum is added up in
rank order, once, and every worker gets that same tensor (gloo's ring sums in another order: float sums may differ in
the last bits, see the test). A mismatch (different collectives, or sizes that disagree) raises where a real group
would hang or fail, and so does a collective that no peer ever joins (after ``timeout`` seconds); when one worker
raises, the others are released with :class:`GroupAborted` at their next collective and :func:`run_local` re-raises
the first error. An interrupt of the calling thread aborts the group the same way and waits (bounded) for the
workers to leave.

Two pieces of process-global state are guarded while a group runs: ``satbench.comm.dist`` is this group's
facade, and ``torch.random.fork_rng`` (whose block seeds the global generator: model and predictor initialisation)
holds a lock, so that two workers never seed and draw from the generator at once. No other draw from torch's
global generator happens in training (dropout masks are keyed hashes, :class:`satbench.models.NodeDropout`). One group
runs at a time.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.distributed as torch_dist

import satbench.comm as comm_module


class GroupAborted(RuntimeError):
    """A peer failed (or never came): this worker's collective cannot complete."""


@dataclass
class _Slot:
    """The k-th collective of the group: what each rank brought, and the shared result once everyone has."""

    kind: str
    payloads: dict[int, Any] = field(default_factory=dict)
    result: Any = None
    readers: int = 0
    complete: threading.Event = field(default_factory=threading.Event)  # set once every rank has arrived


class LocalGroup:
    """A process group whose members are the threads of this process (one rank per thread)."""

    def __init__(self, world_size: int, timeout: float = 120.0, turns: int | None = None):
        """``turns``: how many workers run at once (default: the machine's cores)."""
        self.world_size = world_size
        self.timeout = timeout
        self._lock = threading.Lock()
        self._turns = threading.Semaphore(max(1, min(world_size, turns or os.cpu_count() or 1)))
        self._slots: dict[int, _Slot] = {}
        self._issued = [0] * world_size
        self._thread = threading.local()
        self.failure: BaseException | None = None

    # -- membership --------------------------------------------------------------------------------------------
    def join(self, rank: int) -> None:
        """Make the calling thread rank ``rank``, and wait for its turn to run."""
        self._thread.rank = rank
        self._turns.acquire()

    def leave(self) -> None:
        """The calling worker is done: its turn goes to a waiting one."""
        self._turns.release()

    def get_rank(self) -> int:
        rank = getattr(self._thread, "rank", None)
        if rank is None:
            raise RuntimeError("a collective was called from a thread that is not a worker of this local group")
        return rank

    def get_world_size(self) -> int:
        return self.world_size

    def get_backend(self) -> str:
        return "local"

    def abort(self, error: BaseException) -> None:
        """Release every waiting worker: ``error`` stopped one of them."""
        with self._lock:
            self._fail(error)

    def _fail(self, error: BaseException) -> None:
        """With the lock held: keep the group's first failure and wake every waiting worker to hear of it."""
        self.failure = self.failure or error
        for slot in self._slots.values():
            slot.complete.set()

    def unmatched(self) -> list[str]:
        """Collectives some rank called and others never did (a real group would have hung on them)."""
        return [f"#{sequence} {slot.kind} (ranks {sorted(slot.payloads)})" for sequence, slot in
                sorted(self._slots.items()) if len(slot.payloads) < self.world_size]

    # -- matching ------------------------------------------------------------------------------------------------
    def _arrive(self, kind: str, payload: Any) -> tuple[int, _Slot]:
        rank = self.get_rank()
        with self._lock:
            if self.failure is not None:
                raise GroupAborted(f"rank {rank}: a peer failed ({self.failure!r})")
            sequence = self._issued[rank]
            self._issued[rank] += 1
            slot = self._slots.setdefault(sequence, _Slot(kind))
            if slot.kind != kind:
                error = RuntimeError(f"collective #{sequence}: rank {rank} called {kind}, rank "
                                     f"{min(slot.payloads)} called {slot.kind}")
                self._fail(error)
                raise error
            slot.payloads[rank] = payload
            if len(slot.payloads) == self.world_size:
                slot.complete.set()
        return sequence, slot

    def _complete(self, sequence: int, slot: _Slot, combine: Callable[[dict[int, Any]], Any] | None = None) -> Any:
        """Wait until every rank has arrived at ``slot``; returns its (once computed) combined result."""
        rank = self.get_rank()
        self._turns.release()  # while it waits, another worker runs
        try:
            arrived = slot.complete.wait(self.timeout)
        finally:
            self._turns.acquire()
        with self._lock:
            if self.failure is not None:
                raise GroupAborted(f"rank {rank}: a peer failed ({self.failure!r})")
            if not arrived:
                error = TimeoutError(f"collective #{sequence} {slot.kind}: ranks {sorted(slot.payloads)} waited "
                                     f"{self.timeout:.0f} s for the others")
                self._fail(error)
                raise error
            if combine is not None and slot.result is None:
                slot.result = combine(slot.payloads)
            slot.readers += 1
            if slot.readers == self.world_size:
                del self._slots[sequence]
            return slot.result

    # -- the collectives satbench.comm calls, with torch.distributed's signatures -------------------------
    def all_to_all_single(self, output: torch.Tensor, input: torch.Tensor, output_split_sizes=None,
                          input_split_sizes=None, async_op: bool = False):
        rank = self.get_rank()
        sizes = list(input_split_sizes) if input_split_sizes is not None else \
            [input.size(0) // self.world_size] * self.world_size
        if len(sizes) != self.world_size or sum(sizes) != input.size(0):
            raise ValueError(f"rank {rank}: input split sizes {sizes} do not cover {input.size(0)} rows")
        blocks = [block.clone() for block in torch.split(input, sizes)]
        expected = list(output_split_sizes) if output_split_sizes is not None else \
            [output.size(0) // self.world_size] * self.world_size
        arrival = self._arrive("all_to_all_single", blocks)

        def finish() -> None:
            payloads = self._complete(*arrival, combine=lambda payloads: payloads)
            received = [payloads[peer][rank] for peer in range(self.world_size)]
            got = [block.size(0) for block in received]
            if got != expected:
                raise RuntimeError(f"rank {rank}: expected {expected} rows from the peers, they sent {got}")
            if output.numel():
                output.copy_(torch.cat(received))

        work = _Work(finish)
        if async_op:
            return work
        work.wait()
        return None

    def all_reduce(self, tensor: torch.Tensor, op=torch_dist.ReduceOp.SUM, group=None, async_op: bool = False):
        if op != torch_dist.ReduceOp.SUM or group is not None or async_op:
            raise NotImplementedError("the local group sums synchronously over the whole group only")

        def total(payloads: dict[int, torch.Tensor]) -> torch.Tensor:
            shapes = {(tuple(value.shape), value.dtype) for value in payloads.values()}
            if len(shapes) != 1:
                raise RuntimeError(f"all_reduce of different shapes or dtypes: {sorted(map(str, shapes))}")
            result = payloads[0].clone()
            for peer in range(1, self.world_size):
                result += payloads[peer]
            return result

        tensor.copy_(self._complete(*self._arrive("all_reduce", tensor.clone()), combine=total))
        return None

    def all_gather(self, tensor_list: list[torch.Tensor], tensor: torch.Tensor, group=None, async_op: bool = False):
        if group is not None or async_op:
            raise NotImplementedError("the local group gathers synchronously over the whole group only")
        payloads = self._complete(*self._arrive("all_gather", tensor.clone()), combine=lambda payloads: payloads)
        for peer, out in enumerate(tensor_list):
            out.copy_(payloads[peer])
        return None

    def barrier(self, group=None, async_op: bool = False) -> None:
        self._complete(*self._arrive("barrier", None), combine=lambda payloads: True)


class _Work:
    """What an asynchronous collective returns: ``wait()`` completes it (once)."""

    def __init__(self, finish: Callable[[], None]):
        self._finish, self._done = finish, False

    def wait(self, timeout=None) -> bool:
        if not self._done:
            self._done = True
            self._finish()
        return True

    def is_completed(self) -> bool:
        return self._done


_ACTIVE = threading.Lock()  # one local group at a time: it replaces module-level state
_RNG = threading.RLock()


@contextlib.contextmanager
def local_group(world_size: int, timeout: float = 120.0, turns: int | None = None):
    """Install a :class:`LocalGroup` as the communicators' ``torch.distributed`` for the block; yields it."""
    if not _ACTIVE.acquire(blocking=False):
        raise RuntimeError("a local group is already running in this process")
    group = LocalGroup(world_size, timeout, turns)
    original_dist, original_fork_rng = comm_module.dist, torch.random.fork_rng

    @contextlib.contextmanager
    def serialised_fork_rng(*args, **kwargs):
        with _RNG, original_fork_rng(*args, **kwargs):
            yield

    global _CURRENT
    comm_module.dist, torch.random.fork_rng, _CURRENT = group, serialised_fork_rng, group
    try:
        yield group
    finally:
        comm_module.dist, torch.random.fork_rng, _CURRENT = original_dist, original_fork_rng, None
        _ACTIVE.release()


_CURRENT: LocalGroup | None = None  # the group running now (one at a time)


def local_group_of() -> LocalGroup:
    """The in-process group this thread's worker belongs to."""
    if _CURRENT is None:
        raise RuntimeError("no in-process group is running")
    return _CURRENT


def run_local(function: Callable[..., Any], world_size: int, *args: Any, timeout: float = 120.0,
              join_timeout: float = 30.0, turns: int | None = None) -> list[Any]:
    """Run ``function(rank, world_size, *args)`` as ``world_size`` workers in threads of this process, meeting in a
    :class:`LocalGroup`; returns every rank's return value, by rank. The first worker error is raised.

    An exception in the calling thread while it waits (an interrupt) aborts the group, waits up to ``join_timeout``
    seconds for the workers to reach a collective and leave, and is re-raised. ``turns``: how many workers run at
    once (default: the machine's cores)."""
    results: list[Any] = [None] * world_size
    errors: list[BaseException | None] = [None] * world_size
    with local_group(world_size, timeout, turns) as group:
        def worker(rank: int) -> None:
            group.join(rank)
            try:
                results[rank] = function(rank, world_size, *args)
            except BaseException as error:  # noqa: BLE001 - handed to the caller below
                errors[rank] = error
                group.abort(error)
            finally:
                group.leave()

        if world_size == 1:  # nothing to meet: the calling thread is the worker (and hears its signals)
            group.join(0)
            try:
                return [function(0, 1, *args)]
            finally:
                group.leave()
        threads = [threading.Thread(target=worker, args=(rank,), name=f"local-worker-{rank}", daemon=True)
                   for rank in range(world_size)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.1)  # a short wait, so that a signal's handler runs in this thread promptly
        except BaseException as error:
            group.abort(error)
            deadline = time.monotonic() + join_timeout
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            raise
    # A peer's abort may reach the caller wrapped (the communicator turns a failed collective into CollectiveFailed).
    causes = [error for error in errors if error is not None and not isinstance(error, GroupAborted)
              and not isinstance(error.__cause__, GroupAborted)]
    if causes or any(errors):
        raise (causes or [error for error in errors if error is not None])[0]
    if group.unmatched():
        raise RuntimeError(f"collectives not every worker called: {group.unmatched()}")
    return results
