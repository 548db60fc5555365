"""satbench reproduction workflow.

    snakemake --cores all                                   # default: config/config.yaml (offline, generated graphs)
    snakemake --cores all --configfile config/real.yaml
    snakemake --cores all --configfile config/bandwidth.yaml          # the bandwidth study (root: emulated links)
    snakemake --profile profiles/slurm --configfile config/paper.yaml     # the paper grid on a SLURM GPU cluster
    snakemake tables figures data --config existing_only=true --forcerun tables figures data   # from records only
    snakemake --report report.html                          # figures and tables with captions

Rules, each named for what it makes. Training, one job per dataset x model x method x W, every seed in one process
(torch is imported once), where its workers are processes; where a grid runs in-process, one job per grid, dataset,
model and W, every setting of it in one `satbench batch`, a rule of its own named after it (runs_cora_gcn_w4; below,
satbench.workflow.training_jobs): `runs` (results/runs/), `controls` (results/controls/: the fresh-halo control of each stale
method's runs; `controls: false` turns them off), `sweep` (results/sweep/: per sync period), `options`
(results/options/: a main-grid method with options changed from its defaults, `option_study`), `bandwidth`
(results/bandwidth/: one job per method, rate and W, each alone on the machine), `timing` (results/timing/: one job
per dataset, model and W, alone on the machine, timing every method of the timing study with worker processes,
repetition after repetition, the methods in turn within each). The accuracy and staleness grids (runs, controls,
options, sweep) run with the config's `launcher` (default inprocess: the W workers as threads of one process); bandwidth and
timing runs, runs on CUDA and jobs across nodes start one process per worker (satbench.workflow.run_launcher). Then,
from every run record and on the machine Snakemake runs on (local rules: they only aggregate), `tables`
(results/tables/), `figures` (plots/) and `data` (results/runs.parquet, epochs.parquet and staleness.parquet:
docs/data.md). Before any training job, the local rule `datasets_ready` fetches each dataset once (`satbench data
fetch`: copied from a mirror, or downloaded where downloading is on); the first job that needs a partition computes
it (the partition cache is shared and written atomically). A training job's resources (time, memory, GPUs, nodes,
cores) are estimated from the grid (satbench.workflow.job_resources, job_threads; README, "On a SLURM cluster").
"""

from types import SimpleNamespace

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from satbench.errors import ConfigError

from satbench.workflow import (
    BANDWIDTH_PATH, BENCHMARK_PATHS, CONTROL_PATH, DATA_DIR, OPTION_PATH, PLOTS_DIR, RUN_PATH, SWEEP_PATH, TABLES_DIR,
    TIMING_PATH,
    Run, bandwidth_runs, caption_file, check_config, control_runs, job_argv, job_launcher, job_resources, job_threads,
    main_runs, option_runs, rate_from_path, report_outputs, sweep_runs, timing_jobs, timing_methods, timing_repeats,
    timing_resources, timing_script,
)
from satbench.workflow import grouped_priority, grouped_resources, grouped_script, grouped_threads, training_jobs
from satbench.workflow import (
    REGIME_PLAN_PATH, confirm_runs, read_plan, regime_job, regime_seeds, regime_template, screen_runs, write_plan,
)


min_version("8.0")


# The default config only when none is given: `--configfile` would otherwise be merged into it, and the default's
# datasets would leak into every other grid.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "config/schema.yaml")
try:
    check_config(config)
except ConfigError as error:
    raise WorkflowError(str(error)) from None

RUNS = [run.path for run in main_runs(config)]
CONTROLS = [run.path for run in control_runs(config)]
SWEEP = [run.path for run in sweep_runs(config)]
BANDWIDTH = [run.path for run in bandwidth_runs(config)]
TIMING_JOBS = timing_jobs(config)  # (dataset, model, W) -> its runs, in the order the job trains them
TIMING = [run.path for runs in TIMING_JOBS.values() for run in runs]
REGIME_SCREEN = [run.path for run in screen_runs(config)]  # its confirm stage: regime_confirm_records()
OPTIONS = [run.path for run in option_runs(config)]
SEEDS = config.get("seeds", [])  # none without a main grid (a bandwidth study alone)
SWEEP_SEEDS = (config.get("sweep") or {}).get("seeds", [])
BANDWIDTH_SEEDS = (config.get("bandwidth") or {}).get("seeds", [])
ENV = "envs/satbench.yaml"  # what environment.yml installs (tests/test_packaging.py holds them together)
TABLES, PLOTS = report_outputs(config)  # what the runs will support (satbench.artefacts, as `satbench report` asks)


