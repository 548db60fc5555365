"""The Snakemake workflow: every shipped config plans, a bad config fails before any job, and a tiny grid runs
through to tables, figures and the report, whose numbers match the run records."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
import yaml

from runs import REPO
from satbench.errors import ConfigError
from satbench.workflow import (
    DEFAULT_CHECKPOINT_MINUTES, Run, bandwidth_runs, check_config, control_runs, estimate, job_argv, job_config,
    job_launcher, job_resources, job_threads, load_config, main_runs, rate_from_path, report_outputs, run_launcher,
    sweep_runs, timing_jobs, timing_resources, timing_runs, timing_script, training_jobs,
)
from test_network import needs_links

BIN = Path(sys.executable).parent


def snakemake(workdir, *args, timeout=600, env=None):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("config", ["config.yaml", "real.yaml", "real-quick.yaml", "paper.yaml", "sat-study.yaml",
                                    "options.yaml", "bandwidth.yaml"])
@pytest.mark.multiprocess
def test_every_shipped_config_plans(config):
    # --forceall: plan every job even where this checkout already holds results
    result = snakemake(REPO, "-n", "--forceall", "--cores", "1", "--configfile", f"config/{config}")
    assert result.returncode == 0, result.stderr + result.stdout
    for rule in ("tables", "figures", "data"):
        assert result.stdout.count(f"rule {rule}:") == 1, rule
    if config in ("real.yaml", "real-quick.yaml", "paper.yaml", "bandwidth.yaml"):  # nothing of the default config leaks in
        assert "results/runs/sbm-" not in result.stdout
    # A training rule's jobs: its name, or a grouped job's rule named after it (runs_cora_gcn_w4)
    rules = re.findall(r"^rule (\w+):", result.stdout, re.MULTILINE)
    jobs = {kind: sum(1 for rule in rules if re.fullmatch(rf"{kind}(_\w+)?", rule))
            for kind in ("runs", "controls", "sweep", "timing", "bandwidth")}
    if config == "bandwidth.yaml":  # the study alone: 9 methods x 4 rates at W = 4, one seed
        assert jobs["runs"] == 0 and jobs["bandwidth"] == 36
        assert "results/tables/bandwidth.csv" in result.stdout and "plots/bandwidth.png" in result.stdout
    else:
        assert jobs["runs"]
    # Each job writes its benchmark where satbench.workflow plans it (the estimate's calibration and the evidence's
    # export read them there), one job per grid, dataset, model and W where the grid runs in-process.
    settings = load_config(REPO / "config" / config)
    assert sorted(re.findall(r"^    benchmark: (\S+)$", result.stdout, re.MULTILINE)) == sorted(
        job.benchmark for job in training_jobs(settings))
    if config == "config.yaml":
        # 3 (dataset, model) groups of the main grid (33 settings of 5 seeds), 3 of controls (12 settings), the
        # sweep's one (5 methods x 4 periods), and one timing job, SAGE on sbm-2k-noisy (6 methods x 3 repetitions)
        assert jobs == {"runs": 3, "controls": 3, "sweep": 1, "timing": 1, "bandwidth": 0}
        assert "rule runs_sbm_2k_h50_gcn_w4:" in result.stdout
        assert "results/runs/sbm-2k-h50/gcn/sat/w4/seed4.json" in result.stdout
        assert "seed5.json" not in result.stdout
        assert "results/timing/sbm-2k-noisy/sage/w4/staleness-weighted/rep2.json" in result.stdout
    if config == "real-quick.yaml":
        # Cora (METIS) alone: 10 methods, 5 controls (the digest family shares digest's), 3 methods x 2 periods, one
        # job each, and one timing job
        assert jobs == {"runs": 1, "controls": 1, "sweep": 1, "timing": 1, "bandwidth": 0}
        assert "results/runs/cora/gcn/sat/w4/seed9.json" in result.stdout
    if config == "paper.yaml":  # on CUDA, one process per GPU: a job per setting, side by side on a cluster
        assert jobs["runs"] == 330 and result.stdout.count("rule runs:") == 330


@pytest.mark.multiprocess
def test_the_paper_grid_plans_on_slurm():
    """What a new user with a GPU cluster runs first: a dry run of the paper grid through the SLURM profile."""
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="pip install 'satbench[cluster]'")
    result = snakemake(REPO, "--profile", "profiles/slurm", "-n", "--forceall", "--configfile", "config/paper.yaml")
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.count("rule runs:") == 330 and result.stdout.count("rule controls:") == 150
    jobs = re.split(r"\n\[", result.stdout)
    w8 = next(job for job in jobs if "rule runs:" in job and "ogbn-products/gcn/exact/w8/" in job)
    assert re.search(r"resources: .*mem_mb=\d+.*runtime=\d+, gpu=8$", w8, re.MULTILINE), w8  # GPUs, time, memory


@pytest.mark.multiprocess
def test_snakemake_lint_finds_nothing():
    result = snakemake(REPO, "--lint")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


def workflow_copy(tmp_path, config: dict) -> Path:
    for name in ("Snakefile", "config/schema.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    for directory in ("report", "envs", "profiles"):
        shutil.copytree(REPO / directory, tmp_path / directory)
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


TINY = {
    "datasets": {"tiny": {"spec": "sbm:n=300,classes=3,degree=6,features=8,seed=2"}},
    "models": {"gcn": {"hidden": 8, "layers": 2, "dropout": 0.0, "lr": 0.05}},
    "methods": ["exact", "digest"],
    "workers": [1, 2],
    "seeds": [0, 1],
    "epochs": 6,
    "device": "cpu",
    "sync_period": 3,
    "staleness_every": 1,
}


@pytest.mark.parametrize("change, message", [
    ({"methods": ["exact", "digset"]}, "unknown method 'digset'"),
    ({"datasets": {"tiny": {"spec": "no-such-graph"}}}, "unknown dataset 'no-such-graph'"),
    ({"workers": [0, 2]}, "workers"),
    ({"epochs": "many"}, "epochs"),
    ({"bandwidth": {"datasets": ["tiny"], "model": "gcn", "methods": ["exact", "gas"], "rates": ["20mbps!"],
                    "workers": [2], "seeds": [0]}}, "bandwidth rate '20mbps!'"),
])
@pytest.mark.multiprocess
def test_bad_config_fails_before_any_job(tmp_path, change, message):
    workdir = workflow_copy(tmp_path, {**TINY, **change})
    result = snakemake(workdir, "-n", "--cores", "1")
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert not (workdir / "results").exists()


TINY_TIMING = {"methods": ["exact", "digest"], "repeats": 2, "epochs": 3}  # at the grid's W > 1: 2


@pytest.mark.multiprocess
def test_tiny_workflow_produces_tables_plots_and_report(tmp_path):
    workdir = workflow_copy(tmp_path, {**TINY, "timing": TINY_TIMING})
    run = snakemake(workdir, "--cores", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    records = {path: json.loads(path.read_text()) for path in (workdir / "results" / "runs").rglob("*.json")}
    assert len(records) == 2 * 2 * 2  # methods x workers x seeds
    assert {record["env"]["launcher"] for record in records.values()} == {"inprocess"}  # the grid: threads
    timed = {path.relative_to(workdir).as_posix(): json.loads(path.read_text())
             for path in (workdir / "results" / "timing").rglob("*.json")}
    assert sorted(timed) == sorted(f"results/timing/tiny/gcn/w2/{method}/rep{rep}.json"
                                   for method in ("exact", "digest") for rep in (0, 1))
    for path, record in timed.items():  # worker processes, the repetition as the seed, timed only
        assert record["env"]["launcher"] == "spawn" and record["study"] == "timing"
        assert f"rep{record['config']['seed']}.json" in path and record["config"]["staleness_every"] == 0
        assert [row["epoch"] for row in record["epochs"] if row.get("val") is not None] == [3]
    trained = re.findall(r"wrote (results/timing/\S+)", (workdir / "results/logs/timing/tiny/gcn/w2.log").read_text())
    assert trained == [f"results/timing/tiny/gcn/w2/{method}/rep{rep}.json" for rep in (0, 1)
                       for method in ("exact", "digest")]  # the methods in turn, repetition after repetition
    controls = sorted(path.relative_to(workdir).as_posix() for path in (workdir / "results" / "controls").rglob("*.json"))
    # Only the stale method gets a control, and only where it has halo rows (W > 1).
    assert controls == [f"results/controls/tiny/gcn/digest/w2/seed{seed}.json" for seed in (0, 1)]
    decomposition = pd.read_csv(workdir / "results" / "tables" / "decomposition.csv")
    assert set(decomposition["method"]) == {"digest"} and set(decomposition["workers"]) == {1, 2}
    assert decomposition[decomposition["workers"] == 2]["control_pct_mean"].notna().all()

    accuracy = pd.read_csv(workdir / "results" / "tables" / "accuracy.csv")
    assert set(accuracy["method"]) == {"exact", "digest"}
    runs = pd.read_csv(workdir / "results" / "tables" / "runs.csv")
    for path, record in records.items():
        row = runs[runs["record"].str.endswith(str(path.relative_to(workdir)))]
        assert len(row) == 1
        assert row["test_at_best_val"].item() == pytest.approx(record["summary"]["test_at_best_val"])
    exact_w2 = [r["summary"]["test_at_best_val"] for p, r in records.items() if "/exact/w2/" in str(p)]
    mean = 100 * sum(exact_w2) / len(exact_w2)
    exact = accuracy[(accuracy["method"] == "exact") & (accuracy["workers"] == 2)]
    assert exact["test_pct_mean"].item() == pytest.approx(mean) and exact["n"].item() == len(exact_w2)

    for name in ("val_vs_epoch", "staleness", "throughput", "accuracy_vs_staleness"):
        for ext in ("png", "pdf"):
            assert (workdir / "plots" / f"{name}.{ext}").stat().st_size > 1000

    throughput = pd.read_csv(workdir / "results" / "tables" / "throughput.csv")
    by_workers = throughput.groupby("workers")
    assert set(by_workers.get_group(2)["study"]) == {"timing"} and set(by_workers.get_group(2)["launcher"]) == {"spawn"}
    assert set(by_workers.get_group(1)["study"]) == {"main"} and set(by_workers.get_group(1)["launcher"]) == {
        "inprocess"}  # W = 1 was not timed: the main runs' times, which say how they ran
    assert (by_workers.get_group(2)["n"] == 2).all()  # the repetitions

    runs_data, epochs_data = (pd.read_parquet(workdir / "results" / f"{name}.parquet") for name in ("runs", "epochs"))
    assert len(runs_data) == len(runs) == len(records) + len(controls) + len(timed)  # one row per run, as runs.csv
    assert set(runs_data.loc[runs_data["study"] == "timing", "launcher"]) == {"spawn"}
    trained_epochs = sum(len(record["epochs"]) for record in [*records.values(), *timed.values()])
    assert len(epochs_data) >= trained_epochs + len(controls) * TINY["epochs"]  # at least one row per (run, epoch)

    stamps = {path: path.stat().st_mtime_ns for path in (workdir / "results" / "runs").rglob("*.json")}
    rerun = snakemake(workdir, "tables", "figures", "data", "--cores", "1", "--config", "existing_only=true",
                      "--forcerun", "tables", "figures", "data")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "rule runs" not in rerun.stdout + rerun.stderr  # tables, figures and data again without training
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps

    report = snakemake(workdir, "--report", "report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    assert (workdir / "report.html").stat().st_size > 10_000


def test_expected_outputs_follow_what_the_runs_support():
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    tables, plots = report_outputs(default)
    assert {"time_to_target", "alleviation_vs_base", "claims", "sync_period", "fidelity"} <= set(tables)
    assert {"staleness", "sync_period"} <= set(plots)
    tables, plots = report_outputs(TINY)  # no SAT method, no sweep
    assert "alleviation_vs_base" not in tables and "sync_period" not in tables + plots
    tables, plots = report_outputs({**TINY, "methods": ["exact"]})  # nothing stale to plot
    assert "staleness" not in plots and "time_to_target" in tables
    assert "decomposition" not in tables + plots  # and no control to run
    tables, plots = report_outputs({**TINY, "controls": False})
    assert "decomposition" not in tables + plots
    assert "decomposition" in report_outputs(TINY)[0]


# -- launchers and the timing study ---------------------------------------------------------------------------------

TIMING = {"methods": ["exact", "digest"], "repeats": 3, "epochs": 4}


def test_the_launcher_is_chosen_per_study_and_device():
    config = {**TINY, "bandwidth": {"datasets": ["tiny"], "model": "gcn", "methods": ["exact", "gas"],
                                    "rates": ["1gbit"], "workers": [2], "seeds": [0]}, "timing": TIMING,
              "sweep": {"datasets": ["tiny"], "model": "gcn", "methods": ["digest"], "sync_periods": [2, 3],
                        "workers": [2], "seeds": [0]}}
    check_config(config)
    grid = main_runs(config) + control_runs(config) + sweep_runs(config)
    assert {run.study for run in grid} == {"main", "control", "sweep"}
    for run in grid:  # the accuracy and staleness grids: threads of one process by default
        assert run_launcher(config, run) == "inprocess" == job_config(config, run).launcher
        assert "--launcher inprocess" in job_argv(config, run)
    spawned = {**config, "launcher": "spawn"}  # as the config asks
    assert {run_launcher(spawned, run) for run in grid} == {"spawn"}
    assert all("--launcher" not in job_argv(spawned, run) for run in grid)  # spawn is satbench run's default
    # processes whatever the config says: links between processes, timings, a GPU each
    for run in bandwidth_runs(config) + timing_runs(config):
        assert run_launcher(config, run) == "spawn" and "--launcher" not in job_argv(config, run)
    on_gpus = {**LONG, "device": "cuda", "workers": [4, 8], "workers_per_node": 4}
    assert {run_launcher(on_gpus, run) for run in main_runs(on_gpus)} == {"spawn"}
    across = {**LONG, "workers": [2, 4], "workers_per_node": 2}  # W = 4 spans two nodes: torchrun's processes
    assert {run.workers: run_launcher(across, run) for run in main_runs(across)} == {2: "inprocess", 4: "spawn"}
    check_config(across)


def test_the_timing_study_interleaves_its_methods_in_one_job_per_setting():
    config = {**TINY, "methods": ["exact", "digest", "gas"], "timing": TIMING}
    check_config(config)
    jobs = timing_jobs(config)
    assert list(jobs) == [("tiny", "gcn", 2)]  # W > 1 of the main grid only
    runs = jobs[("tiny", "gcn", 2)]
    # rep 0: exact digest, rep 1: exact digest, ...: a method and its base timed close together, paired by seed
    assert [(run.method, run.seed) for run in runs] == [(method, rep) for rep in range(3)
                                                        for method in ("exact", "digest")]
    assert [run.path for run in runs[:2]] == ["results/timing/tiny/gcn/w2/exact/rep0.json",
                                              "results/timing/tiny/gcn/w2/digest/rep0.json"]
    arguments = job_argv(config, runs[1]).split()
    for flag, value in (("--study", "timing"), ("--epochs", "4"), ("--eval-every", "4"), ("--staleness-every", "0"),
                        ("--seed", "0"), ("--method", "digest")):
        assert arguments[arguments.index(flag) + 1] == value, flag
    # one node: the runs are the lines of one `satbench batch`, in this order (the shell's printf gives them)
    script = timing_script(config, "tiny", "gcn", 2)
    assert script.startswith("printf ") and script.endswith(" | satbench batch -")
    printf, format_, *lines = shlex.split(script.removesuffix(" | satbench batch -"))
    assert (printf, format_) == ("printf", "%s\\n")
    assert len(lines) == 6 and [shlex.split(line)[-1] for line in lines] == [run.path for run in runs]
    assert lines[1] == f"{job_argv(config, runs[1])} --no-progress --out {runs[1].path}"
    # its time is every run's, one after another; a job per setting, with more W more jobs
    assert timing_resources(config, runs)["runtime"] >= job_resources(config, runs[0], seeds=1)["runtime"]
    assert len(timing_jobs({**config, "workers": [1, 2, 4], "timing": {**TIMING, "workers": [4]}})) == 1
    assert timing_runs(TINY) == []
    # defaults: the main grid's methods, 3 repetitions, the model's epochs
    default = timing_jobs({**TINY, "timing": {}})[("tiny", "gcn", 2)]
    assert len(default) == 2 * 3 and job_config({**TINY, "timing": {}}, default[0]).epochs == TINY["epochs"]


def test_the_timing_study_leaves_out_a_setting_that_narrows_its_methods():
    datasets = {"tiny": TINY["datasets"]["tiny"],
                "narrow": {**TINY["datasets"]["tiny"], "models": {"gcn": {"methods": ["exact"]}}}}
    config = {**TINY, "datasets": datasets, "timing": TIMING}
    assert [key[0] for key in timing_jobs(config)] == ["tiny"]  # one job times one list of methods
    with pytest.raises(ConfigError, match=r"timing dataset 'narrow', model 'gcn' does not run digest"):
        check_config({**config, "timing": {**TIMING, "datasets": ["tiny", "narrow"]}})
    # models narrow it too
    two = {**TINY, "models": {**TINY["models"], "sage": TINY["models"]["gcn"]}, "timing": TIMING}
    assert [key[:2] for key in timing_jobs(two)] == [("tiny", "gcn"), ("tiny", "sage")]
    assert [key[:2] for key in timing_jobs({**two, "timing": {**TIMING, "models": ["sage"]}})] == [("tiny", "sage")]


@pytest.mark.parametrize("change, message", [
    ({"workers": [1, 2]}, "timing workers must be at least 2, got 1"),
    ({"methods": ["exact", "digset"]}, "unknown method 'digset'"),
    ({"datasets": ["huge"]}, "timing dataset 'huge' is not among the datasets"),
    ({"workers": [8]}, "the timing study times nothing"),
    ({"models": ["gcm"]}, "timing model 'gcm' is unknown"),
    ({"models": ["sage"]}, "the timing study times nothing"),  # not trained on tiny
])
def test_bad_timing_study_is_refused_in_one_line(change, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        check_config({**TINY, "timing": {**TIMING, **change}})
    assert "\n" not in str(caught.value)


def test_the_schema_takes_the_launcher_and_the_timing_study():
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate({**TINY, "launcher": "spawn", "timing": {**TIMING, "workers": [2]}})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**TINY, "launcher": "threads"})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**TINY, "timing": {**TIMING, "repeats": 0}})
    alone = {key: value for key, value in TINY.items() if key not in ("methods", "workers", "seeds", "epochs")}
    with pytest.raises(jsonschema.ValidationError, match="'methods' is a dependency of 'timing'"):
        validator.validate({**alone, "timing": TIMING})


# -- the bandwidth study ---------------------------------------------------------------------------------------------

BANDWIDTH = {"datasets": ["tiny"], "model": "gcn", "methods": ["exact", "gas"],
             "rates": ["1gbit", "20Mbit", "100mbit,1ms"], "workers": [2], "seeds": [0, 1], "epochs": 3}


def test_bandwidth_runs_have_their_paths_and_arguments():
    config = {**TINY, "bandwidth": BANDWIDTH}
    check_config(config)
    runs = bandwidth_runs(config)
    assert len(runs) == 2 * 3 * 2  # methods x rates x seeds
    paths = {run.path for run in runs}
    assert "results/bandwidth/tiny/gcn/gas/20mbit/w2/seed1.json" in paths  # the rate as tc spells it
    assert "results/bandwidth/tiny/gcn/exact/100mbit-1ms/w2/seed0.json" in paths  # no comma in a path
    for run in runs:  # the path reads back to the run, rate included (Snakemake's wildcards give it back)
        *_, method, rate, workers, seed = run.path.removesuffix(".json").split("/")
        assert (method, rate_from_path(rate), seed) == (run.method, run.rate, f"seed{run.seed}")
    arguments = job_argv(config, Run("tiny", "gcn", "gas", 2, 0, rate="20mbit"), seeds=[0, 1]).split()
    assert arguments[arguments.index("--network") + 1] == "20mbit"
    assert arguments[arguments.index("--epochs") + 1] == "3"  # the study's own epochs
    assert arguments[arguments.index("--staleness-every") + 1] == "0"  # timed only: nothing measured over the link
    assert arguments[arguments.index("--eval-every") + 1] == "3"
    assert "--network 100mbit,1ms" in job_argv(config, Run("tiny", "gcn", "exact", 2, 0, rate="100mbit,1ms"))
    assert not any("--network" in job_argv(config, run) for run in main_runs(config))
    assert job_config(config, runs[0]).study == "bandwidth" and "--study bandwidth" in job_argv(config, runs[0])
    assert bandwidth_runs(TINY) == []


def test_a_config_may_hold_the_bandwidth_study_alone():
    alone = {key: value for key, value in TINY.items() if key not in ("methods", "workers", "seeds")}
    alone["bandwidth"] = BANDWIDTH
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    jsonschema.Draft202012Validator(schema).validate(alone)
    check_config(alone)
    assert main_runs(alone) == [] and len(bandwidth_runs(alone)) == 12
    assert report_outputs(alone) == (["bandwidth"], ["bandwidth"])
    with pytest.raises(jsonschema.ValidationError, match="'methods' is a dependency of 'workers'"):
        jsonschema.Draft202012Validator(schema).validate({**alone, "workers": [2]})  # half a main grid
    with pytest.raises(ConfigError, match="no runs: give a main grid"):
        check_config({key: value for key, value in alone.items() if key != "bandwidth"})
    entry = {"tiny": {**TINY["datasets"]["tiny"], "models": {"gcn": {"methods": ["exact"]}}}}
    with pytest.raises(ConfigError, match="sets methods of a main grid, but the config has none"):
        check_config({**alone, "datasets": entry})


@pytest.mark.parametrize("spec", ["amazon-photo", "amazon-photo:split=random,seed=1"])
def test_node_counts_of_a_dataset_with_a_seeded_split_are_checked_up_front(spec):
    config = {**TINY, "datasets": {"photo": {"spec": spec}}, "workers": [2, 7651]}
    with pytest.raises(ConfigError, match="7651 workers but the dataset has only 7650 nodes"):
        check_config(config)
    check_config({**config, "workers": [2, 7650]})
    with pytest.raises(ConfigError, match="dataset 'photo': bad dataset .*unknown split 'sideways'"):
        check_config({**config, "datasets": {"photo": {"spec": "amazon-photo:split=sideways"}}})


@pytest.mark.parametrize("change, message", [
    ({"rates": ["1gbit", "fast"]}, "bandwidth rate 'fast': --network 'fast': rate 'fast' is not a number with a unit"),
    ({"rates": ["20furlong"]}, "unknown rate unit 'furlong'"),
    ({"rates": ["1gbit", "1000mbit"]}, "bandwidth rates '1gbit' and '1000mbit' are the same rate"),
    ({"methods": ["gas", "digest"]}, "bandwidth methods must include exact"),
    ({"workers": [1, 2]}, "bandwidth workers must be at least 2, got 1"),
    ({"datasets": ["tiny", "huge"]}, "bandwidth dataset 'huge' is not among the datasets"),
    ({"model": "mlp"}, "bandwidth model 'mlp' is unknown"),
    ({"methods": ["exact", "gsa"]}, "unknown method 'gsa'"),
    ({"epochs": 1}, "needs at least 2 epochs, got 1"),
    ({"workers": [500]}, "500 workers but the dataset has only 300 nodes"),
])
def test_bad_bandwidth_study_is_refused_in_one_line(change, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        check_config({**TINY, "bandwidth": {**BANDWIDTH, **change}})
    assert "\n" not in str(caught.value) and str(caught.value).startswith("invalid workflow config: ")


@needs_links
@pytest.mark.multiprocess
def test_bandwidth_study_runs_over_shaped_links_to_its_table_and_figure(tmp_path):
    """Two methods at two rates through Snakemake (a tiny graph, 2 epochs): one job at a time, though --cores would
    let two of W = 2 run side by side; the records carry their link, and the report's table and figure come out."""
    config = {"datasets": {"tiny": {"spec": "sbm:n=400,classes=4,degree=6,features=16,seed=1"}},
              "models": {"gcn": {"hidden": 16, "layers": 2, "dropout": 0.0, "lr": 0.05}}, "device": "cpu",
              "controls": False,
              "bandwidth": {"datasets": ["tiny"], "model": "gcn", "methods": ["exact", "gas"],
                            "rates": ["1gbit", "100mbit"], "workers": [2], "seeds": [0], "epochs": 2}}
    workdir = workflow_copy(tmp_path, config)
    run = snakemake(workdir, "--cores", "4")
    assert run.returncode == 0, run.stderr[-3000:]
    events = [line for line in run.stderr.splitlines()
              if re.match(r"(local)?rule bandwidth:", line) or "(Rule: bandwidth)" in line]
    assert len(events) == 8 and all(re.match(r"(local)?rule", line) for line in events[::2]), events  # start, end
    records = sorted((workdir / "results" / "bandwidth").rglob("*.json"))
    assert [path.relative_to(workdir).as_posix() for path in records] == sorted(
        f"results/bandwidth/tiny/gcn/{method}/{rate}/w2/seed0.json" for method in ("exact", "gas")
        for rate in ("1gbit", "100mbit"))
    for path in records:
        record = json.loads(path.read_text())
        assert record["config"]["network"] == path.parts[-3]
        assert record["env"]["network"]["shaped"] is True
    assert not (workdir / "results" / "runs").exists()
    table = pd.read_csv(workdir / "results" / "tables" / "bandwidth.csv")
    assert sorted(table["rate"].unique()) == ["100mbit", "1gbit"] and len(table) == 4
    assert (table.loc[table["method"] == "exact", "speedup_vs_exact"] == 1).all()
    assert sorted(path.name for path in (workdir / "plots").iterdir()) == ["bandwidth.pdf", "bandwidth.png"]


