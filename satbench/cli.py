"""``satbench``: command-line entry point.

Errors a user can fix (bad names, bad numbers, unusable data, an output path that cannot be written, a mistyped
option) print one line, ``satbench: error: ...``, and exit with status 2 before any worker starts; a failed worker or a
diverged run exits with status 1, and SIGINT/SIGTERM with 128 + the signal number, leaving no record, model or staging
file behind.

This module imports only the standard library: each command imports what it needs when it runs, so ``satbench
--help``, ``satbench datasets`` and ``satbench methods`` start without loading torch or PyG.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import ConfigError, RunInterrupted, SatbenchError, TrainingDiverged, WorkerFailed

log = logging.getLogger("satbench")

DESCRIPTION = "Reproducibility benchmark for staleness in distributed GNN training."
EXAMPLES = """
examples:
  satbench run --dataset cora --model gcn --method exact --workers 2 --epochs 200 --out results/cora.json
  satbench run --config run.yaml --seed 3   (run.yaml: run options as KEY: VALUE, e.g. dataset: cora; flags override)
  satbench run --dataset sbm-20k --workers 4 --epochs 50 --hidden 128 --out run.json
  satbench run --dataset cora --method digest --halo fresh --workers 4 --out control.json   (fresh-halo control)
  satbench run --dataset sbm-20k --workers 4 --network 1gbit,200us --out run.json   (emulated links; root)
  torchrun --nnodes 2 --nproc-per-node 1 ... -m satbench run --workers 2 ...   (multi-node)
  satbench methods --json
  satbench data fetch cora amazon-photo   (offline: says which files to put where)
  satbench plan --configfile config/real-quick.yaml   (every job's `satbench run` command)
  satbench report --tables results/tables --plots plots --data results results   (directories: every record in them)
"""
COMMANDS = {
    "run": "train one configuration and write its run record",
    "batch": "several `satbench run` commands in one process, one after another (start-up paid once)",
    "datasets": "list the dataset registry",
    "methods": "list the registered methods and their hyperparameters",
    "report": "tables (CSV, Markdown, LaTeX), figures (PNG, PDF) and data files (Parquet) from run records",
    "data": "fetch datasets' files into the data root, or say which to put where",
    "plan": "print the `satbench run` command of each job a workflow config plans",
}
VERBOSE_HELP = "debug logging"


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors are one line with a pointer to --help rather than the whole usage, and which
    suggests the closest choice for a mistyped one (a command, a model)."""

    # The help to point to: the command's, also where the top-level parser reports the command's unknown options.
    help_command: str | None = None

    def error(self, message: str):
        self.exit(2, f"satbench: error: {message}; see '{self.help_command or self.prog} --help'\n")

    def _check_value(self, action: argparse.Action, value) -> None:
        if action.choices is not None and value not in action.choices:
            from .data import did_you_mean

            suggestion = did_you_mean(str(value), action.choices)
            choices = ", ".join(map(str, action.choices))
            raise argparse.ArgumentError(action, f"invalid choice: {value!r}{suggestion}; choose from {choices}")


def _version() -> str:
    from . import __version__

    return f"satbench {__version__}"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; the options of ``command`` (the one being run) are added in full, the other subcommands only
    named, so that building it imports nothing a command does not need."""
    parser = _Parser(prog="satbench", description=DESCRIPTION, epilog=EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("--verbose", "-v", action="store_true", help=VERBOSE_HELP)
    parser.help_command = f"satbench {command}" if command else None
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in COMMANDS.items():
        subparser = subparsers.add_parser(name, help=summary, description=summary)
        _accept_verbose(subparser)
        if name == command:
            _ADD_ARGUMENTS[name](subparser)
    return parser


def _accept_verbose(parser: argparse.ArgumentParser) -> None:
    """-v after the command too, where habit puts it. SUPPRESS: absent there, it leaves the value given before the
    command alone instead of resetting it."""
    parser.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)


def _add_batch_arguments(batch: argparse.ArgumentParser) -> None:
    batch.description = (
        "Run several `satbench run` commands in this one process, one after another: torch, the training code and the "
        "worker processes' fork server start once instead of once per command (seconds each, beside a small run's "
        "second of training). Each line of FILE holds one command's options, as after `satbench run` "
        "(a line may also start with `satbench run`; blank lines and # comments are skipped). Every line is checked "
        "before the first trains; the batch stops at the first failure (with --keep-finished, once every line has "
        "run). The records are those of the lines run one by one, each naming its own command.")
    batch.add_argument("file", metavar="FILE", help="the commands, one per line ('-': standard input)")
    batch.add_argument("--keep-finished", metavar="DIR", default=None,
                       help="keep each finished seed's record in DIR too, and take a seed whose record DIR holds "
                            "from there instead of training it again; a failed seed stops neither its line nor the "
                            "next lines, and DIR's entries are removed once every line's records are written (a "
                            "workflow that deletes a failed job's outputs then retrains only the seeds that failed)")


def _add_run_arguments(run: argparse.ArgumentParser) -> None:
    from .config import add_run_arguments
    from .methods import option_shortcuts

    run.description = ("Train a GNN with W worker processes and write a JSON run record (config, env, partition, "
                       "per-epoch rows, summary). The reported test score is the one at the best validation epoch.")
    groups = add_run_arguments(run, method_shortcuts=option_shortcuts())
    groups["what"].add_argument("--config", metavar="FILE",
                                help="a YAML file of run options, KEY: VALUE with the options' names (dataset: cora, "
                                     "weight_decay: 5.0e-4, method_options: {sync_period: 10}, seed: [0, 1], "
                                     "out: run.json, ...); options given on the command line too override it")
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


def _add_datasets_arguments(datasets: argparse.ArgumentParser) -> None:
    datasets.add_argument("--json", action="store_true", help="print the registry as JSON, for scripts")


def _add_report_arguments(report: argparse.ArgumentParser) -> None:
    from .report.build import add_arguments

    report.description = ("Aggregate run records into tables, figures and tidy data files, writing only what is "
                          "asked; skips, with a note, what the runs cannot support. A directory given as a record "
                          "stands for every run record (*.json) below it, hidden directories aside.")
    add_arguments(report)


def _add_data_arguments(data: argparse.ArgumentParser) -> None:
    actions = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    fetch = actions.add_parser(
        "fetch", help="make datasets ready to train on",
        description="Make each dataset ready to train on: its files copied from a mirror (--mirror, "
                    "$SATBENCH_DATA_MIRROR) or else downloaded by its PyG/OGB loader into --data-root, then loaded "
                    "once to verify them. Offline (SATBENCH_OFFLINE=1), one line per missing dataset names the files "
                    "and where to put them, and the exit status is 2. Generated graphs need nothing.")
    _accept_verbose(fetch)
    fetch.add_argument("names", nargs="+", metavar="NAME", help="dataset names (see `satbench datasets`)")
    fetch.add_argument("--data-root", default="data", help="where datasets' files are kept (default: data)")
    fetch.add_argument("--mirror", default=None,
                       help="directory to copy raw dataset files from, or several separated by ':', searched in "
                            "order (default: $SATBENCH_DATA_MIRROR)")


def _add_plan_arguments(plan: argparse.ArgumentParser) -> None:
    plan.description = ("Print the `satbench run` command of each setting a workflow config plans (every seed of it), "
                        "as the workflow runs it (without its own bookkeeping options; an in-process grid's job runs "
                        "the settings of one dataset, model and W as the lines of one `satbench batch`), to run one "
                        "setting by hand.")
    plan.add_argument("--configfile", default="config/config.yaml", metavar="FILE",
                      help="the workflow config, as for snakemake (default: config/config.yaml)")
    plan.add_argument("records", nargs="*", metavar="RECORD",
                      help="run-record paths the config plans (results/runs/...): print the command that writes "
                           "each of them alone, instead of every job's")
    plan.add_argument("--estimate", action="store_true",
                      help="print what the planned training costs instead: jobs, runs, and the hours and core-hours "
                           "the workflow's estimate gives them (an upper estimate, made for time limits)")
    plan.add_argument("--measured", metavar="DIR",
                      help="with --estimate: calibrate it by the job times a workflow measured in DIR (its "
                           "results/benchmarks and records: this config's, or a smaller one's whose jobs share "
                           "paths and settings with it): each measured job at its own time per run, the others at "
                           "the estimate times the measured jobs' median ratio")
    plan.add_argument("--measured-config", metavar="FILE",
                      help="with --measured: the config whose workflow ran in DIR, where it is another (a smaller "
                           "study calibrating a larger one: its jobs' median ratio of measured to estimated time "
                           "scales the planned config's estimate)")


_ADD_ARGUMENTS = {"run": _add_run_arguments, "batch": _add_batch_arguments, "datasets": _add_datasets_arguments,
                  "methods": _add_methods_arguments, "report": _add_report_arguments, "data": _add_data_arguments,
                  "plan": _add_plan_arguments}


@dataclass
class _RunWork:
    """One ``satbench run`` command checked and ready: its seeds' configurations and outputs."""

    args: argparse.Namespace
    configs: list
    outs: list


def _prepare_run(args: argparse.Namespace) -> _RunWork:
    """Everything ``satbench run`` checks before any work: names, every seed's outputs and configuration."""
    from .config import run_configs_from_args
    from .runtime.outputs import check_run_outputs
    from .runtime.processes import launched_by_torchrun, start_fork_server, worker_start_method

    _check_method_name(args.method)
    if args.network is not None:
        _check_network(args)
    seeds = list(dict.fromkeys(args.seed))
    outs = _per_seed(args.out, "--out", seeds)
    models = _per_seed(args.save_model, "--save-model", seeds) if args.save_model is not None else [None] * len(seeds)
    # Every seed's outputs checked before any work, once: launch() takes them as checked.
    outs = [check_run_outputs(out, model, args.checkpoint_every) for out, model in zip(outs, models)]
    if launched_by_torchrun() and args.launcher == "inprocess":
        raise ConfigError("--launcher inprocess runs every worker in one process; under torchrun each process is one "
                          "worker: leave --launcher out")
    if (args.workers > 1 and not launched_by_torchrun() and args.launcher == "spawn"
            and worker_start_method(args.device, args.workers) == "forkserver"):
        start_fork_server()  # imports the training code in parallel with validation and data loading (once a process)
    # every seed's configuration checked before the first trains
    configs = [config.validate() for config in run_configs_from_args(args, seeds, models)]
    return _RunWork(args, configs, outs)


def _execute_run(work: _RunWork) -> None:
    from .runtime.launch import launch
    from .runtime.outputs import writes_outputs

    args = work.args
    writer = writes_outputs()
    if args.keep_finished is not None and writer:
        _run_keeping_finished(work.configs, work.outs, Path(args.keep_finished), ["satbench", *args.argv])
        return
    for config, out in zip(work.configs, work.outs):
        launch(config, out, command=["satbench", *args.argv])
        if writer:  # the writer says so, nobody else
            log.info("wrote %s", out)


def _command_run(args: argparse.Namespace) -> None:
    _execute_run(_prepare_run(args))


def _command_batch(args: argparse.Namespace) -> None:
    """Several ``satbench run`` commands in this one process, one after another: torch, the training code and the fork
    server start once, where each command on its own would start them again (seconds, beside a small run's
    training). Every line is checked, as ``satbench run`` checks its own, before the first trains; the batch stops at
    the first failure, with that run's exit status (with ``--keep-finished``, once every line has run)."""
    from .runtime.processes import launched_by_torchrun

    if launched_by_torchrun():
        raise ConfigError("satbench batch starts its runs' workers itself: run each line under torchrun instead")
    lines = _batch_lines(args.file)
    works = []
    for where, words in lines:
        run_args = _parse_batch_line(where, words)
        try:
            works.append(_prepare_run(run_args))
        except SatbenchError as error:
            raise type(error)(f"{where}: {error}") from None
    log.info("batch: %d commands, %d runs", len(works), sum(len(work.outs) for work in works))
    if args.keep_finished is None:
        for work in works:
            _execute_run(work)
        return
    # Every line goes on past a failed seed, and what finished stays kept until every line's records are written: a
    # workflow deletes all of a failed job's outputs, the lines that succeeded included.
    finished = _FinishedSeeds(Path(args.keep_finished))
    for work in works:
        finished.train(work.configs, work.outs, ["satbench", *work.args.argv])
    finished.finish()


def _batch_lines(file: str) -> list[tuple[str, list[str]]]:
    """The batch's commands: ``(FILE:LINE, words)`` for every line that is not blank or a ``#`` comment."""
    import shlex

    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"batch file {file}: {error}") from None
    name = "<stdin>" if file == "-" else file
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            words = shlex.split(line, comments=True)
        except ValueError as error:
            raise ConfigError(f"{name}:{number}: {error}") from None
        if words and words[:2] == ["satbench", "run"]:
            words = words[2:]  # a line may be the whole command, as `satbench plan` prints it
        if words:
            lines.append((f"{name}:{number}", words))
    if not lines:
        raise ConfigError(f"batch file {name}: no command in it (one `satbench run` command's options per line)")
    return lines


