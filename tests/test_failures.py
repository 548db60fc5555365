"""Nothing silently wrong (issue 11): a corrupt cache, bad numbers or data, a diverging run, a bad output path, an
interrupt or an interrupted workflow never yields a number, or loses one. One test (or a few) per class of failure;
each fails on the code before the fix. Small graphs and short runs; the subprocess timeouts only guard against hangs."""

import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from runs import REPO, TINY_GRAPH, alive as _alive, descendants as _descendants

from satbench.config import RunConfig
from satbench.errors import CacheCorrupted, ConfigError
from satbench.workflow import check_config, control_runs, main_runs, report_outputs, training_jobs

RUN = ["run", "--epochs", "3", "--hidden", "8", "--no-progress"]


def umask_022():
    os.umask(0o022)


def run_cli(*args, env=None, timeout=120, **popen):
    full_env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run([sys.executable, "-m", "satbench", *args], cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=umask_022, **popen)


def last_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else ""


def files_in(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """One successful two-worker run with a saved model (record, model, partition cache)."""
    root = tmp_path_factory.mktemp("good")
    result = run_cli(*RUN, "--dataset", TINY_GRAPH, "--workers", "2", "--cache-dir", str(root / "cache"),
                     "--save-model", str(root / "out" / "model.pt"), "--out", str(root / "out" / "run.json"))
    assert result.returncode == 0, result.stderr
    return root, json.loads((root / "out" / "run.json").read_text())


# -- 1. cache integrity ----------------------------------------------------------------------------------------------

@pytest.mark.multiprocess
def test_altered_cached_part_is_rebuilt_and_truncated_part_names_its_file(good_run, tmp_path):
    root, record = good_run
    (part_file,) = (root / "cache").rglob("part1.pt")
    part = torch.load(part_file, weights_only=True)
    part["y"] = (part["y"] + 1) % 4  # still loads, silently wrong labels
    torch.save(part, part_file)
    result = run_cli(*RUN, "--dataset", TINY_GRAPH, "--workers", "2", "--cache-dir", str(root / "cache"),
                     "--out", str(tmp_path / "again.json"))
    assert result.returncode == 0, result.stderr
    assert f"{part_file} does not match its content hash" in result.stderr and "rebuilding" in result.stderr
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["partition"]["content_hash"] == record["partition"]["content_hash"]
    assert again["summary"]["test_at_best_val"] == record["summary"]["test_at_best_val"]

    from satbench.partition import load_part

    part_file.write_bytes(part_file.read_bytes()[:1000])  # truncated: one line naming the file, not a zip error
    with pytest.raises(CacheCorrupted, match=str(part_file)) as caught:
        load_part(part_file.parent, 1)
    assert "\n" not in str(caught.value)


# -- 2. refuse before spawning ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings, message", [
    ({"lr": math.inf}, "lr must be a finite number"),
    ({"lr": math.nan}, "lr must be a finite number"),
    ({"weight_decay": math.nan}, "weight-decay must be a finite number"),
    ({"timeout_s": math.nan}, "timeout must be a finite number"),
    ({"timeout_s": math.inf}, "timeout must be a finite number"),
    ({"method": "sat-plus", "method_options": {"gate_margin": "nan"}}, "'gate_margin' of method 'sat-plus' must be "
                                                                         "a finite number"),
    ({"lr": 1e38}, "lr must be at most"),  # Adam's float32 arithmetic overflows at the first step
])
def test_non_finite_numbers_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(dataset=TINY_GRAPH, **settings).validate()


def write_npz(path, n=40, **changes):
    rng = np.random.default_rng(0)
    arrays = {"x": rng.standard_normal((n, 4)).astype(np.float32), "y": rng.integers(0, 3, n),
              "edge_index": rng.integers(0, n, (2, 120)), "train_mask": np.arange(n) < 20,
              "val_mask": (np.arange(n) >= 20) & (np.arange(n) < 30), "test_mask": np.arange(n) >= 30}
    arrays.update(changes)
    np.savez(path, **arrays)
    return f"npz:{path}"


