"""``satbench``: command-line entry point.

Errors a user can fix (bad names, bad numbers, unusable data, an output path that cannot be written) print one line,
``satbench: error: ...``, and exit with status 2 before any worker starts; a failed worker or a diverged run exits
with status 1, and SIGINT/SIGTERM with 128 + the signal number, leaving no record, model or staging file behind.

This module imports only the standard library: each command imports what it needs when it runs, so ``satbench
--help``, ``satbench datasets`` and ``satbench methods`` start without loading torch or PyG.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from .errors import RunInterrupted, SatbenchError, TrainingDiverged, WorkerFailed

log = logging.getLogger("satbench")

DESCRIPTION = "Reproducibility benchmark for staleness in distributed GNN training."
EXAMPLES = """
examples:
  satbench run --dataset cora --model gcn --method exact --workers 2 --epochs 200 --out results/cora.json
  satbench run --dataset sbm-20k --workers 4 --epochs 50 --hidden 128 --out run.json
  satbench run --dataset cora --method digest --halo fresh --workers 4 --out control.json   (fresh-halo control)
  satbench run --dataset sbm-20k --workers 4 --network 1gbit,200us --out run.json   (emulated links; root)
  torchrun --nnodes 2 --nproc-per-node 1 ... -m satbench run --workers 2 ...   (multi-node)
  satbench methods --json
  satbench report --tables results/tables --plots plots --data results results/runs/**/*.json