def _parse_batch_line(where: str, words: list[str]) -> argparse.Namespace:
    """A batch line parsed as ``satbench run``'s options; its errors one line naming the line."""
    import io

    argv = _with_run_file(["run", *words])
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
            args = build_parser("run").parse_args(argv)
    except SystemExit:
        message = captured.getvalue().strip().splitlines()
        reason = message[-1].removeprefix("satbench: error: ") if message else "not a satbench run command"
        raise ConfigError(f"{where}: {reason}") from None
    args.argv = argv
    return args


class _FinishedSeeds:
    """``--keep-finished DIR``: each seed's record is also kept in DIR once written, and a seed whose record DIR
    holds (for the same --out and the same configuration) is taken from there instead of trained again. A seed that
    fails does not stop the others: :meth:`train` keeps the failures, and :meth:`finish` raises the first once all
    have run, or, when every seed is written, removes DIR's entries of them. So a workflow that deletes a failed job's
    outputs (Snakemake does) retrains only the seeds that failed when it runs the job again."""

    def __init__(self, keep: Path):
        self.keep = keep
        self.tried: list[tuple[object, str | os.PathLike]] = []
        self.failures: list[tuple[str | os.PathLike, Exception]] = []

    def _kept(self, config, out: str | os.PathLike) -> Path:
        import hashlib
        import json

        from .runtime.checkpoint import INDIFFERENT

        settings = {key: value for key, value in config.to_dict().items() if key not in INDIFFERENT}
        digest = hashlib.sha256(json.dumps([os.path.abspath(out), settings], sort_keys=True, default=str).encode())
        return self.keep / f"{Path(out).name}.{digest.hexdigest()[:16]}.json"

    def train(self, configs: list, outs: list[str | os.PathLike], command: list[str]) -> None:
        """Every seed of one command, each taken from DIR or trained; a failure is kept for :meth:`finish`."""
        import json

        from .errors import RunInterrupted, SatbenchError
        from .files import write_json_atomic
        from .runtime.launch import launch

        for config, out in zip(configs, outs):
            self.tried.append((config, out))
            stash = self._kept(config, out)
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
                self.failures.append((out, error))
                continue
            write_json_atomic(stash, json.loads(Path(out).read_text()))
            log.info("wrote %s", out)

    def finish(self) -> None:
        """The first failure, with how many seeds failed; with none, DIR's entries of every seed removed."""
        from .errors import SatbenchError

        if self.failures:
            out, error = self.failures[0]
            summary = (f"{len(self.failures)} of {len(self.tried)} seeds failed (the others' records are kept in "
                       f"{self.keep} for the next run); the first, {out}: {error}")
            try:
                raised = type(error)(summary)  # the first failure's kind, for its exit status
            except TypeError:
                raised = SatbenchError(summary)
            raise raised
        for config, out in self.tried:
            self._kept(config, out).unlink(missing_ok=True)


