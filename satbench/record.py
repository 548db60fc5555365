"""The run record: its shape (:class:`Record`), the check of a run's output paths, environment capture, and the
summary that is reported (written through :mod:`satbench.files`).

A record says what ran (``config``, every setting resolved; ``method``, as the registry knew it, with the protocol it
ran: weight sync, local steps, train graph; ``study`` and ``labels``, as the job passed them; the ``command`` line;
``created``, a UTC time stamp), on what (``env``, ``dataset``, ``partition``), and what it measured (``epochs``, one
row per epoch; ``memory``; ``summary``). The reported test score is the one at the best validation epoch, never the
best test score. Records of version 1 (no study, labels, command or time stamp) still load: :meth:`Record.from_json`
leaves what they lack empty, and the report infers a study from where such a record lies. Version 3 declares its
rows (:data:`EPOCH_ROW`, :data:`STALENESS_ROW`, :data:`SUMMARY`, :data:`ENVIRONMENT`; the method's own metrics in
``method.metrics``), adds the CPU, its cores, the accelerator and the model's parameter count, and names the GPU
``accelerator`` (version 2's ``env.gpu``, renamed on reading). A record that says no version, or a newer one than
:data:`RECORD_VERSION`, is refused with one line naming it (:func:`check_version`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .traffic import METHOD_TRAFFIC

RECORD_VERSION = 3


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
    problem = _cannot_create_in(target.absolute().parent)
    if problem is not None:
        raise ConfigError(f"cannot write {flag} {text}: {problem}")
    return target


def _cannot_create_in(directory: Path) -> str | None:
    """Why this process cannot create files in ``directory`` (creating it and its missing parents first), or None:
    the nearest ancestor that exists is not a directory, or not writable."""
    ancestor = directory
    while not ancestor.exists() and ancestor != ancestor.parent:  # a path under a file does not "exist" either
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is not a directory"
    if not os.access(ancestor, os.W_OK | os.X_OK):  # also false on a read-only file system, even for root
        return f"{ancestor} is not writable"
    return None


def checkpoint_dir(out: str | os.PathLike) -> Path:
    """Where the checkpoints of the run whose record goes to ``out`` are kept: ``<out>.checkpoint/`` beside it."""
    out = Path(out)
    return out.with_name(f"{out.name}.checkpoint")


def check_checkpoint_dir(out: str | os.PathLike) -> Path:
    """The checkpoint directory of the run whose record goes to ``out`` (``--checkpoint-every``), or ConfigError
    naming it if it cannot be written: a file in its place, or no permission to create it or files in it. Checked
    before any work on every worker (each writes its own files), like ``--out``: else the run would fail only at its
    first checkpoint, K epochs in."""
    directory = checkpoint_dir(out)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"--checkpoint-every cannot keep checkpoints in {directory}: it exists and is not a "
                          "directory")
    problem = _cannot_create_in(directory.absolute())
    if problem is not None:
        raise ConfigError(f"--checkpoint-every cannot keep checkpoints in {directory}: {problem}")
    return directory


def check_outputs(out: str | os.PathLike | None,
                  model: str | os.PathLike | None = None) -> tuple[Path, Path | None]:
    """``--out`` and ``--save-model`` (if given) as Paths, checked before any work (:func:`check_output_path`)."""
    out_path = check_output_path(out, "--out")
    model_path = check_output_path(model, "--save-model") if model is not None else None
    if model_path is not None and model_path.absolute() == out_path.absolute():
        raise ConfigError(f"--save-model and --out are the same file, {out}")
    return out_path, model_path


# -- the record's rows, declared once ------------------------------------------------------------------------------
# Every row the record holds (an epoch, a staleness measurement, the summary, the environment) is declared here, column
# by column, with its type, unit and meaning; the writers build their rows through these declarations (a column that is
# not declared, or a declared one left out, is an error), the report takes its data files' columns from them, and the
# data dictionary (docs/data.md) is generated from them. A method's own per-epoch numbers are declared by the method
# (``Method.metrics``) and recorded with the run (``method.metrics``), so readers find them without the registry.

# One way to write each unit, everywhere: a value of a unit with a suffix here is held under a name ending in it (and
# such a name holds nothing else). Scores, shares and relative errors are plain numbers, fractions from 0 to 1 or
# ratios, never percentages: only the report's tables show points and percent, and their column names say so
# (``_pct``, ``_pts``), as they say MB (10^6 bytes) or MiB (2^20 bytes); the records and data files hold bytes.
UNITS = {
    "s": "seconds",
    "bytes": "bytes",
    "bit/s": "bits per second",
    "fraction": "a fraction from 0 to 1 (never a percentage)",
    "ratio": "a ratio of like quantities, 0 or more (a relative error; halo rows per inner row)",
    "cosine": "a cosine similarity, from -1 to 1",
    "nat": "a loss in nats (natural logarithm)",
    "epochs": "a duration in epochs",
    "steps": "a duration in optimiser steps",
    "index": "a position: epochs and layers count from 1, optimiser steps from 0",
    "count": "a number of things",
    "": "none: a name, a flag, a time stamp, or a number of no such unit (its meaning says what it is)",
}
SUFFIXES = {"s": "_s", "bytes": "_bytes", "bit/s": "_bit_s"}
# "rows": a list of rows of another declaration (an epoch's staleness rows); "mapping": a JSON object.
DTYPES = ("int", "float", "bool", "str", "timestamp", "int list", "float list", "mapping", "rows")


def unit_of_name(name: str) -> str | None:
    """The unit a column's name says (its suffix, :data:`SUFFIXES`), or None where it says none."""
    if name.endswith("_bit_s"):
        return "bit/s"
    if name.endswith("_s"):
        return "s"
    if name.endswith("_bytes") or "_bytes_" in name:  # comm_bytes_per_worker
        return "bytes"
    return None


