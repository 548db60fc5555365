"""``satbench``: command-line entry point.

Errors a user can fix (bad names, bad numbers, unusable data, an output path that cannot be written) print one line,
``satbench: error: ...``, and exit with status 2 before any worker starts; a failed worker or a diverged run exits
with status 1, and SIGINT/SIGTERM with 128 + the signal number, leaving no record, model or staging file behind.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from typing import Sequence

from .errors import RunInterrupted, SatbenchError, TrainingDiverged, WorkerFailed

log = logging.getLogger("satbench")

EXAMPLES = """
examples:
  satbench run --dataset cora --model gcn --method exact --workers 2 --epochs 200 --out results/cora.json
  satbench run --dataset sbm-20k --workers 4 --epochs 50 --hidden 128 --out run.json
  satbench run --dataset cora --method digest --halo fresh --workers 4 --out control.json   (fresh-halo control)
  satbench run --dataset sbm-20k --workers 4 --network 1gbit,200us --out run.json   (emulated links; root)
  torchrun --nnodes 2 --nproc-per-node 1 ... -m satbench run --workers 2 ...   (multi-node)
  satbench datasets
"""


METHOD_OPTION_FLAGS = (
    ("--sync-period", "sync_period", int, "τ of periodic methods (digest, sat)"),
    ("--sat-window", "window", int, "SAT: snapshots in the predictor's window (K)"),
    ("--predictor-input", "predictor_input", str, "SAT: inner rows of the predictor's input, zeros or fresh"),
    ("--predictor-steps", "predictor_steps", int, "SAT: predictor Adam steps per sync"),
)


def _parse_option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.replace("-", "_"), value


def _add_run_parser(subparsers) -> None:
    from .config import DEVICES, RunConfig
    from .models import MODELS, NORMS
    from .partition import PARTITIONERS

    defaults = RunConfig(dataset="")
    run = subparsers.add_parser(
        "run", help="train one configuration and write its run record",
        description="Train a GNN with W worker processes and write a JSON run record (config, env, partition, "
                    "per-epoch rows, summary). The reported test score is the one at the best validation epoch.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    what = run.add_argument_group("what to train")
    what.add_argument("--dataset", required=True, help="registry name (see `satbench datasets`) or npz:PATH")
    what.add_argument("--model", default=defaults.model, choices=MODELS)
    what.add_argument("--method", default=defaults.method, help="halo method (see `satbench methods`)")
    what.add_argument("--workers", "-w", type=int, default=defaults.workers, help="worker processes (W)")
    what.add_argument("--epochs", type=int, default=defaults.epochs)
    what.add_argument("--seed", type=int, nargs="+", default=[defaults.seed], metavar="SEED",
                      help="model initialisation and dropout seed; several train one after another in this process "
                           "(torch is imported once), each written to --out with {seed} replaced")
    hyper = run.add_argument_group("model and optimiser")
    hyper.add_argument("--hidden", type=int, default=defaults.hidden)
    hyper.add_argument("--layers", type=int, default=defaults.layers)
    hyper.add_argument("--lr", type=float, default=defaults.lr)
    hyper.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    hyper.add_argument("--dropout", type=float, default=defaults.dropout)
    hyper.add_argument("--norm", default=defaults.norm, choices=NORMS)
    hyper.add_argument("--heads", type=int, default=defaults.heads, help="GAT attention heads (hidden layers)")
    proto = run.add_argument_group("distribution")
    proto.add_argument("--device", default=defaults.device, choices=DEVICES,
                       help="cuda: one GPU per worker (NCCL); cpu: gloo")
    proto.add_argument("--partitioner", default=defaults.partitioner, choices=PARTITIONERS)
    proto.add_argument("--partition-seed", type=int, default=defaults.partition_seed)
    proto.add_argument("--weight-sync", default=None, choices=("allreduce", "average"),
                       help="override the method's choice: gradient all-reduce every step, or model averaging "
                            "every epoch")
    proto.add_argument("--local-steps", type=int, default=None, help="optimiser steps per epoch (method default)")
    proto.add_argument("--exact-first-layer", action="store_true",
                       help="GCN/SAGE: owners send each halo node's static first-layer aggregate once, at setup "
                            "(counted); workers then compute exact layer-1 halo rows with their current weights at "
                            "every step, and the method supplies only layers >= 2. Needs dropout 0, no batch norm")
    proto.add_argument("--halo", default=defaults.halo, choices=("method", "fresh"),
                       help="fresh: the method's fresh-halo control. Its whole protocol runs (weight sync, local "
                            "steps, sync schedule, its own traffic, halo gradients or not), but every halo row it "
                            "supplies is replaced by the exact row of that layer and step; the extra exchange is "
                            "counted apart (control_bytes). Separates what staleness costs from what the protocol "
                            "costs")
    proto.add_argument("--option", "-o", action="append", type=_parse_option, default=[], metavar="KEY=VALUE",
                       help="a method hyperparameter (repeatable)")
    sat = run.add_argument_group("shortcuts for method options (same as -o KEY=VALUE)")
    for flag, key, kind, meaning in METHOD_OPTION_FLAGS:
        sat.add_argument(flag, dest=f"option:{key}", type=kind, default=None, metavar=key.upper(), help=meaning)
    proto.add_argument("--network", default=None, metavar="RATE[,DELAY]",
                       help="emulated links (one machine, W > 1): each worker runs in its own network namespace with "
                            "one full-duplex link of RATE (and DELAY on what it sends) to a switch, shaped with tc, "
                            "in tc's units, e.g. 1gbit,200us or 100mbit. Needs root or CAP_NET_ADMIN and iproute2; "
                            "DELAY needs the kernel's netem")
    proto.add_argument("--timeout", type=float, default=defaults.timeout_s, dest="timeout_s",
                       help="seconds a collective may wait for a peer before the run fails")
    io = run.add_argument_group("input and output")
    io.add_argument("--eval-every", type=int, default=defaults.eval_every, help="evaluate every K epochs")
    io.add_argument("--staleness-every", type=int, default=defaults.staleness_every,
                    help="measure halo staleness against exact embeddings every K epochs (and at the first and "
                         "last); 0 disables")
    io.add_argument("--data-root", default=defaults.data_root)
    io.add_argument("--mirror", default=None, help="directory to copy raw dataset files from "
                                                   "(default: $SATBENCH_DATA_MIRROR)")
    io.add_argument("--cache-dir", default=defaults.cache_dir, help="where partitions are cached")
    io.add_argument("--out", required=True,
                    help="run record (JSON), written atomically; with several seeds it must contain {seed}")
    io.add_argument("--save-model", default=None, metavar="PATH",
                    help="save the final weights (state dict); with several seeds it must contain {seed}")
    io.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="satbench",
        description="Reproducibility benchmark for staleness in distributed GNN training.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_run_parser(subparsers)
    subparsers.add_parser("datasets", help="list the dataset registry")
    subparsers.add_parser("methods", help="list the registered methods and their hyperparameters")
    from .report import add_arguments

    add_arguments(subparsers.add_parser(
        "report", help="tables (CSV, Markdown, LaTeX) and figures (PNG, PDF) from run records",
        description="Aggregate run records into tables and figures; skips, with a note, what the runs cannot support."))
    return parser


def _command_run(args: argparse.Namespace) -> None:
    from .dist.processes import launched_by_torchrun, start_fork_server, worker_start_method
    from .record import check_outputs

    if args.network is not None:
        _check_network(args)
    seeds = list(dict.fromkeys(args.seed))
    outs = _per_seed(args.out, "--out", seeds)
    models = _per_seed(args.save_model, "--save-model", seeds) if args.save_model is not None else [None] * len(seeds)
    if not launched_by_torchrun() or os.environ.get("RANK") == "0":  # only rank 0 writes; checked before any work
        for out, model in zip(outs, models):
            check_outputs(out, model)
    if (args.workers > 1 and not launched_by_torchrun()
            and worker_start_method(args.device, args.workers) == "forkserver"):
        start_fork_server()  # imports the training code in parallel with validation and data loading
    from .config import RunConfig
    from .dist.launch import launch

    values = {k: v for k, v in vars(args).items()
              if k not in ("command", "verbose", "option", "out", "seed", "save_model") and not k.startswith("option:")}
    options = dict(args.option)
    options.update({k.removeprefix("option:"): v for k, v in vars(args).items()
                    if k.startswith("option:") and v is not None})
    configs = [RunConfig(**values, seed=seed, save_model=model, method_options=dict(options)).validate()
               for seed, model in zip(seeds, models)]  # every seed's configuration checked before the first trains
    for config, out in zip(configs, outs):
        launch(config, out)
        log.info("wrote %s", out)


def _check_network(args: argparse.Namespace) -> None:
    """--network: a valid value, not under torchrun, and (with several workers) the privilege and tools to emulate
    links, all checked before any work."""
    from .dist.network import check_available, parse_network
    from .dist.processes import launched_by_torchrun
    from .errors import ConfigError

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


def _command_methods(_: argparse.Namespace) -> None:
    from .methods import discover_methods

    for name, method in sorted(discover_methods().items()):
        print(f"{name}: {method.summary()}")
        base = f", base: {method.base}" if method.base else ""
        print(f"    family: {method.family}{base}, weight sync: {method.weight_sync}, "
              f"local steps: {method.local_steps}")
        for key, option in method.options.items():
            print(f"    -o {key}={option.default!r}  {option.help}")


def _command_report(args: argparse.Namespace) -> None:
    from .report import run_from_args

    run_from_args(args)


def main(argv: Sequence[str] | None = None) -> int:
    from .dist.processes import launched_by_torchrun, stop_on_signals

    # From the start (building the parser imports torch, which takes seconds), SIGINT and SIGTERM end the command with
    # one line, and `run` stops its workers first, whatever the signals' disposition was; torchrun owns its workers.
    with contextlib.nullcontext() if launched_by_torchrun() else stop_on_signals():
        try:
            return _main(argv)
        except RunInterrupted as error:
            print(f"satbench: {error}", file=sys.stderr)
            return 128 + error.signum


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    commands = {"run": _command_run, "datasets": _command_datasets, "methods": _command_methods,
                "report": _command_report}
    try:
        commands[args.command](args)
    except (WorkerFailed, TrainingDiverged) as error:
        print(f"satbench: error: {error}", file=sys.stderr)
        return 1
    except SatbenchError as error:
        print(f"satbench: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
