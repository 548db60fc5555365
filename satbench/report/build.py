"""Everything the records support, written at once; the ``satbench report`` command."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from .artefacts import ARTEFACTS, facts_from_runs
from ..errors import ConfigError, SatbenchError
from ..record import write_text_atomic
from .figures import (
    plot_accuracy_vs_staleness,
    plot_bandwidth,
    plot_decomposition,
    plot_staleness,
    plot_sync_period,
    plot_throughput,
    plot_val_vs_epoch,
    plot_val_vs_time,
)
from .frames import epoch_frame, load_records, load_runs, reach_frame, staleness_frame
from .render import write_table
from .tables import (
    accuracy_table,
    bandwidth_table,
    claims_table,
    decomposition_table,
    sat_vs_base_table,
    staleness_table,
    sync_period_table,
    throughput_table,
    time_to_target_table,
)

log = logging.getLogger("satbench.report")

# -- everything ---------------------------------------------------------------------------------------------------


def build_all(sources, tables_dir: str | os.PathLike | None = None, plots_dir: str | os.PathLike | None = None,
              data_dir: str | os.PathLike | None = None, labels: Mapping[str, str] | None = None) -> list[Path]:
    """Write what is asked of what the runs support (``satbench.report.artefacts``, the registry the workflow plans
    with): into ``tables_dir`` the tables and ``runs.csv``, into ``plots_dir`` the figures, into ``data_dir`` the
    tidy data files ``runs.parquet`` and ``epochs.parquet``; skip, with a logged note saying what is missing, the
    artefacts the runs do not support."""
    loaded = load_records(sources, labels)
    if not loaded:
        log.warning("no run records given: nothing to report")
        return []
    runs, epochs, staleness = load_runs(loaded), epoch_frame(loaded), staleness_frame(loaded)
    reach = reach_frame(epochs, runs)
    written: list[Path] = []
    if data_dir is not None:
        written += [write_parquet_atomic(runs, Path(data_dir) / "runs.parquet"),
                    write_parquet_atomic(epochs, Path(data_dir) / "epochs.parquet")]
    if tables_dir is not None:
        write_text_atomic(Path(tables_dir) / "runs.csv", runs.to_csv(index=False))
        written.append(Path(tables_dir) / "runs.csv")

    tables = {
        "accuracy": lambda: accuracy_table(runs),
        "staleness": lambda: staleness_table(staleness),
        "throughput": lambda: throughput_table(runs),
        "time_to_target": lambda: time_to_target_table(epochs, runs),
        "sat_vs_base": lambda: sat_vs_base_table(staleness, runs),
        "sync_period": lambda: sync_period_table(runs),
        "decomposition": lambda: decomposition_table(runs, reach),
        "claims": lambda: claims_table(runs, staleness, reach),
        "bandwidth": lambda: bandwidth_table(epochs),
    }
    built: dict[str, pd.DataFrame] = {}

    def table(name: str) -> pd.DataFrame:
        if name not in built:
            built[name] = tables[name]()
        return built[name]

    figures = {
        "val_vs_epoch": lambda stem: plot_val_vs_epoch(epochs, stem),
        "val_vs_time": lambda stem: plot_val_vs_time(epochs, stem),
        "staleness": lambda stem: plot_staleness(staleness, stem),
        "throughput": lambda stem: plot_throughput(runs, stem),
        "accuracy_vs_staleness": lambda stem: plot_accuracy_vs_staleness(runs, stem),
        "sync_period": lambda stem: plot_sync_period(runs, stem),
        "decomposition": lambda stem: plot_decomposition(table("decomposition"), stem),
        "bandwidth": lambda stem: plot_bandwidth(table("bandwidth"), stem),
    }
    facts = facts_from_runs(runs, staleness)
    directories = {"table": tables_dir, "figure": plots_dir}
    for artefact in ARTEFACTS:
        if directories[artefact.kind] is None:
            continue
        missing = artefact.missing(facts)
        if missing:
            log.info("%s %s skipped: it needs %s", artefact.kind, artefact.name, "; ".join(missing))
            continue
        if artefact.kind == "table":
            result = table(artefact.name)
            files = [] if result.empty else write_table(result, Path(tables_dir) / artefact.name,
                                                        caption=artefact.caption)
        else:
            files = figures[artefact.name](Path(plots_dir) / artefact.name)
        if not files:  # the registry promised it: the workflow would now miss an output
            raise RuntimeError(f"{artefact.kind} {artefact.name}: the records have {sorted(artefact.needs)} "
                               "but it came out empty")
        written += files
    if "throughput" in built and built["throughput"]["speedup vs exact"].isna().all():
        log.info("table throughput: no exact run, so no speedups")
    return written


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> Path:
    """Write a frame as Parquet to a temporary file beside ``path`` and rename it into place (all or nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        frame.to_parquet(staging, index=False)
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return path


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``satbench report`` arguments (the CLI's too): where each kind of output goes; only those given are
    written, at least one."""
    parser.add_argument("--tables", type=Path, metavar="DIR",
                        help="directory for the tables (CSV, Markdown, LaTeX) and runs.csv")
    parser.add_argument("--plots", type=Path, metavar="DIR", help="directory for the figures (PNG and PDF)")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="directory for the tidy data files runs.parquet and epochs.parquet")
    parser.add_argument("records", nargs="+", type=Path, help="run records (JSON) written by `satbench run`")
    return parser


def run_from_args(args: argparse.Namespace) -> list[Path]:
    if args.tables is None and args.plots is None and args.data is None:
        raise ConfigError("nothing to write: give --tables DIR, --plots DIR or --data DIR (or several)")
    written = build_all(args.records, args.tables, args.plots, args.data)
    for path in written:
        print(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(
        prog="satbench report", description="Tables and figures from run records; skips what the runs cannot support."))
    args = parser.parse_args(argv)
    # Our notes at INFO (what was skipped and why); other libraries (fontTools subsetting PDFs) only at WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    log.setLevel(logging.INFO)
    try:
        run_from_args(args)
    except SatbenchError as error:
        parser.error(str(error))
    return 0
