"""Process start-up and signal helpers that import nothing heavy, so the CLI can call them before torch is loaded."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading

from ..errors import RunInterrupted

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
FORK_SERVER_PRELOAD = ["satbench.train", "satbench.runtime.launch", "satbench.sat"]


def launched_by_torchrun() -> bool:
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


def worker_tag(rank: int | str, world_size: int | str) -> str:
    """What every line a worker writes starts with (after the time stamp): ``[rank 3/8] ``."""
    return f"[rank {rank}/{world_size}] "


def torchrun_tag() -> str:
    """Under torchrun, this worker's :func:`worker_tag`; else nothing."""
    return worker_tag(os.environ["RANK"], os.environ["WORLD_SIZE"]) if launched_by_torchrun() else ""


def configure_logging(level: int, tag: str = "", force: bool = False) -> None:
    """satbench's lines at ``level`` on stderr, every one with a time stamp and ``tag``; other libraries' (fontTools
    subsetting a PDF's fonts, say) only when they warn. ``force``: replace handlers already there (a worker process
    forked from a configured one)."""
    logging.basicConfig(level=logging.WARNING, format=f"%(asctime)s {tag}%(name)s %(levelname)s %(message)s",
                        stream=sys.stderr, force=force)
    logging.getLogger("satbench").setLevel(level)


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


def worker_dies_with_parent() -> None:
    """Called first thing in every spawned worker: it must never outlive ``satbench run``.

    SIGTERM kills the worker at once (whatever handler it inherited), SIGINT is left to the launching process (which
    stops every worker on Ctrl-C), and the worker exits as soon as the launching process is gone, even if that died
    by SIGKILL: on Linux the kernel's parent-death signal covers a worker forked by the launching process itself, and
    a watcher thread covers every start method (a fork server's children have the fork server as their parent, and it
    lives on as long as they do). The watcher waits on multiprocessing's parent sentinel, a pipe that only the
    launching process holds open.
    """
    import multiprocessing
    import multiprocessing.connection

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _set_parent_death_signal(signal.SIGKILL)
    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None)
    if sentinel is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])  # returns at end of file: the launching process is gone
        os._exit(1)

    threading.Thread(target=watch, name="satbench-parent-watch", daemon=True).start()


def _set_parent_death_signal(signum: int) -> None:
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(pr_set_pdeathsig, int(signum), 0, 0, 0)
    except (OSError, AttributeError):  # no libc to call: the watcher thread still ends the worker
        pass


class SignalGuard:
    """While ``satbench run`` works: the first SIGINT or SIGTERM raises RunInterrupted in the main thread, whatever
    the signal's disposition was (a script's ``&`` leaves SIGINT ignored); later ones are ignored, so the clean-up
    runs to its end. Inside :meth:`deferred` the signal is only noted, and raised when the block ends: between
    starting a worker and holding its handle, or between moving the model and the record into place, an interrupt
    would lose track of something. (Blocking the signal would not do: another thread may take it, and Python runs
    the handler in the main thread all the same.)"""

    active: "SignalGuard | None" = None

    def __init__(self) -> None:
        self.received: int | None = None
        self.raised = False
        self.depth = 0

    def handler(self, signum, frame) -> None:
        if self.received is None:
            self.received = signum
            if not self.depth:
                self.raised = True
                raise RunInterrupted(signum)

    @contextlib.contextmanager
    def deferred(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.received is not None and not self.raised:
            self.raised = True
            raise RunInterrupted(self.received)


@contextlib.contextmanager
def stop_on_signals():
    """Install a :class:`SignalGuard` for SIGINT and SIGTERM (main thread only; within one that is already
    installed, nothing more); restore the previous handlers afterwards."""
    if threading.current_thread() is not threading.main_thread() or SignalGuard.active is not None:
        yield
        return
    guard = SignalGuard()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, guard.handler) for signum in signals}
    SignalGuard.active = guard
    try:
        yield
    finally:
        SignalGuard.active = None
        for signum, action in previous.items():
            signal.signal(signum, action)


def signals_deferred():
    """Within a :class:`SignalGuard`, hold an interrupt until the block ends (elsewhere, nothing)."""
    guard = SignalGuard.active
    return guard.deferred() if guard is not None else contextlib.nullcontext()
