"""All communication between workers: halo exchange, reductions, and the meter that counts their bytes and time.

Methods and models never call ``torch.distributed`` themselves; they go through a :class:`Communicator`, so every
byte that crosses a worker boundary is counted and timed in one place (PipeGCN keeps its communication behind one
buffer object for the same reason).

Byte accounting is per worker and counts payload sent to *other* workers: for the halo exchange, the rows a worker
sends; for an all-reduce of ``n`` bytes, the ``2 (W-1)/W · n`` bytes a ring all-reduce sends per worker. Every byte
is booked under one :class:`~satbench.traffic.Traffic` category, declared once with its role in
:mod:`satbench.traffic` (which needs no torch): the method's own cost, or kept apart from it. The record's byte
columns are derived from that declaration.

Time: on the CPU, the wall-clock time of each call (of the wait, for an asynchronous exchange). On CUDA, CUDA events
recorded on the current stream around each call, resolved once per epoch when the trainer reads the meter: a
synchronous NCCL collective, and the wait of an asynchronous one, make that stream wait for NCCL's, so the events
measure the collective (or the wait) without synchronising the device, which would also wait for exchanges still in
flight (PipeGCN's) and book them into the next collective.

A collective that fails raises :class:`~satbench.errors.CollectiveFailed` naming the worker, the collective (its
operation and category) and where training was (:class:`Position`: epoch and layer, set by the trainer and the halo
seam): :class:`~satbench.errors.CollectiveTimeout` when it waited ``--timeout`` seconds, :class:`PeerLost` when a
peer's connection went away (usually the echo of that peer's own failure).
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from .errors import CollectiveFailed, CollectiveTimeout, PeerLost
from .partition import Part
# Declared apart, without torch: the record's byte columns are derived from them (satbench.record).
from .traffic import METHOD_TRAFFIC, Traffic


class CommMeter:
    """Bytes sent and seconds spent per :class:`Traffic` category, reset by the training loop each epoch. A category
    that is not declared there is refused, so no byte escapes the record's columns."""

    def __init__(self, device: torch.device):
        self.device = device
        self.bytes: dict[Traffic, int] = defaultdict(int)
        self._seconds: dict[Traffic, float] = defaultdict(float)
        # CUDA: (category, start, end) events of the calls timed since the seconds were last read
        self._events: list[tuple[Traffic, Any, Any]] = []
        self._booked_as: Traffic | None = None

    def reset(self) -> None:
        self.bytes.clear()
        self._seconds.clear()
        self._events.clear()

    @property
    def seconds(self) -> dict[Traffic, float]:
        """Seconds per category. On CUDA the events recorded since the last read are resolved here (the trainer reads
        once per epoch, after synchronising the device, so nothing waits)."""
        for category, start, end in self._events:
            end.synchronize()
            self._seconds[category] += start.elapsed_time(end) / 1000.0
        self._events.clear()
        return self._seconds

    @contextmanager
    def booked_as(self, category: str | Traffic):
        """Count everything inside under ``category`` (a reference pass's batch-norm sums are measurement, not
        training traffic)."""
        previous, self._booked_as = self._booked_as, Traffic(category)
        try:
            yield
        finally:
            self._booked_as = previous

    @contextmanager
    def timed(self, category: str | Traffic, num_bytes: int):
        category = self._booked_as or Traffic(category)
        if self.device.type == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            start.record()  # on the current stream (see the module docstring)
            try:
                yield
            finally:
                end = torch.cuda.Event(enable_timing=True)
                end.record()
                self._events.append((category, start, end))
                self.bytes[category] += num_bytes
            return
        start = time.perf_counter()
        try:
            yield
        finally:
            self._seconds[category] += time.perf_counter() - start
            self.bytes[category] += num_bytes

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())

    def method_bytes(self) -> dict[Traffic, int]:
        """Bytes of each of the method's own categories (:data:`METHOD_TRAFFIC`), zeros included."""
        return {category: self.bytes.get(category, 0) for category in METHOD_TRAFFIC}

    def method_seconds(self) -> float:
        return sum(seconds for category, seconds in self.seconds.items() if category.counted)