def _run_keeping_finished(configs: list, outs: list[str | os.PathLike], keep: Path, command: list[str]) -> None:
    """One command's seeds under ``--keep-finished DIR`` (:class:`_FinishedSeeds`)."""
    finished = _FinishedSeeds(keep)
    finished.train(configs, outs, command)
    finished.finish()


def _check_method_name(name: str) -> None:
    """An unknown method, refused up front with the closest known name."""
    from .data import did_you_mean
    from .methods import discover_methods

    known = discover_methods()
    if name not in known:
        raise ConfigError(f"unknown method {name!r}{did_you_mean(name, known)}; known: {', '.join(sorted(known))}")


def _check_network(args: argparse.Namespace) -> None:
    """--network: a valid value, not under torchrun, and (with several workers) the privilege and tools to emulate
    links, all checked before any work."""
    from .links import parse_network
    from .runtime.network import UNDER_TORCHRUN, check_available
    from .runtime.processes import launched_by_torchrun

    parse_network(args.network)
    if launched_by_torchrun():
        raise ConfigError(UNDER_TORCHRUN)
    if args.workers > 1:
        check_available()


def _per_seed(path: str, flag: str, seeds: list[int]) -> list[str]:
    """``path`` for each seed: with one seed the path itself, else ``path`` with ``{seed}`` replaced."""

    if len(seeds) == 1:
        return [path.replace("{seed}", str(seeds[0]))]
    if "{seed}" not in path:
        raise ConfigError(f"{flag} {path!r}: with several seeds it needs a {{seed}} placeholder")
    return [path.replace("{seed}", str(seed)) for seed in seeds]