@dataclass(frozen=True)
class Column:
    """One column of a record's rows, and of the data files the report makes of them: its ``name``, its ``dtype``
    (:data:`DTYPES`), its ``unit`` (:data:`UNITS`; the name ends in the unit's suffix where it has one) and its
    ``meaning``; ``optional``: present only where it applies (its meaning says where)."""

    name: str
    dtype: str
    unit: str
    meaning: str
    optional: bool = False

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"column {self.name}: dtype {self.dtype!r} is none of {', '.join(DTYPES)}")
        if self.unit not in UNITS:
            raise ValueError(f"column {self.name}: unit {self.unit!r} is none of {', '.join(map(repr, UNITS))}")
        said = unit_of_name(self.name)
        if (said is not None or self.unit in SUFFIXES) and said != self.unit:
            raise ValueError(f"column {self.name}: its unit is {self.unit!r}, which its name must say (names end in "
                             f"{', '.join(f'{suffix} for {unit}' for unit, suffix in SUFFIXES.items())})")

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Column":
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


def _score(split: str) -> Column:
    return Column(split, "float", "fraction", f"the dataset's metric (its `metric`: accuracy, or ROC-AUC) on the "
                                              f"{split} nodes; null where the epoch was not evaluated (--eval-every)")


EPOCH_ROW = (
    Column("epoch", "int", "index", "the epoch"),
    Column("loss", "float", "nat", "training loss, the mean over every worker's training nodes (with several local "
                                   "steps, the mean over them)"),
    _score("train"), _score("val"), _score("test"),
    Column("epoch_time_s", "float", "s", "the epoch's training time, the slowest worker's: its steps, the method's "
                                         "communication and weight sync; not evaluation, the staleness measurement "
                                         "or the fresh-halo control's exchange"),
    Column("compute_time_s", "float", "s", "epoch time less communication time, the largest over workers"),
    Column("comm_time_s", "float", "s", "time in, or waiting on, the method's collectives, the slowest worker's"),
    Column("comm_bytes", "int", "bytes", "bytes the method's own traffic sent, summed over workers: the sum of the "
                                         "per-category byte columns"),
    *(Column(category.column, "int", "bytes", f"bytes of {category.description}, summed over workers (part of "
                                              "comm_bytes)") for category in METHOD_TRAFFIC),
    Column("comm_bytes_per_worker", "int list", "bytes", "comm_bytes of each worker, by rank"),
    Column("eval_time_s", "float", "s", "time evaluating after the epoch (0 where it did not)"),
    Column("measure_time_s", "float", "s", "time measuring staleness (the reference passes), the slowest worker's; "
                                           "not in epoch_time_s"),
    Column("control_bytes", "int", "bytes", "bytes of the fresh-halo control's own exchange, summed over workers (0 "
                                            "in a method's own run); not in comm_bytes"),
    Column("control_time_s", "float", "s", "time of the fresh-halo control's exchange, the slowest worker's; not in "
                                           "epoch_time_s"),
)
# An epoch that measured staleness (--staleness-every) also holds its measurement; the method's metrics (declared by
# the method: ``method.metrics``) come between the columns above and these.
EPOCH_MEASUREMENT = (
    Column("staleness", "rows", "", "one staleness row per hidden layer, on an epoch that measured staleness",
           optional=True),
    Column("staleness_age", "float list", "epochs", "each hidden layer's age_epochs, on such an epoch",
           optional=True),
)

