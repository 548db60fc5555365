"""The evidence the documents rest on, shipped in the repository, and the documents' tables, numbers and figures
rendered from it.

Evidence of a study
-------------------
``docs/evidence/<study>/`` holds a study's runs in compact form, written by :func:`export_evidence` (``make evidence
STUDY=name CONFIG=config/x.yaml``, or ``satbench report --evidence docs/evidence/<study> RECORDS...``):

* ``runs.parquet``: the report's runs frame, one row per run (every setting, the summary's scores and times);
* ``epochs.parquet``: one row per (run, epoch) with the run's identifying columns and the epoch columns the tables and
  figures read (:data:`EPOCH_KEPT`; ``comm_time_s`` only for the bandwidth study, the one table that reads it);
* ``staleness.parquet``: the staleness frame whole, one row per (run, measurement, hidden layer), where any run
  measured staleness;
* ``published.csv``: the published figures the report compared with (``config/published.csv`` when exported);
* ``tables/<table>.csv``: every table the report makes from them (CSV only), built from the Parquet files above;
* ``jobs.parquet``: the workflow jobs that wrote the runs, one row per job (:func:`.jobs.read_jobs`: ``job``,
  ``wall_s``, ``cpu_s``, ``max_rss_mb``, ``started``, ``finished``), from the benchmark files Snakemake left under
  ``results/benchmarks`` (``python -m satbench.docs export`` only, and only where there are any);
* ``manifest.json``: the study, the config it came from, satbench's version, the git commit, the number of runs,
  the command that wrote it, the date, and each file's rows and bytes; with ``jobs.parquet``, what it says of the
  jobs (:func:`.jobs.job_summary`): ``jobs`` (their number), ``job_time_s`` (their wall seconds summed),
  ``busy_time_s`` (the seconds at least one of them ran: jobs side by side count once, the pause between two
  sittings not at all) and ``busy_time_s_per_stage`` (the same per stage: ``main``, ``controls``, ``sweep``,
  ``options``, ``timing``, ``bandwidth``, ``regime/screen``, ``regime/confirm``).

Parquet files are zstd-compressed (floats byte-stream-split); per-worker lists and the epoch columns no table reads
are left out (the manifest lists them), and measured times and staleness errors are kept in single precision
(:data:`SINGLE_EPOCHS`; ``--lossless``: double). :func:`load_evidence` reads the Parquet files back into the report's
:class:`~.frames.Frames`, the columns left out as missing values, so every table is built again from the evidence
alone; the shipped CSVs are those tables. The export checks them against the tables of the records: equal, floats
within :data:`TOLERANCE` relative (exactly equal where lossless); where one is not, it writes every column at full
precision instead, with a warning (:data:`EPOCH_KEPT` misses what a table reads). ``verify`` checks that the shipped
CSVs are what the Parquet files give today (``--fix`` rewrites them, e.g. after a table's rule changed).

Markers in the documents
------------------------
README.md and docs/*.md carry evidence-backed content between marker comments, which ``make docs`` (``python -m
satbench.docs render``) rewrites in place from ``docs/evidence``; ``render --check`` rewrites nothing and
exits with status 1, listing every block that differs from what its evidence renders (and every marker that cannot
be rendered: an unknown study, table, column or row). Markers inside code (fenced blocks, backtick spans) are text.

A table (a Markdown pipe table, from ``tables/<TABLE>.csv`` of ``docs/evidence/<STUDY>``)::

    <!-- evidence: STUDY/TABLE [columns=C1,C2,...] [where=C=V,C=V1|V2] [decimals=N,C:N] -->
    | ... the rendered table ... |
    <!-- /evidence -->

* ``columns``: the CSV's columns to show, in order (default: all); ``X_mean`` with ``X_std`` show as one "mean ± std"
  column, ``X_ci_low`` with ``X_ci_high`` (or ``ci_low`` with ``ci_high``) as one "[low, high]" column, headers in
  words with units (:func:`.render.present`, as the report's Markdown tables);
* ``where``: the rows whose column ``C`` is ``V`` (or one of ``V1|V2``), for every pair; an empty value selects a
  missing cell; numbers compare as numbers (``workers=4`` matches ``4`` and ``4.0``);
* ``decimals``: fixed decimals for the floats, ``N`` for all and ``C:N`` for a column ``C`` (or a mean/interval's
  stem); without it, 3–4 significant digits. Counts (n, W, τ, epochs ...) are integers either way.

A number, inline::

    <!-- value: STUDY/TABLE[C=V,C=V].COLUMN [fmt=SPEC] -->3.2<!-- /value -->
    <!-- value: STUDY/manifest.KEY -->171<!-- /value -->
    <!-- value: STUDY/manifest.busy_time_s fmt=duration -->87 min 46 s<!-- /value -->
    <!-- value: STUDY/manifest.busy_time_s_per_stage.regime/screen fmt=duration -->22 min 5 s<!-- /value -->

The selector must pick exactly one row; ``fmt`` is a Python format spec (``.1f``, ``.0%``, ``,d``), else the report's
3–4 significant digits; a missing value is an em dash. ``fmt=duration`` writes a number of seconds as a duration
(:func:`format_duration`): ``45 s``, ``4 min 2 s``, ``87 min 46 s`` (whole seconds), and from two hours up
``2 h 5 min`` (whole minutes). ``manifest.KEY``: a field of the study's manifest (``runs``); ``manifest.KEY.SUB``:
the entry ``SUB`` of a field that is a mapping, split at the first ``.`` after ``manifest.`` (``SUB`` may hold ``/``
and further dots: ``manifest.busy_time_s_per_stage.regime/screen``, ``manifest.runs_per_study.control``).

A figure::

    <!-- figure: STUDY/FIGURE [file=NAME.png] -->

``render`` draws the report's figure ``FIGURE`` (:data:`.artefacts.ARTEFACTS`) from the study's evidence into
``docs/figures/NAME.png`` (default ``<STUDY>-<FIGURE>.png``), rewriting it only where it changed; the document
embeds it with its own ``![...](figures/NAME.png)``. ``--check`` checks that the file exists and that the evidence
supports the figure; it does not compare images, whose bytes depend on the matplotlib and FreeType build.

Options are ``key=value`` words split as a shell splits them: a value with a space needs the whole word quoted
(``'where=claim=C1 staleness'``, ``'demo/claims[claim=C1 staleness].estimate'``); a value in ``where`` or a selector
cannot hold ``,`` or ``|`` (nor ``]`` in a selector).

Commands
--------
::

    make evidence STUDY=real-graphs CONFIG=config/real.yaml   # = python -m satbench.docs export ...
    make docs                                                # = python -m satbench.docs render
    python -m satbench.docs render --check         # exit 1 listing what differs (tests/test_docs.py)
    python -m satbench.docs verify [--fix] [STUDY ...]
"""