wildcard_constraints:
    dataset=r"[^/]+",
    model=r"[^/]+",
    method=r"[^/]+",
    rate=r"[^/]+",
    workers=r"\d+",
    sync_period=r"\d+|none",
    halo=r"method|fresh",
    variant=r"[^/]+",
    option=r"[^/]+",
    rep=r"\d+",


# datasets_ready runs where the workflow is driven: a cluster's compute nodes are often offline, and one fetch
# before any training job means no two jobs race to download the same files.
localrules:
    all,
    tables,
    figures,
    data,
    datasets_ready,


def existing_only():
    return str(config.get("existing_only", False)).lower() == "true"


def regime_confirm_records(wildcards=None):
    """The regime study's confirm-stage records: planned from the screen's records by the regime_plan checkpoint
    (Snakemake re-evaluates the DAG once the plan exists); none without a regime study, or, from records only, where
    no plan was written."""
    if not REGIME_SCREEN or (existing_only() and not os.path.exists(REGIME_PLAN_PATH)):
        return []
    plan = checkpoints.regime_plan.get().output[0]
    return [run.path for run in confirm_runs(config, read_plan(plan))]


def records(wildcards):
    """Every run record of this config; with `--config existing_only=true`, only those already on disk."""
    planned = RUNS + CONTROLS + SWEEP + BANDWIDTH + TIMING + REGIME_SCREEN + OPTIONS + regime_confirm_records()
    if not existing_only():
        return planned
    found = [path for path in planned if os.path.exists(path)]
    if not found:
        raise WorkflowError("existing_only=true but no run record of this config exists yet")
    return found


def training(job, seeds, template):
    """A training rule's threads, params and resources, for the jobs `job(wildcards)` (a satbench.workflow.Run)
    trains for every one of `seeds`, writing `template` with `{seed}` left for `satbench run` to fill in."""

    params = {
        "launch": lambda wildcards: job_launcher(config, job(wildcards)),
        "args": lambda wildcards: job_argv(config, job(wildcards), seeds=seeds),
        "out": lambda wildcards: template.format(**{**dict(wildcards.items()), "seed": "{seed}"}),
    }
    threads = lambda wildcards: job_threads(config, job(wildcards))
    resources = per_resource(lambda wildcards, attempt: job_resources(config, job(wildcards), len(seeds), attempt))
    return SimpleNamespace(threads=threads, params=params, resources=resources)


def per_resource(compute):
    """Each resource a training rule asks for, as Snakemake asks it (per job and attempt), from
    ``compute(wildcards, attempt)`` (a dict of them all), worked out once per job rather than once per resource."""
    asked = {}

    def resource(name):
        def value(wildcards, attempt):
            key = (tuple(sorted(wildcards.items())), attempt)
            if key not in asked:
                asked[key] = compute(wildcards, attempt)
            return asked[key].get(name)

        return value

    names = ("runtime", "mem_mb", "gpu", "nodes", "tasks", "mpi", "slurm_extra")
    return {name: resource(name) for name in names}


def main_run(wildcards, **kind):
    return Run(wildcards.dataset, wildcards.model, wildcards.method, int(wildcards.workers), SEEDS[0], **kind)


RUNS_JOBS = training(main_run, SEEDS, RUN_PATH)
CONTROLS_JOBS = training(lambda wc: main_run(wc, halo="fresh"), SEEDS, CONTROL_PATH)
OPTIONS_JOBS = training(lambda wc: main_run(wc, option=wc.option), SEEDS, OPTION_PATH)
SWEEP_JOBS = training(
    lambda wc: Run(wc.dataset, wc.model, wc.method, int(wc.workers), SWEEP_SEEDS[0], int(wc.sync_period)),
    SWEEP_SEEDS, SWEEP_PATH,
)
BANDWIDTH_JOBS = training(
    lambda wc: Run(wc.dataset, wc.model, wc.method, int(wc.workers), BANDWIDTH_SEEDS[0],
                   rate=rate_from_path(wc.rate)),
    BANDWIDTH_SEEDS, BANDWIDTH_PATH,
)


