"""The command line: clear one-line errors before any worker starts, and no result from a failed run."""

import shlex
import textwrap
from pathlib import Path

import numpy as np
import pytest

from runs import TINY_GRAPH, load_record, satbench, without_timings

# Every test here launches worker processes or the CLI.
pytestmark = pytest.mark.multiprocess


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("satbench: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[-1]


def base_args(tmp_path, *extra):
    return ["run", "--epochs", "2", "--hidden", "8", "--cache-dir", str(tmp_path / "cache"), "--no-progress",
            "--out", str(tmp_path / "out.json"), *extra]


@pytest.mark.parametrize("extra, fragments", [
    (["--dataset", "no-such-graph"], ["unknown dataset 'no-such-graph'"]),
    (["--dataset", TINY_GRAPH, "--method", "no-such-method"], ["unknown method 'no-such-method'", "exact"]),
    (["--dataset", TINY_GRAPH, "--workers", "0"], ["workers must be at least 1"]),
    (["--dataset", TINY_GRAPH, "--workers", "401"], ["401 workers", "400 nodes"]),
    (["--dataset", TINY_GRAPH, "-o", "nope=1"], ["has no option nope"]),
])
def test_bad_input_fails_early_with_one_line(tmp_path, extra, fragments):
    result = satbench(*base_args(tmp_path, *extra))
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "out.json").exists()
    assert "starting" not in result.stderr  # no worker was spawned


def test_bad_split_is_one_line_on_stderr_before_any_worker_starts(tmp_path):
    result = satbench(*base_args(tmp_path, "--dataset", "amazon-photo:split=nonsense", "--workers", "4",
                                 "--data-root", str(tmp_path / "data")))
    assert_one_line_error(result, "unknown split 'nonsense'", "per-class, random")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not any(tmp_path.iterdir())  # nothing read, partitioned or written


def test_unknown_model_is_rejected_by_argparse(tmp_path):
    result = satbench(*base_args(tmp_path, "--dataset", TINY_GRAPH, "--model", "mlp"))
    assert result.returncode == 2 and "invalid choice: 'mlp'" in result.stderr


def test_malformed_npz_is_one_line_error(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros((5, 3), np.float32), y=np.zeros(4, np.int64), edge_index=np.zeros((2, 2), np.int64))
    result = satbench(*base_args(tmp_path, "--dataset", f"npz:{path}"))
    assert_one_line_error(result, "bad.npz")


@pytest.mark.parametrize("dataset, file", [("cora", "ind.cora.x"), ("amazon-photo", "amazon_electronics_photo.npz")])
def test_missing_mirror_file_is_one_line_error(tmp_path, dataset, file):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    result = satbench(*base_args(tmp_path, "--dataset", dataset, "--mirror", str(mirror),
                                 "--data-root", str(tmp_path / "data")), env={"SATBENCH_OFFLINE": "1"})
    assert_one_line_error(result, file, str(tmp_path / "data"))
    assert "starting" not in result.stderr  # no worker was spawned


FAULTY_METHODS = textwrap.dedent('''
    import os, signal
    from satbench.methods import Method, register_method

    class _Faulty(Method):
        def supply_halo(self, layer, h_inner, partial_halo):
            if self.comm.rank == 1 and self.epoch == 2:
                self.fail()
            return self.comm.exchange(h_inner)

    @register_method
    class Raises(_Faulty):
        name = "test-raises"
        def fail(self):
            raise RuntimeError("injected failure on rank 1")

    @register_method
    class Dies(_Faulty):
        name = "test-dies"
        def fail(self):
            os.kill(os.getpid(), signal.SIGKILL)
''')


@pytest.mark.parametrize("method, message", [("test-raises", "injected failure"), ("test-dies", "died")])
def test_failed_worker_fails_the_run_and_leaves_no_record(tmp_path, method, message):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "faulty.py").write_text(FAULTY_METHODS)
    # The subprocess timeout guards against a hang; it is not a speed assertion.
    result = satbench(*base_args(tmp_path, "--dataset", TINY_GRAPH, "--workers", "2", "--epochs", "5",
                                 "--method", method, "--timeout", "30"),
                      env={"SATBENCH_METHOD_PATH": str(plugins)}, timeout=60)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out.json").exists()
    assert not list(tmp_path.glob(".out.json*"))  # no partial record, no error files