# -- what a job asks of a machine or cluster -------------------------------------------------------------------------

LONG = {**TINY, "datasets": {"big": {"spec": "sbm-1m"}}, "models": {"gcn": {"hidden": 128, "layers": 2}},
        "epochs": 200, "workers": [2]}


def test_only_runs_estimated_to_be_long_save_checkpoints():
    short = job_argv(TINY, Run("tiny", "gcn", "digest", 2, 0))
    assert "--checkpoint-every" not in short
    check_config(LONG)
    run = Run("big", "gcn", "digest", 2, 0)
    arguments = job_argv(LONG, run).split()
    every = int(arguments[arguments.index("--checkpoint-every") + 1])
    minutes = estimate(job_config(LONG, run)).run_minutes
    assert minutes > DEFAULT_CHECKPOINT_MINUTES and 1 <= every < LONG["epochs"]
    assert every * minutes / LONG["epochs"] == pytest.approx(DEFAULT_CHECKPOINT_MINUTES, rel=0.01)  # about hourly
    assert job_config(LONG, run, device="cpu").checkpoint_every == every  # the command line check_config reads
    relaxed = {**LONG, "checkpoint_minutes": 2 * minutes}
    assert "--checkpoint-every" not in job_argv(relaxed, run)


def test_job_resources_follow_the_grid():
    run = Run("tiny", "gcn", "digest", 2, 0)
    small = job_resources(TINY, run, seeds=2)
    assert small == {"runtime": 10, "mem_mb": 2048, "gpu": 0}  # at least 10 minutes and 2 GB
    assert job_resources(TINY, run, seeds=2, attempt=2)["runtime"] == 20  # a retry gets more time
    assert job_threads({**TINY, "launcher": "spawn"}, run) == 2  # a core per worker process
    # in-process, the interpreter runs one worker's Python at a time: a tiny graph's kernels keep no second core busy
    assert job_threads(TINY, run) == 1
    big = Run("big", "gcn", "digest", 2, 0)
    one, three = job_resources(LONG, big, seeds=1), job_resources(LONG, big, seeds=3)
    assert three["runtime"] > 2.5 * one["runtime"] and three["mem_mb"] == one["mem_mb"] > small["mem_mb"]
    longer = job_resources({**LONG, "epochs": 2 * LONG["epochs"]}, big, seeds=1)["runtime"]
    assert 1.8 * one["runtime"] < longer < 2.2 * one["runtime"]
    exact = job_resources(LONG, Run("big", "gcn", "exact", 2, 0), seeds=1)
    assert exact["runtime"] < one["runtime"]  # digest's 3 local steps per epoch
    # memory as satbench run estimates its workers': the halo copies a method holds (PipeGCN 9, DIGEST 3) count
    assert exact["mem_mb"] < one["mem_mb"] < job_resources(LONG, Run("big", "gcn", "pipegcn", 2, 0), 1)["mem_mb"]
    # in-process: one process for the workers (its interpreter and libraries once: 60 MiB less a worker, within the
    # rounding to a GB here), a core each where its kernels are large; processes: each its own
    spawned = {**LONG, "launcher": "spawn"}
    assert one["mem_mb"] <= job_resources(spawned, big, seeds=1)["mem_mb"]
    assert job_threads(LONG, big) == job_threads(spawned, big) == 2
    threads = {**LONG, "workers": [8]}
    assert job_threads(threads, Run("big", "gcn", "exact", 8, 0)) == 8
    assert job_threads({**TINY, "workers": [8]}, Run("tiny", "gcn", "exact", 8, 0)) == 1
    gpus = {**LONG, "device": "cuda", "workers": [4]}
    on_gpus = job_resources(gpus, Run("big", "gcn", "digest", 4, 0), seeds=1)
    assert on_gpus["gpu"] == 4 and on_gpus["runtime"] < one["runtime"]
    assert "nodes" not in on_gpus and "mpi" not in on_gpus