def timing_job(wildcards):
    """The runs of the timing job these wildcards name."""
    return TIMING_JOBS[(wildcards.dataset, wildcards.model, int(wildcards.workers))]


report: "report/workflow.rst"


rule all:
    input:
        expand(f"{TABLES_DIR}/{{table}}.{{ext}}", table=TABLES, ext=["csv", "md", "tex"]),
        expand(f"{PLOTS_DIR}/{{plot}}.{{ext}}", plot=PLOTS, ext=["png", "pdf"]),
        f"{DATA_DIR}/runs.parquet",
        f"{DATA_DIR}/epochs.parquet",
        f"{DATA_DIR}/staleness.parquet",
        # The records themselves too: Snakemake (>= 8) does not rerun a job for a deleted intermediate file while
        # the files made from it look up to date, so without this a deleted record would stay deleted and the
        # tables would go on listing it. As targets, a missing record reruns its job, and the tables with it.
        RUNS + CONTROLS + SWEEP + BANDWIDTH + TIMING + REGIME_SCREEN + OPTIONS,
        regime_confirm_records,


# One marker per dataset label: compute nodes are often offline, and jobs started together would race to download
# and process the same files, so the files are fetched once, on the machine Snakemake runs on, before any training job.
DATASET_READY = "results/.datasets/{dataset}.ready"


def dataset_ready(template, first=dict, dataset=None):
    """A training rule's input: its dataset's marker (``dataset``, or the rule's wildcard). Ancient, so that a marker
    newer than the records retrains nothing; and none for a job whose records Snakemake wrote before the marker was an
    input (their metadata lists no input), which it would otherwise retrain for a changed set of inputs. ``template``:
    the rule's records, the job's first one given by its wildcards and ``first()``."""
    from snakemake.io import IOFile

    def marker(wildcards):
        ready = DATASET_READY.format(dataset=dataset or wildcards.dataset)
        record = template.format(**{**dict(wildcards.items()), **first()})
        recorded = workflow.persistence.input(IOFile(record)) if os.path.exists(record) else None
        return [] if recorded is not None and ready not in recorded else ancient(ready)

    return marker


rule datasets_ready:
    """A dataset's files fetched (or copied from a mirror) into data/ and loaded once (`satbench data fetch`)."""
    output:
        touch(DATASET_READY),
    log:
        "results/logs/datasets/{dataset}.log",
    localrule: True
    conda:
        ENV
    params:
        spec=lambda wildcards: config["datasets"][wildcards.dataset]["spec"],
    shell:
        "satbench data fetch {params.spec:q} > {log} 2>&1"


rule runs:
    input:
        dataset_ready(RUN_PATH, lambda: {"seed": SEEDS[0]}),
    output:
        expand(RUN_PATH, seed=SEEDS, allow_missing=True),
    log:
        "results/logs/{dataset}/{model}/{method}/w{workers}.log",
    benchmark:
        BENCHMARK_PATHS["main"]
    conda:
        ENV
    threads: RUNS_JOBS.threads
    resources:
        **RUNS_JOBS.resources,
    params:
        **RUNS_JOBS.params,
    shell:
        # --keep-finished: Snakemake deletes a failed job's outputs; the seeds that finished are kept aside and not
        # trained again when the job reruns, only the one that failed.
        "{params.launch}satbench run {params.args} --no-progress --out {params.out:q} "
        "--keep-finished results/.finished > {log} 2>&1"


use rule runs as controls with:
    input:
        dataset_ready(CONTROL_PATH, lambda: {"seed": SEEDS[0]}),
    output:
        expand(CONTROL_PATH, seed=SEEDS, allow_missing=True),
    log:
        "results/logs/controls/{dataset}/{model}/{method}/w{workers}.log",
    benchmark:
        BENCHMARK_PATHS["control"]
    threads: CONTROLS_JOBS.threads
    resources:
        **CONTROLS_JOBS.resources,
    params:
        **CONTROLS_JOBS.params,