def test_run_writes_documented_record(tmp_path):
    result = satbench(*base_args(tmp_path, "--dataset", TINY_GRAPH, "--workers", "2", "--eval-every", "2",
                                 "--epochs", "3"))
    assert result.returncode == 0, result.stderr
    record = load_record(tmp_path / "out.json")
    assert {"config", "env", "partition", "epochs", "summary"} <= record.keys()
    assert record["env"]["world_size"] == 2 and record["env"]["backend"] == "gloo"
    assert {"edge_cut", "halo_sizes", "balance"} <= record["partition"].keys()
    rows = record["epochs"]
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert rows[0]["val"] is None and rows[1]["val"] is not None and rows[2]["val"] is not None  # every 2 + last
    for row in rows:
        assert {"loss", "train", "val", "test", "epoch_time_s", "compute_time_s", "comm_time_s",
                "comm_bytes"} <= row.keys()
    summary = record["summary"]
    best = max((row for row in rows if row["val"] is not None), key=lambda row: row["val"])
    assert summary["best_val"] == best["val"] and summary["test_at_best_val"] == best["test"]
    assert summary["total_comm_bytes"] == sum(row["comm_bytes"] for row in rows)


def test_datasets_and_help_list_what_exists():
    listing = satbench("datasets")
    assert listing.returncode == 0
    for name in ("cora", "citeseer", "ogbn-arxiv", "reddit", "sbm-20k", "npz:"):
        assert name in listing.stdout
    help_text = satbench("run", "--help").stdout
    assert "--workers" in help_text and "--eval-every" in help_text


def test_report_writes_only_what_is_asked(tmp_path):
    """`satbench report`: --tables, --plots and --data each write their own kind of output and nothing else (the
    workflow's rules tables, figures and data each ask for one); without any of them, one line and exit 2."""
    from test_artefacts import TINY, planned_records

    records = [str(path) for path in planned_records(TINY, tmp_path / "records")]

    def written():
        return sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*")
                      if path.is_file() and "records" not in path.parts)

    assert satbench("report", "--tables", str(tmp_path / "tables"), *records).returncode == 0
    tables = written()
    assert "tables/runs.csv" in tables and "tables/accuracy.tex" in tables
    assert all(path.startswith("tables/") for path in tables)
    assert satbench("report", "--plots", str(tmp_path / "plots"), *records).returncode == 0
    plots = sorted(set(written()) - set(tables))
    assert "plots/staleness.png" in plots and all(path.startswith("plots/") for path in plots)
    assert satbench("report", "--data", str(tmp_path / "data"), *records).returncode == 0
    assert sorted(set(written()) - set(tables) - set(plots)) == ["data/epochs.parquet", "data/runs.parquet",
                                                                 "data/staleness.parquet"]
    assert_one_line_error(satbench("report", *records), "give --tables DIR, --plots DIR or --data DIR")


def test_several_seeds_in_one_process_equal_one_run_each(tmp_path):
    args = ("--dataset", TINY_GRAPH, "--workers", "2", "--epochs", "3", "--dropout", "0.5", "--cache-dir",
            str(tmp_path / "cache"), "--no-progress")
    both = satbench("run", *args, "--seed", "3", "4", "--out", str(tmp_path / "both-{seed}.json"))
    assert both.returncode == 0, both.stderr
    one = satbench("run", *args, "--seed", "4", "--out", str(tmp_path / "one.json"))
    assert one.returncode == 0, one.stderr
    first, second = (load_record(tmp_path / f"both-{seed}.json") for seed in (3, 4))
    assert first["config"]["seed"] == 3 and second["config"]["seed"] == 4
    assert without_timings(second["epochs"]) == without_timings(load_record(tmp_path / "one.json")["epochs"])
    assert without_timings(first["epochs"]) != without_timings(second["epochs"])
    refused = satbench("run", *args, "--seed", "3", "4", "--out", str(tmp_path / "no-placeholder.json"))
    assert refused.returncode == 2 and "{seed}" in refused.stderr


def test_keep_finished_retrains_only_the_seed_that_failed(tmp_path, monkeypatch):
    """--keep-finished: a failed seed does not stop the others, and the next run of the same command (after a
    workflow deleted every output of the failed job) trains only the seed that failed."""
    import json

    import satbench.runtime.launch as launch_module
    from satbench.cli import _run_keeping_finished
    from satbench.config import RunConfig
    from satbench.errors import TrainingDiverged

    trained, failing = [], {1}

    def fake_launch(config, out, command=None):
        trained.append(config.seed)
        if config.seed in failing:
            raise TrainingDiverged(f"training diverged at epoch 3: seed {config.seed}")
        Path(out).write_text(json.dumps({"seed": config.seed}))

    monkeypatch.setattr(launch_module, "launch", fake_launch)
    configs = [RunConfig(dataset="cora", seed=seed) for seed in (0, 1, 2)]
    outs = [str(tmp_path / f"seed{seed}.json") for seed in (0, 1, 2)]
    keep = tmp_path / "kept"
    with pytest.raises(TrainingDiverged, match="1 of 3 seeds failed"):
        _run_keeping_finished(configs, outs, keep, ["satbench"])
    assert trained == [0, 1, 2]
    for out in outs:  # the workflow removes the failed job's outputs
        Path(out).unlink(missing_ok=True)
    trained.clear()
    failing.clear()
    _run_keeping_finished(configs, outs, keep, ["satbench"])
    assert trained == [1]
    assert [json.loads(Path(out).read_text())["seed"] for out in outs] == [0, 1, 2]
    assert not list(keep.iterdir())  # a finished job leaves nothing kept