def _command_datasets(args: argparse.Namespace) -> None:
    import json

    from .data import list_datasets

    infos = list_datasets()
    names = [info for info in infos if not info.pattern]
    patterns = [info for info in infos if info.pattern]
    if args.json:
        def entries(chosen):
            return [{"name": info.name, "source": info.source, "description": info.description} for info in chosen]

        print(json.dumps({"datasets": entries(names), "patterns": entries(patterns)}, indent=1))
        return
    width = max(len(info.name) for info in infos)
    for info in names:
        print(f"{info.name:<{width}}  {info.source:<14}  {info.description}")
    print("\npatterns (fill in the upper-case parts):")
    for info in patterns:
        print(f"{info.name:<{width}}  {info.source:<14}  {info.description}")


def _command_methods(args: argparse.Namespace) -> None:
    from .methods import describe_methods, registry_as_json, render_fidelity_table

    if args.markdown:
        print(render_fidelity_table(), end="")
        return
    print(registry_as_json() if args.json else describe_methods())


def _command_report(args: argparse.Namespace) -> None:
    from .report import run_from_args

    args.records = _record_files(args.records)
    run_from_args(args)


def _record_files(paths: list[Path]) -> list[Path]:
    """The run records named: a file as it is; a directory as every ``*.json`` below it, in order, hidden files and
    directories aside (the workflow's kept copies of finished seeds, staging files); a pattern the shell left
    unexpanded (``results/runs/**/*.json`` without bash's globstar) as its matches."""
    import glob


    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(record for record in path.rglob("*.json")
                           if not any(part.startswith(".") for part in record.relative_to(path).parts))
            if not found:
                raise ConfigError(f"{path} holds no run record (*.json)")
            files += found
        elif not path.exists() and glob.has_magic(str(path)):
            matches = sorted(Path(match) for match in glob.glob(str(path), recursive=True))
            if not matches:
                raise ConfigError(f"no run record matches {path}")
            files += matches
        else:
            files.append(path)
    return list(dict.fromkeys(files))