use rule runs as options with:
    input:
        dataset_ready(OPTION_PATH, lambda: {"seed": SEEDS[0]}),
    output:
        expand(OPTION_PATH, seed=SEEDS, allow_missing=True),
    log:
        "results/logs/options/{dataset}/{model}/{method}/{option}/w{workers}.log",
    benchmark:
        BENCHMARK_PATHS["option"]
    threads: OPTIONS_JOBS.threads
    resources:
        **OPTIONS_JOBS.resources,
    params:
        **OPTIONS_JOBS.params,


use rule runs as sweep with:
    input:
        dataset_ready(SWEEP_PATH, lambda: {"seed": SWEEP_SEEDS[0]}),
    output:
        expand(SWEEP_PATH, seed=SWEEP_SEEDS, allow_missing=True),
    log:
        "results/logs/sweep/{dataset}/{model}/{method}/sync-{sync_period}/w{workers}.log",
    benchmark:
        BENCHMARK_PATHS["sweep"]
    threads: SWEEP_JOBS.threads
    resources:
        **SWEEP_JOBS.resources,
    params:
        **SWEEP_JOBS.params,


use rule runs as bandwidth with:
    input:
        dataset_ready(BANDWIDTH_PATH, lambda: {"seed": BANDWIDTH_SEEDS[0]}),
    output:
        expand(BANDWIDTH_PATH, seed=BANDWIDTH_SEEDS, allow_missing=True),
    log:
        "results/logs/bandwidth/{dataset}/{model}/{method}/{rate}/w{workers}.log",
    benchmark:
        BENCHMARK_PATHS["bandwidth"]
    # Every core, so that Snakemake runs no other job beside it: its epoch times are the measurement, and W workers
    # on one machine already share its cores; another job's load would lengthen them by an amount that differs from
    # run to run, so the times of two rates or two methods would not compare. (A function, so that commands given no
    # --cores, such as --report, can still read the Snakefile.)
    threads: lambda wildcards: workflow.cores
    resources:
        **BANDWIDTH_JOBS.resources,
    params:
        **BANDWIDTH_JOBS.params,


# An in-process grid's jobs (satbench.workflow.TrainingJob): one per grid, dataset, model and W, training all its
# settings and seeds in one `satbench batch` (start-up once), each a rule of its own with its records spelled out
# (a rule's outputs cannot depend on its wildcards' values, and each group has its own methods). Where one of its
# records could also come from the wildcard rules above, Snakemake prefers the rule without wildcards; those rules make
# the records of jobs of one setting (CUDA, torchrun, spawned workers).
for grouped in (job for job in training_jobs(config) if job.grouped):

    rule:
        name:
            grouped.rule
        input:
            dataset_ready(grouped.records[0], dataset=grouped.dataset),
        output:
            grouped.records,
        log:
            grouped.log,
        benchmark:
            grouped.benchmark
        conda:
            ENV
        threads: grouped_threads(config, grouped)
        priority: grouped_priority(config, grouped)
        resources:
            **per_resource(lambda wildcards, attempt, job=grouped: grouped_resources(config, job, attempt)),
        params:
            # a function: a string's {seed} (each line's --out) would be taken for a wildcard
            script=lambda wildcards, job=grouped: grouped_script(config, job),
        shell:
            "( {params.script} ) > {log} 2>&1"


rule timing:
    """One job per dataset, model and W: every timed method with worker processes, repetition after repetition (rep
    0: m1 m2 ..., rep 1: m1 m2 ...), so that a method and its base are timed close together on the same machine; a
    run's seed is its repetition."""
    input:
        dataset_ready(TIMING_PATH, lambda: {"method": timing_methods(config)[0], "rep": 0}),
    output:
        expand(TIMING_PATH, method=timing_methods(config), rep=range(timing_repeats(config)), allow_missing=True),
    log:
        "results/logs/timing/{dataset}/{model}/w{workers}.log",
    benchmark:
        BENCHMARK_PATHS["timing"]
    conda:
        ENV
    # Every core, as a bandwidth job (at least a core per worker where Snakemake gives jobs no more, on a cluster):
    # its epoch times are the measurement.
    threads: lambda wildcards: max(job_threads(config, timing_job(wildcards)[0]), workflow.cores)
    resources:
        **per_resource(lambda wildcards, attempt: timing_resources(config, timing_job(wildcards), attempt)),
    params:
        script=lambda wildcards: timing_script(config, wildcards.dataset, wildcards.model, int(wildcards.workers)),
    shell:
        "( {params.script} ) > {log} 2>&1"