# -- satbench batch: several commands, start-up once ---------------------------------------------------------------


def _batch_line(tmp_path, *extra):
    return ["--dataset", TINY_GRAPH, "--epochs", "3", "--hidden", "8", "--cache-dir", str(tmp_path / "cache"),
            "--no-progress", *extra]


def test_a_batch_writes_what_each_of_its_lines_would_alone(tmp_path):
    """Each line's records are those `satbench run` writes for that line (timings aside), each naming the line as its
    command; a line may be the whole command, as `satbench plan` prints it; comments and blank lines are skipped."""
    spawned = _batch_line(tmp_path, "--workers", "2", "--out", str(tmp_path / "batch" / "exact.json"))
    threads = _batch_line(tmp_path, "--workers", "3", "--method", "digest", "--launcher", "inprocess", "--seed", "1",
                          "2", "--out", str(tmp_path / "batch" / "digest{seed}.json"))
    batch = tmp_path / "commands.txt"
    batch.write_text(f"# a method and its base\n{shlex.join(spawned)}\n\nsatbench run {shlex.join(threads)}  # two "
                     "seeds\n")
    result = satbench("batch", str(batch))
    assert result.returncode == 0, result.stderr
    assert "batch: 2 commands, 3 runs" in result.stderr

    def alone(line, name):
        out = tmp_path / "alone" / name
        done = satbench("run", *line[:-1], str(out))
        assert done.returncode == 0, done.stderr
        return out

    pairs = [(spawned, "exact.json", "exact.json"), (threads, "digest{seed}.json", "digest1.json"),
             (threads, "digest{seed}.json", "digest2.json")]
    for line, template, name in pairs[:2]:
        alone(line, template)
    for line, template, name in pairs:
        batched, single = load_record(tmp_path / "batch" / name), load_record(tmp_path / "alone" / name)
        assert batched["command"] == ["satbench", "run", *line]
        assert without_timings({**batched, "command": None}) == without_timings({**single, "command": None}), name


def test_a_batch_keeping_finished_seeds_goes_on_past_a_failure_and_reruns_only_it(tmp_path):
    """The workflow's grouped jobs: with --keep-finished a failed line stops neither the others nor its own other
    seeds; everything that finished stays kept until every line is written, so that the batch run again (after the
    workflow deleted all of the job's outputs) trains only what failed."""
    keep, out = tmp_path / "kept", tmp_path / "out"
    diverging = _batch_line(tmp_path, "--lr", "{lr}", "--seed", "0", "1", "--out", str(out / "a{seed}.json"))
    good = _batch_line(tmp_path, "--workers", "2", "--launcher", "inprocess", "--out", str(out / "b.json"))
    batch = tmp_path / "commands.txt"
    batch.write_text(f"{shlex.join(diverging).replace('{lr}', '1e20')}\n{shlex.join(good)}\n")
    failed = satbench("batch", "--keep-finished", str(keep), str(batch))
    assert failed.returncode == 1 and "2 of 3 seeds failed" in failed.stderr.splitlines()[-1], failed.stderr
    assert sorted(path.name for path in out.iterdir()) == ["b.json"]  # the next line ran
    assert len(list(keep.iterdir())) == 1
    (out / "b.json").unlink()  # the workflow removes a failed job's outputs
    batch.write_text(f"{shlex.join(diverging).replace('{lr}', '0.01')}\n{shlex.join(good)}\n")
    rerun = satbench("batch", "--keep-finished", str(keep), str(batch))
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stderr.count("wrote ") == 3 and rerun.stderr.count("kept from an earlier run of this job") == 1
    assert sorted(path.name for path in out.iterdir()) == ["a0.json", "a1.json", "b.json"]
    assert not list(keep.iterdir())  # a finished batch leaves nothing kept


@pytest.mark.parametrize("text, fragments", [
    ("{good}\n--method no-such-method {common}\n", ["commands.txt:2: unknown method 'no-such-method'"]),
    ("{good}\n\n--workers x {common}\n", ["commands.txt:3: argument --workers/-w: invalid int value: 'x'"]),
    ("{good}\n--epochs 2 'unclosed\n", ["commands.txt:2: No closing quotation"]),
    ("# nothing\n\n", ["no command in it"]),
])
def test_a_bad_batch_line_stops_the_batch_before_any_run(tmp_path, text, fragments):
    common = shlex.join(_batch_line(tmp_path, "--out", str(tmp_path / "bad.json")))
    good = shlex.join(_batch_line(tmp_path, "--workers", "2", "--out", str(tmp_path / "good.json")))
    batch = tmp_path / "commands.txt"
    batch.write_text(text.format(good=good, common=common))
    result = satbench("batch", str(batch))
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "good.json").exists() and "starting" not in result.stderr