def test_a_job_beyond_one_node_spans_nodes_through_srun_torchrun():
    config = {**LONG, "device": "cuda", "workers": [4, 8], "workers_per_node": 4}
    check_config(config)
    within, across = Run("big", "gcn", "exact", 4, 0), Run("big", "gcn", "exact", 8, 0)
    assert job_launcher(config, within) == "" and job_resources(config, within, 1)["gpu"] == 4
    resources = job_resources(config, across, 1)
    assert {key: resources[key] for key in ("nodes", "tasks", "mpi", "gpu")} == {"nodes": 2, "tasks": 2, "mpi": "srun",
                                                                                 "gpu": 0}
    assert resources["slurm_extra"] == "--ntasks-per-node=1 --gpus-per-node=4"
    assert job_threads(config, across) == 4
    assert resources["mem_mb"] < job_resources({**config, "workers_per_node": 8}, across, 1)["mem_mb"]
    launcher = job_launcher(config, across)
    assert launcher.startswith("srun --nodes=2 ") and "torchrun --nnodes=2 --nproc-per-node=4" in launcher
    assert "--ntasks-per-node=1 --cpus-per-task=4 --gpus-per-node=4 " in launcher  # each node's share, asked again
    with pytest.raises(ConfigError, match=r"6 workers do not fill nodes of workers_per_node=4 evenly"):
        check_config({**config, "workers": [6]})
    bandwidth = {**TINY, "workers_per_node": 1, "bandwidth": BANDWIDTH}
    assert all(job_launcher(bandwidth, run) == "" for run in bandwidth_runs(bandwidth))  # emulated links: one machine
    # a timing job across nodes: each run its own command under srun/torchrun (a batch starts its workers itself)
    timed = {**TINY, "workers_per_node": 1, "timing": TIMING}
    script = timing_script(timed, "tiny", "gcn", 2)
    commands = script.split(" && ")
    assert len(commands) == 6 and all(command.startswith("srun --nodes=2 ") and " satbench run --dataset " in command
                                      for command in commands)