def _command_data(args: argparse.Namespace) -> int:
    from .data import fetch_dataset, validate_dataset_name
    from .errors import DatasetUnavailable

    for name in args.names:  # every name checked before anything is fetched
        validate_dataset_name(name)
    missing = 0
    for name in args.names:
        try:
            print(fetch_dataset(name, args.data_root, args.mirror), flush=True)
        except DatasetUnavailable as error:
            print(f"satbench: error: {error}", file=sys.stderr, flush=True)
            missing += 1
    return 2 if missing else 0


def _command_plan(args: argparse.Namespace) -> None:
    from .workflow import job_commands, load_config

    if args.measured is not None and not args.estimate:
        raise ConfigError("--measured calibrates --estimate: give both")
    if args.measured_config is not None and args.measured is None:
        raise ConfigError("--measured-config names the config whose workflow ran in --measured DIR: give both")
    config = load_config(args.configfile)
    if args.estimate:
        from .workflow import plan_estimate

        ratios = None
        if args.measured is not None:
            from .report.jobs import read_jobs
            from .workflow import BENCHMARK_DIR, job_ratios

            if not Path(args.measured).is_dir():
                raise ConfigError(f"--measured {args.measured}: no such directory")
            jobs = read_jobs(args.measured)
            job_seconds = {f"{BENCHMARK_DIR}/{job}.tsv": seconds for job, seconds in zip(jobs["job"], jobs["wall_s"])}
            measured_config = load_config(args.measured_config) if args.measured_config else config
            ratios = job_ratios(measured_config, args.measured, job_seconds)
        cost = plan_estimate(config, ratios)
        unplanned = "; the regime study's confirm stage not counted: the screen plans it" if "regime" in config else ""
        print(f"{args.configfile}: {cost.jobs} training jobs, {cost.runs} runs; estimated {cost.run_hours:.1f} hours "
              f"of runs one after another, {cost.core_hours:.1f} core-hours (satbench.workflow.estimate, an upper "
              f"estimate made for time limits{unplanned})")
        if args.measured is not None:
            measured = cost.measured
            if measured is None:
                print(f"measured: none of {args.measured_config or 'its'} jobs has a benchmark and a record under "
                      f"{args.measured}")
            else:
                whose = f"{args.measured_config}'s" if args.measured_config else "its"
                print(f"measured: {measured.jobs} of {whose} jobs under {args.measured} took "
                      f"{measured.ratio_median:.2f}x their estimate per run (median; {measured.ratio_low:.2f}x to "
                      f"{measured.ratio_high:.2f}x); "
                      f"calibrated by them: {measured.run_hours:.1f} hours of runs one after another, "
                      f"{measured.core_hours:.1f} core-hours")
        return
    for command in job_commands(config, args.records or None):
        print(command)


