"""Where a run writes, checked once before any work: the record (``--out``), the model (``--save-model``) and, with
``--checkpoint-every``, the checkpoint directory beside the record. :func:`check_run_outputs` checks them and returns
a :class:`CheckedOutputs`, which :func:`~satbench.runtime.launch.launch` takes as checked; handed a plain path, it
checks it itself. Imports nothing heavy, so the command line checks every seed's outputs before torch is loaded."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..record import check_checkpoint_dir, check_outputs
from .processes import launched_by_torchrun


def writes_outputs() -> bool:
    """Whether this process writes the run's record and model: every process but a torchrun worker other than rank
    0 (each worker writes its own checkpoint files)."""
    return not launched_by_torchrun() or os.environ.get("RANK") == "0"


@dataclass(frozen=True)
class CheckedOutputs(os.PathLike):
    """A run's output paths as :func:`check_run_outputs` checked them: ``out`` and ``model`` (where this process
    writes them, :func:`writes_outputs`), and ``checkpoints``, the checkpoint directory (checked on every worker; None
    where no checkpoints are kept). A path-like of ``out``, so it stands wherever the record's path does."""

    out: Path
    model: Path | None = None
    checkpoints: Path | None = None

    def __fspath__(self) -> str:
        return os.fspath(self.out)

    def __str__(self) -> str:
        return os.fspath(self.out)

    def serves(self, config: Any) -> bool:
        """Whether these are the outputs ``config`` (a :class:`~satbench.config.RunConfig`) writes, all checked: its
        ``--save-model``, and the checkpoint directory where it keeps checkpoints."""
        model = Path(config.save_model) if config.save_model is not None else None
        return self.model == model and (self.checkpoints is not None or not config.checkpoint_every)


def check_run_outputs(out: str | os.PathLike, model: str | os.PathLike | None = None,
                      checkpoint_every: int = 0) -> CheckedOutputs:
    """``--out`` and ``--save-model`` checked where this process writes them (:func:`~satbench.record.check_outputs`),
    and with ``checkpoint_every`` the checkpoint directory (:func:`~satbench.record.check_checkpoint_dir`); a
    ConfigError names the first that cannot be written."""
    if writes_outputs():
        out_path, model_path = check_outputs(out, model)
    else:
        out_path, model_path = Path(out), Path(model) if model is not None else None
    checkpoints = check_checkpoint_dir(out_path) if checkpoint_every else None
    return CheckedOutputs(out_path, model_path, checkpoints)
