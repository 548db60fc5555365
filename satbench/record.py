"""The run record: its shape (:class:`Record`), atomic JSON writing, environment capture, and the summary that is
reported.

A record says what ran (``config``, every setting resolved; ``method``, as the registry knew it, with the protocol it
ran: weight sync, local steps, train graph; ``study`` and ``labels``, as the job passed them; the ``command`` line;
``created``, a UTC time stamp), on what (``env``, ``dataset``, ``partition``), and what it measured (``epochs``, one
row per epoch; ``memory``; ``summary``). The reported test score is the one at the best validation epoch, never the
best test score. Records of version 1 (no study, labels, command or time stamp) still load: :meth:`Record.from_json`
leaves what they lack empty, and the report infers a study from where such a record lies.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

RECORD_VERSION = 2


def check_output_path(path: str | os.PathLike | None, flag: str) -> Path:
    """The output path ``path`` (given as ``flag``) as a Path, or ConfigError naming it if it cannot be written:
    empty, an existing directory, under a file, or in a location this process cannot write."""
    text = "" if path is None else os.fspath(path)
    if not text.strip():
        raise ConfigError(f"{flag} is empty; give a file path")
    target = Path(text)
    if text.endswith(("/", os.sep)) or target.is_dir():
        raise ConfigError(f"{flag} {text} is a directory; give a file path")
    if target.exists() and not target.is_file():
        raise ConfigError(f"{flag} {text} exists and is not a regular file")
    ancestor = target.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:  # a path under a file does not "exist" either
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"cannot write {flag} {text}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):  # also false on a read-only file system, even for root
        raise ConfigError(f"cannot write {flag} {text}: {ancestor} is not writable")
    return target


def check_outputs(out: str | os.PathLike | None,
                  model: str | os.PathLike | None = None) -> tuple[Path, Path | None]:
    """``--out`` and ``--save-model`` (if given) as Paths, checked before any work (:func:`check_output_path`)."""
    out_path = check_output_path(out, "--out")
    model_path = check_output_path(model, "--save-model") if model is not None else None
    if model_path is not None and model_path.absolute() == out_path.absolute():
        raise ConfigError(f"--save-model and --out are the same file, {out}")
    return out_path, model_path


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write to a temporary file in the same directory and rename it into place: readers see all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o666 & ~current_umask())  # mkstemp's 0600 would make records unreadable to others
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=1, allow_nan=False) + "\n")


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True, text=True,
                                timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def git_commit() -> str | None:
    """The commit of the satbench checkout, or None when it is not a git checkout (an installed copy)."""
    output = _git("rev-parse", "HEAD")
    return output.strip() if output is not None else None


def git_dirty() -> bool | None:
    """Whether the checkout differs from its commit (``git status --porcelain`` lists anything: modified, staged or
    untracked files); None when it is not a git checkout. Ignored files (results, caches) do not count."""
    output = _git("status", "--porcelain")
    return bool(output.strip()) if output is not None else None


def environment(device: str, backend: str, world_size: int, launcher: str) -> dict[str, Any]:
    import torch
    import torch_geometric

    from . import __version__

    info = {
        "satbench": __version__,
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "device": device,
        "backend": backend,
        "world_size": world_size,
        "launcher": launcher,
        "torch_threads": torch.get_num_threads(),
    }
    if device == "cuda":
        info["cuda"] = torch.version.cuda
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def summarize(epochs: list[dict[str, Any]]) -> dict[str, Any]:
    """Best validation score, the test score *at that epoch* (first epoch on ties), timing and traffic totals."""
    evaluated = [row for row in epochs if row.get("val") is not None]
    best = max(evaluated, key=lambda row: row["val"]) if evaluated else None  # max keeps the first on ties
    times = [row["epoch_time_s"] for row in epochs]
    measured = [layer["rel_error"] for row in epochs for layer in row.get("staleness") or []
                if layer["rel_error"] is not None]
    return {
        "best_val": best["val"] if best else None,
        "test_at_best_val": best["test"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "final_train": evaluated[-1]["train"] if evaluated else None,
        "final_val": evaluated[-1]["val"] if evaluated else None,
        "final_test": evaluated[-1]["test"] if evaluated else None,
        "final_loss": epochs[-1]["loss"] if epochs else None,
        "mean_epoch_time_s": sum(times) / len(times) if times else None,
        "total_time_s": sum(times),
        "total_comm_bytes": sum(row["comm_bytes"] for row in epochs),
        "mean_comm_bytes": sum(row["comm_bytes"] for row in epochs) / len(epochs) if epochs else None,
        "mean_staleness": sum(measured) / len(measured) if measured else None,
    }


@dataclass
class Record:
    """One run record (see the module docstring); :meth:`to_json` is what ``--out`` holds."""

    config: dict[str, Any]
    method: dict[str, Any]
    env: dict[str, Any]
    dataset: dict[str, Any]
    partition: dict[str, Any]
    epochs: list[dict[str, Any]]
    memory: dict[str, Any]
    summary: dict[str, Any]
    study: str | None = None  # None: a version-1 record, which did not say
    labels: dict[str, str] = field(default_factory=dict)
    command: list[str] | None = None
    created: str | None = None
    version: int = RECORD_VERSION

    @classmethod
    def build(cls, config, method, env: dict[str, Any], dataset: dict[str, Any], partition: dict[str, Any],
              epochs: list[dict[str, Any]], memory_kind: str, per_worker_bytes: list[int],
              command: list[str] | None) -> "Record":
        """The record of a finished run: ``config`` a resolved :class:`~satbench.config.RunConfig`, ``method`` its
        registry entry."""
        return cls(
            config=config.to_dict(),
            method={"name": config.method, "family": method.family, "base": method.base,
                    "shares_base_control": method.shares_base_control, "halo": config.halo,
                    "weight_sync": config.weight_sync, "local_steps": config.local_steps,
                    "train_graph": method.train_graph},
            env=env, dataset=dataset, partition=partition, epochs=epochs,
            memory={"kind": memory_kind, "per_worker_bytes": [int(peak) for peak in per_worker_bytes]},
            summary=dict(summarize(epochs), peak_memory_bytes=int(max(per_worker_bytes, default=0))),
            study=config.effective_study, labels=dict(config.labels), command=command,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "created": self.created, "command": self.command, "study": self.study,
                "labels": self.labels, "config": self.config, "method": self.method, "env": self.env,
                "dataset": self.dataset, "partition": self.partition, "epochs": self.epochs, "memory": self.memory,
                "summary": self.summary}

    @classmethod
    def from_json(cls, data: Any, name: str = "record") -> "Record":
        """A record as written by any version of satbench; ConfigError (one line, naming it) if it is not one."""
        if not isinstance(data, dict) or not {"config", "summary", "epochs"} <= data.keys():
            raise ConfigError(f"{name} is not a satbench run record (no config/summary/epochs)")
        config = data["config"]
        method = {"name": config.get("method"), "family": None, "base": None, "shares_base_control": None,
                  "halo": config.get("halo", "method"),
                  "weight_sync": config.get("weight_sync"), "local_steps": config.get("local_steps"),
                  "train_graph": None, **(data.get("method") or {})}
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values.update(method=method, labels=dict(data.get("labels") or {}), version=int(data.get("version", 1)))
        for key in ("env", "dataset", "partition", "memory"):
            values.setdefault(key, {})
        return cls(**values)


def read_record(path: str | os.PathLike) -> Record:
    """A run record from disk; a file that is not one is a one-line error, not a traceback."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"cannot read run record {path}: {error}") from None
    return Record.from_json(data, str(path))