@pytest.mark.parametrize("changes, message", [
    ({"train_mask": np.zeros(40, bool)}, "train_mask is empty"),
    ({"val_mask": np.zeros(40, bool)}, "val_mask is empty"),
    ({"y": np.zeros((40, 0), np.float32)}, "no label columns"),
    ({"x": np.full((40, 4), 1e300)}, "not finite in float32"),
    ({"y": np.r_[100_000, np.zeros(39, np.int64)]}, "a 100001-class model"),
])
def test_data_that_cannot_train_is_refused(tmp_path, changes, message):
    from satbench.data import check_trainable, load_dataset

    graph = load_dataset(write_npz(tmp_path / "g.npz", **changes))
    with pytest.raises(ConfigError, match=message):
        check_trainable(graph)


@pytest.mark.multiprocess
def test_refusal_is_one_line_before_spawning_and_an_empty_test_split_is_null(tmp_path, capsys):
    from satbench.cli import main

    rc = main([*RUN, "--dataset", write_npz(tmp_path / "noval.npz", val_mask=np.zeros(40, bool)), "--workers", "1",
               "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "a.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("satbench: error: ") and "val_mask is empty" in err[-1]
    assert not (tmp_path / "cache").exists() and not (tmp_path / "a.json").exists()  # refused before partitioning

    no_test = run_cli(*RUN, "--dataset", write_npz(tmp_path / "notest.npz", test_mask=np.zeros(40, bool)),
                      "--workers", "1", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "b.json"))
    assert no_test.returncode == 0, no_test.stderr
    record = json.loads((tmp_path / "b.json").read_text())
    assert record["summary"]["test_at_best_val"] is None and record["summary"]["best_val"] is not None
    assert all(row["test"] is None for row in record["epochs"])


# -- 3. a diverging run stops, leaving nothing ------------------------------------------------------------------------

@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.multiprocess
def test_diverging_run_stops_at_first_non_finite_epoch_and_leaves_nothing(tmp_path, workers):
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text('{"a good": "record"}\n')  # a failed run must not touch an existing record
    result = run_cli("run", "--epochs", "30", "--hidden", "8", "--no-progress", "--dataset", TINY_GRAPH,
                     "--workers", workers, "--lr", "1e20", "--cache-dir", str(tmp_path / "cache"),
                     "--save-model", str(out / "model.pt"), "--out", str(out / "run.json"))
    assert result.returncode == 1, result.stderr
    assert last_line(result) == "satbench: error: training diverged at epoch 2: loss nan", result.stderr
    assert "Traceback" not in result.stderr
    assert files_in(out) == ["run.json"] and (out / "run.json").read_text() == '{"a good": "record"}\n'


# -- 4. the output path is checked first ------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["directory", "under-a-file", "empty", "model-under-a-file", "same-file",
                                  "unwritable"])
def test_output_path_is_checked_before_any_work(tmp_path, capsys, case):
    from satbench.cli import main

    (tmp_path / "afile").write_text("")
    (tmp_path / "adir").mkdir()
    out, model = str(tmp_path / "run.json"), None
    if case == "directory":
        out = str(tmp_path / "adir")
    elif case == "under-a-file":
        out = str(tmp_path / "afile" / "sub" / "run.json")
    elif case == "empty":
        out = ""
    elif case == "model-under-a-file":
        model = str(tmp_path / "afile" / "model.pt")
    elif case == "same-file":
        model = out
    elif case == "unwritable":
        if os.geteuid() == 0:
            pytest.skip("root writes anywhere; the read-only case is the path under a file")
        (tmp_path / "adir").chmod(0o500)
        out = str(tmp_path / "adir" / "run.json")
    args = [*RUN, "--dataset", TINY_GRAPH, "--cache-dir", str(tmp_path / "cache"), "--out", out]
    rc = main(args + (["--save-model", model] if model else []))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("satbench: error: ")
    named = {"empty": "--out is empty", "model-under-a-file": model, "same-file": "same file"}.get(case, out)
    assert named in err[-1] and ".partial" not in err[-1]
    assert not (tmp_path / "cache").exists()  # nothing was loaded or partitioned


