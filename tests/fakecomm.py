"""The in-process group under its old test name: workers as threads of one process (``satbench.runtime.inprocess``)."""

from satbench.runtime.inprocess import GroupAborted, LocalGroup, local_group, run_local  # noqa: F401
