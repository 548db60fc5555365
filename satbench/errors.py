"""Errors that satbench reports to the user as one readable line (no traceback)."""


class SatbenchError(Exception):
    """Base class: anything the CLI prints as ``satbench: error: <message>`` and exits 2."""


class ConfigError(SatbenchError, ValueError):
    """A bad argument or configuration value (unknown name, out-of-range number, malformed file)."""


class DatasetUnavailable(SatbenchError):
    """A dataset's files are not on disk and cannot be downloaded; the message says what to put where."""


class CacheCorrupted(SatbenchError):
    """A cached partition file does not match the content hash stored beside it (altered or truncated)."""


class NetworkUnavailable(SatbenchError):
    """``--network`` cannot emulate links here: no privilege, no iproute2 tools, or a kernel without a qdisc."""


class WorkerFailed(SatbenchError):
    """A training worker raised or died; the run produced no result."""


class OutOfMemory(WorkerFailed):
    """A worker ran out of memory: killed by the kernel's out-of-memory killer, or refused an allocation."""


class CollectiveFailed(WorkerFailed):
    """A collective (halo exchange, all-reduce, gather, barrier) failed; the message names the worker, the collective
    and where training was."""


class CollectiveTimeout(CollectiveFailed):
    """A collective waited ``--timeout`` seconds for a peer: the cause of a failure, not the echo of one."""


class PeerLost(CollectiveFailed):
    """A collective lost its connection to a peer whose process ended: usually the echo of that peer's own failure."""


class TrainingDiverged(SatbenchError):
    """The training loss or a weight became non-finite; the run stopped at that epoch and produced no result."""


class RunInterrupted(BaseException):
    """satbench received SIGINT or SIGTERM (``satbench run`` then stops its workers and writes nothing).

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way swallows it."""

    def __init__(self, signum: int, consequence: str = ""):
        import signal

        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}" + (f"; {consequence}" if consequence else ""))