from __future__ import annotations

import datetime
import difflib
import hashlib
import io
import json
import logging
import math
import os
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, SatbenchError
from ..files import directory_mode, write_bytes_atomic, write_text_atomic
from .artefacts import ARTEFACTS, FIGURE, facts_from_runs, table_builders
from .build import _DEFAULT, report_frames, write_artefacts
from .frames import EPOCH_COLUMNS, META_COLUMNS, STALENESS_COLUMNS, WALL_TIME, Frames, load_records, typed_runs
from .jobs import JOB_COLUMNS, job_summary
from .published import load_published
from .render import format_cell, table_to_markdown

log = logging.getLogger("satbench.report")

EVIDENCE_DIR = Path("docs") / "evidence"
FIGURES_DIR = Path("docs") / "figures"
DOCUMENTS = ("README.md", "docs/*.md")
RUNS, EPOCHS, STALENESS, PUBLISHED, MANIFEST, TABLES = ("runs.parquet", "epochs.parquet", "staleness.parquet",
                                                        "published.csv", "manifest.json", "tables")
JOBS = "jobs.parquet"

# The epoch columns the tables and figures read: the others are left out of the evidence (and read back as missing
# values; an export that finds a table needs one keeps them all); wall_time_s is the running sum of epoch_time_s,
# recomputed on reading.
EPOCH_KEPT = ("val", "epoch_time_s", "comm_time_s", "comm_bytes")
# Epoch columns kept for the bandwidth study's runs only (bandwidth_table is the one reader).
BANDWIDTH_ONLY = ("comm_time_s",)
# Measured floats kept in single precision (7 significant digits, finer than any timing's or error's noise; half the
# bytes, a measured float's last digits being noise that does not compress): the epochs' times and every staleness
# measurement; not validation scores, which the target compares exactly, nor anything of runs.parquet. The tables from
# such evidence agree with the records' within TOLERANCE (relative), and are checked to.
SINGLE_EPOCHS = ("epoch_time_s", "comm_time_s")
TOLERANCE = 1e-5
STUDY_NAME = re.compile(r"[\w.-]+")
ZSTD_LEVEL = 9


class EvidenceError(SatbenchError):
    """A marker that cannot be rendered, or evidence that cannot be read."""


# -- export and load --------------------------------------------------------------------------------------------------


def _git_commit(start: Path) -> str | None:
    """The commit checked out at ``start``'s repository, read from its ``.git`` (no program run), or None."""
    for directory in (start, *start.parents):
        dot_git = directory / ".git"
        if dot_git.is_file():  # a worktree: "gitdir: PATH"
            text = dot_git.read_text().strip()
            dot_git = (directory / text.removeprefix("gitdir:").strip()).resolve()
        if not dot_git.is_dir():
            continue
        try:
            head = (dot_git / "HEAD").read_text().strip()
            if not head.startswith("ref:"):
                return head or None
            ref = head.removeprefix("ref:").strip()
            common = dot_git
            if (dot_git / "commondir").is_file():
                common = (dot_git / (dot_git / "commondir").read_text().strip()).resolve()
            for root in (dot_git, common):
                if (root / ref).is_file():
                    return (root / ref).read_text().strip()
            packed = common / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(f" {ref}"):
                        return line.split()[0]
        except OSError:
            return None
        return None
    return None