_COMMANDS = {"run": _command_run, "batch": _command_batch, "datasets": _command_datasets,
             "methods": _command_methods, "report": _command_report, "data": _command_data, "plan": _command_plan}


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
        except BrokenPipeError:  # `satbench datasets | head`: the reader has all it wanted, which is no error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that exiting flushes nowhere
            return 0


def _main(argv: list[str]) -> int:
    from .runtime.processes import configure_logging, torchrun_tag

    tag = torchrun_tag()  # under torchrun every line says which worker wrote it
    command = _command_of(argv)
    try:
        if command == "run":
            argv = _with_run_file(argv)
        parser = build_parser(command)
        args = parser.parse_args(argv)
    except SatbenchError as error:  # the registry cannot be read (a broken plug-in), a bad --config file: one line
        print(f"satbench: error: {tag}{error}", file=sys.stderr)
        return 2
    except SystemExit as stop:  # --help, --version, or argparse's one-line error: a status, also when called in-process
        return stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 2
    args.argv = argv
    # satbench's own lines at INFO (DEBUG with -v)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO, tag)
    try:
        status = _COMMANDS[args.command](args)
    except (WorkerFailed, TrainingDiverged) as error:
        print(f"satbench: error: {tag}{error}", file=sys.stderr)
        return 1
    except SatbenchError as error:
        print(f"satbench: error: {tag}{error}", file=sys.stderr)
        return 2
    return status or 0