# The regime study (satbench.workflow, "the regime study"): the screen's jobs, the checkpoint that plans the confirm stage from their
# records, and the confirm stage's jobs; the same training command as the main runs.
REGIME_SCREEN_JOBS = training(lambda wc: regime_job(config, "screen", wc), regime_seeds(config, "screen"),
                              regime_template("screen"))
REGIME_CONFIRM_JOBS = training(lambda wc: regime_job(config, "confirm", wc), regime_seeds(config, "confirm"),
                               regime_template("confirm"))
REGIME_JOB = "{dataset}/{model}/{variant}/w{workers}/sync-{sync_period}/{halo}/{method}"


# Only where the config has a regime study (a rule cannot have no output).
if REGIME_SCREEN:

    use rule runs as regime_screen with:
        input:
            dataset_ready(regime_template("screen"), lambda: {"seed": regime_seeds(config, "screen")[0]}),
        output:
            expand(regime_template("screen"), seed=regime_seeds(config, "screen"), allow_missing=True),
        log:
            f"results/logs/regime/screen/{REGIME_JOB}.log",
        benchmark:
            BENCHMARK_PATHS["regime"].replace("{stage}", "screen")
        threads: REGIME_SCREEN_JOBS.threads
        resources:
            **REGIME_SCREEN_JOBS.resources,
        params:
            **REGIME_SCREEN_JOBS.params,


    checkpoint regime_plan:
        """The confirm stage's settings, from the screen's records (satbench.workflow.plan_confirm)."""
        input:
            REGIME_SCREEN,
        output:
            REGIME_PLAN_PATH,
        localrule: True
        run:
            write_plan(config, list(input), output[0])


if REGIME_SCREEN and regime_seeds(config, "confirm"):

    use rule runs as regime_confirm with:
        input:
            dataset_ready(regime_template("confirm"), lambda: {"seed": regime_seeds(config, "confirm")[0]}),
        output:
            expand(regime_template("confirm"), seed=regime_seeds(config, "confirm"), allow_missing=True),
        log:
            f"results/logs/regime/confirm/{REGIME_JOB}.log",
        benchmark:
            BENCHMARK_PATHS["regime"].replace("{stage}", "confirm")
        threads: REGIME_CONFIRM_JOBS.threads
        resources:
            **REGIME_CONFIRM_JOBS.resources,
        params:
            **REGIME_CONFIRM_JOBS.params,


rule tables:
    """Tables (CSV, Markdown, LaTeX) and runs.csv from the run records (`make figures`: those on disk only)."""
    input:
        records,
    output:
        f"{TABLES_DIR}/runs.csv",
        [
            report(f"{TABLES_DIR}/{table}.csv", category="Tables", caption=caption_file("table", table))
            for table in TABLES
        ],
        expand(f"{TABLES_DIR}/{{table}}.{{ext}}", table=TABLES, ext=["md", "tex"]),
    log:
        "results/logs/tables.log",
    conda:
        ENV
    shell:
        f"satbench report --tables {TABLES_DIR} {{input}} > {{log}} 2>&1"


rule figures:
    """Figures (PNG, PDF) from the run records (`make figures`: those on disk only)."""
    input:
        records,
    output:
        [report(f"{PLOTS_DIR}/{plot}.png", category="Figures", caption=caption_file("figure", plot)) for plot in PLOTS],
        expand(f"{PLOTS_DIR}/{{plot}}.pdf", plot=PLOTS),
    log:
        "results/logs/figures.log",
    conda:
        ENV
    shell:
        f"satbench report --plots {PLOTS_DIR} {{input}} > {{log}} 2>&1"


rule data:
    """The run records as tidy data files, one grain each: one row per run, per (run, epoch), per (run, measured
    epoch, hidden layer)."""
    input:
        records,
    output:
        f"{DATA_DIR}/runs.parquet",
        f"{DATA_DIR}/epochs.parquet",
        f"{DATA_DIR}/staleness.parquet",
    log:
        "results/logs/data.log",
    conda:
        ENV
    shell:
        f"satbench report --data {DATA_DIR} {{input}} > {{log}} 2>&1"