def _storable(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` as Parquet can type it: an object column whose values are of several kinds (an option that is a
    number for one method and a word for another) as text; returns the frame and those columns."""
    frame, as_text = frame.copy(), []
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        kinds = {type(value) for value in frame[column] if not _missing(value)}
        if len(kinds) > 1 and not kinds <= {int, float, np.int64, np.float64}:
            frame[column] = frame[column].map(lambda value: None if _missing(value) else str(value))
            as_text.append(str(column))
    return frame, as_text


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _write_parquet(frame: pd.DataFrame, path: Path, single: Iterable[str] = ()) -> list[str]:
    """``frame`` as zstd-compressed Parquet, measured floats byte-stream-split (their exponent and leading bytes
    compress), the columns ``single`` in single precision; returns the columns written as text (:func:`_storable`)."""
    frame, as_text = _storable(frame)
    for column in single:
        if column in frame.columns and frame[column].dtype == np.float64:
            frame[column] = frame[column].astype(np.float32)
    # A measured float (few repeats) byte-stream-split without a dictionary, which would overflow and fall back to
    # plain; scores, counts and words through a dictionary.
    measured = [str(column) for column in frame.columns if frame[column].dtype in (np.float64, np.float32)
                and frame[column].nunique() > max(256, len(frame) // 16)]
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", index=False, compression="zstd", compression_level=ZSTD_LEVEL,
                     use_byte_stream_split=measured or False,
                     use_dictionary=[str(column) for column in frame.columns if str(column) not in measured])
    path.write_bytes(buffer.getvalue())
    return as_text


def _compact_epochs(epochs: pd.DataFrame, whole: bool = False) -> pd.DataFrame:
    """The epochs frame as the evidence keeps it: the columns of :data:`EPOCH_KEPT` (``whole``: every one but the
    running wall time)."""
    if whole:
        return epochs.drop(columns=["wall_time_s"])
    frame = epochs[[*META_COLUMNS, "epoch", *EPOCH_KEPT]].copy()
    for column in BANDWIDTH_ONLY:
        frame.loc[frame["study"] != "bandwidth", column] = math.nan
    return frame


def _same_table(made: str | None, wanted: str | None, exact: bool) -> bool:
    """Two CSV texts of a table: equal, or (not ``exact``) the same but for floats within :data:`TOLERANCE`."""
    if made == wanted:
        return True
    if exact or made is None or wanted is None:
        return False
    a, b = (pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""]) for text in (made, wanted))
    if list(a.columns) != list(b.columns) or a.shape != b.shape:
        return False
    for column in a.columns:
        x, y = a[column], b[column]
        if x.equals(y):
            continue
        numeric = all(pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v) for v in (x, y))
        if not numeric or not np.allclose(x.to_numpy(float), y.to_numpy(float), rtol=TOLERANCE, atol=1e-12,
                                          equal_nan=True):
            return False
    return True


def _evidence_tables(staging: Path, expected: Path, exact: bool) -> list[str]:
    """Write the tables the evidence in ``staging`` gives into its ``tables/``; returns those that differ from the
    records' (CSV files under ``expected``), or all of them where a builder fails on the evidence."""
    tables = staging / TABLES
    shutil.rmtree(tables, ignore_errors=True)
    try:
        write_artefacts(load_evidence(staging), tables, csv_only=True)
    except Exception as error:  # noqa: BLE001 - a builder that fails on the evidence: the export keeps everything
        return [f"every table ({type(error).__name__}: {error})"]
    made = {path.name: path.read_text() for path in tables.glob("*.csv")}
    wanted = {path.name: path.read_text() for path in expected.glob("*.csv")}
    return sorted(name for name in set(made) | set(wanted) if not _same_table(made.get(name), wanted.get(name), exact))


def export_evidence(sources, directory: str | os.PathLike, *, study: str | None = None,
                    config: str | os.PathLike | None = None, labels: Mapping[str, str] | None = None,
                    published: str | os.PathLike | None = _DEFAULT,  # type: ignore[assignment]
                    command: Sequence[str] | str | None = None, lossless: bool = False,
                    jobs: pd.DataFrame | None = None) -> list[Path]:
    """Write the evidence of the run records ``sources`` into ``directory`` (replacing what is there): the report's
    runs, epochs and staleness frames as Parquet (measured times and staleness in single precision unless
    ``lossless``), the published figures compared with, every table the report makes from the Parquet files read
    back (CSV; checked against the records' tables), and ``manifest.json`` naming the ``study`` (default: the
    directory's name), its ``config`` and the ``command``. ``jobs``: the workflow jobs that wrote the records
    (:func:`.jobs.read_jobs`), written as ``jobs.parquet`` and summed up in the manifest (:func:`.jobs.job_summary`);
    none, or an empty frame: neither. Returns the files written."""
    directory = Path(directory)
    study = study or directory.resolve().name
    if not STUDY_NAME.fullmatch(study):
        raise ConfigError(f"study name {study!r}: use letters, digits, '.', '_' and '-' only")
    loaded = load_records(sources, labels)
    if not loaded:
        raise ConfigError(f"evidence of {study}: no run records given")
    frames = report_frames(loaded, published)
    if jobs is not None and not jobs.empty:
        missing = [column for column in JOB_COLUMNS if column not in jobs.columns]
        if missing:
            raise ConfigError(f"evidence of {study}: the jobs frame has no column {', '.join(missing)} (read it with "
                              "satbench.report.jobs.read_jobs)")
        jobs = jobs[list(JOB_COLUMNS)].sort_values("job", kind="stable").reset_index(drop=True)
    else:
        jobs = None
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.tmp-"))
    try:
        staging.chmod(directory_mode())  # mkdtemp's 0700 would hide the shipped evidence from other users
        with tempfile.TemporaryDirectory() as expected:
            write_artefacts(frames, Path(expected), csv_only=True)  # the tables of the records
            as_text = {RUNS: _write_parquet(frames.runs, staging / RUNS)}
            if frames.published is not None:
                write_text_atomic(staging / PUBLISHED, frames.published.to_csv(index=False))
            # First as compact as the tables allow; where they come out otherwise, every column at full precision.
            for whole, exact in ((False, lossless), (True, True)):
                as_text[EPOCHS] = _write_parquet(_compact_epochs(frames.epochs, whole), staging / EPOCHS,
                                                 single=() if exact else SINGLE_EPOCHS)
                if not frames.staleness.empty:
                    as_text[STALENESS] = _write_parquet(frames.staleness, staging / STALENESS, single=() if exact else [
                        c for c in STALENESS_COLUMNS if frames.staleness[c].dtype == np.float64])
                differ = _evidence_tables(staging, Path(expected), exact)
                if not differ:
                    break
                if whole:
                    raise RuntimeError(f"evidence {study}: the tables {', '.join(differ)} from the evidence differ "
                                       "from those of the records")
                log.warning("evidence %s: from the compact evidence (epoch columns %s%s) the tables %s come out "
                            "otherwise than from the records: keeping every column at full precision", study,
                            ", ".join(EPOCH_KEPT), "" if exact else ", times and staleness in single precision",
                            ", ".join(differ))
        if jobs is not None:
            _write_parquet(jobs, staging / JOBS)
        runs = frames.runs
        config_path = Path(config) if config is not None else None
        manifest = {
            "study": study,
            "config": config_path.as_posix() if config_path is not None else None,
            "config_sha256": (hashlib.sha256(config_path.read_bytes()).hexdigest()
                              if config_path is not None and config_path.is_file() else None),
            "satbench": _version(),
            "git_commit": _git_commit(Path(__file__).resolve().parent),  # the code that exported it
            "runs": len(runs),
            "runs_per_study": {str(k): int(v) for k, v in runs["study"].value_counts().sort_index().items()},
            "run_git_commits": sorted({str(c) for c in runs.get("git_commit", pd.Series(dtype=object)).dropna()}),
            "command": command if isinstance(command, str) or command is None else shlex.join(command),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "left_out": ({"epochs": ["wall_time_s (the running sum of epoch_time_s)"]} if whole else
                         {"epochs": [*(c for c in EPOCH_COLUMNS if c not in EPOCH_KEPT),
                                     *_metric_columns(frames.epochs),
                                     "wall_time_s (the running sum of epoch_time_s)"],
                          "epochs_but_the_bandwidth_study": list(BANDWIDTH_ONLY)}),
            "precision": ("double" if exact else
                          f"single for the epochs' {', '.join(SINGLE_EPOCHS)} and the staleness measurements, "
                          "double elsewhere"),
            "tables": ("made from the evidence; equal to the records' tables" if exact else
                       f"made from the evidence; equal to the records' tables but for floats within {TOLERANCE:g} "
                       "relative"),
            **(job_summary(jobs) if jobs is not None else {}),
            "as_text": {name: columns for name, columns in as_text.items() if columns},
            "files": {path.relative_to(staging).as_posix(): {"bytes": path.stat().st_size, **_rows(path)}
                      for path in sorted(staging.rglob("*")) if path.is_file()},
        }
        write_text_atomic(staging / MANIFEST, json.dumps(manifest, indent=1) + "\n")
        _replace_directory(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    written = sorted(path for path in directory.rglob("*") if path.is_file())
    log.info("evidence %s: %d runs, %d files, %.1f kB in %s", study, len(runs), len(written),
             sum(path.stat().st_size for path in written) / 1e3, directory)
    return written


def _rows(path: Path) -> dict[str, int]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return {"rows": pq.ParquetFile(path).metadata.num_rows}
    if path.suffix == ".csv":
        return {"rows": max(0, len(path.read_text().splitlines()) - 1)}
    return {}


def _replace_directory(staging: Path, directory: Path) -> None:
    old = None
    if directory.exists():
        old = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.old-"))
        os.replace(directory, old / "previous")
    os.replace(staging, directory)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _version() -> str:
    from .. import __version__

    return __version__


def _read(path: Path, columns: Sequence[str] = ()) -> pd.DataFrame:
    """A Parquet file of the evidence as the frame it was written from (an empty frame of ``columns`` where there is
    none): a column that was of object dtype (text with None among it) is one again, pandas reading text as ``str``."""
    if not path.is_file():
        return pd.DataFrame(columns=list(columns))
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    frame = table.to_pandas()
    for column in [column for column in frame.columns if frame[column].dtype == np.float32]:
        frame[column] = _seven_digits(frame[column].to_numpy())
    return _object_columns(frame, table)


def _seven_digits(values: np.ndarray) -> np.ndarray:
    """Single-precision values as doubles, each the decimal of 7 significant digits it stands for (0.1f as 0.1, not
    0.10000000149): a value of up to 6 digits comes back exactly as the record had it."""
    x = values.astype(np.float64)
    finite = np.isfinite(x) & (x != 0)
    keep = np.zeros(x.shape, dtype=int)
    keep[finite] = 6 - np.floor(np.log10(np.abs(x[finite]))).astype(int)  # decimals to keep
    out = x.copy()
    up, down = finite & (keep >= 0) & (keep <= 22), finite & (keep < 0) & (keep >= -22)
    scale = 10.0 ** keep[up]  # exact powers of ten: the quotient is the double nearest the decimal
    out[up] = np.rint(x[up] * scale) / scale
    scale = 10.0 ** -keep[down]
    out[down] = np.rint(x[down] / scale) * scale
    return out


def _object_columns(frame: pd.DataFrame, table) -> pd.DataFrame:
    for column in (table.schema.pandas_metadata or {}).get("columns", []):  # as written: object, not str
        name = column.get("name")
        if column.get("numpy_type") == "object" and name in frame.columns and frame[name].dtype != object:
            values = frame[name].astype(object)
            frame[name] = values.where(values.notna(), None)
    return frame


def _with_meta(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every identifying column, those of evidence written before one existed (``option``) as
    missing."""
    for column in META_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    return frame


def _metric_columns(epochs: pd.DataFrame) -> list[str]:
    """The method metrics among an epochs frame's columns: what is neither a run's identifying column nor one of the
    record's own epoch columns."""
    own = {*META_COLUMNS, "epoch", *EPOCH_COLUMNS, WALL_TIME.name}
    return [str(column) for column in epochs.columns if column not in own]


def load_evidence(directory: str | os.PathLike) -> Frames:
    """The report's frames from a study's evidence (:func:`export_evidence`): the runs as written (typed as the report
    types them, :func:`.frames.typed_runs`, evidence of before included); the epochs and staleness rows with the
    columns left out (the manifest names them: the record's epoch columns and the methods' metrics) as missing values
    and ``wall_time_s`` summed again; the published figures where the evidence has them. The table builders take them
    as they take frames of records."""
    directory = Path(directory)
    if not (directory / RUNS).is_file():
        raise EvidenceError(f"{directory}: no {RUNS} (not a study's evidence: `make evidence` writes one)")
    runs = typed_runs(_with_meta(_read(directory / RUNS)))
    epochs = _with_meta(_read(directory / EPOCHS, [*META_COLUMNS, "epoch", *EPOCH_COLUMNS]))
    manifest = json.loads((directory / MANIFEST).read_text()) if (directory / MANIFEST).is_file() else {}
    left_out = [entry.split(" ")[0] for entry in (manifest.get("left_out") or {}).get("epochs", [])]
    metrics = list(dict.fromkeys([*_metric_columns(epochs), *(name for name in left_out if name not in (
        *EPOCH_COLUMNS, WALL_TIME.name))]))
    for column in (*EPOCH_COLUMNS, *metrics):
        if column not in epochs.columns:
            epochs[column] = math.nan if len(epochs) else pd.Series(dtype=object)
    # Series.cumsum per run, as the records' frame sums (groupby's cumsum is compensated: other last bits)
    epochs[WALL_TIME.name] = (epochs.groupby("record", sort=False)["epoch_time_s"].transform(pd.Series.cumsum)
                              if len(epochs) else pd.Series(dtype=object))
    epochs = epochs[[*META_COLUMNS, "epoch", *EPOCH_COLUMNS, *metrics, WALL_TIME.name]]
    staleness = _with_meta(_read(directory / STALENESS, [*META_COLUMNS, "epoch", "layer", *STALENESS_COLUMNS]))
    for column in STALENESS_COLUMNS:  # evidence written before a column existed
        if column not in staleness.columns:
            staleness[column] = math.nan if len(staleness) else pd.Series(dtype=object)
    published = load_published(directory / PUBLISHED) if (directory / PUBLISHED).is_file() else None
    return Frames(runs, epochs, staleness, published=published, builders=table_builders())


def verify_evidence(directory: str | os.PathLike, fix: bool = False) -> list[str]:
    """Whether a study's shipped table CSVs are what its Parquet files give with today's table builders: the tables
    that differ, are missing or are no longer made (with ``fix``: rewritten, and the manifest's file list updated)."""
    directory = Path(directory)
    with tempfile.TemporaryDirectory() as scratch:
        write_artefacts(load_evidence(directory), Path(scratch), csv_only=True)
        fresh = {path.name: path.read_text() for path in Path(scratch).glob("*.csv")}
    shipped = {path.name: path.read_text() for path in (directory / TABLES).glob("*.csv")}
    problems = [f"{directory / TABLES / name}: "
                + ("missing" if name not in shipped else "no longer made" if name not in fresh else
                   "differs from what the evidence gives") for name in sorted(set(fresh) | set(shipped))
                if fresh.get(name) != shipped.get(name)]
    if fix and problems:
        for name in set(shipped) - set(fresh):
            (directory / TABLES / name).unlink()
        for name, text in fresh.items():
            if shipped.get(name) != text:
                write_text_atomic(directory / TABLES / name, text)
        manifest_path = directory / MANIFEST
        if manifest_path.is_file():
            manifest = json.loads(manifest_path.read_text())
            manifest["files"] = {path.relative_to(directory).as_posix(): {"bytes": path.stat().st_size, **_rows(path)}
                                 for path in sorted(directory.rglob("*")) if path.is_file() and path.name != MANIFEST}
            manifest["tables_rebuilt"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
            write_text_atomic(manifest_path, json.dumps(manifest, indent=1) + "\n")
    return problems


# -- markers ----------------------------------------------------------------------------------------------------------

# An opening is "<!-- kind: ... -->", a closing "<!-- /kind -->"; any other comment is no marker.
_TOKEN = re.compile(r"<!--\s*(?:/(?P<close>evidence|value|figure)\s*|(?P<kind>evidence|value|figure)\s*:(?P<spec>.*?))"
                    r"-->", re.DOTALL)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,}).*?(?:^ {0,3}\1[`~]*[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)