@dataclass
class Position:
    """Where this worker's training is, for the message of a collective that fails: the epoch (set by the trainer)
    and the layer whose halo rows are being exchanged (set by the halo seam and the trainer's exact passes)."""

    epoch: int | None = None
    layer: int | None = None

    @contextmanager
    def at(self, layer: int | None):
        previous, self.layer = self.layer, layer
        try:
            yield
        finally:
            self.layer = previous

    def describe(self) -> str:
        parts = ([f"layer {self.layer}"] if self.layer is not None else []) + \
            ([f"epoch {self.epoch}"] if self.epoch is not None else [])
        return f" ({', '.join(parts)})" if parts else ""


# What gloo and NCCL say when a collective ran out of time, and when a peer's connection went away.
_TIMED_OUT = re.compile(r"timed out|timeout", re.IGNORECASE)
_PEER_GONE = re.compile(r"connection (reset|closed|refused)|closed by peer|broken pipe|socket closed|"
                        r"remote process exited|communicator was aborted|end of file", re.IGNORECASE)


_SOURCE = re.compile(r"^\[[^\]\s]+:\d+\] ")


def collective_failure(rank: int, operation: str, category: Traffic, where: str, seconds: float,
                       timeout_s: float | None, error: BaseException) -> CollectiveFailed:
    """The one-line error of a collective that raised ``error`` after ``seconds``."""
    lines = str(error).strip().splitlines()
    # gloo's line: "[<source file>:<line>] Read error [address]: Connection reset by peer. This is typically ..."
    detail = _SOURCE.sub("", lines[-1] if lines else type(error).__name__).split(". This is typically")[0]
    what = f"{operation} of {category.description}{where}"
    limit = f"{timeout_s:g} s" if timeout_s is not None else "its default"
    if _TIMED_OUT.search(detail) or (timeout_s is not None and seconds >= 0.95 * timeout_s):
        return CollectiveTimeout(f"worker {rank} timed out after {seconds:.1f} s in {what}: a peer stopped or lags, "
                                 f"or the link is too slow for the data; --timeout sets the limit (now {limit})")
    if _PEER_GONE.search(detail):
        return PeerLost(f"worker {rank} lost a peer after {seconds:.1f} s in {what}: its process or node is gone "
                        f"({detail})")
    return CollectiveFailed(f"worker {rank}: {what} failed after {seconds:.1f} s: {detail}")


class _HaloExchange(torch.autograd.Function):
    """Forward: owners send inner rows to the workers that hold them as halo. Backward: halo-row gradients travel
    back to their owners and are summed into the inner rows, exactly as full-graph backpropagation would."""

    @staticmethod
    def forward(ctx, h_inner: torch.Tensor, comm: "Communicator", category: Traffic) -> torch.Tensor:
        ctx.comm, ctx.category, ctx.num_inner = comm, category, h_inner.size(0)
        ctx.layer = comm.position.layer
        return comm.exchange_rows(h_inner.detach()[comm.send_index], comm.send_counts, comm.halo_counts, category)

    @staticmethod
    def backward(ctx, grad_halo: torch.Tensor):
        comm = ctx.comm
        with comm.position.at(ctx.layer):
            grad_sent = comm.exchange_rows(grad_halo.contiguous(), comm.halo_counts, comm.send_counts,
                                           ctx.category.gradient)
        grad_inner = grad_halo.new_zeros(ctx.num_inner, grad_halo.size(1))
        grad_inner.index_add_(0, comm.send_index, grad_sent)
        return grad_inner, None, None


