"""Errors that satbench reports to the user as one readable line (no traceback)."""


class SatbenchError(Exception):
    """Base class: anything the CLI prints as ``satbench: error: <message>`` and exits 2."""


class ConfigError(SatbenchError, ValueError):
    """A bad argument or configuration value (unknown name, out-of-range number, malformed file)."""


class DatasetUnavailable(SatbenchError):
    """A dataset's files are not on disk and cannot be downloaded; the message says what to put where."""


class WorkerFailed(SatbenchError):
    """A training worker raised or died; the run produced no result."""
