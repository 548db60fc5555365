"""The Snakemake workflow's logic, kept out of the Snakefile so it is tested like the rest.

A workflow config (``config/*.yaml``, schema ``config/schema.yaml``) names datasets (a label used in result paths
and a satbench dataset spec), per-model hyperparameters with optional per-dataset overrides, methods, worker counts
and seeds, plus an optional sync-period sweep. This module checks such a config against satbench's registries and
turns it into run-record paths and ``satbench run`` arguments.

A config may also hold a bandwidth study (``bandwidth:``): methods timed at W > 1 over emulated links of several
rates (``satbench run --network RATE``). Its main grid (``methods``, ``workers``, ``seeds``, ``epochs``) is then
optional: a config without ``methods`` runs its bandwidth study alone.

Launchers. The accuracy and staleness grids (main runs, controls, the sweep) run with the config's ``launcher``
(default ``inprocess``: a run's W workers as threads of one process, the same records apart from timings, at a
fraction of the cost); whatever it says, a bandwidth run, a timing run, a run on CUDA (one process per GPU) and a job
across nodes (torchrun) start one process per worker (``spawn``). Timings come from the timing study
(``timing:``): one job per (dataset, model, W) runs every timed method with spawned worker processes, repetition
after repetition, the methods alternating within each, so that a method and its base are timed close together on
the same machine (:func:`timing_jobs`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import re
import shlex
import statistics
from collections.abc import Mapping
from pathlib import Path
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import ConfigError

# The run-record layout, the one manifest of it: Snakemake's outputs are these templates. (The report reads a
# record's study and dataset label from the record itself: each job passes them as --study and --label.)
RUN_PATH = "results/runs/{dataset}/{model}/{method}/w{workers}/seed{seed}.json"
CONTROL_PATH = "results/controls/{dataset}/{model}/{method}/w{workers}/seed{seed}.json"
SWEEP_PATH = "results/sweep/{dataset}/{model}/{method}/sync-{sync_period}/w{workers}/seed{seed}.json"
# {rate}: the --network value in tc's spelling, its comma (before a delay) written "-" (rate_path).
BANDWIDTH_PATH = "results/bandwidth/{dataset}/{model}/{method}/{rate}/w{workers}/seed{seed}.json"
# The option study: a main-grid method with one of its options changed from the default ({option}: KEY=VALUE, or
# several joined by ","), beside the main runs of the method's default form (below: the option study).
OPTION_PATH = "results/options/{dataset}/{model}/{method}/{option}/w{workers}/seed{seed}.json"
# {rep}: the repetition, which is also the run's --seed (so a method's and its base's runs pair by it).
TIMING_PATH = "results/timing/{dataset}/{model}/w{workers}/{method}/rep{rep}.json"
# What the aggregating rules write (`satbench report --tables/--plots/--data`).
# The regime study (below: the regime study): {variant} names the model settings it varies ("model": the model's own),
# {sync_period} the sync period ("none" for a method without one), {halo} "method" or "fresh" (the control).
REGIME_PATH = ("results/regime/{stage}/{dataset}/{model}/{variant}/w{workers}/sync-{sync_period}/{halo}/{method}/"
               "seed{seed}.json")
# Where Snakemake writes each training job's benchmark (its wall time, peak memory, CPU time; the Snakefile's
# ``benchmark:`` directives are these templates): a job is one setting and all its seeds, and the timing study's one
# job per dataset, model and W runs every timed method and repetition. {stage}: the regime study's.
BENCHMARK_DIR = "results/benchmarks"
BENCHMARK_PATHS = {
    "main": BENCHMARK_DIR + "/{dataset}/{model}/{method}/w{workers}.tsv",
    "control": BENCHMARK_DIR + "/controls/{dataset}/{model}/{method}/w{workers}.tsv",
    "option": BENCHMARK_DIR + "/options/{dataset}/{model}/{method}/{option}/w{workers}.tsv",
    "sweep": BENCHMARK_DIR + "/sweep/{dataset}/{model}/{method}/sync-{sync_period}/w{workers}.tsv",
    "bandwidth": BENCHMARK_DIR + "/bandwidth/{dataset}/{model}/{method}/{rate}/w{workers}.tsv",
    "timing": BENCHMARK_DIR + "/timing/{dataset}/{model}/w{workers}.tsv",
    "regime": BENCHMARK_DIR + "/regime/{stage}/{dataset}/{model}/{variant}/w{workers}/sync-{sync_period}/{halo}/"
                              "{method}.tsv",
}
# An in-process grid's job (main runs, controls, options, the sweep) trains every setting of one dataset, model and W,
# one after another in one process (`satbench batch`): the imports, the graph's loading and its partition (seconds,
# beside a small run's second of training) are paid once per group instead of once per method and sync period. Its
# benchmark file (by kind), in place of :data:`BENCHMARK_PATHS`' one per setting (:func:`job_name`).
GROUPED_BENCHMARK_PATHS = {
    "main": BENCHMARK_DIR + "/{dataset}/{model}/w{workers}.tsv",
    "control": BENCHMARK_DIR + "/controls/{dataset}/{model}/w{workers}.tsv",
    "option": BENCHMARK_DIR + "/options/{dataset}/{model}/w{workers}.tsv",
    "sweep": BENCHMARK_DIR + "/sweep/{dataset}/{model}/w{workers}.tsv",
}
# The Snakefile's rule of a kind's jobs of one setting each; a grouped job's rule is named after it (TrainingJob.rule).
RULES = {"main": "runs", "control": "controls", "option": "options", "sweep": "sweep"}
# Where a training job keeps the records of the seeds it finished until every one of its runs is written
# (`--keep-finished`): a job that fails is run again, by Snakemake, for its failed seeds alone.
FINISHED_DIR = "results/.finished"
TABLES_DIR = "results/tables"
PLOTS_DIR = "plots"
DATA_DIR = "results"


def canonical_rate(rate: str) -> str:
    """A ``--network`` value as ``satbench run`` stores it (tc's spelling, lower case; ConfigError if invalid)."""
    from .links import parse_network

    return parse_network(rate).text


def rate_path(rate: str) -> str:
    """A ``--network`` value as a path component: ``1gbit`` stays, ``1gbit,200us`` becomes ``1gbit-200us`` (no
    number or unit of tc's holds a "-", so :func:`rate_from_path` reads it back unchanged)."""
    return canonical_rate(rate).replace(",", "-")


def rate_from_path(component: str) -> str:
    return component.replace("-", ",")


# Keys of a (dataset, model) entry that choose the grid rather than being `satbench run` flags.
GRID_KEYS = ("methods", "workers")
# The model settings the regime study may vary, in the order a variant's name lists them.
VARIANT_KEYS = ("layers", "dropout")
MODEL_VARIANT = "model"


def variant_name(overrides: tuple[tuple[str, Any], ...]) -> str:
    """A path component for model-setting overrides: ``layers3-dropout0.5``, or ``model`` for none."""
    return "-".join(f"{key}{value:g}" for key, value in overrides) or MODEL_VARIANT


def variant_overrides(name: str) -> tuple[tuple[str, Any], ...]:
    """The overrides :func:`variant_name` wrote (ValueError for a name it cannot have written)."""
    if name == MODEL_VARIANT:
        return ()
    overrides = []
    for part in name.split("-"):
        key = next((key for key in VARIANT_KEYS if part.startswith(key)), None)
        if key is None:
            raise ValueError(f"not a model variant: {name!r}")
        number = float(part[len(key):])
        overrides.append((key, int(number) if key == "layers" else number))
    return tuple(overrides)


@dataclass(frozen=True)
class Run:
    dataset: str
    model: str
    method: str
    workers: int
    seed: int
    sync_period: int | None = None  # set for sweep runs and the regime study's periodic methods
    halo: str = "method"  # "fresh": the run's fresh-halo control
    rate: str | None = None  # set for bandwidth runs: the --network value
    timed: bool = False  # a run of the timing study (its seed: the repetition)
    stage: str | None = None  # set for the regime study's runs: its stage, screen or confirm (below: the regime study)
    # model settings the regime study varies (layers, dropout), as (name, value) pairs over the model's own
    overrides: tuple[tuple[str, Any], ...] = ()
    option: str | None = None  # set for the option study's runs: the options changed, KEY=VALUE[,KEY=VALUE...]

    @property
    def kind(self) -> str:
        """Which of the workflow's training rules makes the run: main, control, sweep, option, bandwidth, timing or
        regime (the keys of :data:`BENCHMARK_PATHS`)."""
        if self.timed:
            return "timing"
        if self.stage is not None:
            return "regime"
        if self.option is not None:
            return "option"
        if self.rate is not None:
            return "bandwidth"
        return "sweep" if self.sync_period is not None else "control" if self.halo == "fresh" else "main"

    @property
    def study(self) -> str:
        """What the record will say it belongs to (``satbench run --study``)."""
        return f"regime-{self.stage}" if self.kind == "regime" else self.kind

    @property
    def _fields(self) -> dict[str, Any]:
        """The path templates' fields."""
        return {**self.__dict__, "sync_period": "none" if self.sync_period is None else self.sync_period,
                "variant": variant_name(self.overrides), "rate": rate_path(self.rate) if self.rate else None,
                "rep": self.seed}

    @property
    def path(self) -> str:
        """The run's record."""
        return _RECORD_PATHS[self.kind].format(**self._fields)

    @property
    def benchmark_path(self) -> str:
        """The benchmark file of a job that trains the run's setting alone (:data:`BENCHMARK_PATHS`; the job that
        trains it in a workflow: :func:`job_name`)."""
        return BENCHMARK_PATHS[self.kind].format(**self._fields)


_RECORD_PATHS = {"main": RUN_PATH, "control": CONTROL_PATH, "sweep": SWEEP_PATH, "option": OPTION_PATH,
                 "bandwidth": BANDWIDTH_PATH, "timing": TIMING_PATH, "regime": REGIME_PATH}


def models_of(config: dict, dataset: str) -> dict[str, dict[str, Any]]:
    """The models trained on ``dataset`` with their settings: global model defaults, then the dataset's overrides."""
    entry = config["datasets"][dataset]
    chosen = entry.get("models") or {name: {} for name in config["models"]}
    return {name: {**config["models"].get(name, {}), **(overrides or {})} for name, overrides in chosen.items()}


def main_runs(config: dict) -> list[Run]:
    """Every (dataset, model) entry runs the config's methods and worker counts, unless it names its own; none
    without top-level ``methods`` (a config of a bandwidth study alone)."""
    if "methods" not in config:
        return []
    runs = []
    for dataset in config["datasets"]:
        for model, settings in models_of(config, dataset).items():
            runs += [Run(dataset, model, method, workers, seed)
                     for method in settings.get("methods", config["methods"])
                     for workers in settings.get("workers", config["workers"]) for seed in config["seeds"]]
    return runs


def control_method(method: str) -> str | None:
    """The method whose fresh-halo control stands for ``method``'s: none for a reference method (``exact``'s control
    is itself; ``partition`` reads no halo rows) and for any method that reads no halo rows; the base's control for a
    method that declares it shares it (``shares_base_control``: with every halo row replaced by the exact one, it
    trains the GNN exactly as its base's control does, e.g. SAT, whose predictor never touches the GNN; tested); else
    the method's own."""
    from .methods import REFERENCE, get_method

    entry = get_method(method)
    if entry.family == REFERENCE or entry.train_graph == "inner":
        return None
    return control_method(entry.base) if entry.shares_base_control else method


def control_runs(config: dict) -> list[Run]:
    """The fresh-halo controls the main runs need, each once, at W > 1 (one worker has no halo rows).
    ``controls: false`` turns them off."""
    if not config.get("controls", True):
        return []
    controls = {}
    for run in main_runs(config):
        method = control_method(run.method)
        if run.workers > 1 and method is not None:
            control = Run(run.dataset, run.model, method, run.workers, run.seed, halo="fresh")
            controls[control.path] = control
    return list(controls.values())


def sweep_runs(config: dict) -> list[Run]:
    sweep = config.get("sweep")
    if not sweep:
        return []
    return [Run(dataset, sweep["model"], method, workers, seed, period)
            for dataset in sweep["datasets"] for method in sweep["methods"] for period in sweep["sync_periods"]
            for workers in sweep["workers"] for seed in sweep["seeds"]]


# -- the option study --------------------------------------------------------------------------------------------------
# ``option_study`` maps a main-grid method to option settings (KEY=VALUE, several joined by ","), e.g. the options
# that remove its declared deviations from its authors' code (docs/methods.md). Each runs wherever the method runs in
# the main grid, with the same seeds, so that the report pairs it by seed with the method's default form
# (``options`` table: what the option moves in accuracy and in the drift of the rows used).


def parse_option(option: str) -> dict[str, str]:
    """``KEY=VALUE[,KEY=VALUE...]``, each as ``-o`` reads it (:func:`satbench.config.parse_pair`; values as strings,
    typed by the method's declarations); ValueError for another shape."""
    import argparse

    from .config import parse_pair

    pairs = {}
    for item in option.split(","):
        try:
            key, value = parse_pair(item.strip())
        except argparse.ArgumentTypeError:
            key = value = ""
        if not value or key in pairs:
            raise ValueError(f"option setting {option!r}: give KEY=VALUE, several joined by ',' (each key once)")
        pairs[key] = value
    return pairs


def option_runs(config: dict) -> list[Run]:
    """The option study: every option setting of ``option_study`` for its method, at each of the method's main
    runs (same dataset, model, W and seed)."""
    study = config.get("option_study") or {}
    return [dataclasses.replace(run, option=option) for run in main_runs(config)
            for option in study.get(run.method, [])]


def bandwidth_runs(config: dict) -> list[Run]:
    """The bandwidth study: every method at every rate (W > 1, checked by :func:`check_config`)."""
    study = config.get("bandwidth")
    if not study:
        return []
    return [Run(dataset, study["model"], method, workers, seed, rate=canonical_rate(rate))
            for dataset in study["datasets"] for method in study["methods"] for rate in study["rates"]
            for workers in study["workers"] for seed in study["seeds"]]


DEFAULT_REPEATS = 3


def timing_methods(config: dict) -> list[str]:
    """The methods the timing study times: its ``methods``, by default the main grid's."""
    study = config.get("timing") or {}
    return list(study.get("methods", config.get("methods", [])))


def timing_repeats(config: dict) -> int:
    return int((config.get("timing") or {}).get("repeats", DEFAULT_REPEATS))


def _timed_entries(config: dict) -> list[tuple[str, str, list[int]]]:
    """(dataset, model, worker counts) of every job of the timing study: each (dataset, model) of the main grid among
    its ``datasets`` and ``models`` (default: all) that runs every timed method, at its W > 1 among the study's
    ``workers`` (default: all of them). One job times one list of methods, so a (dataset, model) that narrows its
    methods is timed only if it keeps all of them; with ``datasets`` given, :func:`check_config` refuses one that
    does not."""
    study = config.get("timing")
    if study is None or "methods" not in config:  # an empty section is a study with every default
        return []
    methods = timing_methods(config)
    entries = []
    for dataset in study.get("datasets", config["datasets"]):
        for model, settings in models_of(config, dataset).items():
            if model not in study.get("models", [model]):
                continue
            if not set(methods) <= set(settings.get("methods", config["methods"])):
                continue
            grid = settings.get("workers", config["workers"])
            counts = [w for w in study.get("workers", grid) if w > 1 and w in grid]
            if counts:
                entries.append((dataset, model, counts))
    return entries


def timing_jobs(config: dict) -> dict[tuple[str, str, int], list[Run]]:
    """The timing study, by job: (dataset, model, W) -> its runs in the order the job trains them, repetition after
    repetition and within each every timed method in turn (rep 0: m1 m2 ...; rep 1: m1 m2 ...). A run's seed is its
    repetition, so a method's and its base's runs of one repetition, timed close together, pair by seed."""
    methods, repeats = timing_methods(config), timing_repeats(config)
    return {(dataset, model, workers): [Run(dataset, model, method, workers, rep, timed=True)
                                        for rep in range(repeats) for method in methods]
            for dataset, model, counts in _timed_entries(config) for workers in counts}


def timing_runs(config: dict) -> list[Run]:
    return [run for runs in timing_jobs(config).values() for run in runs]


def facts_from_config(config: dict[str, Any]) -> set[str]:
    """What the runs this config plans will have: the facts ``satbench.artefacts`` decides by (a method's family as
    the registry declares it, read as the report reads a record's)."""
    from .methods import get_method
    from .report.artefacts import has_bandwidth_sweep, has_historical_beside_exact
    from .report.families import ALLEVIATION, family_of
    from .report.published import published_file

    def family(method: str) -> str:
        entry = get_method(method)
        return family_of(entry.family, method, entry.base)

    runs = main_runs(config)
    facts = {"main", "validated"} if runs else set()  # the last epoch is always evaluated
    methods = {run.method for run in runs}
    if "exact" in methods:
        facts.add("exact")
    measured = [run for run in runs if run.workers > 1] if _setting(config, "staleness_every") > 0 else []
    if measured:
        facts.add("measured")
    if any(run.method != "exact" for run in measured):
        facts.add("stale_measured")
    if any(family(method) == ALLEVIATION and get_method(method).base for method in methods):
        facts.add("alleviation")
    if has_historical_beside_exact((run.dataset, run.model, run.method, family(run.method)) for run in runs):
        facts.add("historical")
    sweep = config.get("sweep") or {}
    if sweep_runs(config) and len(set(sweep.get("sync_periods", []))) >= 2:
        facts.add("sweep")
    if control_runs(config) and runs:
        facts.add("controls")
    rates: dict[tuple, set] = {}
    for run in bandwidth_runs(config):
        rates.setdefault((run.dataset, run.model, run.workers, run.method), set()).add(run.rate)
    if has_bandwidth_sweep(rates):
        facts.add("bandwidth")
    if published_file() is not None:
        facts.add("published")
    if screen_runs(config):
        facts.add("regime")
    if option_runs(config):
        facts.add("options")
    return facts


def report_outputs(config: dict) -> tuple[list[str], list[str]]:
    """The tables and figures the config's runs will support: the artefact registry's answer for the config's facts,
    the same registry ``satbench report`` asks with the records' facts."""
    from .report.artefacts import supported

    facts = facts_from_config(config)
    return ([a.name for a in supported(facts, "table")], [a.name for a in supported(facts, "figure")])


# Where the Snakemake report finds the captions (it reads them from files; satbench.report.artefacts declares them).
CAPTIONS_DIR = ".snakemake/satbench-captions"


def caption_file(kind: str, name: str) -> str:
    """The caption file of a table or figure, written from the registry's declaration."""
    from .report.artefacts import caption_file as write_caption

    return str(write_caption(kind, name, CAPTIONS_DIR))


def _study_section(config: dict, run: Run) -> dict | None:
    if run.stage is not None:  # the regime study trains at the models' own settings
        return None
    if run.timed:
        return config.get("timing")
    return config.get("sweep") if run.sync_period is not None else config.get("bandwidth") if run.rate is not None else None


def run_epochs(config: dict, run: Run) -> int | None:
    """A job's epochs: its study's own (sweep, bandwidth or timing study), else its model's on that dataset, else
    the config's (None: none given, which :func:`check_config` refuses)."""
    study = _study_section(config, run)
    if study and "epochs" in study:
        return study["epochs"]
    return models_of(config, run.dataset)[run.model].get("epochs", config.get("epochs"))


def measurement_schedule(config: dict, run: Run) -> tuple[int, int]:
    """(eval_every, staleness_every) of a job. A bandwidth or timing run is timed only: it evaluates its last epoch
    alone and measures no staleness (over shaped links both would cross them; their time is not in the epoch times,
    but it lengthens the study)."""
    if run.rate is not None or run.timed:
        return run_epochs(config, run), 0
    return _setting(config, "eval_every"), _setting(config, "staleness_every")


def _setting(config: dict, name: str) -> Any:
    """A run setting the workflow config may give, else its default, written once: RunConfig's (the schema's default,
    which Snakemake fills in, is held equal to it by a test)."""
    from .config import RunConfig

    return config.get(name, RunConfig.defaults()[name])


DEFAULT_LAUNCHER = "inprocess"


def run_launcher(config: dict, run: Run) -> str:
    """How a job's ``satbench run`` starts its workers (``--launcher``): the config's ``launcher`` (default
    :data:`DEFAULT_LAUNCHER`) for the accuracy and staleness grids (main runs, controls, the sweep); ``spawn``, one
    process per worker, for what needs processes: a bandwidth run (network namespaces), a timing run (its times are
    the measurement), a run on CUDA (one process per GPU) and a job across nodes (torchrun starts the processes)."""
    if run.rate is not None or run.timed or config.get("device") == "cuda" or placement(config, run)[0] > 1:
        return "spawn"
    return config.get("launcher", DEFAULT_LAUNCHER)


def job_config(config: dict, run: Run, device: str | None = None):
    """The :class:`~satbench.config.RunConfig` of one job (its first seed): the model's settings on that dataset,
    the job's epochs and measurement schedule, its method's options with the sync period (the run's τ in the sweep,
    else the config's), its halo mode and link, and the study and dataset label the record will carry. The one place
    a job's settings are resolved; :func:`job_argv` and :func:`check_config` both ask it. Its launcher is
    :func:`run_launcher`'s. A job estimated to run longer than ``checkpoint_minutes`` saves checkpoints
    (:func:`checkpoint_every`), decided for the config's device whatever ``device`` the caller checks it on."""
    from .config import RunConfig
    from .methods import get_method

    settings = {key: value for key, value in models_of(config, run.dataset)[run.model].items()
                if key not in GRID_KEYS}
    settings.update(run.overrides)
    settings["epochs"] = run_epochs(config, run)
    eval_every, staleness_every = measurement_schedule(config, run)
    options = dict((config.get("method_options") or {}).get(run.method) or {})
    period = run.sync_period if run.sync_period is not None else config.get("sync_period")
    if period is not None and "sync_period" in get_method(run.method).options:
        options["sync_period"] = period
    labels = {"dataset": run.dataset}
    if run.option is not None:
        options.update(parse_option(run.option))
        labels["option"] = run.option
    dataset = config["datasets"][run.dataset]
    job = RunConfig(dataset=dataset["spec"], partitioner=dataset.get("partitioner", "metis"), model=run.model,
                    method=run.method, workers=run.workers, seed=run.seed, device=config["device"],
                    eval_every=eval_every, staleness_every=staleness_every, method_options=options, halo=run.halo,
                    network=run.rate, launcher=run_launcher(config, run), study=run.study,
                    labels=labels, **settings)
    every = checkpoint_every(config, job)
    return dataclasses.replace(job, device=device or job.device, checkpoint_every=every)


def job_argv(config: dict, run: Run, seeds: list[int] | None = None) -> str:
    """The ``satbench run`` arguments of one job, shell-quoted, without ``--out``: :func:`job_config`'s, for each of
    ``seeds`` (trained one after another in one process)."""
    return " ".join(shlex.quote(argument) for argument in job_config(config, run).to_argv(seeds))


# -- what a training job asks of a machine or a cluster -------------------------------------------------------------

# Multiply-adds per second the estimate assumes for one worker: a CPU core (measured here: about 20 GFLOP/s, sbm-1m
# with GCN 2x128 at 5.3 s per epoch on 2 cores) and a GPU (sparse aggregation is bound by memory bandwidth, far below
# a GPU's dense peak); both deliberately low, so that a time limit is rarely too short.
FLOPS = {"cpu": 10e9, "cuda": 1e12}
# Host memory of what the runtime's estimate of a worker leaves out: the process that loads and partitions the graph,
# and on CUDA a worker's own process (interpreter, libraries, CUDA context), whose peak it estimates on the device.
LAUNCHER_BYTES = 0.6e9
CUDA_PROCESS_BYTES = 3e9
# Planning knows the graph, not its parts: each worker's part is taken as N/W inner rows with up to 1.5 times as many
# halo rows (METIS parts of these graphs have fewer; a random cut on a sparse graph about that many), and the classes,
# which weigh only in the last layer's weights, as this many.
HALO_PER_INNER = 1.5
PLANNED_CLASSES = 128
DEFAULT_CHECKPOINT_MINUTES = 60
# The in-process launcher's W workers are threads of one interpreter: what a worker does in Python holds its lock
# (the GIL), and only torch's kernels run beside one another. This is a worker's interpreter time per forward or
# backward pass (measured: Cora, exact, GCN 2x16, W = 4 in-process on 2 cores, about 40 ms per epoch of 4 passes
# for the 4 workers, where the kernels take little: the process kept 0.98 cores busy).
INTERPRETER_PASS_S = 2.5e-3


def graph_size(spec: str) -> tuple[int, int, int] | None:
    """(nodes, directed edges, features) of a dataset spec, or None where unknown before loading (an npz file)."""
    from .data import SBM_PRESETS, library_graph_size, parse_sbm, validate_dataset_name

    name = validate_dataset_name(spec)
    if name in SBM_PRESETS or name.startswith("sbm:"):
        params = SBM_PRESETS[name] if name in SBM_PRESETS else parse_sbm(name)
        return params.n, round(params.n * params.degree), params.features
    return library_graph_size(name)


@dataclass(frozen=True)
class Estimate:
    """What a training job is expected to need: minutes per run (one seed), its time limit for all its seeds
    (``minutes``), the host memory of each of its nodes (``mem_mb``) and the cores it keeps busy on each
    (``cores``)."""

    run_minutes: float
    minutes: int
    mem_mb: int
    cores: int = 1


def time_limit(run_minutes: float) -> int:
    """A job's time limit (minutes) for runs estimated at ``run_minutes`` in all: doubled, plus 5 minutes, rounded up
    to 10 minutes."""
    return 10 * math.ceil((2 * run_minutes + 5) / 10)


def estimate(job, seeds: int = 1, workers_per_node: int | None = None) -> Estimate:
    """The time and memory of a job that trains ``job`` (a :class:`~satbench.config.RunConfig`) for ``seeds``
    seeds, with ``workers_per_node`` of its W workers on each node (default: all on one); from the graph's size and
    the model, method and W alone, with a safe margin above what runs measure.

    Time. A forward pass over the whole graph takes N·(F·h + (L−1)·h²) multiply-adds in its dense layers and L·(E+N)·h
    in its aggregations (N nodes, E directed edges, F features, h hidden, L layers; GAT's messages per edge: ×3). An
    epoch is 3 passes (forward and backward) per optimiser step (the method's local steps) and one more for evaluation
    and staleness measurement, 2 FLOPs per multiply-add; an alleviation method, which holds a base and corrects its
    rows (SAT trains a predictor at every sync), ×3. W workers share it at :data:`FLOPS` each. Each run adds 30 s and the loading
    and partitioning of its graph (E / 500,000 s). The time limit is the runs of every seed, doubled, plus 5 minutes,
    rounded up to 10 minutes (:func:`time_limit`).

    Cores. A spawned job's workers keep a core each busy. The in-process launcher's workers are threads of one
    interpreter, which runs one worker's Python at a time: each pass costs every worker :data:`INTERPRETER_PASS_S`
    there, in turn, besides its kernels (k seconds a worker per pass, beside one another), so the process keeps
    1 + k / INTERPRETER_PASS_S cores busy, at most W (rounded; at least 1), and its epochs take the workers'
    interpreter time on top of the kernels' (added to the time above).

    Memory, per node. The copy of the graph that each node's first process loads and partitions (features and edge
    index, thrice while partitioning, and the process, :data:`LAUNCHER_BYTES`), and the workers there as the runtime
    estimates them before it starts them (:func:`satbench.runtime.memory.estimate_peak_bytes`, calibrated on real
    runs), each on a part planned as N/W inner rows and :data:`HALO_PER_INNER` times as many halo rows; on CUDA, where
    that estimate is of the device, each worker's host process instead: :data:`CUDA_PROCESS_BYTES` and its part as
    the runtime's estimate counts it before it moves to the device (features and edges); with the in-process
    launcher, one process for the workers together (:func:`satbench.runtime.memory.machine_peak_bytes`). 1.25× the
    sum, rounded up to a GB, at least 2 GB.
    """
    from .data import largest_library_graph_size
    from .methods import get_method
    from .prepared import PartSizes
    from .runtime.memory import EDGE_BYTES, FEATURE_COPIES, estimate_peak_bytes, machine_peak_bytes

    nodes, edges, features = graph_size(job.dataset) or largest_library_graph_size()
    method = get_method(job.method)
    resolved = job.resolved()
    width, layers, workers = job.hidden, job.layers, job.workers
    forward = nodes * (features * width + (layers - 1) * width ** 2) + layers * (edges + nodes) * width
    if job.model == "gat":
        forward *= 3
    passes = (3 * resolved.local_steps + 1) * (3 if method.base is not None else 1)
    epoch_s = 2 * forward * passes / (FLOPS[job.device] * workers)
    here = workers_per_node or workers
    cores = here
    if job.launcher == "inprocess":
        kernel_pass_s = 2 * forward / (FLOPS[job.device] * workers)
        cores = min(here, max(1, round(1 + kernel_pass_s / INTERPRETER_PASS_S)))
        epoch_s += workers * passes * INTERPRETER_PASS_S
    run_s = 30 + edges / 500_000 + job.epochs * epoch_s
    minutes = time_limit(seeds * run_s / 60)

    inner = math.ceil(nodes / workers)
    halo = min(nodes - inner, math.ceil(HALO_PER_INNER * inner))
    planned = PartSizes((inner,) * workers, (halo,) * workers, edges / 2, nodes, features, PLANNED_CLASSES)
    if job.device == "cpu":
        workers_bytes = machine_peak_bytes(estimate_peak_bytes(resolved, planned)[:here], launcher=job.launcher)
    else:
        part_bytes = FEATURE_COPIES * (inner + halo) * features * 4 + EDGE_BYTES * (edges * inner / nodes + inner)
        workers_bytes = here * (CUDA_PROCESS_BYTES + part_bytes)
    total = LAUNCHER_BYTES + 3 * (4 * nodes * features + 16 * edges) + workers_bytes
    mem_mb = max(2048, 1024 * math.ceil(1.25 * total / 2 ** 30))
    return Estimate(run_s / 60, minutes, mem_mb, cores)


def checkpoint_every(config: dict, job) -> int:
    """``--checkpoint-every`` for a job: 0 (none) where one run is estimated to take at most ``checkpoint_minutes``
    (default :data:`DEFAULT_CHECKPOINT_MINUTES`), else the epochs of about that many estimated minutes, so that a
    pre-empted or timed-out job that is started again loses no more than that."""
    limit = config.get("checkpoint_minutes", DEFAULT_CHECKPOINT_MINUTES)
    run_minutes = estimate(job).run_minutes
    if run_minutes <= limit:
        return 0
    return max(1, math.floor(job.epochs * limit / run_minutes))


def placement(config: dict, run: Run) -> tuple[int, int]:
    """(nodes, workers per node) of a job: one node, unless W exceeds ``workers_per_node`` (a node's GPUs, or the
    workers one node should hold on the CPU); a bandwidth run emulates its links on one machine."""
    per_node = config.get("workers_per_node")
    if per_node is None or run.workers <= per_node or run.rate is not None:
        return 1, run.workers
    return math.ceil(run.workers / per_node), per_node


def job_resources(config: dict, run: Run, seeds: int, attempt: int = 1) -> dict[str, Any]:
    """What a training job asks of the executor, from :func:`estimate`: ``runtime`` (minutes; each retry of a job
    gets that much more), ``mem_mb`` (per node) and ``gpu`` (W on CUDA, one per worker; 0 on the CPU). A job across
    nodes asks for ``nodes`` with one task each (``tasks``; ``mpi``: its command starts them itself, through srun)
    and each node's GPUs (``slurm_extra``); its ``gpu`` is 0, since GPUs per job would let SLURM place them
    unevenly. A profile's ``set-resources`` overrides any of these."""
    return _resources(config, [run], seeds, attempt)


def timing_resources(config: dict, runs: list[Run], attempt: int = 1) -> dict[str, Any]:
    """:func:`job_resources` of a timing job, which trains ``runs`` one after another (one seed each): the time of
    them all, and the memory of the largest."""
    return _resources(config, runs, 1, attempt)


def _resources(config: dict, runs: list[Run], seeds: int, attempt: int) -> dict[str, Any]:
    nodes, per_node = placement(config, runs[0])
    jobs = [job_config(config, run) for run in runs]
    guesses = [estimate(job, seeds, per_node) for job in jobs]
    minutes = guesses[0].minutes if len(runs) == 1 else time_limit(seeds * sum(guess.run_minutes for guess in guesses))
    gpus = per_node if jobs[0].device == "cuda" else 0
    resources = {"runtime": minutes * attempt, "mem_mb": max(guess.mem_mb for guess in guesses), "gpu": gpus}
    if nodes > 1:
        extra = "--ntasks-per-node=1" + (f" --gpus-per-node={gpus}" if gpus else "")
        resources.update(gpu=0, nodes=nodes, tasks=nodes, mpi="srun", slurm_extra=extra)
    return resources


def job_threads(config: dict, run: Run) -> int:
    """CPU cores a training job takes on each node: one per worker there, as its workers are processes; with the
    in-process launcher, the cores its threads keep busy (:func:`estimate`), fewer where the interpreter's lock
    holds them in turn (so Snakemake may run other jobs beside it)."""
    per_node = placement(config, run)[1]
    job = job_config(config, run)
    if job.launcher != "inprocess":
        return per_node
    return estimate(job, 1, per_node).cores


def job_launcher(config: dict, run: Run) -> str:
    """What a job's ``satbench run`` command starts with: nothing on one node (``satbench run`` starts its W
    workers); across nodes, ``srun`` starting one ``torchrun`` per node of the job's SLURM allocation, each with that
    node's workers (README, "Multi-node"). Rank 0's node is the one the job's script runs on, and the port is the
    job's own, so that two jobs on one node do not meet."""
    nodes, per_node = placement(config, run)
    if nodes == 1:
        return ""
    torchrun = (f"exec torchrun --nnodes={nodes} --nproc-per-node={per_node} --node-rank=\"$SLURM_NODEID\" "
                "--master-addr=\"$0\" --master-port=\"$1\" --no-python \"${@:2}\"")
    # The step asks for each node's CPUs and GPUs itself: a step given none would confine a node's workers to one CPU.
    gpus = f" --gpus-per-node={per_node}" if config["device"] == "cuda" else ""
    return (f"srun --nodes={nodes} --ntasks={nodes} --ntasks-per-node=1 --cpus-per-task={per_node}{gpus} "
            f"--kill-on-bad-exit=1 bash -c {shlex.quote(torchrun)} \"$(hostname)\" $((29500 + SLURM_JOB_ID % 20000)) ")


def timing_script(config: dict, dataset: str, model: str, workers: int) -> str:
    """The shell command of one timing job: every run of :func:`timing_jobs` in its order (every method in turn,
    repetition after repetition), stopping at the first failure. On one node they are the lines of one ``satbench
    batch``, so that torch, the training code and the workers' fork server start once for the job (seconds, where a
    run's epochs take a second or two); each run still starts its own W worker processes, whose epoch
    times are the measurement. Across nodes each is its own ``satbench run`` under ``srun``/``torchrun``."""
    runs = timing_jobs(config)[(dataset, model, workers)]
    lines = [f"{job_argv(config, run)} --no-progress --out {shlex.quote(run.path)}" for run in runs]
    if all(placement(config, run)[0] == 1 for run in runs):
        return batch_command(lines)
    return " && ".join(f"{job_launcher(config, run)}satbench run {line}" for run, line in zip(runs, lines))


def check_config(config: dict) -> None:
    """Check names against satbench's registries (the JSON schema has checked the shape), then every job's settings
    as ``satbench run`` would (finite numbers, method options by key and value, W against the dataset's node count),
    so that a bad value fails before any job starts, with one clear error, rather than in its jobs."""
    from .data import validate_dataset_name
    from .methods import discover_methods
    from .models import MODELS

    def fail(message: str) -> None:
        raise ConfigError(f"invalid workflow config: {message}")

    for label, entry in config["datasets"].items():
        try:
            validate_dataset_name(entry["spec"])
        except ConfigError as error:
            fail(f"dataset {label!r}: {error}")
        for model in entry.get("models") or {}:
            if model not in MODELS:
                fail(f"dataset {label!r} names unknown model {model!r}; choose from {', '.join(MODELS)}")
    for model in config["models"]:
        if model not in MODELS:
            fail(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    known = discover_methods()
    sweep = config.get("sweep") or {}
    bandwidth = config.get("bandwidth") or {}
    timing = config.get("timing") or {}
    if "methods" not in config:
        if not bandwidth and not config.get("regime"):
            fail("no runs: give a main grid (methods, workers, seeds, epochs), a bandwidth study or a regime study")
        for label in config["datasets"]:
            for model, settings in models_of(config, label).items():
                grid = [key for key in GRID_KEYS if key in settings]
                if grid:
                    fail(f"dataset {label!r}, model {model!r} sets {' and '.join(grid)} of a main grid, but the "
                         "config has none (no top-level methods)")
    per_entry = [method for dataset in config["datasets"] for settings in models_of(config, dataset).values()
                 for method in settings.get("methods", [])]
    for method in (list(config.get("methods", [])) + per_entry + list(sweep.get("methods", []))
                   + list(bandwidth.get("methods", [])) + list(timing.get("methods", []))
                   + list(config.get("method_options") or {})):
        if method not in known:
            fail(f"unknown method {method!r}; known: {', '.join(sorted(known))}")
    for study, section in (("sweep", sweep), ("bandwidth", bandwidth), ("timing", timing)):
        for label in section.get("datasets", []):
            if label not in config["datasets"]:
                fail(f"{study} dataset {label!r} is not among the datasets ({', '.join(config['datasets'])})")
        if section and study != "timing" and section.get("model") not in MODELS:
            fail(f"{study} model {section.get('model')!r} is unknown; choose from {', '.join(MODELS)}")
    for method in sweep.get("methods", []):
        if "sync_period" not in known[method].options:
            fail(f"sweep method {method!r} has no sync_period option")
    _check_option_study(config, known, fail)
    if bandwidth:
        _check_bandwidth(bandwidth, fail)
    if "timing" in config:
        _check_timing(config, fail)
    check_regime(config, fail)
    _check_runs(config, fail)


def _check_timing(config: dict, fail) -> None:
    """The timing study's own rules: a main grid to time, W > 1 (a single worker has no peer: no distributed run to
    time), known models, each dataset it names running every timed method, and at least one job."""
    from .models import MODELS

    study = config.get("timing") or {}
    if "methods" not in config:
        fail("the timing study times (dataset, model) settings of the main grid, but the config has none")
    for workers in study.get("workers", []):
        if workers < 2:
            fail(f"timing workers must be at least 2, got {workers}: one worker has no peer to wait for or talk to")
    methods = timing_methods(config)
    for model in study.get("models", []):
        if model not in MODELS:
            fail(f"timing model {model!r} is unknown; choose from {', '.join(MODELS)}")
    for dataset in study.get("datasets", []):
        for model, settings in models_of(config, dataset).items():
            if model not in study.get("models", [model]):
                continue
            missing = [method for method in methods if method not in settings.get("methods", config["methods"])]
            if missing:
                fail(f"timing dataset {dataset!r}, model {model!r} does not run {', '.join(missing)} in the main "
                     "grid; a timing job times one list of methods: leave the dataset out or the methods")
    if not timing_jobs(config):
        fail("the timing study times nothing: no (dataset, model) of the main grid runs every timed method at a "
             "W > 1 among its workers")


def _check_bandwidth(study: dict, fail) -> None:
    """The bandwidth study's own rules: exact among its methods, W > 1, rates that ``--network`` takes, each rate
    once (``1gbit`` and ``1000mbit`` are one rate, and a rate with two delays would be two points at one x)."""
    from .links import parse_network

    if "exact" not in study["methods"]:
        fail("bandwidth methods must include exact: the study's speedups are over exact at the same rate")
    for workers in study["workers"]:
        if workers < 2:
            fail(f"bandwidth workers must be at least 2, got {workers}: a single worker sends nothing, so no link "
                 "would be used")
    seen: dict[float, str] = {}
    for rate in study["rates"]:
        try:
            spec = parse_network(rate)
        except ConfigError as error:
            fail(f"bandwidth rate {rate!r}: {error}")
        if spec.rate_bit_s in seen:
            fail(f"bandwidth rates {seen[spec.rate_bit_s]!r} and {rate!r} are the same rate; give each rate once")
        seen[spec.rate_bit_s] = rate


def _check_option_study(config: dict, known: dict, fail) -> None:
    """Each method of ``option_study`` trains in the main grid, and each of its settings parses and names options
    the method has (their values are checked with the jobs, by :func:`_check_runs`)."""
    study = config.get("option_study") or {}
    planned = {run.method for run in main_runs(config)}
    for method, settings in study.items():
        if method not in known:
            fail(f"option_study: unknown method {method!r}; known: {', '.join(sorted(known))}")
        if method not in planned:
            fail(f"option_study: method {method!r} is not in the main grid, whose runs its options are compared with")
        for option in settings:
            try:
                keys = parse_option(option)
            except ValueError as error:
                fail(f"option_study, method {method!r}: {error}")
            unknown = sorted(set(keys) - set(known[method].options))
            if unknown:
                fail(f"option_study, method {method!r}: no option {', '.join(unknown)}; its options: "
                     f"{', '.join(sorted(known[method].options)) or 'none'}")


def _check_runs(config: dict, fail) -> None:
    """Every distinct job, validated as `satbench run` validates it (on the CPU: a planning machine needs no GPU)."""
    import argparse

    from .config import add_run_arguments, run_configs_from_args
    from .methods import option_shortcuts

    parser = argparse.ArgumentParser(prog="satbench run")
    add_run_arguments(parser, method_shortcuts=option_shortcuts())
    checked = set()
    for run in (main_runs(config) + sweep_runs(config) + bandwidth_runs(config) + timing_runs(config)
                + screen_runs(config) + option_runs(config)):
        key = (run.dataset, run.model, run.method, run.workers, run.sync_period, run.rate, run.timed, run.overrides,
               run.option)
        if key in checked:
            continue
        checked.add(key)
        where = f"dataset {run.dataset!r}, model {run.model!r}, method {run.method!r}"
        if run.rate is not None or run.timed:
            where = f"{run.study} study, {where}"
        spec = config["datasets"][run.dataset]["spec"]
        size = graph_size(spec)
        nodes = size[0] if size is not None else None
        if nodes is not None and run.workers > nodes:
            fail(f"{where}: {run.workers} workers but the dataset has only {nodes} nodes")
        machines, per_node = placement(config, run)
        if machines > 1 and run.workers % per_node:
            fail(f"{where}: {run.workers} workers do not fill nodes of workers_per_node={per_node} evenly (torchrun "
                 "starts as many on every node)")
        models = models_of(config, run.dataset)
        if run.model not in models:
            study = "sweep" if run.sync_period is not None else "bandwidth study"
            fail(f"{where}: the {study}'s model is not trained on this dataset (its models: {', '.join(models)})")
        epochs = run_epochs(config, run)
        if epochs is None:
            fail(f"{where}: no epochs; give the bandwidth study its own epochs")
        if run.rate is not None and epochs < 2:
            fail(f"{where}: the bandwidth study leaves each run's first epoch out of its times, so it needs at "
                 f"least 2 epochs, got {epochs}")
        # Read back from the job's own command line, as `satbench run` reads it (options then are strings), and
        # checked on the CPU: a planning machine needs no GPU.
        try:
            argv = job_config(config, run, device="cpu").to_argv()
            args = parser.parse_args(argv)
            for checked_config in run_configs_from_args(args, [run.seed], [None]):
                checked_config.validate()
        except ConfigError as error:
            fail(f"{where}: {error}")
        except SystemExit:  # argparse has printed why
            fail(f"{where}: its command line is refused: satbench run {' '.join(argv)}")


# Where every timing record lies (the timing study's paths: TIMING_PATH), whatever the config planned.
TIMING_RESULTS = Path("results") / "timing"


def config_records(config: "str | Path", root: "str | Path" = ".") -> list[Path]:
    """The run records of a config that exist under ``root`` (the workflow's layout: ``results/runs``,
    ``results/controls``, ``results/sweep``, ``results/bandwidth``, ``results/regime``, ``results/options``), and every record under ``results/timing``
    where that directory exists (paths under ``root``)."""
    import logging

    settings = _read_config(config)
    root = Path(root)
    planned = [run.path for plan in (main_runs, control_runs, sweep_runs, bandwidth_runs, option_runs)
               for run in plan(settings)]
    planned += regime_records(settings, root / REGIME_PLAN_PATH)
    found = [root / path for path in dict.fromkeys(planned) if (root / path).is_file()]
    # a config without a timing study has none: another study's timing records are not this config's
    timing = (sorted((root / TIMING_RESULTS).rglob("*.json"))
              if settings.get("timing") and (root / TIMING_RESULTS).is_dir() else [])
    if not found and not timing:
        raise ConfigError(f"no run record of {config} under {root / 'results'} ({len(planned)} planned): run it "
                          f"first (make reproduce CONFIG={config})")
    logging.getLogger("satbench").info("%s: %d of its %d planned run records exist; %d more under %s", config, len(found),
             len(set(planned)), len(timing), TIMING_RESULTS)
    return found + timing


def _read_config(config: "str | Path") -> dict:
    """A config file as written, without the schema's checks and defaults: what it plans, for reading records (a
    study's config as it was)."""
    import yaml

    try:
        return yaml.safe_load(Path(config).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"config {config}: {error}") from None


def config_jobs(config: "str | Path", root: "str | Path" = ".") -> set[str]:
    """The names of the jobs (:func:`job_name`, as :func:`satbench.report.jobs.read_jobs` names them) that write the
    config's records under ``root``: each planned run's job, the regime study's confirm stage included where its plan
    exists; and each run's setting's own (:data:`BENCHMARK_PATHS`), the job that wrote it where a workflow ran every
    setting as a job of its own (a grid on worker processes, or a version before grouped jobs)."""
    settings = _read_config(config)
    runs = planned_runs(settings)
    plan = Path(root) / REGIME_PLAN_PATH
    if screen_runs(settings) and plan.is_file():
        runs += confirm_runs(settings, read_plan(plan))
    return {name for run in runs for name in (job_name(settings, run), _benchmark_name(run.benchmark_path))}


# -- a planned job's command, for running one setting by hand (`satbench plan`) ---------------------------------------

# The workflow's own config schema; Snakemake fills in its defaults (launcher, eval_every, ...) before any rule reads
# the config, and so must anything else that plans from a config file.
SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"


def load_config(path: "str | Path") -> dict:
    """A workflow config file as the Snakefile sees it: read, checked against the schema with its defaults filled
    in, and checked by :func:`check_config`. ConfigError (one line) for a file that is missing, unreadable or
    invalid."""
    import yaml

    try:
        config = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"config {path}: {error}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"config {path}: expected a mapping of workflow settings, got {type(config).__name__}")
    if SCHEMA.is_file():  # an installed copy without the checkout's config/ is checked by check_config alone
        from snakemake.utils import validate

        try:
            validate(config, str(SCHEMA))
        except Exception as error:  # Snakemake's WorkflowError, whose text is the schema's complaint
            raise ConfigError(f"config {path}: {' '.join(str(error).split())}") from None
    check_config(config)
    return config


def planned_runs(config: dict) -> list[Run]:
    """Every run the workflow plans for ``config``, in the order of its studies: main runs, controls, sweep,
    bandwidth, timing, the regime study's screen, the option study."""
    return [run for plan in (main_runs, control_runs, sweep_runs, bandwidth_runs, timing_runs, screen_runs,
                             option_runs)
            for run in plan(config)]


def job_commands(config: dict, records: list[str] | None = None) -> list[str]:
    """The ``satbench run`` command lines of the config's settings, as the workflow runs them but for its own
    bookkeeping (``--no-progress``, ``--keep-finished``) and, across nodes, its srun/torchrun prefix: one per setting
    (every seed of it in one, ``--out`` with ``{seed}``; a timing job's runs one by one), a grouped job's being the
    lines of its ``satbench batch`` (:func:`grouped_script`). With ``records``
    (run-record paths), the command that writes each of them alone, one seed; ConfigError for a path the config does
    not plan."""
    runs = planned_runs(config)
    if records is not None:
        from .data import did_you_mean

        by_path = {run.path: run for run in runs}
        commands = []
        for record in records:
            path = Path(record).as_posix().removeprefix("./")
            if path not in by_path:
                raise ConfigError(f"{record} is not a run record this config plans{did_you_mean(path, by_path)}; "
                                  f"its records are like {runs[0].path}")
            commands.append(_command(config, by_path[path], [by_path[path].seed], path))
        return commands
    commands = []
    for job, seeds in planned_jobs(runs).items():
        first = dataclasses.replace(job, seed=seeds[0])
        out = first.path if job.timed else dataclasses.replace(job, seed="{seed}").path
        commands.append(_command(config, first, seeds, out))
    return commands


def planned_jobs(runs: list[Run]) -> dict[Run, list[int]]:
    """The training jobs of ``runs``: each setting (its run with seed -1) with the seeds one job trains, one after
    another in one process; a timing study's runs are a job each."""
    jobs: dict[Run, list[int]] = {}
    for run in runs:
        jobs.setdefault(run if run.timed else dataclasses.replace(run, seed=-1), []).append(run.seed)
    return jobs


def is_grouped(config: dict, run: Run) -> bool:
    """Whether ``run``'s job is its grid's group of one dataset, model and W (:data:`GROUPED_BENCHMARK_PATHS`): a run of
    an accuracy grid with the in-process launcher. A job that starts worker processes (CUDA, across nodes) stays one
    setting, so that a cluster runs its settings side by side, as do the bandwidth and timing studies' (timed) and the
    regime study's (long runs, and a confirm stage planned from the screen's records)."""
    return run.kind in GROUPED_BENCHMARK_PATHS and run_launcher(config, run) == "inprocess"


def job_name(config: dict, run: Run) -> str:
    """The name of the job that trains ``run``: its benchmark file under ``results/benchmarks`` without ``.tsv``
    (as :func:`satbench.report.jobs.read_jobs` names it), also its log's under ``results/logs``."""
    if not is_grouped(config, run):
        return _benchmark_name(run.benchmark_path)
    return _benchmark_name(GROUPED_BENCHMARK_PATHS[run.kind].format(**run._fields))


def _benchmark_name(path: str) -> str:
    return path.removeprefix(BENCHMARK_DIR + "/").removesuffix(".tsv")


@dataclass(frozen=True)
class TrainingJob:
    """One training job of the workflow: ``runs``, trained one after another in one process, in this order (each
    setting's seeds together); ``grouped`` where it holds a grid's settings of one dataset, model and W
    (:func:`is_grouped`)."""

    name: str
    runs: tuple[Run, ...]
    grouped: bool = False

    @property
    def benchmark(self) -> str:
        return f"{BENCHMARK_DIR}/{self.name}.tsv"

    @property
    def log(self) -> str:
        return f"results/logs/{self.name}.log"

    @property
    def records(self) -> list[str]:
        return [run.path for run in self.runs]

    @property
    def dataset(self) -> str:
        return self.runs[0].dataset

    @property
    def settings(self) -> dict[Run, list[int]]:
        """Its settings (:func:`planned_jobs`: each a run with seed -1) with the seeds of each."""
        return planned_jobs(list(self.runs))

    @property
    def first_runs(self) -> list[Run]:
        """Each setting's run at its first seed."""
        return [dataclasses.replace(setting, seed=seeds[0]) for setting, seeds in self.settings.items()]

    @property
    def rule(self) -> str:
        """The name of a grouped job's Snakefile rule: its kind's rule and its own name, ``runs_cora_gcn_w4``,
        ``controls_cora_gcn_w4``, ``sweep_...``, ``options_...``."""
        first = self.runs[0]
        place = self.name if first.kind == "main" else self.name.split("/", 1)[1]
        return re.sub(r"\W", "_", f"{RULES[first.kind]}_{place}")


def training_jobs(config: dict, runs: list[Run] | None = None) -> list[TrainingJob]:
    """The workflow's training jobs of ``runs`` (default: every run it plans, :func:`planned_runs`), in the order of
    their first runs."""
    by_name: dict[str, list[Run]] = {}
    for run in planned_runs(config) if runs is None else runs:
        by_name.setdefault(job_name(config, run), []).append(run)
    return [TrainingJob(name, tuple(runs), is_grouped(config, runs[0])) for name, runs in by_name.items()]


def batch_command(lines: list[str], keep: str | None = None) -> str:
    """A shell command that runs ``lines`` (``satbench run`` options each) as one ``satbench batch``: torch, the
    training code and the graph's partition start once; with ``keep``, its ``--keep-finished`` directory."""
    kept = f" --keep-finished {shlex.quote(keep)}" if keep else ""
    return f"printf '%s\\n' {' '.join(shlex.quote(line) for line in lines)} | satbench batch{kept} -"


def grouped_script(config: dict, job: TrainingJob) -> str:
    """The shell command of a grouped job: every setting's ``satbench run`` options, all its seeds, as the lines of
    one ``satbench batch`` that keeps each finished seed (:data:`FINISHED_DIR`) until all are written."""
    lines = []
    for first, seeds in zip(job.first_runs, job.settings.values()):
        out = dataclasses.replace(first, seed="{seed}").path
        lines.append(f"{job_argv(config, first, seeds=seeds)} --no-progress --out {shlex.quote(out)}")
    return batch_command(lines, keep=FINISHED_DIR)


def grouped_threads(config: dict, job: TrainingJob) -> int:
    """The cores a grouped job takes: its busiest setting's (:func:`job_threads`)."""
    return max(job_threads(config, first) for first in job.first_runs)


def job_seconds(config: dict, job: TrainingJob) -> tuple[float, float]:
    """A training job's estimated seconds and core-seconds (:func:`estimate` of each setting, for all its seeds)."""
    seconds = core_seconds = 0.0
    for first, seeds in zip(job.first_runs, job.settings.values()):
        expected = estimate(job_config(config, first), seeds=len(seeds))
        seconds += expected.run_minutes * 60 * len(seeds)
        core_seconds += expected.run_minutes * 60 * len(seeds) * expected.cores
    return seconds, core_seconds


def grouped_priority(config: dict, job: TrainingJob) -> int:
    """A grouped job's Snakemake priority: its estimated seconds (:func:`job_seconds`), so that the longest jobs start
    first and the last to finish is a short one."""
    return round(job_seconds(config, job)[0])


def grouped_resources(config: dict, job: TrainingJob, attempt: int = 1) -> dict[str, Any]:
    """:func:`job_resources` of a grouped job: the time of all its settings' seeds (a grid's settings share its
    seeds), the memory of the largest."""
    return _resources(config, job.first_runs, len(next(iter(job.settings.values()))), attempt)


@dataclass(frozen=True)
class Calibration:
    """What measured job times make of :func:`plan_estimate`: the planned ``jobs`` found measured, the median and
    range of their measured over estimated time per run (``ratio_median``, ``ratio_low``, ``ratio_high``), and the
    plan's hours with each measured job's own time and the others' estimates scaled by the median ratio."""

    jobs: int
    ratio_median: float
    ratio_low: float
    ratio_high: float
    run_hours: float
    core_hours: float


@dataclass(frozen=True)
class PlanEstimate:
    """What a config's planned training costs by :func:`estimate` (an upper estimate, made for time limits): its
    ``jobs`` and ``runs``, the hours of those runs one after another (``run_hours``) and the core-hours they keep
    busy (``core_hours``: each job's hours times the cores it keeps busy); with measured job times, ``measured``
    (:class:`Calibration`). A regime study's confirm stage is not in it: the screen's records plan it."""

    jobs: int
    runs: int
    run_hours: float
    core_hours: float
    measured: Calibration | None = None


class _Benchmarked(NamedTuple):
    """One benchmark file's planned work (a Snakemake job: a setting's seeds, or a timing job's methods and
    repetitions): its estimated seconds and core-seconds, its runs and their record paths."""

    seconds: float
    core_seconds: float
    runs: int
    records: tuple[str, ...]


def _benchmarked_jobs(config: dict) -> dict[str, _Benchmarked]:
    """``config``'s planned training jobs (:func:`training_jobs`) by benchmark file."""
    return {job.benchmark: _Benchmarked(*job_seconds(config, job), len(job.runs), tuple(job.records))
            for job in training_jobs(config)}


def job_ratios(config: dict, root: str | os.PathLike, job_seconds: Mapping[str, float]) -> dict[str, float]:
    """Measured over estimated time per run of each of ``config``'s jobs that a workflow measured under ``root``
    (``job_seconds``: wall seconds by benchmark path, :data:`BENCHMARK_PATHS`). A job counts as many runs as its
    planned records exist under ``root``, so a job run with fewer seeds than the config plans is taken per run; a job
    with no record there is left out."""
    ratios = {}
    for path, (seconds, _, runs, records) in _benchmarked_jobs(config).items():
        found = sum(1 for record in records if (Path(root) / record).is_file())
        if path in job_seconds and found:
            ratios[path] = (job_seconds[path] / found) / (seconds / runs)
    return ratios


def plan_estimate(config: dict, ratios: Mapping[str, float] | None = None) -> PlanEstimate:
    """:class:`PlanEstimate` of ``config``; with ``ratios`` (:func:`job_ratios`, of this config or another whose
    jobs were measured) also calibrated by them: a job with a ratio of its own (the same benchmark path) scaled by
    it, every other by their median."""
    jobs = _benchmarked_jobs(config)
    cost = PlanEstimate(len(jobs), sum(job.runs for job in jobs.values()),
                        sum(job.seconds for job in jobs.values()) / 3600,
                        sum(job.core_seconds for job in jobs.values()) / 3600)
    if not ratios:
        return cost
    ordered = sorted(ratios.values())
    median = statistics.median(ordered)
    scale = {path: ratios.get(path, median) for path in jobs}
    return dataclasses.replace(cost, measured=Calibration(
        len(ratios), median, ordered[0], ordered[-1],
        sum(job.seconds * scale[path] for path, job in jobs.items()) / 3600,
        sum(job.core_seconds * scale[path] for path, job in jobs.items()) / 3600))


def _command(config: dict, run: Run, seeds: list[int], out: str) -> str:
    return f"satbench run {job_argv(config, run, seeds=seeds)} --out {shlex.quote(out)}"


# -- the regime study: where stale rows start to cost accuracy (config `regime:`) ------------------------------------
#
# The regime study's plan (``regime:`` in a workflow config; ``config/regime.yaml``): where, on real graphs, stale
# halo rows start to cost accuracy, and which alleviation method wins it back there.
#
# Two stages, the second planned from the first's records (a Snakemake checkpoint, ``regime_plan``):
#
# - **screen** (:func:`screen_runs`): every historical method of ``regime.methods`` (each of its sync periods
#   ``regime.sync_periods`` where it has that option) and its fresh-halo control, per dataset, model, model variant
#   (``depths`` × ``dropouts``, the model's own where not given) and W, with ``regime.seeds`` (few); exact once per
#   dataset, model and variant, in one process (W = 1: every W reproduces it, which the exactness tests hold). A
#   method's control is run once per W, not per τ: with exact halo rows DIGEST's training does not depend on τ
#   (tests/test_regime.py holds it).
# - **confirm** (:func:`confirm_runs`): the settings whose screened staleness cost (control − method, test points, mean
#   over the screen's seeds) exceeds ``confirm.threshold_pts``, the largest first, at most ``confirm.max_settings`` of
#   them, each rerun with ``confirm.seeds``: the base method, every alleviation method of ``confirm.methods`` whose
#   base it is, their controls and exact at the same W, so that the claims table's paired tests judge them there
#   (satbench.report.regime).
#
# Run records say their stage (``study`` ``regime-screen`` / ``regime-confirm``); the report reads nothing else of this
# module.

SCREEN, CONFIRM = "screen", "confirm"  # the regime study's stages
REGIME_PLAN_PATH = "results/regime/confirm-plan.json"
REGIME_THRESHOLD_PTS = 1.0
REGIME_MAX_SETTINGS = 2


def regime_section(config: dict) -> dict:
    return config.get("regime") or {}


def regime_seeds(config: dict, stage: str) -> list[int]:
    study = regime_section(config)
    return list(study.get("seeds", [])) if stage == SCREEN else list((study.get("confirm") or {}).get("seeds", []))


def regime_template(stage: str) -> str:
    """The record path of a stage's runs with the Snakefile's wildcards left open."""
    return REGIME_PATH.replace("{stage}", stage)


def _has_sync_period(method: str) -> bool:
    from .methods import get_method

    return "sync_period" in get_method(method).options


def regime_variants(config: dict, dataset: str, model: str) -> list[tuple[tuple[str, Any], ...]]:
    """The model variants of the study: every (layers, dropout) of ``depths`` × ``dropouts`` that differs from the
    model's own settings where given; the model's own (no overrides) otherwise."""
    study = regime_section(config)
    own = models_of(config, dataset)[model]
    depths = study.get("depths") or [own.get("layers")]
    dropouts = study.get("dropouts") or [own.get("dropout")]
    found = []
    for layers, dropout in itertools.product(depths, dropouts):
        overrides = tuple((key, value) for key, value in (("layers", layers), ("dropout", dropout))
                          if value is not None and value != own.get(key))
        if overrides not in found:
            found.append(overrides)
    return found


def _regime_settings(config: dict):
    """(dataset, model, overrides) of the study: each dataset's models among ``regime.models`` (all its models where
    that is not given), each in every variant."""
    study = regime_section(config)
    for dataset in study.get("datasets", []):
        for model in models_of(config, dataset):
            if model in study.get("models", [model]):
                for overrides in regime_variants(config, dataset, model):
                    yield dataset, model, overrides


def regime_workers(config: dict, dataset: str) -> list[int]:
    """The worker counts the screen runs on ``dataset``: ``regime.workers_of[dataset]`` where given (a larger graph
    may be screened at fewer W), else ``regime.workers``."""
    study = regime_section(config)
    return list((study.get("workers_of") or {}).get(dataset, study["workers"]))


def screen_runs(config: dict) -> list[Run]:
    """The screen's runs, every seed (see the module docstring)."""
    study = regime_section(config)
    if not study:
        return []
    seeds = regime_seeds(config, SCREEN)
    runs: dict[str, Run] = {}

    def add(**fields) -> None:
        for seed in seeds:
            run = Run(seed=seed, stage=SCREEN, **fields)
            runs.setdefault(run.path, run)

    for dataset, model, overrides in _regime_settings(config):
        add(dataset=dataset, model=model, method="exact", workers=1, overrides=overrides)
        for workers in regime_workers(config, dataset):
            for method in study["methods"]:
                periods = study.get("sync_periods", []) if _has_sync_period(method) else [None]
                for period in periods:
                    add(dataset=dataset, model=model, method=method, workers=workers, sync_period=period,
                        overrides=overrides)
                control = control_method(method)
                if control is not None:
                    add(dataset=dataset, model=model, method=control, workers=workers, halo="fresh",
                        sync_period=periods[0], overrides=overrides)
    return list(runs.values())


def plan_confirm(config: dict, table) -> dict:
    """The confirm stage's settings from the screen's regime table (satbench.report.regime.regime_table of the
    screen's records): every setting whose staleness cost estimate exceeds the threshold, the largest first, at most
    ``max_settings``, and only those at most ``max_workers`` W where that is given (a run costs more the more
    workers share the process); the rest that passed are listed as ``deferred`` (the budget's choice, not the
    data's)."""
    confirm = regime_section(config).get("confirm") or {}
    threshold = float(confirm.get("threshold_pts", REGIME_THRESHOLD_PTS))
    limit = int(confirm.get("max_settings", REGIME_MAX_SETTINGS))
    passed = [] if table.empty else table[table["staleness_cost_estimate"] > threshold].sort_values(
        "staleness_cost_estimate", ascending=False)
    chosen = []
    for row in (passed.itertuples(index=False) if len(passed) else []):
        period = None if row.sync_period != row.sync_period else int(row.sync_period)  # NaN: no sync period
        overrides = [[key, getattr(row, key)] for key in ("layers", "dropout")
                     if getattr(row, key) != models_of(config, row.dataset)[row.model].get(key)]
        setting = {"dataset": row.dataset, "model": row.model, "overrides": overrides,
                   "workers": int(row.workers), "method": row.method, "sync_period": period,
                   "screen_staleness_cost_pts": float(row.staleness_cost_estimate)}
        setting["methods"], setting["not_applicable"] = _applicable(config, setting)
        chosen.append(setting)
    within = [setting for setting in chosen if setting["workers"] <= confirm.get("max_workers", math.inf)]
    settings = within[:limit]
    return {"threshold_pts": threshold, "max_settings": limit, "max_workers": confirm.get("max_workers"),
            "settings": settings, "deferred": [setting for setting in chosen if setting not in settings],
            "screened": 0 if table.empty else len(table)}


def write_plan(config: dict, records: list[str], out: str | Path) -> dict:
    """Read the screen's records, plan the confirm stage and write the plan (JSON, atomically)."""
    from .files import write_text_atomic
    from .report.frames import Frames, load_records
    from .report.regime import regime_table

    frames = Frames.of(load_records(records))
    plan = plan_confirm(config, regime_table(frames.runs, frames.staleness))
    write_text_atomic(Path(out), json.dumps(plan, indent=1) + "\n")
    return plan


def read_plan(path: str | Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"regime plan {path}: {error}") from None


def _applicable(config: dict, setting: dict) -> tuple[list[str], dict[str, str]]:
    """The alleviation methods on the setting's base that can run there (``satbench run``'s own check, e.g.
    sat-layer1 needs dropout 0), and why each other one cannot."""
    methods, refused = [], {}
    for method in alleviation_methods(config, setting["method"]):
        run = Run(setting["dataset"], setting["model"], method, setting["workers"], 0,
                  sync_period=setting["sync_period"] if _has_sync_period(method) else None, stage=CONFIRM,
                  overrides=tuple((key, value) for key, value in setting["overrides"]))
        try:
            job_config(config, run, device="cpu").validate()
        except ConfigError as error:
            refused[method] = str(error)
            continue
        methods.append(method)
    return methods, refused


def alleviation_methods(config: dict, base: str) -> list[str]:
    """The alleviation methods of ``confirm.methods`` (default: every registered one) whose base is ``base``."""
    from .methods import ALLEVIATION, discover_methods

    known = discover_methods()
    names = (regime_section(config).get("confirm") or {}).get("methods") or sorted(known)
    return [name for name in names if known[name].base == base and known[name].family == ALLEVIATION]


def confirm_runs(config: dict, plan: dict) -> list[Run]:
    """The confirm stage's runs for the plan's settings, every seed (see the module docstring)."""
    seeds = regime_seeds(config, CONFIRM)
    runs: dict[str, Run] = {}
    for setting in plan.get("settings", []):
        base = setting["method"]
        overrides = tuple((key, value) for key, value in setting.get("overrides", []))
        shared = dict(dataset=setting["dataset"], model=setting["model"], workers=setting["workers"],
                      overrides=overrides, stage=CONFIRM)
        period = setting.get("sync_period")
        methods = [base, *setting["methods"]]
        planned = [("exact", None, "method")]
        for method in methods:
            planned.append((method, period if _has_sync_period(method) else None, "method"))
            control = control_method(method)
            if control is not None:
                planned.append((control, period if _has_sync_period(control) else None, "fresh"))
        for method, period, halo in planned:
            for seed in seeds:
                run = Run(method=method, seed=seed, sync_period=period, halo=halo, **shared)
                runs.setdefault(run.path, run)
    return list(runs.values())


def check_regime(config: dict, fail) -> None:
    """The regime study's own rules: its datasets and models among the config's, W > 1, historical methods with a
    control, sync periods where a method has them, confirm seeds enough for a paired test."""
    from .methods import discover_methods

    study = regime_section(config)
    if not study:
        return
    known = discover_methods()
    for label in [*study.get("datasets", []), *(study.get("workers_of") or {})]:
        if label not in config["datasets"]:
            fail(f"regime dataset {label!r} is not among the datasets ({', '.join(config['datasets'])})")
    for model in study.get("models", []):
        if not any(model in models_of(config, label) for label in study.get("datasets", [])):
            fail(f"regime model {model!r} is trained on none of the regime's datasets")
    for workers in [*study.get("workers", []), *(w for ws in (study.get("workers_of") or {}).values() for w in ws)]:
        if workers < 2:
            fail(f"regime workers must be at least 2, got {workers}: one worker has no halo rows to be stale")
    for method in study.get("methods", []):
        if method not in known:
            fail(f"unknown regime method {method!r}; known: {', '.join(sorted(known))}")
        if control_method(method) is None:
            fail(f"regime method {method!r} has no fresh-halo control to separate its staleness cost")
    if any(_has_sync_period(m) for m in study.get("methods", [])) and not study.get("sync_periods"):
        fail("regime: a method with a sync period needs regime.sync_periods")
    confirm = study.get("confirm") or {}
    for method in confirm.get("methods", []):
        if method not in known:
            fail(f"unknown regime confirm method {method!r}; known: {', '.join(sorted(known))}")
    if confirm and len(confirm.get("seeds", [])) < 2:
        fail("regime confirm: a paired test needs at least 2 seeds")


def regime_job(config: dict, stage: str, wildcards) -> Run:
    """The :class:`Run` of the regime job named by a Snakemake rule's wildcards, at the stage's first seed (the job
    trains them all)."""
    return Run(wildcards.dataset, wildcards.model, wildcards.method, int(wildcards.workers),
               regime_seeds(config, stage)[0],
               sync_period=None if wildcards.sync_period == "none" else int(wildcards.sync_period), halo=wildcards.halo,
               stage=stage,
               overrides=variant_overrides(wildcards.variant))


def regime_records(config: dict, plan_path: str | Path | None = None) -> list[str]:
    """Every record of the study: the screen's, and the confirm stage's where its plan exists."""
    paths = [run.path for run in screen_runs(config)]
    if plan_path is not None and Path(plan_path).is_file():
        paths += [run.path for run in confirm_runs(config, read_plan(plan_path))]
    return paths