# -- 5. clean interrupts ----------------------------------------------------------------------------------------------

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
@pytest.mark.multiprocess
def test_signal_stops_every_worker_and_leaves_nothing(tmp_path, signum):
    """Started as `satbench run ... &` from a script (SIGINT ignored): SIGINT or SIGTERM stop the run and its
    workers; after SIGKILL of the launching process the workers die with it."""
    out = tmp_path / "out"
    log = tmp_path / "log"
    env = dict(os.environ, PYTHONPATH=str(REPO))

    def ignore_sigint():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "satbench", "run", "--dataset", TINY_GRAPH, "--workers", "2", "--epochs", "100000",
             "--hidden", "8", "--no-progress", "--cache-dir", str(tmp_path / "cache"), "--out", str(out / "run.json")],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=ignore_sigint)
    tree: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not ("starting 2 worker" in log.read_text()
                                                   and len(_descendants(process.pid)) >= 2):
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
        time.sleep(1.0)  # the workers are training
        tree = set(_descendants(process.pid))
        assert len(tree) >= 2, log.read_text()
        process.send_signal(signum)
        rc = process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in tree):
            time.sleep(0.1)
        assert not [pid for pid in tree if _alive(pid)], "workers outlived the run"
    finally:
        for pid in [process.pid, *tree]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert rc == (-signal.SIGKILL if signum == signal.SIGKILL else 128 + signum)
    if signum != signal.SIGKILL:
        last = log.read_text().strip().splitlines()[-1]
        assert last == f"satbench: interrupted by {signal.Signals(signum).name}; workers stopped, nothing written"
    assert not out.exists() or files_in(out) == []


RAISES = textwrap.dedent('''
    import time
    from satbench.methods import Method, register_method

    @register_method
    class Raises(Method):
        name = "test-raises-11"
        def supply_halo(self, layer, h_inner, partial_halo):
            if self.epoch == 2:
                if self.comm.rank == 0:
                    raise RuntimeError("injected failure on rank 0")
                time.sleep(60)  # rank 1 is stopped here, without an error of its own
            return self.comm.exchange(h_inner)
''')


@pytest.mark.multiprocess
def test_stale_error_files_of_an_earlier_run_are_never_the_reported_cause(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "raises.py").write_text(RAISES)
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".run.json.partial.rank1.error"  # as an earlier, killed run (of an older satbench) left it
    stale.write_text(json.dumps({"time": time.time() - 3600, "rank": 1,
                                 "error": "RuntimeError: stale error of an earlier run"}))
    result = run_cli(*RUN, "--epochs", "4", "--dataset", TINY_GRAPH, "--workers", "2", "--method", "test-raises-11",
                     "--timeout", "30", "--cache-dir", str(tmp_path / "cache"), "--out", str(out / "run.json"),
                     env={"SATBENCH_METHOD_PATH": str(plugins)})
    assert result.returncode == 1, result.stderr
    assert "injected failure on rank 0" in last_line(result) and "stale" not in last_line(result)
    assert files_in(out) == [stale.name]  # nothing of this run left; another run's file is not this run's to delete


# -- 6. the workflow ---------------------------------------------------------------------------------------------------

TINY = {
    "datasets": {"tiny": {"spec": "sbm:n=300,classes=3,degree=6,features=8,seed=2"}},
    "models": {"gcn": {"hidden": 8, "layers": 2, "dropout": 0.0, "lr": 0.05}},
    "methods": ["exact", "digest", "sat-plus"],
    "workers": [2],
    "seeds": [0, 1],
    "epochs": 4,
    "device": "cpu",
    "sync_period": 2,
}


@pytest.mark.parametrize("change, message", [
    ({"method_options": {"digest": {"no_such_option": 1}}}, "has no option no_such_option"),
    ({"method_options": {"sat-plus": {"gate_margin": math.nan}}},
     "'gate_margin' of method 'sat-plus' must be a finite number"),
    ({"workers": [2, 301]}, "301 workers but the dataset has only 300 nodes"),
    ({"models": {"gcn": {"lr": math.inf}}}, "lr must be a finite number"),
])
def test_workflow_config_checks_every_job_before_any_starts(change, message):
    with pytest.raises(ConfigError, match=message):
        check_config({**TINY, **change})