_CODE_SPAN = re.compile(r"(`+)(?!`)(?:(?!\n[ \t]*\n).)+?(?<!`)\1(?!`)", re.DOTALL)  # within a paragraph
_VALUE_REFERENCE = re.compile(r"(?P<study>[\w.-]+)/(?P<table>[\w-]+)(?:\[(?P<where>[^\]]*)\])?\.(?P<column>.+)")
_REFERENCE = re.compile(r"(?P<study>[\w.-]+)/(?P<name>[\w-]+)")
OPTIONS = {"evidence": {"columns", "where", "decimals"}, "value": {"fmt", "of"}, "figure": {"file"}}
# A value marker's ``of=``: the one cell of the rows selected, else their smallest or largest (missing cells aside)
AGGREGATES = {"min": min, "max": max}
# A value marker's ``fmt=`` that writes seconds as a duration (format_duration) rather than a Python format spec
DURATION = "duration"


@dataclass
class Marker:
    """One marker in a document: its kind (``evidence``, ``value``, ``figure``), the text after ``kind:``, the line
    it opens on, and the span of what it encloses (empty for a figure)."""

    kind: str
    spec: str
    line: int
    body_start: int
    body_end: int
    reference: str = ""
    options: dict[str, str] = field(default_factory=dict)

    def where(self, path: str) -> str:
        return f"{path}:{self.line}: {self.kind} {self.reference or self.spec.strip()}"


