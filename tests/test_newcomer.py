"""A newcomer's first hour (issue 29): an install that takes the CPU build of PyTorch wherever it runs, data that
arrives once before any training job (or one line saying which files to put where), a command line that meets
habits (directories of records, a file of run options, a job's command printed, -v anywhere, one-line errors that
suggest the closest name), and a LICENSE and CITATION.cff at the root."""

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import satbench
from satbench import data as satdata
from satbench.cli import _record_files, _with_run_file, build_parser, main
from satbench.errors import ConfigError

from runs import REPO, TINY_GRAPH, load_record

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# -- the install ----------------------------------------------------------------------------------------------------


def make_dry_run(*args: str, env: dict | None = None) -> str:
    """The commands `make -n ARGS` would run in the repository."""
    result = subprocess.run(["make", "-n", *args], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.multiprocess
def test_without_a_local_wheel_directory_torch_comes_from_the_cpu_index(tmp_path):
    """`TORCH_WHEELS=` stands for a machine whose pip reads no local wheel directory holding torch."""
    commands = make_dry_run("venv", f"VENV={tmp_path / 'venv'}", "TORCH_WHEELS=").splitlines()
    torch_install = next(line for line in commands if "'torch==" in line)
    assert f"--index-url '{CPU_INDEX}'" in torch_install
    assert commands.index(torch_install) < next(i for i, line in enumerate(commands) if "-e '.[test,cluster]'" in line)
    other_index = make_dry_run("venv", f"VENV={tmp_path / 'venv'}", "TORCH_WHEELS=", "TORCH_INDEX=https://example/cu")
    assert "--index-url 'https://example/cu'" in other_index and CPU_INDEX not in other_index


@pytest.mark.multiprocess
def test_a_wheel_directory_pip_reads_supplies_torch_offline(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").touch()
    commands = make_dry_run("venv", f"VENV={tmp_path / 'venv'}",
                            env={"PIP_FIND_LINKS": str(wheels), "PIP_CONFIG_FILE": os.devnull})
    assert f"--find-links '{wheels}'" in commands and "--index-url" not in commands
    # a wheel directory without torch is no reason to skip the index
    (wheels / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").unlink()
    commands = make_dry_run("venv", f"VENV={tmp_path / 'venv'}",
                            env={"PIP_FIND_LINKS": str(wheels), "PIP_CONFIG_FILE": os.devnull})
    assert f"--index-url '{CPU_INDEX}'" in commands


@pytest.mark.multiprocess
def test_figures_and_report_run_in_a_conda_environment_that_has_the_workflow(tmp_path):
    conda = tmp_path / "conda"
    (conda / "bin").mkdir(parents=True)
    for program in ("snakemake", "satbench"):
        (conda / "bin" / program).touch()
    venv = f"VENV={tmp_path / 'venv'}"  # not installed: building it would show in the commands
    for target in ("figures", "report"):
        commands = make_dry_run(target, venv, env={"CONDA_PREFIX": str(conda)})
        assert f"{conda}/bin/snakemake" in commands and "-m venv" not in commands, commands
        assert "-m venv" in make_dry_run(target, venv, env={"CONDA_PREFIX": str(tmp_path / "bare")})
    assert "-m venv" in make_dry_run("figures", venv, f"REPORT_BIN={tmp_path / 'venv'}/bin",
                                     env={"CONDA_PREFIX": str(conda)})


# -- data that arrives ----------------------------------------------------------------------------------------------


def test_data_fetch_of_a_dataset_at_hand_says_it_is_there(tmp_path, planetoid_mirror, monkeypatch, capsys):
    monkeypatch.setenv("SATBENCH_OFFLINE", "1")
    root = tmp_path / "data"
    assert main(["data", "fetch", "cora", "--data-root", str(root), "--mirror", str(planetoid_mirror)]) == 0
    said = one_line(capsys.readouterr().out)
    assert said.startswith(f"cora: ready in {root / 'Cora'}, copied from {planetoid_mirror / 'Cora'}")
    assert "2,708 nodes" in said
    assert main(["data", "fetch", "cora", "sbm-1m", "--data-root", str(root)]) == 0  # no mirror needed any more
    cora, generated = capsys.readouterr().out.strip().splitlines()
    assert "already there" in cora and generated == "sbm-1m: generated from its parameters when a run starts; nothing to fetch"


def test_data_fetch_offline_names_the_files_and_the_mirror_directories(tmp_path, monkeypatch, capsys):
    mirrors = [tmp_path / "mirror-a", tmp_path / "mirror-b"]
    monkeypatch.setenv("SATBENCH_OFFLINE", "1")
    monkeypatch.setenv("SATBENCH_DATA_MIRROR", os.pathsep.join(map(str, mirrors)))
    assert main(["data", "fetch", "cora", "amazon-photo", "sbm-2k", "--data-root", str(tmp_path / "data")]) == 2
    output = capsys.readouterr()
    assert output.out.strip() == "sbm-2k: generated from its parameters when a run starts; nothing to fetch"
    cora, photo = output.err.strip().splitlines()  # one line per missing dataset
    assert cora.startswith("satbench: error: dataset 'cora' is not on disk and downloading is off")
    assert "raw/ind.cora.x" in cora and "raw/ind.cora.test.index" in cora and str(tmp_path / "data" / "Cora") in cora
    assert all(str(mirror / "Cora") in cora for mirror in mirrors)
    assert "raw/amazon_electronics_photo.npz" in photo and str(mirrors[0] / "Photo") in photo
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.x"))


def test_data_fetch_downloads_through_the_loader_and_verifies_it_loads(tmp_path, planetoid_mirror, monkeypatch,
                                                                       capsys):
    """Online, a missing dataset is fetched by its loader (here one that copies the files as a download would) and
    then loaded."""
    spec = satdata._LIBRARY_DATASETS["cora"]

    def downloading_read(root: Path):
        shutil.copytree(planetoid_mirror / "Cora" / "raw", root / "Cora" / "raw", dirs_exist_ok=True)
        return spec.read(root)

    monkeypatch.setitem(satdata._LIBRARY_DATASETS, "cora", dataclasses.replace(spec, read=downloading_read))
    monkeypatch.setenv("SATBENCH_OFFLINE", "0")
    monkeypatch.delenv("SATBENCH_DATA_MIRROR", raising=False)
    assert main(["data", "fetch", "cora", "--data-root", str(tmp_path)]) == 0
    said = one_line(capsys.readouterr().out)
    assert said.startswith(f"cora: ready in {tmp_path / 'Cora'}, downloaded; it loads: 2,708 nodes")


def test_data_fetch_refuses_an_unknown_name_before_fetching_anything(tmp_path, capsys):
    assert main(["data", "fetch", "sbm-2k", "corra", "--data-root", str(tmp_path)]) == 2
    output = capsys.readouterr()
    assert output.out == ""
    assert "unknown dataset 'corra' (did you mean 'cora'?)" in one_line(output.err)


# -- the workflow fetches once, before any training job ---------------------------------------------------------------

TINY = {
    "datasets": {"tiny": {"spec": "sbm:n=200,classes=2,degree=4,features=4,seed=1"}},
    "models": {"gcn": {"hidden": 4}},
    "methods": ["exact"],
    "workers": [1],
    "seeds": [0],
    "epochs": 2,
    "device": "cpu",
    "controls": False,
}
TINY_RECORD = "results/runs/tiny/gcn/exact/w1/seed0.json"


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=600)


def workflow_copy(workdir: Path, snakefile: str) -> Path:
    workdir.mkdir()
    (workdir / "Snakefile").write_text(snakefile)
    for directory in ("config", "report", "envs"):
        shutil.copytree(REPO / directory, workdir / directory)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(TINY))
    return workdir


@pytest.mark.multiprocess
def test_every_training_job_waits_for_its_dataset_fetched_by_a_local_rule(tmp_path):
    workdir = workflow_copy(tmp_path / "workflow", (REPO / "Snakefile").read_text())
    plan = snakemake(workdir, "-n", "--forceall", "--configfile", str(REPO / "config" / "real-quick.yaml"))
    assert plan.returncode == 0, plan.stderr + plan.stdout
    assert plan.stdout.count("rule datasets_ready:") == 1  # one dataset, fetched once
    jobs = re.split(r"^\[.*\]$", plan.stdout, flags=re.MULTILINE)
    training = [job for job in jobs if re.search(r"^rule (runs|controls|sweep|timing)\w*:", job, re.MULTILINE)]
    assert len(training) == 1 + 1 + 1 + 1  # the grid's jobs (in-process: one per dataset, model and W) and timing
    assert all("input: results/.datasets/cora.ready" in job for job in training)


@pytest.mark.multiprocess
def test_records_written_before_the_data_rule_existed_are_not_retrained(tmp_path):
    """A checkout whose records Snakemake wrote before the training rules took the marker as input: Snakemake
    would retrain every one of them for its changed set of inputs."""
    snakefile = (REPO / "Snakefile").read_text()
    before = re.sub(r"( +)input:\n\1output:", r"\1output:", "\n".join(
        line for line in snakefile.splitlines() if not line.strip().startswith("dataset_ready(")))
    assert before.count("dataset_ready(") == 1  # the definition alone: no rule asks for the marker
    workdir = workflow_copy(tmp_path / "workflow", before)
    trained = snakemake(workdir, TINY_RECORD)
    assert trained.returncode == 0, trained.stderr[-3000:]
    stamp = (workdir / TINY_RECORD).stat().st_mtime_ns
    (workdir / "Snakefile").write_text(snakefile)
    plan = snakemake(workdir, "-n", TINY_RECORD)
    assert plan.returncode == 0, plan.stderr + plan.stdout
    assert "Nothing to be done" in plan.stdout + plan.stderr, plan.stdout
    # and a record made with the rule in place is not retrained either once its marker is gone
    (workdir / TINY_RECORD).unlink()
    trained = snakemake(workdir, TINY_RECORD)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "localrule datasets_ready:" in trained.stdout + trained.stderr
    assert (workdir / "results" / ".datasets" / "tiny.ready").is_file()
    assert (workdir / TINY_RECORD).stat().st_mtime_ns > stamp
    (workdir / "results" / ".datasets" / "tiny.ready").unlink()
    plan = snakemake(workdir, "-n", TINY_RECORD)
    assert "Nothing to be done" in plan.stdout + plan.stderr, plan.stdout


# -- satbench report: directories -----------------------------------------------------------------------------------


def test_a_directory_stands_for_every_record_below_it(tmp_path):
    records = tmp_path / "results"
    for path in ("runs/a/seed0.json", "runs/a/seed1.json", "timing/b/rep0.json", ".finished/kept.json",
                 "runs/a/.seed2.json.1234.tmp", "runs/a/notes.txt"):
        (records / path).parent.mkdir(parents=True, exist_ok=True)
        (records / path).write_text("{}")
    expected = [records / "runs/a/seed0.json", records / "runs/a/seed1.json", records / "timing/b/rep0.json"]
    assert _record_files([records]) == expected
    assert _record_files([records / "runs", records / "runs/a/seed0.json"]) == expected[:2]  # each once
    assert _record_files([Path(f"{records}/runs/**/*.json")]) == expected[:2]  # a pattern the shell left as it is
    (records / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no run record"):
        _record_files([records / "empty"])


def test_report_reads_a_directory_of_records(tmp_path, capsys):
    from test_artefacts import TINY as ARTEFACTS_TINY, planned_records

    planned = planned_records(ARTEFACTS_TINY, tmp_path / "records")
    assert main(["report", "--tables", str(tmp_path / "tables"), str(tmp_path / "records")]) == 0
    runs = (tmp_path / "tables" / "runs.csv").read_text().splitlines()
    assert len(runs) == 1 + len(planned)


# -- satbench run --config ------------------------------------------------------------------------------------------


def test_a_file_of_run_options_becomes_flags_the_command_line_overrides(tmp_path):
    options = tmp_path / "run.yaml"
    options.write_text(yaml.safe_dump({
        "dataset": "cora", "epochs": 200, "weight_decay": 5.0e-4, "method": "digest",
        "method_options": {"sync_period": 10}, "labels": {"dataset": "cora-w4"}, "seed": [0, 1],
        "progress": False, "strict": True, "out": "run{seed}.json"}))
    argv = _with_run_file(["-v", "run", "--config", str(options), "--epochs", "5", "-o", "sync_period=3"])
    assert "--config" not in argv and str(options) not in argv  # the record's command reruns without the file
    args = build_parser("run").parse_args(argv)
    assert args.verbose and args.dataset == "cora" and args.weight_decay == 5.0e-4 and args.seed == [0, 1]
    assert args.epochs == 5  # the flag wins
    assert dict(args.method_options) == {"sync_period": "3"} and dict(args.labels) == {"dataset": "cora-w4"}
    assert args.progress is False and args.strict is True and args.out == "run{seed}.json"


@pytest.mark.parametrize("options, message", [
    ({"epoch": 3}, "unknown run option 'epoch' (did you mean 'epochs'?)"),
    ({"model": "gcm"}, "model: invalid choice 'gcm' (did you mean 'gcn'?)"),
    ({"epochs": "many"}, "epochs: expected int, got 'many'"),
    ({"strict": "yes"}, "strict: expected true or false"),
    ({"labels": "dataset=x"}, "labels: expected a mapping"),
    (["dataset", "cora"], "expected run options as KEY: VALUE, got a list"),
])
def test_a_bad_file_of_run_options_is_one_line_and_status_2(tmp_path, capsys, options, message):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(options))
    assert main(["run", "--config", str(path), "--out", str(tmp_path / "out.json")]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"satbench: error: --config {path}") and message in line
    assert not (tmp_path / "out.json").exists()


@pytest.mark.multiprocess  # the record names the checkout's commit, which git says
def test_satbench_run_trains_from_a_file_of_run_options(tmp_path, capsys):
    options = tmp_path / "run.yaml"
    options.write_text(yaml.safe_dump({
        "dataset": TINY_GRAPH, "workers": 2, "epochs": 4, "hidden": 8, "launcher": "inprocess", "progress": False,
        "cache_dir": str(tmp_path / "cache"), "out": str(tmp_path / "run.json")}))
    assert main(["run", "--config", str(options), "--epochs", "2"]) == 0
    record = load_record(tmp_path / "run.json")
    assert record["config"]["epochs"] == 2 and record["config"]["hidden"] == 8 and len(record["epochs"]) == 2


# -- satbench plan --------------------------------------------------------------------------------------------------


def test_plan_prints_every_job_as_a_satbench_run_command(capsys):
    assert main(["plan", "--configfile", str(REPO / "config" / "real-quick.yaml")]) == 0
    commands = capsys.readouterr().out.strip().splitlines()
    assert len(commands) == 10 + 5 + 6 + 8 * 3  # runs, controls, sweep; the timing job's runs one by one
    parser = build_parser("run")
    for command in commands:
        words = shlex.split(command)
        assert words[:2] == ["satbench", "run"]
        parser.parse_args(words[1:])  # a command `satbench run` takes
    sat = next(command for command in commands if "--method sat " in command and "--study main" in command)
    assert "--seed 0 1 2 3 4 5 6 7 8 9 " in sat and "--out 'results/runs/cora/gcn/sat/w4/seed{seed}.json'" in sat


def test_plan_prints_the_command_that_writes_one_record(capsys):
    config = str(REPO / "config" / "real-quick.yaml")
    assert main(["plan", "--configfile", config, "results/runs/cora/gcn/sat/w4/seed3.json"]) == 0
    command = one_line(capsys.readouterr().out)
    assert "--method sat " in command and command.endswith("--seed 3 --out results/runs/cora/gcn/sat/w4/seed3.json")
    assert main(["plan", "--configfile", config, "results/runs/cora/gcn/sta/w4/seed3.json"]) == 2
    assert "did you mean 'results/runs/cora/gcn/sat/w4/seed3.json'?" in one_line(capsys.readouterr().err)


def test_plan_estimates_what_a_config_costs(capsys):
    """The estimate sums the workflow's per-job estimate over the jobs the config plans: more seeds, more hours."""
    from satbench.workflow import load_config, plan_estimate, planned_runs, training_jobs

    config = load_config(REPO / "config" / "real-quick.yaml")
    cost = plan_estimate(config)
    assert (cost.jobs, cost.runs) == (len(training_jobs(config)), len(planned_runs(config))) == (4, 180)
    assert cost.core_hours >= cost.run_hours > 0
    more = plan_estimate({**config, "seeds": list(range(20))})
    assert more.jobs == cost.jobs and more.runs > cost.runs and more.run_hours > cost.run_hours
    assert main(["plan", "--estimate", "--configfile", str(REPO / "config" / "regime.yaml")]) == 0
    line = one_line(capsys.readouterr().out)
    assert "training jobs" in line and "core-hours" in line and "confirm stage not counted" in line


def test_measured_job_times_calibrate_the_estimate(tmp_path, capsys):
    """A job measured under a workflow's directory is scaled by its own measured time per run (as many runs as its
    records there), every other job by the measured jobs' median ratio; a benchmark without records counts not."""
    from satbench.workflow import _benchmarked_jobs, job_ratios, load_config, plan_estimate

    configfile = REPO / "config" / "real-quick.yaml"
    config = load_config(configfile)
    jobs = _benchmarked_jobs(config)
    (a, (a_s, _, a_runs, a_records)), (b, (b_s, _, b_runs, b_records)), (c, _) = list(jobs.items())[:3]

    def measured(path, seconds, records):
        for record in records:
            (tmp_path / record).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / record).write_text("{}")
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:01\t100\n")
        return seconds

    half = b_records[: max(1, len(b_records) // 2)]
    seconds = {a: measured(a, 2 * a_s, a_records), b: measured(b, 0.5 * b_s / b_runs * len(half), half),
               c: measured(c, 1000.0, [])}
    ratios = job_ratios(config, tmp_path, seconds)
    assert ratios.keys() == {a, b} and ratios[a] == pytest.approx(2) and ratios[b] == pytest.approx(0.5)
    cost = plan_estimate(config, ratios)
    calibrated = cost.measured
    assert (calibrated.jobs, calibrated.ratio_low, calibrated.ratio_high) == (2, pytest.approx(0.5), pytest.approx(2))
    assert calibrated.ratio_median == pytest.approx(1.25)
    rest = sum(entry[0] for path, entry in jobs.items() if path not in (a, b))
    assert calibrated.run_hours * 3600 == pytest.approx(2 * a_s + 0.5 * b_s + 1.25 * rest)
    assert plan_estimate(config).measured is None and plan_estimate(config, {}).measured is None

    assert main(["plan", "--estimate", "--configfile", str(configfile), "--measured", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "measured: 2 of its jobs" in out and "1.25x their estimate per run" in out
    assert main(["plan", "--configfile", str(configfile), "--measured", str(tmp_path)]) == 2
    assert "--measured calibrates --estimate" in capsys.readouterr().err


@pytest.mark.parametrize("configfile", ["config.yaml", "options.yaml", "regime.yaml", "bandwidth.yaml", "paper.yaml"])
def test_the_estimate_is_calibrated_by_the_jobs_the_export_reads(configfile, tmp_path):
    """The estimate's jobs (by benchmark file, what `plan --measured` calibrates it by), the workflow's training jobs
    (the Snakefile's, held by tests/test_workflow.py's dry runs) and the jobs the evidence's export reads for the
    config are the same files, every planned run in exactly one of them."""
    from satbench.workflow import BENCHMARK_DIR, _benchmarked_jobs, config_jobs, load_config, planned_runs, training_jobs

    config = load_config(REPO / "config" / configfile)
    jobs = training_jobs(config)
    assert sorted(_benchmarked_jobs(config)) == sorted(job.benchmark for job in jobs)
    assert {job.benchmark for job in jobs} <= {f"{BENCHMARK_DIR}/{name}.tsv"
                                               for name in config_jobs(REPO / "config" / configfile, tmp_path)}
    assert sorted(run.path for job in jobs for run in job.runs) == sorted(run.path for run in planned_runs(config))


# -- habits: -v anywhere, --json, one-line errors, "did you mean" ------------------------------------------------------


@pytest.mark.parametrize("argv, verbose", [
    (["datasets"], False), (["-v", "datasets"], True), (["datasets", "-v"], True), (["datasets", "--verbose"], True),
    (["data", "fetch", "cora", "-v"], True), (["data", "-v", "fetch", "cora"], True),
])
def test_verbose_is_accepted_before_or_after_the_command(argv, verbose):
    args = build_parser(argv[0] if argv[0] != "-v" else argv[1]).parse_args(argv)
    assert args.verbose is verbose


def test_datasets_lists_names_apart_from_patterns_and_as_json(capsys):
    assert main(["datasets", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    names = [entry["name"] for entry in listing["datasets"]]
    patterns = [entry["name"] for entry in listing["patterns"]]
    assert "cora" in names and "amazon-photo" in names and not any(":" in name for name in names)
    assert {"npz:PATH", "sbm:KEY=VALUE,...", "amazon-photo:split=NAME,seed=N"} <= set(patterns)
    for name in names:
        satdata.validate_dataset_name(name)
    assert main(["datasets"]) == 0
    text = capsys.readouterr().out
    names_part, patterns_part = text.split("patterns (fill in the upper-case parts):")
    assert "AMAZON" not in text and "split=NAME" not in names_part and "npz:PATH" in patterns_part


@pytest.mark.parametrize("argv, fragments", [
    (["rnu"], ["invalid choice: 'rnu' (did you mean 'run'?)", "see 'satbench --help'"]),
    (["run", "--dataset", "cora", "--out", "x.json", "--model", "gcm"],
     ["invalid choice: 'gcm' (did you mean 'gcn'?)", "see 'satbench run --help'"]),
    (["run", "--dataset", "cora"], ["required: --out", "see 'satbench run --help'"]),
    (["datasets", "--jsn"], ["unrecognized arguments: --jsn", "see 'satbench datasets --help'"]),
    (["run", "--dataset", "corra", "--out", "x.json"], ["unknown dataset 'corra' (did you mean 'cora'?)"]),
    (["run", "--dataset", "cora", "--method", "digset", "--out", "x.json"],
     ["unknown method 'digset' (did you mean 'digest'?)"]),
])
def test_errors_are_one_line_with_the_closest_name_and_a_pointer_to_help(tmp_path, monkeypatch, capsys, argv,
                                                                         fragments):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("satbench: error: ")
    for fragment in fragments:
        assert fragment in line
    assert not (tmp_path / "x.json").exists()


# -- LICENSE and CITATION.cff ---------------------------------------------------------------------------------------


def test_license_and_citation_say_what_pyproject_says():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"}
    license_text = (REPO / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and "Copyright (c) the satbench authors" in license_text
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["license"] == "MIT"
    assert str(citation["version"]) == satbench.__version__
    assert citation["authors"] == [{"name": "satbench authors"}]
    sat = next(reference for reference in citation["references"] if "Staleness-Alleviated" in reference["title"])
    assert [author["family-names"] for author in sat["authors"]] == ["Bai", "Yu", "Chai", "Cheng", "Zhao"]
    assert sat["year"] == 2023 and "arXiv:2308.13466" in json.dumps(sat)
