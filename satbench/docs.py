"""``python -m satbench.docs``: a study's evidence (``docs/evidence/STUDY``) and the documents' tables, numbers and
figures rendered from it (``make evidence``, ``make docs``), with the data dictionary (``docs/data.md``) generated
from the record's declarations (:mod:`satbench.report.dictionary`). The command line of
:mod:`satbench.report.evidence`; it sits above the workflow, whose layout names a config's run records
(:func:`satbench.workflow.config_records`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .errors import ConfigError, SatbenchError
from .report.build import quiet_logging
from .report.dictionary import DATA_DICTIONARY, write_data_dictionary
from .report.evidence import EVIDENCE_DIR, STUDY_NAME, export_evidence, render_documents, verify_evidence
from .report.jobs import read_jobs
from .workflow import config_jobs, config_records


# -- command line -----------------------------------------------------------------------------------------------------


def _export_command(args: argparse.Namespace) -> int:
    if not STUDY_NAME.fullmatch(args.study):
        raise ConfigError(f"study name {args.study!r}: use letters, digits, '.', '_' and '-' only")
    records = config_records(args.config, args.root)
    # The workflow jobs that wrote these records, from their Snakemake benchmark files: results/ may hold other
    # configs' jobs too.
    jobs = read_jobs(args.root, config_jobs(args.config, args.root))
    command = ["python", "-m", "satbench.docs", *args.argv]
    export_evidence(records, Path(args.out) / args.study, study=args.study, config=args.config, command=command,
                    lossless=args.lossless, jobs=jobs)
    return 0


def _render_command(args: argparse.Namespace) -> int:
    problems, changed = render_documents(args.root, args.files or None, check=args.check)
    # The data dictionary is generated whole from the record's declarations, not from evidence: rendered beside the
    # documents, so that `make docs` keeps it and `render --check` finds it stale.
    if not args.files and write_data_dictionary(args.root, check=args.check):
        changed.append(f"{DATA_DICTIONARY.as_posix()}: differs from the declarations it is generated from")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if args.check:
        for block in changed:
            print(block, file=sys.stderr)
        if changed:
            print(f"{len(changed)} block{'s' if len(changed) != 1 else ''} differ from their evidence: run `make "
                  "docs`", file=sys.stderr)
    return 1 if problems or (args.check and changed) else 0


def _verify_command(args: argparse.Namespace) -> int:
    base = Path(args.root) / EVIDENCE_DIR
    studies = args.studies or (sorted(path.name for path in base.iterdir() if path.is_dir()) if base.is_dir() else [])
    problems = [problem for study in studies for problem in verify_evidence(base / study, fix=args.fix)]
    for problem in problems:
        print(f"{'fixed' if args.fix else 'error'}: {problem}", file=sys.stderr)
    return 1 if problems and not args.fix else 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m satbench.docs",
                                     description="A study's evidence (docs/evidence/STUDY) and the documents' "
                                                 "tables, numbers and figures rendered from it.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    export = commands.add_parser("export", help="write a study's evidence from a config's run records (make "
                                                "evidence), with the times of the workflow jobs that wrote them "
                                                "(results/benchmarks)")
    export.add_argument("study", help="the study's name: its directory under --out")
    export.add_argument("--config", required=True, help="the config whose records to export (config/X.yaml)")
    export.add_argument("--root", default=".", help="where results/ lies (default: .)")
    export.add_argument("--out", default=str(EVIDENCE_DIR), help=f"evidence directory (default: {EVIDENCE_DIR})")
    export.add_argument("--lossless", action="store_true",
                        help="keep measured times and staleness in double precision (larger files)")
    export.set_defaults(run=_export_command)
    render = commands.add_parser("render", help="rewrite the marker blocks of README.md and docs/*.md from "
                                                "docs/evidence, draw their figures, and generate the data dictionary "
                                                "docs/data.md from the record's declarations (make docs)")
    render.add_argument("--check", action="store_true",
                        help="rewrite nothing; exit 1 listing every block that differs from its evidence")
    render.add_argument("--root", default=".", help="the repository (default: .)")
    render.add_argument("files", nargs="*", help="documents (default: README.md and docs/*.md)")
    render.set_defaults(run=_render_command)
    verify = commands.add_parser("verify", help="check that each study's table CSVs are what its Parquet files "
                                                "give")
    verify.add_argument("--fix", action="store_true", help="rewrite the CSVs that differ")
    verify.add_argument("--root", default=".", help="the repository (default: .)")
    verify.add_argument("studies", nargs="*", help="studies (default: every one under docs/evidence)")
    verify.set_defaults(run=_verify_command)
    args = parser.parse_args(argv)
    args.argv = argv
    quiet_logging()
    try:
        return args.run(args)
    except SatbenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