STALENESS_ROW = (
    Column("layer", "int", "index", "the hidden layer (1 to L-1) whose output's halo rows were measured: the rows the "
                                    "next layer aggregates"),
    Column("local_step", "int", "index", "the epoch's local step measured (0 to local_steps - 1; where in the epoch "
                                         "the run's seeded schedule put it)"),
    Column("rel_error", "float", "ratio", "the halo rows used against the exact rows of the same step, with that "
                                          "step's dropout masks: the Frobenius norm of the difference over that of "
                                          "the exact rows, over every worker's halo rows; null without halo rows"),
    Column("drift_rel_error", "float", "ratio", "the rows used against the exact rows with each row's own dropout "
                                                "masks: what staleness alone costs (equal to rel_error at dropout 0)"),
    Column("mask_rel_error", "float", "ratio", "the exact rows with each row's own masks against those with the "
                                               "step's: the floor that other steps' masks alone give"),
    Column("unmasked_share", "float", "fraction", "the share of halo rows that carry no dropout mask (a fill, a "
                                                  "forward-only refresh, a prediction), compared in eval mode"),
    Column("cosine", "float", "cosine", "the mean over halo rows of the cosine similarity of the row used and the "
                                        "exact row"),
    Column("age_epochs", "float", "epochs", "the mean age of the halo rows used, in epochs"),
    Column("age_steps", "float", "steps", "the mean age of the halo rows used, in optimiser steps"),
    Column("replaced_rel_error", "float", "ratio", "rel_error of the stale rows a correcting method (SAT, lmc, rest) "
                                                   "replaced: its base's rows, measured in the same run",
           optional=True),
    Column("supplied_rel_error", "float", "ratio", "in a fresh-halo control: rel_error of the rows the method "
                                                   "supplied before the control replaced them by exact ones",
           optional=True),
)

SUMMARY = (
    Column("best_val", "float", "fraction", "the best validation score over the evaluated epochs"),
    Column("test_at_best_val", "float", "fraction", "the test score at the epoch of best_val (the first such epoch "
                                                    "on ties): the reported score, never the best test score"),
    Column("best_epoch", "int", "index", "the epoch of best_val"),
    Column("final_train", "float", "fraction", "the training score at the last evaluated epoch"),
    Column("final_val", "float", "fraction", "the validation score at the last evaluated epoch"),
    Column("final_test", "float", "fraction", "the test score at the last evaluated epoch"),
    Column("final_loss", "float", "nat", "the last epoch's training loss"),
    Column("mean_epoch_time_s", "float", "s", "the mean of epoch_time_s over the epochs"),
    Column("total_time_s", "float", "s", "the sum of epoch_time_s over the epochs"),
    Column("total_comm_bytes", "int", "bytes", "the sum of comm_bytes over the epochs"),
    Column("mean_comm_bytes", "float", "bytes", "the mean of comm_bytes over the epochs"),
    Column("mean_staleness", "float", "ratio", "the mean rel_error over every measured epoch and hidden layer"),
    Column("peak_memory_bytes", "int", "bytes", "the largest worker's peak memory while it trained (memory.kind says "
                                                "what was measured)"),
    Column("model_parameters", "int", "count", "the model's parameters, its weights and biases (every worker holds a "
                                               "copy)"),
)