def _mask_code(text: str) -> str:
    """``text`` with fenced code blocks and backtick spans blanked (same length), so a marker shown as code is not
    one."""
    def blank(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))
    return _CODE_SPAN.sub(blank, _FENCE.sub(blank, text))


def parse_markers(text: str) -> list[Marker]:
    """Every marker of a document, in order; an opening without its closing, a closing without its opening, or a
    marker within another is an :class:`EvidenceError` naming its line."""
    masked, markers, opened = _mask_code(text), [], None
    for match in _TOKEN.finditer(masked):
        line = text.count("\n", 0, match.start()) + 1
        kind, closing = match["kind"] or match["close"], bool(match["close"])
        if closing:
            if kind == "figure" or opened is None or opened.kind != kind:
                raise EvidenceError(f"line {line}: <!-- /{kind} --> closes no <!-- {kind}: ... -->")
            opened.body_end = match.start()
            markers.append(opened)
            opened = None
            continue
        if opened is not None:
            raise EvidenceError(f"line {opened.line}: <!-- {opened.kind}: ... --> is not closed by <!-- /"
                                f"{opened.kind} --> before line {line}")
        marker = Marker(kind, text[match.start("spec"):match.end("spec")], line, match.end(), match.end())
        try:
            words = shlex.split(marker.spec)
        except ValueError as error:
            raise EvidenceError(f"line {line}: {kind}: {error}") from None
        if not words:
            raise EvidenceError(f"line {line}: {kind}: names nothing (STUDY/...)")
        marker.reference = words[0]
        for word in words[1:]:
            key, equals, value = word.partition("=")
            if not equals or key not in OPTIONS[kind]:
                raise EvidenceError(f"line {line}: {kind} {marker.reference}: unknown option {word!r} (options: "
                                    f"{', '.join(sorted(OPTIONS[kind]))})")
            marker.options[key] = value
        if kind == "figure":
            markers.append(marker)
        else:
            opened = marker
    if opened is not None:
        raise EvidenceError(f"line {opened.line}: <!-- {opened.kind}: ... --> is not closed by <!-- /{opened.kind} -->")
    return markers