@pytest.mark.multiprocess
def test_the_multi_node_launcher_runs_one_torchrun_per_node(tmp_path):
    """The launcher's shell text, run by bash with stand-ins for srun (two tasks, as SLURM would start them) and
    torchrun (which prints what it was given): every node's torchrun gets the job's command, its node rank, and
    the host and port of the node the job's script runs on."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text('#!/bin/bash\nwhile [[ $1 == --* ]]; do shift; done\n'
                               'for node in 0 1; do SLURM_NODEID=$node "$@"; done\n')
    (fake / "torchrun").write_text('#!/bin/bash\necho "$@"\n')
    for tool in fake.iterdir():
        tool.chmod(0o755)
    config = {**TINY, "workers_per_node": 1}
    launcher = job_launcher(config, Run("tiny", "gcn", "exact", 2, 0))
    command = f"{launcher}satbench run --dataset 'a b' --out x.json"
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True,
                            env=dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}", SLURM_JOB_ID="1234"))
    host = subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout.strip()
    assert result.stdout.splitlines() == [
        f"--nnodes=2 --nproc-per-node=1 --node-rank={node} --master-addr={host} --master-port=30734 --no-python "
        "satbench run --dataset a b --out x.json" for node in (0, 1)]


OPTION_STUDY = {"methods": ["exact", "digest", "pipegcn"],
                "option_study": {"pipegcn": ["start=zeros", "start=zeros,smoothing=0.5"], "digest": ["sync_period=1"]}}


def test_the_option_study_runs_each_setting_beside_the_default_form():
    """Every option setting runs wherever its method runs in the main grid, with the same seeds; its job passes the
    options and labels the record with them, which the report pairs with the default form's runs."""
    from satbench.workflow import OPTION_PATH, option_runs, parse_option, planned_runs

    config = {**TINY, **OPTION_STUDY}
    check_config(config)
    runs = option_runs(config)
    main = [run for run in main_runs(config) if run.method in ("pipegcn", "digest")]
    assert len(runs) == 3 * len(main) // 2  # pipegcn: two settings, digest: one, at each (W, seed)
    assert {(run.workers, run.seed) for run in runs} == {(run.workers, run.seed) for run in main}
    assert set(runs) <= set(planned_runs(config))
    run = next(run for run in runs if run.option == "start=zeros,smoothing=0.5" and run.workers == 2)
    assert run.study == "option"
    assert run.path == OPTION_PATH.format(dataset="tiny", model="gcn", method="pipegcn",
                                          option="start=zeros,smoothing=0.5", workers=2, seed=run.seed)
    job = job_config(config, run)
    assert job.method_options == {"start": "zeros", "smoothing": "0.5"}
    assert job.labels == {"dataset": "tiny", "option": "start=zeros,smoothing=0.5"}
    assert job.study == "option"
    # the option overrides the config's own value of the same option
    digest = next(run for run in runs if run.method == "digest")
    assert job_config(config, digest).method_options == {"sync_period": "1"}
    assert parse_option("a=1, b=x") == {"a": "1", "b": "x"}
    assert option_runs(TINY) == []


@pytest.mark.parametrize("study, message", [
    ({"gas": ["start=zeros"]}, "method 'gas' is not in the main grid"),
    ({"pipegcn": ["strat=zeros"]}, "no option strat"),
    ({"pipegcn": ["start"]}, "give KEY=VALUE"),
    ({"pipegcn": ["start=zeros,start=exact"]}, "each key once"),
    ({"pipegcn": ["start=sideways"]}, "start"),
])
def test_a_bad_option_study_is_refused_in_one_line(study, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config({**TINY, **OPTION_STUDY, "option_study": study})


def test_the_schema_takes_the_option_study():
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    jsonschema.validate({**TINY, **OPTION_STUDY}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**TINY, "option_study": {"pipegcn": ["start=zeros/x"]}}, schema)
