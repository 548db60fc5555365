"""satbench reproduction workflow.

    snakemake --cores all                                   # default: config/config.yaml (offline, generated graphs)
    snakemake --cores all --configfile config/real.yaml
    snakemake --cores all --configfile config/bandwidth.yaml          # the bandwidth study (root: emulated links)
    snakemake --profile profiles/slurm --configfile config/paper.yaml     # the paper grid on a GPU cluster
    snakemake figures --config existing_only=true --forcerun figures      # tables/plots from existing records only
    snakemake --report report.html                          # figures and tables with captions

Jobs: train (one per dataset x model x method x workers, training every seed in one process so that torch is imported
once; and per sync period in the sweep), train_control (the fresh-halo control of each stale method's runs;
`controls: false` turns them off), train_bandwidth (the bandwidth study: one job per method, rate and W, each alone on
the machine) -> figures (aggregate tables + plots). Datasets are prepared and partitioned by the first job that needs
them (the partition cache is shared and written atomically).
"""

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from satbench.errors import ConfigError
from satbench.workflow import (
    BANDWIDTH_PATH, CONTROL_PATH, RUN_PATH, SWEEP_PATH, Run, bandwidth_runs, caption_file, check_config,
    control_runs, main_runs, rate_from_path, report_outputs, job_argv, sweep_runs,
)


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
ON_GPU = config["device"] == "cuda"
SEEDS = config.get("seeds", [])  # none without a main grid (a bandwidth study alone)
SWEEP_SEEDS = (config.get("sweep") or {}).get("seeds", [])
BANDWIDTH_SEEDS = (config.get("bandwidth") or {}).get("seeds", [])


def out_template(path, wildcards, **values):
    """A job's `--out`: its record path with `{seed}` left for `satbench run` to fill in, one record per seed."""
    return path.format(**{**dict(wildcards.items()), **values, "seed": "{seed}"})


def existing(paths):
    return [path for path in paths if os.path.exists(path)]


def records(wildcards):
    """Every run record of this config; with `--config existing_only=true`, only those already on disk."""
    if str(config.get("existing_only", False)).lower() == "true":
        found = existing(RUNS + CONTROLS + SWEEP + BANDWIDTH)
        if not found:
            raise WorkflowError("existing_only=true but no run record of this config exists yet")
        return found
    return RUNS + CONTROLS + SWEEP + BANDWIDTH


report: "report/workflow.rst"

TABLES, PLOTS = report_outputs(config)  # what the runs will support (satbench.artefacts, as `satbench report` asks)


rule all:
    input:
        expand("results/tables/{table}.{ext}", table=TABLES, ext=["csv", "md", "tex"]),
        expand("plots/{plot}.{ext}", plot=PLOTS, ext=["png", "pdf"]),
        # The records themselves too: Snakemake (>= 8) does not rerun a job for a deleted intermediate file while
        # the files made from it look up to date, so without this a deleted record would stay deleted and the
        # tables would go on listing it. As targets, a missing record reruns its job, and the tables with it.
        RUNS + CONTROLS + SWEEP + BANDWIDTH,


def _train_resources(workers):
    return {"gpu": int(workers)} if ON_GPU else {}


rule train:
    output:
        expand(RUN_PATH, seed=SEEDS, allow_missing=True),
    log:
        "results/logs/{dataset}/{model}/{method}/w{workers}.log",
    benchmark:
        "results/benchmarks/{dataset}/{model}/{method}/w{workers}.tsv"
    wildcard_constraints:
        dataset=r"[^/]+",
        model=r"[^/]+",
        method=r"[^/]+",
        workers=r"\d+",
    threads: lambda wc: 1 if ON_GPU else int(wc.workers)
    resources:
        gpu=lambda wc: int(wc.workers) if ON_GPU else 0,
    params:
        args=lambda wc: job_argv(config, Run(wc.dataset, wc.model, wc.method, int(wc.workers), SEEDS[0]),
                                      seeds=SEEDS),
        out=lambda wc: out_template(RUN_PATH, wc),
    shell:
        "satbench run {params.args} --no-progress --out {params.out:q} > {log} 2>&1"


use rule train as train_control with:
    output:
        expand(CONTROL_PATH, seed=SEEDS, allow_missing=True),
    log:
        "results/logs/controls/{dataset}/{model}/{method}/w{workers}.log",
    benchmark:
        "results/benchmarks/controls/{dataset}/{model}/{method}/w{workers}.tsv"
    params:
        args=lambda wc: job_argv(
            config, Run(wc.dataset, wc.model, wc.method, int(wc.workers), SEEDS[0], halo="fresh"), seeds=SEEDS
        ),
        out=lambda wc: out_template(CONTROL_PATH, wc),


use rule train as train_sweep with:
    output:
        expand(SWEEP_PATH, seed=SWEEP_SEEDS, allow_missing=True),
    log:
        "results/logs/sweep/{dataset}/{model}/{method}/tau{tau}/w{workers}.log",
    benchmark:
        "results/benchmarks/sweep/{dataset}/{model}/{method}/tau{tau}/w{workers}.tsv"
    wildcard_constraints:
        dataset=r"[^/]+",
        model=r"[^/]+",
        method=r"[^/]+",
        workers=r"\d+",
        tau=r"\d+",
    params:
        args=lambda wc: job_argv(
            config, Run(wc.dataset, wc.model, wc.method, int(wc.workers), SWEEP_SEEDS[0], int(wc.tau)),
            seeds=SWEEP_SEEDS,
        ),
        out=lambda wc: out_template(SWEEP_PATH, wc),


use rule train as train_bandwidth with:
    output:
        expand(BANDWIDTH_PATH, seed=BANDWIDTH_SEEDS, allow_missing=True),
    log:
        "results/logs/bandwidth/{dataset}/{model}/{method}/{rate}/w{workers}.log",
    benchmark:
        "results/benchmarks/bandwidth/{dataset}/{model}/{method}/{rate}/w{workers}.tsv"
    wildcard_constraints:
        dataset=r"[^/]+",
        model=r"[^/]+",
        method=r"[^/]+",
        rate=r"[^/]+",
        workers=r"\d+",
    # Every core, so that Snakemake runs no other job beside it: its epoch times are the measurement, and W workers
    # on one machine already share its cores; another job's load would lengthen them by an amount that differs from
    # run to run, so the times of two rates or two methods would not compare. (A function, so that commands given no
    # --cores, such as --report, can still read the Snakefile.)
    threads: lambda wildcards: workflow.cores
    params:
        args=lambda wc: job_argv(
            config,
            Run(wc.dataset, wc.model, wc.method, int(wc.workers), BANDWIDTH_SEEDS[0], rate=rate_from_path(wc.rate)),
            seeds=BANDWIDTH_SEEDS,
        ),
        out=lambda wc: out_template(BANDWIDTH_PATH, wc),


rule figures:
    """Tables and plots from the run records (`make figures` passes existing_only=true: no training)."""
    input:
        records,
    output:
        [
            report(f"results/tables/{table}.csv", category="Tables", caption=caption_file("table", table))
            for table in TABLES
        ],
        expand("results/tables/{table}.{ext}", table=TABLES, ext=["md", "tex"]),
        [
            report(f"plots/{plot}.png", category="Figures", caption=caption_file("figure", plot))
            for plot in PLOTS
        ],
        expand("plots/{plot}.pdf", plot=PLOTS),
    log:
        "results/logs/figures.log",
    shell:
        "satbench report --tables results/tables --plots plots {input} > {log} 2>&1"
