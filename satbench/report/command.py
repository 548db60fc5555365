"""The ``satbench report`` command (and ``python -m satbench.report``): tables, figures, tidy data and, with
``--evidence``, a study's compact evidence (:mod:`.evidence`), from run records. Its arguments are declared once, in
:func:`.build.add_arguments`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError, SatbenchError
from .build import add_arguments, build_all, quiet_logging
from .evidence import export_evidence


def run_from_args(args: argparse.Namespace) -> list[Path]:
    tables, plots, data, evidence = (getattr(args, name, None) for name in ("tables", "plots", "data", "evidence"))
    if tables is None and plots is None and data is None and evidence is None:
        raise ConfigError("nothing to write: give --tables DIR, --plots DIR or --data DIR (or several), or "
                          "--evidence DIR")
    if getattr(args, "evidence_config", None) is not None and evidence is None:
        raise ConfigError("--evidence-config names the config of an export: give --evidence DIR too")
    quiet_logging()
    written = build_all(args.records, tables, plots, data) if (tables, plots, data) != (None, None, None) else []
    if evidence is not None:
        # The command's words: `python -m satbench.report ...` (main) or `satbench report ...` (the CLI's argv)
        command = getattr(args, "command_words", None) or ["satbench", *getattr(args, "argv", ["report"])]
        records = {str(path) for path in args.records}
        if len(records) > 10:  # the manifest names the records' count, not thousands of paths
            command = [word for word in command if word not in records] + [f"RECORDS ({len(args.records)} files)"]
        written += export_evidence(args.records, evidence, config=args.evidence_config, command=command)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(
        prog="satbench report", description="Tables, figures and tidy data from run records; skips what the runs "
                                            "cannot support."))
    args = parser.parse_args(argv)
    args.command_words = ["python", "-m", "satbench.report", *(sys.argv[1:] if argv is None else argv)]
    try:
        run_from_args(args)
    except SatbenchError as error:
        parser.error(str(error))
    return 0