def _workflow_copy(tmp_path: Path) -> Path:
    for name in ("Snakefile", "config/schema.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((REPO / name).read_text())
    for caption in (REPO / "report").iterdir():
        (tmp_path / "report").mkdir(exist_ok=True)
        (tmp_path / "report" / caption.name).write_text(caption.read_text())
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(TINY))
    # Records, then the tables, plots and data files made from them (later), as a finished reproduction leaves them.
    tables, plots = report_outputs(TINY)
    outputs = ([f"results/tables/{t}.{e}" for t in tables for e in ("csv", "md", "tex")]
               + [f"plots/{p}.{e}" for p in plots for e in ("png", "pdf")]
               + ["results/tables/runs.csv", "results/runs.parquet", "results/epochs.parquet",
                  "results/staleness.parquet"])
    now = time.time()
    markers = [f"results/.datasets/{dataset}.ready" for dataset in TINY["datasets"]]  # each dataset fetched once
    for age, paths in ((150, markers), (100, [run.path for run in main_runs(TINY) + control_runs(TINY)]),
                       (50, outputs)):
        for path in paths:
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text("{}")
            os.utime(tmp_path / path, (now - age, now - age))
    return tmp_path


def _make_command(target: str, **variables: str) -> str:
    """The command `make TARGET` would run (make -n), with this interpreter's virtual environment."""
    venv = Path(sys.executable).parent.parent
    listing = subprocess.run(["make", "-n", "-s", target, f"VENV={venv}",
                              *(f"{key}={value}" for key, value in variables.items())],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    return [line for line in listing.stdout.splitlines() if "snakemake" in line][-1]


def _bash(command: str, workdir: Path):
    return subprocess.run(["bash", "-c", command], cwd=workdir, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))


@pytest.mark.multiprocess
def test_make_figures_reads_config_and_reproduce_resumes_an_interrupted_run(tmp_path):
    assert "--rerun-incomplete" in _make_command("reproduce")
    workdir = _workflow_copy(tmp_path)
    result = _bash(_make_command("figures", CONFIG="config/config.yaml") + " -n", workdir)
    assert result.returncode == 0, result.stderr + result.stdout
    for rule in ("tables", "figures", "data"):
        assert f"rule {rule}:" in result.stdout, rule
    assert "rule runs" not in result.stdout and "rule controls" not in result.stdout


@pytest.mark.multiprocess
def test_deleted_record_is_rebuilt_with_its_tables(tmp_path):
    workdir = _workflow_copy(tmp_path)
    deleted = main_runs(TINY)[1].path
    (workdir / deleted).unlink()
    result = _bash(f"{sys.executable} -m snakemake -n --cores 1", workdir)
    assert result.returncode == 0, result.stderr + result.stdout
    assert f"Missing output files: {deleted}" in result.stdout
    # its job alone: the group of its dataset, model and W (grouped in-process: satbench.workflow.training_jobs)
    assert re.findall(r"^rule (runs\w*):", result.stdout, re.MULTILINE) == [
        next(job.rule for job in training_jobs(TINY) if deleted in job.records)]
    assert "rule controls" not in result.stdout
    assert all(f"rule {rule}:" in result.stdout for rule in ("tables", "figures", "data"))


# -- 7. provenance ----------------------------------------------------------------------------------------------------

@pytest.mark.multiprocess
def test_record_states_what_it_trained_on_and_is_readable(good_run):
    root, record = good_run
    git = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True)
    assert record["env"]["git_dirty"] == (bool(git.stdout.strip()) if git.returncode == 0 else None)
    dataset = record["dataset"]
    assert dataset["num_classes"] == 4 and dataset["metric"] == "accuracy" and len(dataset["content_hash"]) == 32
    assert (dataset["split"], dataset["split_seed"]) == ("random", 1)  # TINY_GRAPH's split, drawn from its seed
    assert len(record["partition"]["label_skew"]) == 2 and 0 <= record["partition"]["label_skew_max"] <= 1
    assert record["partition"]["dataset_hash"] == dataset["content_hash"]
    assert len(record["partition"]["content_hash"]) == 64
    for name in ("run.json", "model.pt"):
        assert (root / "out" / name).stat().st_mode & 0o777 == 0o644  # umask 022, as most users have
