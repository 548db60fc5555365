"""A run's checkpoints on disk, beside its record: ``<out>.checkpoint/`` (``satbench run --checkpoint-every K``;
:func:`satbench.record.checkpoint_dir`).

Layout: ``epoch<E>/rank<r>.pt``, each worker's state after epoch E (:meth:`satbench.train.Trainer.state_dict`),
written by that worker (nodes need not share a disk; each file through a staging file renamed into place), and
``latest.json``, written by rank 0 once every worker has saved epoch E: the commit point, holding E and the run's
identity. Files of older epochs are removed only after a newer one is committed, so a run killed at any moment leaves
a whole checkpoint behind, or none. Once the record is written the directory is removed.

A checkpoint is resumed only by a run of the same identity (:func:`identity`): every setting that changes what the
run computes or records, the content hashes of the dataset and of the partition, and the satbench version. Another
one is ignored, with one warning line naming the settings that differ, and replaced at the first checkpoint. Each
rank file also says whose it is (its rank, the run's identity, its epoch): a worker refuses a file that is not its
own, with one warning line naming the file and what does not match (a file moved or swapped between workers would
load another part's state), and then no worker resumes: the run trains from epoch 1.

``--checkpoint-every`` with a directory that cannot be written (read-only, or a file in its place) is refused before
any work, as ``--out`` is (:func:`satbench.record.check_checkpoint_dir`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..comm import Communicator, Traffic
from ..config import RunConfig
from ..prepared import PreparedRun
from ..files import atomic_path, write_json_atomic

log = logging.getLogger("satbench")

# Settings that change neither what a run computes nor what its record holds of it (every role but "result",
# satbench.config.ROLES): a checkpoint written under other values of these is resumed.
INDIFFERENT = RunConfig.names("runner", "operation", "io")
MARKER = "latest.json"


def identity(config: RunConfig, prepared: PreparedRun) -> dict[str, Any]:
    """What a checkpoint must share with a run to be resumed by it (as JSON holds it)."""
    settings = {name: value for name, value in config.to_dict().items() if name not in INDIFFERENT}
    return json.loads(json.dumps({"settings": settings, "dataset": prepared.dataset["content_hash"],
                                  "partition": prepared.partition.get("content_hash"), "satbench": __version__}))


def differences(mine: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """The names of what differs between two identities (settings by name)."""
    names = sorted(name for name in set(mine["settings"]) | set(theirs.get("settings", {}))
                   if mine["settings"].get(name) != theirs.get("settings", {}).get(name))
    return names + [key for key in ("dataset", "partition", "satbench") if mine.get(key) != theirs.get(key)]


class FileCheckpoints:
    """One worker's access to the checkpoints in ``directory`` (:class:`satbench.train.CheckpointStore`)."""

    def __init__(self, directory: Path, run_identity: dict[str, Any], comm: Communicator):
        self.directory, self.identity, self.comm = Path(directory), run_identity, comm
        self.rank = comm.rank
        self.resumed_epoch: int | None = None

    def _file(self, epoch: int) -> Path:
        return self.directory / f"epoch{epoch}" / f"rank{self.rank}.pt"

    def _committed_epoch(self) -> int:
        """Rank 0: the epoch of the latest checkpoint of this identity, 0 if there is none to resume."""
        marker = self.directory / MARKER
        if not marker.is_file():
            return 0
        try:
            committed = json.loads(marker.read_text())
            epoch, theirs = int(committed["epoch"]), committed["identity"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("ignoring the checkpoint in %s: %s cannot be read (%s); training from epoch 1",
                        self.directory, MARKER, error)
            return 0
        differ = differences(self.identity, theirs)
        if differ:
            log.warning("ignoring the checkpoint of epoch %d in %s: it was written by a run of another configuration "
                        "(differs in: %s); training from epoch 1", epoch, self.directory, ", ".join(differ))
            return 0
        return epoch

    def _agree(self, value: int) -> int:
        """The sum of ``value`` over the workers (bookkeeping traffic: the meter is reset before the first epoch)."""
        total = torch.tensor([float(value)], dtype=torch.float64, device=self.comm.device)
        return int(self.comm.all_reduce(total, Traffic.STATS).item())

    def load(self) -> dict[str, Any] | None:
        epoch = self._agree(self._committed_epoch() if self.rank == 0 else 0)
        if epoch == 0:
            return None
        path, state = self._file(epoch), None
        try:
            saved = torch.load(path, map_location=self.comm.device, weights_only=True)
            problem = self._check(saved, epoch)
            if problem is not None:
                log.warning("worker %d refuses the checkpoint file %s: %s", self.rank, path, problem)
            else:
                state = saved["trainer"]
        except Exception as error:  # noqa: BLE001 - any unreadable file means: this worker cannot resume
            log.warning("worker %d cannot read its checkpoint file %s (%s)", self.rank, path,
                        str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__)
        if self._agree(state is None):  # every worker resumes, or none does
            if self.rank == 0:
                log.warning("not every worker could read its part of the checkpoint of epoch %d in %s; training "
                            "from epoch 1", epoch, self.directory)
            return None
        if self.rank == 0:
            log.info("resuming from the checkpoint of epoch %d in %s", epoch, self.directory)
        self.resumed_epoch = epoch
        return state

    def _check(self, saved: Any, epoch: int) -> str | None:
        """Why the content ``saved`` of this worker's file of ``epoch`` is not this worker's state of this run at
        that epoch, or None if it is. Files from before checkpoints said their rank say none: refused too."""
        if not isinstance(saved, dict) or "trainer" not in saved:
            return "it is not a satbench checkpoint"
        if saved.get("rank") != self.rank:
            return (f"it holds worker {saved['rank']}'s state, not worker {self.rank}'s (moved or swapped)"
                    if isinstance(saved.get("rank"), int) else "it does not say whose state it holds")
        if saved.get("epoch") != epoch:
            return f"it holds epoch {saved.get('epoch')}, not the committed epoch {epoch}"
        if saved.get("identity") != self.identity:
            theirs = saved.get("identity") if isinstance(saved.get("identity"), dict) else {}
            return ("it was written by a run of another configuration (differs in: "
                    f"{', '.join(differences(self.identity, theirs)) or 'its identity'})")
        return None

    def save(self, epoch: int, state: dict[str, Any]) -> None:
        # The file says whose it is (rank, run, epoch): a file copied or swapped into another worker's place is
        # refused on resume (see _check), never loaded into a worker whose part it does not fit.
        with atomic_path(self._file(epoch)) as staging:
            torch.save({"rank": self.rank, "identity": self.identity, "epoch": epoch, "trainer": state}, staging)
        self.comm.barrier()  # every worker has saved epoch E
        if self.rank == 0:
            write_json_atomic(self.directory / MARKER, {"epoch": epoch, "identity": self.identity})
        self.comm.barrier()  # epoch E is committed: the older files can go
        self.remove(keep=epoch)

    def remove(self, keep: int | None = None) -> None:
        """Remove this worker's files (and its leftover staging files) of every epoch but ``keep``, and the epoch
        directories that are then empty."""
        for directory in self.directory.glob("epoch*"):
            # Every worker cleans the same old directories at once: one that another worker emptied and removed
            # while this one was listing it is simply gone (listing a vanished directory raises FileNotFoundError).
            with contextlib.suppress(FileNotFoundError):
                if directory.name == f"epoch{keep}":
                    leftovers = list(directory.glob(f".rank{self.rank}.pt.*.tmp"))
                else:
                    leftovers = [*directory.glob(f"rank{self.rank}.pt"),
                                 *directory.glob(f".rank{self.rank}.pt.*.tmp")]
                for leftover in leftovers:
                    leftover.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # another worker's file may still be there
                directory.rmdir()


def remove_checkpoints(directory: Path) -> None:
    """Remove a run's checkpoint directory (its record is written)."""
    shutil.rmtree(directory, ignore_errors=True)