"""
COMMANDS = {
    "run": "train one configuration and write its run record",
    "datasets": "list the dataset registry",
    "methods": "list the registered methods and their hyperparameters",
    "report": "tables (CSV, Markdown, LaTeX), figures (PNG, PDF) and data files (Parquet) from run records",
}


def _version() -> str:
    from . import __version__

    return f"satbench {__version__}"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; the options of ``command`` (the one being run) are added in full, the other subcommands only
    named, so that building it imports nothing a command does not need."""
    parser = argparse.ArgumentParser(prog="satbench", description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in COMMANDS.items():
        subparser = subparsers.add_parser(name, help=summary, description=summary)
        if name == command:
            _ADD_ARGUMENTS[name](subparser)
    return parser


def _add_run_arguments(run: argparse.ArgumentParser) -> None:
    from .config import add_run_arguments
    from .methods import option_shortcuts

    run.description = ("Train a GNN with W worker processes and write a JSON run record (config, env, partition, "
                       "per-epoch rows, summary). The reported test score is the one at the best validation epoch.")
    groups = add_run_arguments(run, method_shortcuts=option_shortcuts())
    groups["io"].add_argument("--out", required=True,
                              help="run record (JSON), written atomically; with several seeds it must contain {seed} "
                                   "(required)")
    groups["io"].add_argument("--keep-finished", metavar="DIR", default=None,
                              help="with several seeds: keep each finished seed's record in DIR too, and take a seed "
                                   "whose record DIR holds from there instead of training it again; a failed seed does "
                                   "not stop the others (a workflow that deletes a failed job's outputs then retrains "
                                   "only the seed that failed)")


def _add_methods_arguments(methods: argparse.ArgumentParser) -> None:
    methods.add_argument("--json", action="store_true", help="print the registry as JSON, for scripts")
    methods.add_argument("--markdown", action="store_true",
                         help="print the built-in methods' fidelity table (what docs/methods.md holds)")


def _add_report_arguments(report: argparse.ArgumentParser) -> None:
    from .report.build import add_arguments

    report.description = ("Aggregate run records into tables, figures and tidy data files, writing only what is "
                          "asked; skips, with a note, what the runs cannot support.")
    add_arguments(report)


_ADD_ARGUMENTS = {"run": _add_run_arguments, "datasets": lambda parser: None, "methods": _add_methods_arguments,
                  "report": _add_report_arguments}


def _command_run(args: argparse.Namespace) -> None:
    from .config import run_configs_from_args
    from .record import check_outputs
    from .runtime.processes import launched_by_torchrun, start_fork_server, worker_start_method

    if args.network is not None:
        _check_network(args)
    seeds = list(dict.fromkeys(args.seed))
    outs = _per_seed(args.out, "--out", seeds)
    models = _per_seed(args.save_model, "--save-model", seeds) if args.save_model is not None else [None] * len(seeds)
    if not launched_by_torchrun() or os.environ.get("RANK") == "0":  # only rank 0 writes; checked before any work
        for out, model in zip(outs, models):
            check_outputs(out, model)
    if launched_by_torchrun() and args.launcher == "inprocess":
        raise ConfigError("--launcher inprocess runs every worker in one process; under torchrun each process is one "
                          "worker: leave --launcher out")
    if (args.workers > 1 and not launched_by_torchrun() and args.launcher == "spawn"
            and worker_start_method(args.device, args.workers) == "forkserver"):
        start_fork_server()  # imports the training code in parallel with validation and data loading
    from .runtime.launch import launch

    # every seed's configuration checked before the first trains
    configs = [config.validate() for config in run_configs_from_args(args, seeds, models)]
    writer = not launched_by_torchrun() or os.environ.get("RANK") == "0"
    if args.keep_finished is not None and writer:
        _run_keeping_finished(configs, outs, Path(args.keep_finished), ["satbench", *args.argv])
        return
    for config, out in zip(configs, outs):
        launch(config, out, command=["satbench", *args.argv])
        if writer:  # the writer says so, nobody else
            log.info("wrote %s", out)


def _run_keeping_finished(configs: list, outs: list[str], keep: Path, command: list[str]) -> None:
    """``--keep-finished DIR``: each seed's record is also kept in DIR once written, and a seed whose record DIR
    holds (for the same --out and the same configuration) is taken from there instead of trained again. A seed that
    fails does not stop the others; the first failure is raised once all have run. So a workflow that deletes a
    failed job's outputs (Snakemake does) retrains only the seed that failed when it runs the job again; DIR's entries
    of a job are removed once all its seeds are written."""
    import hashlib
    import json

    from .errors import RunInterrupted, SatbenchError
    from .record import write_json_atomic
    from .runtime.checkpoint import INDIFFERENT
    from .runtime.launch import launch

    def kept(config, out: str) -> Path:
        settings = {key: value for key, value in config.to_dict().items() if key not in INDIFFERENT}
        digest = hashlib.sha256(json.dumps([os.path.abspath(out), settings], sort_keys=True, default=str).encode())
        return keep / f"{Path(out).name}.{digest.hexdigest()[:16]}.json"

    failures: list[tuple[str, SatbenchError]] = []
    for config, out in zip(configs, outs):
        stash = kept(config, out)
        try:
            record = json.loads(stash.read_text()) if stash.is_file() else None
        except (OSError, ValueError):
            record = None  # unreadable: train the seed again
        if record is not None:
            write_json_atomic(out, record)
            log.info("wrote %s (kept from an earlier run of this job: %s)", out, stash)
            continue
        try:
            launch(config, out, command=command)
        except RunInterrupted:
            raise
        except SatbenchError as error:
            log.error("seed %d failed: %s", config.seed, error)
            failures.append((out, error))
            continue
        write_json_atomic(stash, json.loads(Path(out).read_text()))
        log.info("wrote %s", out)
    if failures:
        out, error = failures[0]
        summary = (f"{len(failures)} of {len(outs)} seeds failed (the others' records are kept in {keep} for the "
                   f"next run); the first, {out}: {error}")
        try:
            raised = type(error)(summary)  # the first failure's kind, for its exit status
        except TypeError:
            raised = SatbenchError(summary)
        raise raised
    for config, out in zip(configs, outs):
        kept(config, out).unlink(missing_ok=True)


def _check_network(args: argparse.Namespace) -> None:
    """--network: a valid value, not under torchrun, and (with several workers) the privilege and tools to emulate
    links, all checked before any work."""
    from .errors import ConfigError
    from .links import parse_network
    from .runtime.network import check_available
    from .runtime.processes import launched_by_torchrun

    parse_network(args.network)
    if launched_by_torchrun():
        raise ConfigError("--network emulates links between the workers of one machine; under torchrun the "
                          "workers talk over the cluster's real links, so leave it out")
    if args.workers > 1:
        check_available()


def _per_seed(path: str, flag: str, seeds: list[int]) -> list[str]:
    """``path`` for each seed: with one seed the path itself, else ``path`` with ``{seed}`` replaced."""
    from .errors import ConfigError

    if len(seeds) == 1:
        return [path.replace("{seed}", str(seeds[0]))]
    if "{seed}" not in path:
        raise ConfigError(f"{flag} {path!r}: with several seeds it needs a {{seed}} placeholder")
    return [path.replace("{seed}", str(seed)) for seed in seeds]


def _command_datasets(_: argparse.Namespace) -> None:
    from .data import list_datasets

    infos = list_datasets()
    width = max(len(info.name) for info in infos)
    for info in infos:
        print(f"{info.name:<{width}}  {info.source:<14}  {info.description}")


def _command_methods(args: argparse.Namespace) -> None:
    from .methods import describe_methods, registry_as_json, render_fidelity_table

    if args.markdown:
        print(render_fidelity_table(), end="")
        return
    print(registry_as_json() if args.json else describe_methods())


def _command_report(args: argparse.Namespace) -> None:
    from .report import run_from_args

    run_from_args(args)


_COMMANDS = {"run": _command_run, "datasets": _command_datasets, "methods": _command_methods,
             "report": _command_report}


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is one), if any."""
    return next((word for word in argv if word in COMMANDS), None)


def main(argv: Sequence[str] | None = None) -> int:
    from .runtime.processes import launched_by_torchrun, stop_on_signals

    # From the start, SIGINT and SIGTERM end the command with one line, and `run` stops its workers first, whatever
    # the signals' disposition was; torchrun owns its workers.
    with contextlib.nullcontext() if launched_by_torchrun() else stop_on_signals():
        try:
            return _main(list(sys.argv[1:] if argv is None else argv))
        except RunInterrupted as error:
            print(f"satbench: {error}", file=sys.stderr)
            return 128 + error.signum


def _main(argv: list[str]) -> int:
    from .runtime.processes import configure_logging, torchrun_tag

    tag = torchrun_tag()  # under torchrun every line says which worker wrote it
    try:
        parser = build_parser(_command_of(argv))
        args = parser.parse_args(argv)
    except SatbenchError as error:  # the registry cannot be read (a broken plug-in): one line
        print(f"satbench: error: {tag}{error}", file=sys.stderr)
        return 2
    args.argv = argv
    # satbench's own lines at INFO (DEBUG with -v)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO, tag)
    try:
        _COMMANDS[args.command](args)
    except (WorkerFailed, TrainingDiverged) as error:
        print(f"satbench: error: {tag}{error}", file=sys.stderr)
        return 1
    except SatbenchError as error:
        print(f"satbench: error: {tag}{error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