class Evidence:
    """The evidence directories under ``root`` (``docs/evidence``), each read once: tables, manifest, frames."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._tables: dict[tuple[str, str], pd.DataFrame] = {}
        self._frames: dict[str, Frames] = {}

    def directory(self, study: str) -> Path:
        directory = self.root / study
        if not directory.is_dir():
            raise EvidenceError(f"no evidence directory {directory} for study {study!r}: export it with `make "
                                f"evidence STUDY={study} CONFIG=config/<its config>.yaml` (or satbench report "
                                f"--evidence {directory} RECORDS...)")
        return directory

    def table(self, study: str, name: str) -> pd.DataFrame:
        if (study, name) not in self._tables:
            tables = self.directory(study) / TABLES
            path = tables / f"{name}.csv"
            if not path.is_file():
                have = sorted(p.stem for p in tables.glob("*.csv"))
                raise EvidenceError(f"the evidence of {study} has no table {name!r} (it has: "
                                    f"{', '.join(have) or 'none'})")
            self._tables[(study, name)] = pd.read_csv(path, keep_default_na=False, na_values=[""])
        return self._tables[(study, name)]

    def manifest(self, study: str) -> dict[str, Any]:
        path = self.directory(study) / MANIFEST
        if not path.is_file():
            raise EvidenceError(f"the evidence of {study} has no {MANIFEST}")
        return json.loads(path.read_text())

    def frames(self, study: str) -> Frames:
        if study not in self._frames:
            self._frames[study] = load_evidence(self.directory(study))
        return self._frames[study]


def _selection(text: str) -> list[tuple[str, list[str]]]:
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        column, equals, values = item.partition("=")
        if not equals:
            raise EvidenceError(f"row selector {item!r}: write COLUMN=VALUE")
        pairs.append((column.strip(), values.split("|")))
    return pairs


def _cell_matches(cell: Any, wanted: str) -> bool:
    if _missing(cell):
        return wanted == ""
    if isinstance(cell, (bool, np.bool_)):
        return str(bool(cell)) == wanted or str(bool(cell)).lower() == wanted.lower()
    if isinstance(cell, (int, float, np.integer, np.floating)):
        try:
            return float(cell) == float(wanted)
        except ValueError:
            return False
    return str(cell) == wanted


def _select(table: pd.DataFrame, where: str) -> pd.DataFrame:
    pairs = _selection(where)
    unknown = [column for column, _ in pairs if column not in table.columns]
    if unknown:
        raise EvidenceError(f"no column {', '.join(unknown)} to select rows by (columns: {', '.join(table.columns)})")
    keep = pd.Series(True, index=table.index)
    for column, values in pairs:
        keep &= table[column].map(lambda cell: any(_cell_matches(cell, value) for value in values))
    return table[keep]


def _decimals(text: str) -> int | dict[str, int] | None:
    if not text:
        return None
    mapping: dict[str, int] = {}
    try:
        for item in text.split(","):
            column, colon, digits = item.rpartition(":")
            mapping[column if colon else "*"] = int(digits)
    except ValueError:
        raise EvidenceError(f"decimals={text}: write N (every float) or COLUMN:N, comma-separated") from None
    return mapping["*"] if list(mapping) == ["*"] else mapping


def render_table(evidence: Evidence, marker: Marker) -> str:
    """What an ``evidence`` marker encloses: a newline, then the selected rows and columns as a pipe table."""
    match = _REFERENCE.fullmatch(marker.reference)
    if match is None:
        raise EvidenceError("write STUDY/TABLE")
    table = _select(evidence.table(match["study"], match["name"]), marker.options.get("where", ""))
    if table.empty:
        raise EvidenceError(f"where={marker.options.get('where')} selects no row")
    if "columns" in marker.options:
        columns = [column.strip() for column in marker.options["columns"].split(",") if column.strip()]
        unknown = [column for column in columns if column not in table.columns]
        if unknown:
            raise EvidenceError(f"no column {', '.join(unknown)} (columns: {', '.join(table.columns)})")
        table = table[columns]
    return "\n" + table_to_markdown(table.reset_index(drop=True), _decimals(marker.options.get("decimals", "")))


def render_value(evidence: Evidence, marker: Marker) -> str:
    """What a ``value`` marker encloses: one cell (or manifest field), formatted."""
    match = _VALUE_REFERENCE.fullmatch(marker.reference)
    if match is None:
        raise EvidenceError("write STUDY/TABLE[COLUMN=VALUE,...].COLUMN or STUDY/manifest.KEY")
    if match["table"] == "manifest" and match["where"] is None:
        value = _manifest_value(evidence.manifest(match["study"]), match["column"])
    else:
        table = evidence.table(match["study"], match["table"])
        if match["column"] not in table.columns:
            raise EvidenceError(f"no column {match['column']!r} (columns: {', '.join(table.columns)})")
        rows = _select(table, match["where"] or "")
        aggregate = marker.options.get("of")
        if aggregate is not None:
            if aggregate not in AGGREGATES:
                raise EvidenceError(f"of={aggregate}: write of=min or of=max")
            present = rows[match["column"]].dropna()
            if present.empty:
                raise EvidenceError(f"[{match['where'] or ''}] selects no row with a {match['column']}")
            value = AGGREGATES[aggregate](present)
        elif len(rows) != 1:
            raise EvidenceError(f"[{match['where'] or ''}] selects {len(rows)} rows, not one (of=min or of=max "
                                "takes the smallest or largest)")
        else:
            value = rows[match["column"]].iloc[0]
    spec = marker.options.get("fmt")
    if spec is None or _missing(value):
        return format_cell(value.item() if isinstance(value, np.generic) else value)
    if spec == DURATION:
        return format_duration(value)
    try:
        return format(value.item() if isinstance(value, np.generic) else value, spec)
    except (ValueError, TypeError) as error:
        raise EvidenceError(f"fmt={spec}: {error}") from None


def _manifest_value(manifest: Mapping[str, Any], key: str) -> Any:
    """``manifest.KEY``'s value: the field ``KEY``, or, where there is none, the entry ``SUB`` of the mapping
    field ``FIELD`` for ``KEY`` = ``FIELD.SUB`` (split at its first dot)."""
    if key in manifest:
        return manifest[key]
    name, dot, entry = key.partition(".")
    if not dot or name not in manifest:
        raise EvidenceError(f"the manifest has no {key!r} (it has: {', '.join(manifest)})")
    mapping = manifest[name]
    if not isinstance(mapping, Mapping):
        raise EvidenceError(f"the manifest's {name!r} is a {type(mapping).__name__}, not a mapping: {key!r} "
                            f"addresses nothing in it")
    if entry not in mapping:
        raise EvidenceError(f"the manifest's {name!r} has no {entry!r} (it has: {', '.join(map(str, mapping))})")
    return mapping[entry]


def format_duration(seconds: Any) -> str:
    """A number of seconds as the documents write a duration (``fmt=duration``): ``45 s``, ``4 min 2 s``,
    ``87 min 46 s`` (rounded to whole seconds), and from two hours up ``2 h 5 min`` (rounded to whole minutes)."""
    if isinstance(seconds, np.generic):
        seconds = seconds.item()
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or seconds < 0:
        raise EvidenceError(f"fmt={DURATION}: {seconds!r} is not a number of seconds (0 or more)")
    whole = math.floor(seconds + 0.5)
    if whole >= 2 * 3600:
        hours, minutes = divmod(math.floor(seconds / 60 + 0.5), 60)
        return f"{hours} h {minutes} min"
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def figure_file(marker: Marker, figures: Path) -> Path:
    match = _REFERENCE.fullmatch(marker.reference)
    if match is None:
        raise EvidenceError("write STUDY/FIGURE")
    name = marker.options.get("file") or f"{match['study']}-{match['name']}.png"
    if Path(name).name != name or not name.endswith(".png"):
        raise EvidenceError(f"file={name}: a file name ending in .png (written to {figures})")
    return figures / name


def render_figure(evidence: Evidence, marker: Marker, figures: Path, draw: bool) -> Path:
    """A ``figure`` marker's file: drawn from the evidence (``draw``; rewritten only where its bytes changed), or
    only checked to exist and to be one the evidence supports."""
    path = figure_file(marker, figures)
    match = _REFERENCE.fullmatch(marker.reference)
    known = {artefact.name: artefact for artefact in ARTEFACTS if artefact.kind == FIGURE}
    if match["name"] not in known:
        raise EvidenceError(f"no figure {match['name']!r} (figures: {', '.join(known)})")
    artefact, frames = known[match["name"]], evidence.frames(match["study"])
    missing = artefact.missing(facts_from_runs(frames.runs, frames.staleness, frames.published))
    if missing:
        raise EvidenceError(f"the evidence of {match['study']} cannot support it: it needs {'; '.join(missing)}")
    if not draw:
        if not path.is_file():
            raise EvidenceError(f"{path} does not exist: `make docs` draws it")
        return path
    with tempfile.TemporaryDirectory() as scratch:
        files = artefact.build(frames, Path(scratch) / artefact.name)
        png = next(file for file in files if file.suffix == ".png")
        drawn = png.read_bytes()
        if not path.is_file() or path.read_bytes() != drawn:
            write_bytes_atomic(path, drawn)
            log.info("figure %s: %s", marker.reference, path)
    return path


def render_document(text: str, evidence: Evidence, figures: Path, *, draw: bool = True,
                    name: str = "<document>") -> tuple[str, list[str], list[str]]:
    """``text`` with every marker's content rendered from ``evidence``; also the problems (markers that cannot be
    rendered, which keep their content) and the blocks whose content changed, each as ``name:line: kind ref``."""
    try:
        markers = parse_markers(text)
    except EvidenceError as error:
        return text, [f"{name}:{error}"], []
    pieces, problems, changed, position = [], [], [], 0
    for marker in markers:
        try:
            if marker.kind == "figure":
                render_figure(evidence, marker, figures, draw)
                continue
            body = (render_table if marker.kind == "evidence" else render_value)(evidence, marker)
        except EvidenceError as error:
            problems.append(f"{marker.where(name)}: {error}")
            continue
        current = text[marker.body_start:marker.body_end]
        if body != current:
            changed.append(marker.where(name) + _diff(current, body))
        pieces += [text[position:marker.body_start], body]
        position = marker.body_end
    return "".join(pieces) + text[position:], problems, changed


def _diff(old: str, new: str, limit: int = 12) -> str:
    if "\n" not in old + new:
        return f": {old!r} -> {new!r}"
    lines = [line for line in list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0))[2:]
             if not line.startswith("@@")]
    shown = lines[:limit] + ([f"... {len(lines) - limit} more lines"] if len(lines) > limit else [])
    return ": differs from its evidence\n" + "\n".join(f"    {line}" for line in shown)


def documents(root: str | os.PathLike) -> list[Path]:
    """The documents that may carry markers: README.md and docs/*.md under ``root``."""
    root = Path(root)
    return [path for pattern in DOCUMENTS for path in sorted(root.glob(pattern)) if path.is_file()]


def render_documents(root: str | os.PathLike = ".", files: Iterable[str | os.PathLike] | None = None,
                     check: bool = False) -> tuple[list[str], list[str]]:
    """Render every marker of ``files`` (default: :func:`documents`) from ``root/docs/evidence``, rewriting the
    documents (and figures) that changed, or with ``check`` nothing at all. Returns (problems, changed blocks)."""
    root = Path(root)
    evidence, figures = Evidence(root / EVIDENCE_DIR), root / FIGURES_DIR
    problems, changed = [], []
    for path in (documents(root) if files is None else [Path(file) for file in files]):
        try:
            name = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            name = str(path)
        text = path.read_text()
        rendered, found, differing = render_document(text, evidence, figures, draw=not check, name=name)
        problems += found
        changed += differing
        if not check and rendered != text:
            write_text_atomic(path, rendered)
            log.info("rendered %s: %d block%s changed", name, len(differing), "" if len(differing) == 1 else "s")
    return problems, changed
