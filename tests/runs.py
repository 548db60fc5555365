"""Helpers shared by tests that start real training runs (worker processes, the CLI)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

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
    """A record with every wall-clock and memory measurement (and the host environment and the time it was
    written) removed, for equality checks."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items()
                if not k.endswith("_time_s") and k not in ("env", "memory", "peak_memory_bytes", "created")}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def descendants(pid: int) -> list[int]:
    """The live processes below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _group_member(rank, world_size, port, function, args, results):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    torch.set_num_threads(1)
    try:
        results[rank] = function(rank, world_size, *args)
    finally:
        dist.destroy_process_group()


def run_in_process_group(function, world_size, *args):
    """Run ``function(rank, world_size, *args)`` in ``world_size`` processes of a gloo group (as training workers
    are); returns every rank's return value, by rank. ``function`` must be importable (module level)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with mp.Manager() as manager:
        results = manager.dict()
        mp.start_processes(_group_member, args=(world_size, port, function, args, results), nprocs=world_size,
                           start_method="spawn")
        return [results[rank] for rank in range(world_size)]


def readme_example_method() -> str:
    """The example method of the README's "Adding a baseline", as a user would copy it into a plug-in file."""
    section = (REPO / "README.md").read_text()
    section = section[section.index("## Adding a baseline"):]
    code = section[section.index("```python\n") + len("```python\n"):]
    return code[:code.index("```")]


def development_example(name: str) -> str:
    """A worked example of docs/development.md: the fenced diff after its ``<!-- example: NAME -->`` marker."""
    text = (REPO / "docs" / "development.md").read_text()
    block = text[text.index(f"<!-- example: {name} -->"):]
    block = block[block.index("```diff\n") + len("```diff\n"):]
    return block[:block.index("```")]


def package_copy_with(example: str, where: Path) -> dict:
    """A copy of the satbench package under ``where`` with docs/development.md's ``example`` diff applied, and the
    environment in which ``python -m satbench`` imports that copy."""
    import shutil

    shutil.copytree(REPO / "satbench", where / "satbench", ignore=shutil.ignore_patterns("__pycache__"))
    (where / "example.diff").write_text(development_example(example))
    applied = subprocess.run(["git", "apply", "example.diff"], cwd=where, capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr
    return dict(os.environ, PYTHONPATH=str(where))