def _with_run_file(argv: list[str]) -> list[str]:
    """``satbench run --config FILE ...``: the file's options as flags put in front of the command line's own, so that
    those override them (argparse keeps an option's last value; -o and --label add to the file's pairs, a later key
    winning). The words are what the record keeps as its command, which so reruns without the file."""
    position = argv.index("run") + 1
    finder = _Parser(prog="satbench run", add_help=False)
    finder.add_argument("--config")
    found, rest = finder.parse_known_args(argv[position:])
    if found.config is None:
        return argv
    return argv[:position] + _run_file_argv(found.config) + rest


def _run_file_argv(file: str) -> list[str]:
    """A YAML file of run options as ``satbench run`` flags. Keys are the options' names (a flag without its dashes,
    or its setting's name: ``weight_decay``, ``timeout``, ``progress: false`` or ``no_progress: true``); values as on
    the command line, a mapping for ``method_options``/``labels`` and a list for ``seed``. ConfigError, one line, for an
    unknown key or a value its option refuses."""
    import yaml

    from .config import parse_pair
    from .data import did_you_mean

    try:
        values = yaml.safe_load(Path(file).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"--config {file}: {' '.join(str(error).split())}") from None
    if values is None:
        return []
    if not isinstance(values, dict):
        raise ConfigError(f"--config {file}: expected run options as KEY: VALUE, got a {type(values).__name__}")
    run = _Parser(prog="satbench run")
    _add_run_arguments(run)
    options = {}  # key -> (action, whether the key names the flag rather than the setting)
    for action in run._actions:
        if action.dest in ("help", "config"):
            continue
        for flag in action.option_strings:
            if flag.startswith("--"):
                options[flag[2:].replace("-", "_")] = (action, True)
        if not action.dest.startswith("option:"):
            options.setdefault(action.dest, (action, False))
    unknown = [key for key in values if str(key).replace("-", "_") not in options]
    if unknown:
        raise ConfigError(f"--config {file}: unknown run option {unknown[0]!r}"
                          f"{did_you_mean(str(unknown[0]).replace('-', '_'), options)}; known: "
                          f"{', '.join(sorted(options))}")
    argv: list[str] = []
    for key, value in values.items():
        action, names_flag = options[str(key).replace("-", "_")]
        if value is not None:
            argv += _option_words(file, str(key), value, action, names_flag, action.type is parse_pair)
    return argv


def _option_words(file: str, key: str, value, action: argparse.Action, names_flag: bool, pairs: bool) -> list[str]:
    """One option of a --config file as command-line words, checked as argparse would check them."""
    from .data import did_you_mean

    flag = next(flag for flag in action.option_strings if flag.startswith("--"))
    where = f"--config {file}: {key}"

    def text(item) -> str:
        if isinstance(item, (dict, list)):
            raise ConfigError(f"{where}: expected a single value, got {item!r}")
        return str(item).lower() if isinstance(item, bool) else str(item)

    def checked(item) -> str:
        word = text(item)
        try:
            typed = action.type(word) if action.type is not None else word
        except (TypeError, ValueError, argparse.ArgumentTypeError):
            kind = getattr(action.type, "__name__", "another value")
            raise ConfigError(f"{where}: expected {kind}, got {item!r}") from None
        if action.choices is not None and typed not in action.choices:
            raise ConfigError(f"{where}: invalid choice {item!r}{did_you_mean(word, action.choices)}; choose from "
                              f"{', '.join(map(str, action.choices))}")
        return word

    if action.nargs == 0:  # a switch: --strict, --no-progress
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return [flag] if value == (True if names_flag else action.const) else []
    if pairs:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping (KEY: VALUE), got {value!r}")
        return [word for item, setting in value.items() for word in (flag, f"{item}={text(setting)}")]
    if action.nargs == "+":
        return [flag, *(checked(item) for item in (value if isinstance(value, list) else [value]))]
    return [flag, checked(value)]


if __name__ == "__main__":
    sys.exit(main())
