"""Long jobs survive: ``satbench run --checkpoint-every 10`` killed with SIGKILL at epoch 30 of 60 and started again
with the same arguments resumes from its checkpoint and writes the record of an uninterrupted run (losses, scores and
staleness to the bit, the same bytes in every epoch); the checkpoints are gone once the record is written, and each
seed's record is written when that seed finishes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runs import REPO, TINY_GRAPH, load_record, satbench, without_timings
from satbench.config import RunConfig
from satbench.runtime.launch import launch

pytestmark = pytest.mark.multiprocess

EPOCHS, EVERY, KILL_AT = 60, 10, 30
PERIODIC = ("digest", "sat", "sat-plus")  # a sync period of 4: the checkpoints fall inside periods
SETTINGS = dict(dataset=TINY_GRAPH, workers=2, epochs=EPOCHS, hidden=8, layers=2, dropout=0.2, staleness_every=10,
                progress=False)


def command(method: str, out: Path, cache: Path, seeds=("0",)) -> list[str]:
    return ["run", "--dataset", TINY_GRAPH, "--workers", "2", "--epochs", str(EPOCHS), "--hidden", "8",
            "--dropout", "0.2", "--method", method, *(["--sync-period", "4"] if method in PERIODIC else []),
            "--seed", *seeds, "--checkpoint-every", str(EVERY), "--no-progress", "--cache-dir", str(cache),
            "--out", str(out)]


def kill_at_checkpoint(args: list[str], marker: Path, log: Path) -> int:
    """Start ``satbench`` with ``args`` and SIGKILL it, workers included, as soon as ``marker`` commits a checkpoint
    of epoch KILL_AT or later; returns that epoch."""
    with open(log, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "satbench", *args], cwd=REPO, stderr=stderr,
                                   env=dict(os.environ, PYTHONPATH=str(REPO)), start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                epoch = json.loads(marker.read_text())["epoch"]
            except (OSError, ValueError):
                epoch = 0
            if epoch >= KILL_AT:
                os.killpg(process.pid, signal.SIGKILL)  # the launching process and its workers
                process.wait(timeout=30)
                return epoch
            time.sleep(0.005)
        raise AssertionError(f"no checkpoint of epoch {KILL_AT}: {log.read_text()}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.mark.parametrize("method", ["exact", "digest", "sat", "pipegcn", "sat-plus"])
def test_a_killed_run_started_again_writes_the_uninterrupted_record(tmp_path, method):
    cache = tmp_path / "cache"
    options = {"sync_period": 4} if method in PERIODIC else {}
    seeds = ("0", "1") if method == "pipegcn" else ("0",)  # a multi-seed run, once
    references = {}
    for seed in seeds:  # uninterrupted, without checkpoints
        references[seed] = tmp_path / f"reference{seed}.json"
        launch(RunConfig(**SETTINGS, method=method, seed=int(seed), cache_dir=str(cache),
                         method_options=options).validate(), references[seed])

    out = tmp_path / "out" / ("seed{seed}.json" if len(seeds) > 1 else "run.json")
    outs = {seed: Path(str(out).replace("{seed}", seed)) for seed in seeds}
    last = outs[seeds[-1]]
    marker = last.with_name(f"{last.name}.checkpoint") / "latest.json"
    args = command(method, out, cache, seeds)
    killed_at = kill_at_checkpoint(args, marker, tmp_path / "killed.log")
    assert not last.exists() and marker.is_file()
    if len(seeds) > 1:  # the first seed's record was written when it finished
        first, reference = load_record(outs["0"]), load_record(references["0"])
        assert without_timings(first["epochs"]) == without_timings(reference["epochs"])

    started = time.monotonic()
    again = satbench(*args, timeout=240)
    resume_seconds = time.monotonic() - started
    assert again.returncode == 0, again.stderr
    assert f"resuming from the checkpoint of epoch {killed_at}" in again.stderr
    print(f"{method}: killed at the checkpoint of epoch {killed_at}; resumed run {resume_seconds:.1f} s")
    for seed in seeds:
        record, reference = load_record(outs[seed]), load_record(references[seed])
        assert without_timings(record["epochs"]) == without_timings(reference["epochs"]), seed
        assert without_timings(record["summary"]) == without_timings(reference["summary"]), seed
        assert [row["comm_bytes"] for row in record["epochs"]] == [row["comm_bytes"] for row in reference["epochs"]]
    assert load_record(last)["env"]["resumed_from_epoch"] == killed_at
    assert sorted(path.name for path in out.parent.iterdir()) == sorted(path.name for path in outs.values())


def test_a_checkpoint_of_another_configuration_is_ignored_with_one_line(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "run.json"
    marker = out.with_name("run.json.checkpoint") / "latest.json"
    kill_at_checkpoint(command("exact", out, cache), marker, tmp_path / "killed.log")
    other = command("exact", out, cache) + ["--lr", "0.02", "--epochs", "12"]
    result = satbench(*other, timeout=240)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "ignoring the checkpoint" in line]
    assert len(warnings) == 1 and "differs in: epochs, lr" in warnings[0], result.stderr
    record = load_record(out)
    assert len(record["epochs"]) == 12 and "resumed_from_epoch" not in record["env"]
    assert not marker.parent.exists()
