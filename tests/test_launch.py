"""Launchers: torchrun's multi-node environment gives the same run as the single-node spawn launcher, and a node
that is lost fails the others at once; the known Cora result is reproduced through ``satbench run`` offline."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from runs import REPO, TINY_GRAPH, alive, descendants, load_record, satbench, without_timings

# Every test here launches worker processes or the CLI.
pytestmark = pytest.mark.multiprocess


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun_nodes(run_args: list[str], log_dir: Path, nodes: int = 2, per_node: int = 2) -> list[subprocess.Popen]:
    """``nodes`` torchrun launchers on this machine, each a node of ``per_node`` workers running ``satbench`` with
    ``run_args``, meeting at a static rendezvous on a free localhost port; each one's output in log_dir/node{N}.log."""
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun not installed")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    launchers = []
    for node in range(nodes):
        with open(log_dir / f"node{node}.log", "w") as log:
            launchers.append(subprocess.Popen(
                [torchrun, "--nnodes", str(nodes), "--nproc-per-node", str(per_node), "--node-rank", str(node),
                 "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "satbench", *run_args],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    return launchers


def satbench_lines(text: str) -> list[str]:
    """satbench's own lines: its log lines and its one-line errors."""
    return [line for line in text.splitlines() if " satbench " in line or line.startswith("satbench:")]


def test_two_torchrun_nodes_of_two_workers_match_the_spawn_launcher(tmp_path):
    """W = 4 as two torchrun nodes of two workers: the same epochs (losses, scores, bytes) as four spawned workers;
    every line a worker writes says which; only rank 0 says it wrote the record."""
    run_args = ["run", "--dataset", TINY_GRAPH, "--workers", "4", "--epochs", "2", "--hidden", "8",
                "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    started = time.monotonic()
    launchers = torchrun_nodes(run_args + ["--out", str(tmp_path / "torchrun.json")], tmp_path)
    codes = [launcher.wait(timeout=240) for launcher in launchers]
    print(f"two torchrun nodes: {time.monotonic() - started:.1f} s")
    outputs = [(tmp_path / f"node{node}.log").read_text() for node in (0, 1)]
    assert codes == [0, 0], outputs
    spawned = satbench(*run_args, "--out", str(tmp_path / "spawn.json"))
    assert spawned.returncode == 0, spawned.stderr

    spawn_record, torchrun_record = load_record(tmp_path / "spawn.json"), load_record(tmp_path / "torchrun.json")
    assert torchrun_record["env"]["launcher"] == "torchrun" and spawn_record["env"]["launcher"] == "spawn"
    assert without_timings(torchrun_record["epochs"]) == without_timings(spawn_record["epochs"])
    lines = [satbench_lines(output) for output in outputs]
    assert all(re.search(r"\[rank [0-3]/4\] ", line) for node in lines for line in node), lines
    # each node's first worker partitions (and says so); rank 0 also logs the epochs
    assert [{re.search(r"\[rank ([0-3])/4\]", line).group(1) for line in node} for node in lines] == [{"0"}, {"2"}]
    wrote = [line for node in lines for line in node if " wrote " in line]
    assert len(wrote) == 1 and "[rank 0/4]" in wrote[0] and wrote[0] in lines[0], wrote
    assert any("[rank 0/4] satbench INFO epoch 2/2: loss" in line for line in lines[0]), lines[0]


def test_a_killed_node_fails_the_other_with_one_line_well_before_the_timeout(tmp_path):
    """Node 1 (its torchrun and both its workers) is killed with SIGKILL while training: node 0's workers fail at
    their next collective, each with one line saying that a peer is gone, long before --timeout 20."""
    run_args = ["run", "--dataset", TINY_GRAPH, "--workers", "4", "--epochs", "100000", "--hidden", "8",
                "--timeout", "20", "--cache-dir", str(tmp_path / "cache"), "--no-progress",
                "--out", str(tmp_path / "run.json")]
    launchers = torchrun_nodes(run_args, tmp_path)
    node0 = tmp_path / "node0.log"
    try:
        deadline = time.monotonic() + 180
        while "epoch 3/100000" not in node0.read_text():  # both nodes are training
            assert time.monotonic() < deadline and all(launcher.poll() is None for launcher in launchers), \
                node0.read_text()
            time.sleep(0.1)
        tree = [launchers[1].pid, *descendants(launchers[1].pid)]
        assert len(tree) >= 3, tree  # the node's torchrun and its two workers
        killed = time.monotonic()
        for pid in tree:
            os.kill(pid, signal.SIGKILL)
        code = launchers[0].wait(timeout=60)
        failed_after = time.monotonic() - killed
    finally:
        for launcher in launchers:
            for pid in [launcher.pid, *descendants(launcher.pid)]:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            launcher.wait(timeout=30)
    print(f"node 0 failed {failed_after:.1f} s after node 1 was killed")
    errors = [line for line in satbench_lines(node0.read_text()) if line.startswith("satbench: error:")]
    assert code != 0 and failed_after < 10, node0.read_text()
    # the first worker of node 0 to fail says so; torchrun may stop the other before it can
    assert errors and all(re.match(r"satbench: error: \[rank [01]/4\] ", line) for line in errors), errors
    for line in errors:
        assert re.search(r"worker [01] lost a peer after [\d.]+ s in \S+ of .+\(.*epoch \d+\): its process or "
                         r"node is gone", line), line
    assert not (tmp_path / "run.json").exists()


@pytest.mark.slow
def test_gcn_on_cora_reaches_the_published_accuracy(tmp_path, planetoid_mirror):
    """Kipf & Welling report 81.5% on Cora's public split; we require a mean of >= 79.5% over 3 seeds."""
    scores = []
    for seed in range(3):
        out = tmp_path / f"cora{seed}.json"
        result = satbench("run", "--dataset", "cora", "--model", "gcn", "--workers", "2", "--epochs", "200",
                          "--hidden", "16", "--layers", "2", "--dropout", "0.5", "--lr", "0.01",
                          "--weight-decay", "5e-4", "--seed", str(seed), "--no-progress",
                          "--mirror", str(planetoid_mirror), "--data-root", str(tmp_path / "data"),
                          "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
                          env={"SATBENCH_OFFLINE": "1"})
        assert result.returncode == 0, result.stderr
        scores.append(load_record(out)["summary"]["test_at_best_val"])
    print("Cora test accuracy at best validation:", scores)
    assert sum(scores) / 3 >= 0.795, scores


def test_concurrent_runs_meet_at_their_own_rendezvous_and_leave_none_behind(tmp_path):
    """Each run's workers meet at a file of its own (no free port is probed, released and reused: that raced when
    jobs started together); it is removed when the run ends. (Only these runs' files are looked for, by their
    launching process's pid: other satbench runs on the machine may hold theirs meanwhile.)"""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    runs = [subprocess.Popen([sys.executable, "-m", "satbench", "run", "--dataset", TINY_GRAPH, "--workers", "2",
                              "--epochs", "2", "--hidden", "8", "--cache-dir", str(tmp_path / "cache"),
                              "--no-progress", "--out", str(tmp_path / f"run{index}.json")],
                             cwd=REPO, env=env, stderr=subprocess.PIPE, text=True) for index in range(3)]
    for run in runs:
        _, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr
    assert all((tmp_path / f"run{index}.json").is_file() for index in range(3))
    for run in runs:
        assert not list(Path(tempfile.gettempdir()).glob(f"satbench-rendezvous-{run.pid}-*"))
