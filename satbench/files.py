"""Files written whole or not at all: the one way satbench writes a file a reader may see (records, checkpoints,
saved models, tables, figures, data files, evidence, documents).

:func:`atomic_path` stages the content in a file of the target's own directory (a rename within one file system is
atomic; across two it is a copy), named ``.<target name>.<random>.tmp`` so that a leftover says whose it is and a
glob by the target's name finds it. Once the writer is done the staging file is given the mode ``open()`` would give
a new file (``0o666 & ~umask``: ``mkstemp``'s 0600 would hide records and figures from the other users of a shared
results directory), flushed to disk, and renamed over the target; the directory is flushed too, so after a crash the
target is the old file or the new one. On any exception, an interrupt included, the staging file is removed and the
target is left as it was. :func:`write_bytes_atomic`, :func:`write_text_atomic` and :func:`write_json_atomic` are the
common cases; a writer that wants a path (``savefig``, ``torch.save``, ``to_parquet``) writes to the staging path the
context manager yields.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


def current_umask() -> int:
    """The process's umask (reading it means setting it: it is set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open()`` gives a new file under the current umask."""
    return 0o666 & ~current_umask()


def directory_mode() -> int:
    """The mode ``mkdir`` gives a new directory under the current umask (``mkdtemp`` gives 0700)."""
    return 0o777 & ~current_umask()


def _flush_to_disk(path: Path, mode: int | None = None) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        if mode is not None:
            os.fchmod(descriptor, mode)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A staging path for ``path`` to write to; on leaving without an exception it replaces ``path`` (see the module
    docstring), on any exception it is removed. The parent directories are created as needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    staging = Path(name)
    try:
        os.close(handle)
        yield staging
        # The mode is set after the writer, not before: a writer may replace the file rather than write into it.
        _flush_to_disk(staging, file_mode())
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # the rename made durable; a file system that cannot sync a directory has none
        _flush_to_disk(path.parent)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as staging:
        staging.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """``text`` as UTF-8 (whatever the locale says: documents and tables hold τ and ±)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, payload: Any) -> Path:
    """``payload`` as indented JSON, refusing NaN and infinities (JSON has none; a reader would choke on them)."""
    return write_text_atomic(path, json.dumps(payload, indent=1, allow_nan=False) + "\n")