ENVIRONMENT = (
    Column("satbench", "str", "", "satbench's version"),
    Column("git_commit", "str", "", "the commit of the satbench checkout; null outside git"),
    Column("git_dirty", "bool", "", "whether the checkout had uncommitted or untracked files; null outside git"),
    Column("python", "str", "", "Python's version"),
    Column("torch", "str", "", "PyTorch's version"),
    Column("torch_geometric", "str", "", "PyG's version"),
    Column("host", "str", "", "the host name of rank 0's machine"),
    Column("platform", "str", "", "the operating system, as Python's platform module names it"),
    Column("cpu_model", "str", "", "the CPU's model name (rank 0's machine); null where the system does not say"),
    Column("cpu_cores", "int", "count", "logical CPU cores of rank 0's machine"),
    Column("accelerator", "str", "", "the accelerator the workers trained on (the GPU's name); null on the CPU"),
    Column("cuda", "str", "", "the CUDA version PyTorch was built with, on CUDA", optional=True),
    Column("device", "str", "", "cpu or cuda"),
    Column("backend", "str", "", "the collective backend: gloo, nccl, or the in-process group's"),
    Column("world_size", "int", "count", "workers (W)"),
    Column("launcher", "str", "", "how the workers ran: spawn, inprocess, inline or torchrun"),
    Column("torch_threads", "int", "count", "PyTorch's intra-op threads in rank 0"),
    Column("network", "mapping", "", "with --network, the emulated link the times were measured on (its spec, "
                                     "rate_bit_s, delay_s)", optional=True),
    Column("resumed_from_epoch", "int", "index", "in a run resumed from a checkpoint, the checkpoint's epoch: the "
                                                 "epochs up to it were trained by an earlier invocation",
           optional=True),
)


def declared_row(columns: tuple[Column, ...], values: dict[str, Any], what: str) -> dict[str, Any]:
    """``values`` as a row of ``columns``, in their order: every column that is not optional given, nothing that is
    not declared (else ValueError naming them, a writer's mistake); optional columns given as None are left out."""
    names = {column.name for column in columns}
    undeclared = sorted(set(values) - names)
    missing = [column.name for column in columns if not column.optional and column.name not in values]
    if undeclared or missing:
        raise ValueError(f"{what}: " + "; ".join(
            part for part in (f"undeclared {', '.join(undeclared)}" if undeclared else "",
                              f"missing {', '.join(missing)}" if missing else "") if part))
    return {column.name: values[column.name] for column in columns
            if column.name in values and not (column.optional and values[column.name] is None)}


def epoch_row(values: dict[str, Any], metrics: dict[str, float], staleness: list[dict[str, Any]] | None
              ) -> dict[str, Any]:
    """An epoch's row of the record: ``values`` of :data:`EPOCH_ROW`, then the method's ``metrics`` (its declared
    ``Method.metrics``, by name), then on a measured epoch its ``staleness`` rows (:data:`STALENESS_ROW`, one per
    hidden layer) and their ages."""
    row = declared_row(EPOCH_ROW, values, "epoch row")
    clash = sorted(set(metrics) & {column.name for column in (*EPOCH_ROW, *EPOCH_MEASUREMENT)})
    if clash:
        raise ValueError(f"epoch row: the method's metrics {', '.join(clash)} are the record's own columns")
    row.update(metrics)
    if staleness is not None:
        layers = [declared_row(STALENESS_ROW, layer, "staleness row") for layer in staleness]
        row.update(declared_row(EPOCH_MEASUREMENT, {"staleness": layers,
                                                    "staleness_age": [layer["age_epochs"] for layer in layers]},
                                "epoch row"))
    return row


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


def cpu_model() -> str | None:
    """The CPU's model name: Linux's /proc/cpuinfo (``model name``), else what Python's platform module says (macOS
    and Windows give one there), else None."""
    try:
        with open("/proc/cpuinfo") as lines:
            for line in lines:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def environment(device: str, backend: str, world_size: int, launcher: str, network: dict[str, Any] | None = None,
                resumed_from_epoch: int | None = None) -> dict[str, Any]:
    """The record's ``env`` (:data:`ENVIRONMENT`) of rank 0: versions, machine, and how the workers ran; ``network``:
    the emulated link (``satbench.runtime.network.describe``); ``resumed_from_epoch``: the checkpoint a resumed run
    started from."""
    import torch
    import torch_geometric

    from . import __version__

    cuda = device == "cuda"
    return declared_row(ENVIRONMENT, {
        "satbench": __version__,
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "accelerator": torch.cuda.get_device_name(0) if cuda else None,
        "cuda": torch.version.cuda if cuda else None,
        "device": device,
        "backend": backend,
        "world_size": world_size,
        "launcher": launcher,
        "torch_threads": torch.get_num_threads(),
        "network": network,
        "resumed_from_epoch": resumed_from_epoch,
    }, "env")


