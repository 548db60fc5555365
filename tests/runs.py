"""Helpers shared by tests that start real training runs (worker processes, the CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Small but not trivial: every part has halo nodes at W=4, and a 2-layer GCN learns it in a few epochs.
TINY_GRAPH = "sbm:n=400,classes=4,degree=6,features=16,seed=1"


def satbench(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh interpreter, as a user would."""
    full_env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run([sys.executable, "-m", "satbench", *args], cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def load_record(path) -> dict:
    return json.loads(Path(path).read_text())


def without_timings(value):
    """A record with every wall-clock measurement (and the host environment) removed, for equality checks."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if not k.endswith("_time_s") and k != "env"}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value