class _SumAcrossWorkers(torch.autograd.Function):
    """All-reduce (sum) whose gradient is the all-reduced gradient: every worker's output depends on every input."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, comm: "Communicator") -> torch.Tensor:
        ctx.comm = comm
        return comm.all_reduce(tensor.detach().clone(), Traffic.REDUCE)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return ctx.comm.all_reduce(grad.contiguous().clone(), Traffic.REDUCE), None


class PendingRows:
    """Rows in flight; :meth:`wait` returns them (once complete) and books the traffic and the waiting time.

    A checkpoint completes them without booking anything (:meth:`state_dict`); their bytes are booked when they are
    waited for, in the epoch that receives them, as without the checkpoint, also in a run resumed from it
    (:meth:`Communicator.pending_from_state`)."""

    def __init__(self, comm: "Communicator", received: torch.Tensor, work, category: str | Traffic, num_bytes: int):
        self.comm, self.received, self.work, self.category, self.num_bytes = comm, received, work, category, num_bytes
        self.unbooked = work is not None  # a single worker sends nothing and waits for nothing
        self.started, self.where = time.monotonic(), comm.position.describe()

    def _complete(self) -> None:
        if self.work is not None:
            with self.comm.failures("all_to_all", self.category, self.started, self.where):
                self.work.wait()
            self.work = None

    def wait(self) -> torch.Tensor:
        if self.unbooked:
            with self.comm.meter.timed(self.category, self.num_bytes):
                self._complete()
            self.unbooked = False
        return self.received

    def state_dict(self) -> dict[str, Any]:
        """The rows, completed now, and the bytes still to book when they are waited for."""
        self._complete()
        return {"received": self.received, "category": Traffic(self.category).value, "num_bytes": self.num_bytes,
                "unbooked": self.unbooked}


class Communicator:
    """One worker's view of the process group and of its part's send/receive lists. ``timeout_s``: the process
    group's collective timeout (named when a collective times out)."""

    def __init__(self, part: Part, device: torch.device, timeout_s: float | None = None):
        self.rank, self.world_size = part.rank, part.world_size
        self.device = device
        self.send_index = part.send_index.to(device)
        self.send_counts = list(part.send_counts)
        self.halo_counts = list(part.halo_counts)
        self.num_halo = part.num_halo
        self.meter = CommMeter(device)
        self.timeout_s = timeout_s
        self.position = Position()

    @contextmanager
    def failures(self, operation: str, category: str | Traffic, started: float | None = None,
                 where: str | None = None):
        """Turn a failure of the collective inside into :class:`~satbench.errors.CollectiveFailed`, saying which."""
        started = time.monotonic() if started is None else started
        try:
            yield
        except RuntimeError as error:  # gloo and NCCL raise RuntimeErrors (DistBackendError is one)
            raise collective_failure(self.rank, operation, Traffic(category),
                                     self.position.describe() if where is None else where,
                                     time.monotonic() - started, self.timeout_s, error) from error

    def pending_from_state(self, state: dict[str, Any]) -> PendingRows:
        """Completed rows from :meth:`PendingRows.state_dict`, whose bytes are booked when they are waited for."""
        pending = PendingRows(self, state["received"], None, state["category"], int(state["num_bytes"]))
        pending.unbooked = bool(state["unbooked"])
        return pending

    # -- halo rows ---------------------------------------------------------------------------------------------
    def exchange_rows(self, rows: torch.Tensor, send_counts: list[int], recv_counts: list[int],
                      category: str | Traffic) -> torch.Tensor:
        """``all_to_all`` of row blocks: ``rows`` holds the blocks for each peer in rank order."""
        received = rows.new_empty(sum(recv_counts), *rows.shape[1:])
        if self.world_size == 1:
            return received
        row_bytes = rows[0].numel() * rows.element_size() if rows.size(0) else 0
        with self.meter.timed(category, row_bytes * rows.size(0)), self.failures("all_to_all", category):
            dist.all_to_all_single(received, rows.contiguous(), output_split_sizes=recv_counts,
                                   input_split_sizes=send_counts)
        return received

    def exchange_async(self, h_inner: torch.Tensor, category: str | Traffic = Traffic.HALO) -> "PendingRows":
        """Start sending ``h_inner``'s halo rows without waiting (PipeGCN's overlap); ``.wait()`` returns them."""
        rows = h_inner.detach()[self.send_index].contiguous()
        return self.start_rows(rows, self.send_counts, self.halo_counts, category)

    def start_rows(self, rows: torch.Tensor, send_counts: list[int], recv_counts: list[int],
                   category: str | Traffic) -> "PendingRows":
        """Asynchronous ``all_to_all`` of row blocks; only the time spent waiting on it is counted as comm time."""
        received = rows.new_empty(sum(recv_counts), *rows.shape[1:])
        work = None
        if self.world_size > 1:
            with self.failures("all_to_all", category):
                work = dist.all_to_all_single(received, rows.contiguous(), output_split_sizes=recv_counts,
                                              input_split_sizes=send_counts, async_op=True)
        row_bytes = rows[0].numel() * rows.element_size() if rows.size(0) else 0
        return PendingRows(self, received, work, category, row_bytes * rows.size(0) if work else 0)

    def exchange(self, h_inner: torch.Tensor, category: str | Traffic = Traffic.HALO) -> torch.Tensor:
        """Fresh halo rows for ``h_inner``; differentiable (gradients of halo rows go back to their owners)."""
        if torch.is_grad_enabled() and h_inner.requires_grad:
            return _HaloExchange.apply(h_inner, self, Traffic(category))
        return self.exchange_rows(h_inner[self.send_index], self.send_counts, self.halo_counts, category)

    # -- reductions --------------------------------------------------------------------------------------------
    def _ring_bytes(self, tensor: torch.Tensor) -> int:
        return int(2 * (self.world_size - 1) * tensor.numel() * tensor.element_size() // self.world_size)

    def all_reduce(self, tensor: torch.Tensor, category: str | Traffic = Traffic.REDUCE) -> torch.Tensor:
        """In-place sum over workers; returns ``tensor``."""
        if self.world_size > 1:
            with self.meter.timed(category, self._ring_bytes(tensor)), self.failures("all_reduce", category):
                dist.all_reduce(tensor)
        return tensor

    def sum_across(self, tensor: torch.Tensor) -> torch.Tensor:
        """Differentiable sum over workers (used by batch-norm statistics)."""
        if self.world_size == 1:
            return tensor
        return _SumAcrossWorkers.apply(tensor, self)

    def all_reduce_gradients(self, module: torch.nn.Module) -> None:
        """Sum every parameter's gradient over workers in one flat buffer."""
        params = [p for p in module.parameters() if p.requires_grad]
        if self.world_size == 1 or not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = self.all_reduce(torch.cat([g.reshape(-1) for g in grads]))
        offset = 0
        for param in params:
            numel = param.numel()
            param.grad = flat[offset: offset + numel].view_as(param).clone()
            offset += numel

    def average_parameters(self, module: torch.nn.Module) -> None:
        """Model averaging: every parameter (and buffer) becomes the mean over workers."""
        if self.world_size == 1:
            return
        tensors = [t for t in list(module.parameters()) + list(module.buffers()) if t.is_floating_point()]
        flat = self.all_reduce(torch.cat([t.detach().reshape(-1) for t in tensors])) / self.world_size
        offset = 0
        with torch.no_grad():
            for tensor in tensors:
                tensor.copy_(flat[offset: offset + tensor.numel()].view_as(tensor))
                offset += tensor.numel()

    def gather_rows(self, values: torch.Tensor, category: str | Traffic = Traffic.STATS) -> torch.Tensor:
        """``[W, n]`` stack of every worker's equal-length vector (per-epoch statistics, or a protocol's flags)."""
        if self.world_size == 1:
            return values.unsqueeze(0)
        out = [torch.empty_like(values) for _ in range(self.world_size)]
        with self.meter.timed(category, (self.world_size - 1) * values.numel() * values.element_size()), \
                self.failures("all_gather", category):
            dist.all_gather(out, values.contiguous())
        return torch.stack(out)

    # -- bookkeeping (not part of any method's cost) -----------------------------------------------------------

    def barrier(self) -> None:
        if self.world_size > 1:
            with self.failures("barrier", Traffic.STATS):
                dist.barrier()
