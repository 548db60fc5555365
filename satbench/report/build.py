"""Everything the records support, written at once; the ``satbench report`` command."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Mapping


from ..files import write_text_atomic
from .artefacts import ARTEFACTS, TABLE, facts_from_runs, table_builders
from .frames import GRAINS, Frames, data_files, load_records
from .published import load_published, published_file
from .render import table_to_csv, write_parquet, write_table

log = logging.getLogger("satbench.report")

# Libraries whose INFO lines say nothing to a reader of the report (fontTools logs every glyph subset of a PDF).
QUIET_LOGGERS = ("fontTools", "matplotlib", "PIL")

_DEFAULT = object()


def build_all(sources, tables_dir: str | os.PathLike | None = None, plots_dir: str | os.PathLike | None = None,
              data_dir: str | os.PathLike | None = None, labels: Mapping[str, str] | None = None,
              published: str | os.PathLike | None = _DEFAULT) -> list[Path]:  # type: ignore[assignment]
    """Write what is asked, from what the runs support (``satbench.report.artefacts``, the registry the workflow
    plans with): into ``tables_dir`` every table (CSV, Markdown, LaTeX) and ``runs.csv``; into ``plots_dir`` every
    figure (PNG, PDF); into ``data_dir`` the tidy data, ``runs.parquet``, ``epochs.parquet`` and ``staleness.parquet``
    (:func:`.frames.data_files`: one grain each, docs/data.md says every column). An artefact the runs
    cannot support is skipped with a logged note saying what is missing. ``published``: the published figures to
    compare with (default: the checkout's ``config/published.csv``; None: none). Returns the files written."""
    loaded = load_records(sources, labels)
    if not loaded:
        log.warning("no run records given: nothing to report")
        return []
    frames = report_frames(loaded, published)
    written: list[Path] = []
    if tables_dir is not None:
        write_text_atomic(Path(tables_dir) / "runs.csv", table_to_csv(frames.runs))
        written.append(_wrote(Path(tables_dir) / "runs.csv", "one row per run"))
    if data_dir is not None:
        for name, frame in data_files(frames).items():
            written.append(_wrote(write_parquet(frame, Path(data_dir) / name), f"one row per {GRAINS[name]}"))
    return written + write_artefacts(frames, tables_dir, plots_dir)


def report_frames(loaded, published: str | os.PathLike | None = _DEFAULT) -> Frames:  # type: ignore[assignment]
    """The report's frames of loaded records (:func:`.frames.load_records`), with the published figures of
    ``published`` (default: the checkout's ``config/published.csv``; None: none)."""
    path = published_file() if published is _DEFAULT else published
    return Frames.of(loaded, published=load_published(path) if path is not None else None,
                     builders=table_builders())


def write_artefacts(frames: Frames, tables_dir: str | os.PathLike | None = None,
                    plots_dir: str | os.PathLike | None = None, csv_only: bool = False) -> list[Path]:
    """Every table (into ``tables_dir``: CSV, Markdown, LaTeX; the CSV alone with ``csv_only``) and figure (into
    ``plots_dir``) the frames support; the others skipped with a logged note. Returns the files written."""
    written: list[Path] = []
    facts = facts_from_runs(frames.runs, frames.staleness, frames.published)
    for artefact in ARTEFACTS:
        directory = tables_dir if artefact.kind == TABLE else plots_dir
        if directory is None:
            continue
        missing = artefact.missing(facts)
        if missing:
            log.info("%s %s skipped: it needs %s", artefact.kind, artefact.name, "; ".join(missing))
            continue
        stem = Path(directory) / artefact.name
        if artefact.kind == TABLE:
            result = frames.table(artefact.name)
            if result.empty:
                files = []
            elif csv_only:
                write_text_atomic(stem.with_suffix(".csv"), table_to_csv(result))
                files = [stem.with_suffix(".csv")]
            else:
                files = write_table(result, stem, caption=artefact.caption)
        else:
            files = artefact.build(frames, stem)
        if not files:  # the registry promised it: the workflow would now miss an output
            raise RuntimeError(f"{artefact.kind} {artefact.name}: the records have {sorted(artefact.needs)} "
                               "but it came out empty")
        log.info("%s %s: %s", artefact.kind, artefact.name, ", ".join(str(file) for file in files))
        written += files
    if "throughput" in frames._tables and frames.table("throughput")["speedup_vs_exact"].isna().all():
        log.info("table throughput: no exact run, so no speedups")
    return written


def _wrote(path: Path, what: str) -> Path:
    log.info("%s %s: %s (%s)", "table" if path.suffix == ".csv" else "data", path.stem, path, what)
    return path


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``satbench report`` arguments (the CLI's too): where each kind of output goes; only those given are
    written, at least one."""
    parser.add_argument("--tables", type=Path, metavar="DIR",
                        help="directory for the tables (CSV, Markdown, LaTeX) and runs.csv")
    parser.add_argument("--plots", type=Path, metavar="DIR", help="directory for the figures (PNG and PDF)")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="directory for the tidy data files runs.parquet, epochs.parquet and staleness.parquet "
                             "(docs/data.md)")
    parser.add_argument("--evidence", type=Path, metavar="DIR",
                        help="export the records' compact evidence into DIR (docs/evidence/STUDY: the study is DIR's "
                             "name), replacing what is there: runs, epochs and staleness as Parquet, the tables' CSVs, "
                             "manifest.json (satbench.report.evidence)")
    parser.add_argument("--evidence-config", metavar="FILE",
                        help="with --evidence: the config file the records come from, named in the manifest")
    parser.add_argument("records", nargs="+", type=Path, help="run records (JSON) written by `satbench run`")
    return parser


def quiet_logging() -> None:
    """The report's own notes (what it wrote, what it skipped and why) at INFO, on stderr; other libraries' at
    WARNING only, whatever the root logger says."""
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    log.setLevel(logging.INFO)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