def summarize(epochs: list[dict[str, Any]], peak_memory_bytes: int | None = None,
              model_parameters: int | None = None) -> dict[str, Any]:
    """The record's ``summary`` (:data:`SUMMARY`): best validation score, the test score *at that epoch* (first epoch
    on ties), timing and traffic totals, and (where given) the largest worker's peak memory and the model's size."""
    evaluated = [row for row in epochs if row.get("val") is not None]
    best = max(evaluated, key=lambda row: row["val"]) if evaluated else None  # max keeps the first on ties
    times = [row["epoch_time_s"] for row in epochs]
    measured = [layer["rel_error"] for row in epochs for layer in row.get("staleness") or []
                if layer["rel_error"] is not None]
    return declared_row(SUMMARY, {
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
        "peak_memory_bytes": peak_memory_bytes,
        "model_parameters": model_parameters,
    }, "summary")


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
              command: list[str] | None, model_parameters: int | None = None) -> "Record":
        """The record of a finished run: ``config`` a resolved :class:`~satbench.config.RunConfig`, ``method`` its
        registry entry (with the metrics it declares, which its epoch rows hold), ``model_parameters`` the model's
        size."""
        return cls(
            config=config.to_dict(),
            method={"name": config.method, "family": method.family, "base": method.base,
                    "shares_base_control": method.shares_base_control, "halo": config.halo,
                    "weight_sync": config.weight_sync, "local_steps": config.local_steps,
                    "train_graph": method.train_graph,
                    "metrics": [metric.as_json() for metric in getattr(method, "metrics", ())]},
            env=env, dataset=dataset, partition=partition, epochs=epochs,
            memory={"kind": memory_kind, "per_worker_bytes": [int(peak) for peak in per_worker_bytes]},
            summary=summarize(epochs, int(max(per_worker_bytes, default=0)), model_parameters),
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
        """A record as written by any version of satbench up to this one; ConfigError (one line, naming it) if it is
        not one, or says no version or a newer one (:func:`check_version`)."""
        if not isinstance(data, dict) or not {"config", "summary", "epochs"} <= data.keys():
            raise ConfigError(f"{name} is not a satbench run record (no config/summary/epochs)")
        version = check_version(data.get("version"), name)
        config = data["config"]
        method = {"name": config.get("method"), "family": None, "base": None, "shares_base_control": None,
                  "halo": config.get("halo", "method"),
                  "weight_sync": config.get("weight_sync"), "local_steps": config.get("local_steps"),
                  "train_graph": None, **(data.get("method") or {})}
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values.update(method=method, labels=dict(data.get("labels") or {}), version=version)
        for key in ("env", "dataset", "partition", "memory"):
            values.setdefault(key, {})
        if version < 3 and "gpu" in values["env"]:  # version 2 named the accelerator "gpu"
            values["env"] = {("accelerator" if key == "gpu" else key): value for key, value in values["env"].items()}
        return cls(**values)


def check_version(version: Any, name: str = "record") -> int:
    """A record's ``version``, or ConfigError naming the record: every record satbench wrote says its version (version
    1 too), so one without is not its; one newer than :data:`RECORD_VERSION` may hold what this code would misread
    or silently drop, so it is refused rather than read as an older one."""
    if version is None:
        raise ConfigError(f"{name} says no record version: not a run record satbench wrote")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ConfigError(f"{name} has record version {version!r}; versions are whole numbers from 1")
    if version > RECORD_VERSION:
        raise ConfigError(f"{name} is a record of version {version}, newer than this satbench reads (up to "
                          f"{RECORD_VERSION}): read it with the satbench that wrote it, or a newer one")
    return version


def read_record(path: str | os.PathLike) -> Record:
    """A run record from disk; a file that is not one is a one-line error, not a traceback."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"cannot read run record {path}: {error}") from None
    return Record.from_json(data, str(path))
