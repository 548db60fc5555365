"""``satbench run --network RATE[,DELAY]``: emulated links (private network namespaces, veth pairs, tc).

The refusals run anywhere; the runs over shaped links need root (or CAP_NET_ADMIN) and iproute2, and are skipped,
saying so, where those are missing."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from runs import REPO, load_record, satbench
from satbench.cli import main
from satbench.config import RunConfig
from satbench.runtime import network
from satbench.errors import ConfigError

# W = 2, exact, GCN 2x256: each worker sends ~1.48 MB per epoch (halo rows, their gradients, the gradient all-reduce),
# so a 20 Mbit/s link needs ~0.6 s per epoch for it, and loopback a few milliseconds.
GRAPH = "sbm:n=2000,classes=4,degree=8,features=128,seed=1"
FAST, SLOW = "80mbit", "20mbit"
RATES = {FAST: 80e6, SLOW: 20e6}

_missing = [m for m in network.missing_requirements() if network.FORCE_UNAVAILABLE_ENV not in m]
needs_links = pytest.mark.skipif(bool(_missing), reason=f"cannot emulate links here: {'; '.join(_missing)}")


def namespaces() -> set[str]:
    return set(network.our_namespaces())


def root_links() -> set[str]:
    """The interfaces of the machine's own network namespace (a leaked veth end would show up here)."""
    output = subprocess.run([network._tool("ip") or "ip", "-o", "link", "show"], capture_output=True, text=True,
                            check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in output.splitlines()}


def run_args(cache, out, *extra, epochs=3, workers=2):
    return ["run", "--dataset", GRAPH, "--workers", str(workers), "--epochs", str(epochs), "--hidden", "256",
            "--staleness-every", "0", "--cache-dir", str(cache), "--no-progress", "--out", str(out), *extra]


def one_line_error(capsys, code, *fragments):
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and lines[-1].startswith("satbench: error: "), lines
    assert "Traceback" not in "\n".join(lines)
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]
    return lines


# -- refusals (anywhere) ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, fragment", [
    ("20", "not a number with a unit"),
    ("fast", "not a number with a unit"),
    ("20mbit,5", "delay '5' is not a number with a unit"),
    ("20mbit,-1ms", "not a number with a unit"),
    ("20furlong", "unknown rate unit 'furlong'"),
    ("20mbit,2min", "unknown delay unit 'min'"),
    ("20mbit,1ms,3", "more than one comma"),
    ("0mbit", "between 1kbit and 1tbit"),
    ("20mbit,2h", "unknown delay unit"),
    ("20mbit,61s", "at most 60s"),
    ("", "empty"),
])
def test_bad_values_refuse_with_one_line(tmp_path, capsys, value, fragment):
    code = main(run_args(tmp_path / "cache", tmp_path / "out.json", "--network", value))
    lines = one_line_error(capsys, code, "--network", fragment)
    assert "RATE[,DELAY]" in lines[-1]
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "cache").exists()
    with pytest.raises(ConfigError, match=fragment):
        RunConfig(dataset=GRAPH, network=value).validate()


@pytest.mark.parametrize("value, rate, delay", [
    ("1gbit,200us", 1e9, 200e-6), ("100mbit", 1e8, 0.0), ("20Mbit, 1ms", 20e6, 1e-3), ("1mbps", 8e6, 0.0),
    ("1.5gbit,0ms", 1.5e9, 0.0),
])
def test_values_in_tc_units(value, rate, delay):
    spec = network.parse_network(value)
    assert (spec.rate_bit_s, spec.delay_s) == (pytest.approx(rate), pytest.approx(delay))
    assert RunConfig(dataset=GRAPH, network=value).validate().network == spec.text  # stored as tc spells it


@pytest.mark.parametrize("patch, fragment", [
    (lambda m: m.setenv(network.FORCE_UNAVAILABLE_ENV, "1"), network.FORCE_UNAVAILABLE_ENV),
    (lambda m: (m.setattr(network.os, "geteuid", lambda: 1000), m.setattr(network, "_effective_capabilities",
                                                                            lambda: 0)),
     "not root and no CAP_NET_ADMIN"),
    (lambda m: m.setattr(network, "_tool", lambda name: None if name == "tc" else "/usr/sbin/ip"),
     "no `tc` on PATH"),
])
def test_without_privilege_or_tools_refuses_before_any_work(tmp_path, capsys, monkeypatch, patch, fragment):
    patch(monkeypatch)
    before = namespaces()
    code = main(run_args(tmp_path / "cache", tmp_path / "out.json", "--network", "1gbit"))
    lines = one_line_error(capsys, code, network.REQUIREMENT, fragment)
    assert not any("partitioning" in line or "starting" in line for line in lines)  # before any work
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out.json").exists()
    assert namespaces() == before


def test_torchrun_refuses_network(tmp_path, capsys, monkeypatch):
    for name, value in {"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(name, value)
    code = main(run_args(tmp_path / "cache", tmp_path / "out.json", "--network", "1gbit"))
    one_line_error(capsys, code, "--network", "torchrun", "real links")


@pytest.mark.multiprocess
def test_one_worker_sends_nothing_so_no_link_is_set_up(tmp_path):
    """W = 1 trains in-process and sends nothing: no privilege needed, no namespace, and the record says so."""
    before = namespaces()
    out = tmp_path / "w1.json"
    result = satbench(*run_args(tmp_path / "cache", out, "--network", "20mbit,1ms", epochs=1, workers=1),
                      env={network.FORCE_UNAVAILABLE_ENV: "1"})
    assert result.returncode == 0, result.stderr
    record = load_record(out)
    assert record["config"]["network"] == "20mbit,1ms"
    assert record["env"]["network"]["shaped"] is False and record["env"]["network"]["delay_s"] == 0.001
    assert namespaces() == before


# -- shaped links (root and iproute2) --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shaped_runs(tmp_path_factory):
    """The same exact run over loopback and over links of two rates; what existed before and after."""
    directory = tmp_path_factory.mktemp("network")
    before = (namespaces(), root_links())
    records, logs = {}, {}
    for rate in (None, FAST, SLOW):
        out = directory / f"{rate or 'loopback'}.json"
        extra = ("--network", rate) if rate else ()
        result = satbench("--verbose", *run_args(directory / "cache", out, *extra))
        assert result.returncode == 0, result.stderr
        records[rate], logs[rate] = load_record(out), result.stderr
    return records, logs, before, (namespaces(), root_links())


@needs_links
@pytest.mark.multiprocess
def test_shaped_link_makes_comm_time_grow_with_bytes_over_rate(shaped_runs):
    records = shaped_runs[0]
    comm = {}
    for rate, bit_s in RATES.items():
        record = records[rate]
        assert record["config"]["network"] == rate
        assert record["env"]["network"]["shaped"] is True and record["env"]["network"]["rate_bit_s"] == bit_s
        for row in record["epochs"]:
            wire_s = max(row["comm_bytes_per_worker"]) * 8 / bit_s  # the busiest uplink's bytes over its rate
            assert max(row["comm_bytes_per_worker"]) >= 1_000_000
            # gloo may serialise the two directions of an exchange (up to 2x); generous bounds, not a speed test
            assert 0.5 * wire_s <= row["comm_time_s"] <= 6 * wire_s + 1.0, (rate, row)
        comm[rate] = sum(row["comm_time_s"] for row in record["epochs"])
    loopback = sum(row["comm_time_s"] for row in records[None]["epochs"])
    assert loopback < comm[FAST] < comm[SLOW]
    assert comm[SLOW] >= 1.5 * comm[FAST]  # 4x fewer bits per second


@needs_links
@pytest.mark.multiprocess
def test_option_off_is_unchanged(shaped_runs):
    records, logs = shaped_runs[0], shaped_runs[1]
    off = records[None]
    assert off["config"]["network"] is None and "network" not in off["env"]
    assert "emulated links" not in logs[None] and "emulated links" in logs[SLOW]
    for rate in RATES:  # the link changes times only: same losses, scores and traffic
        for row, shaped in zip(off["epochs"], records[rate]["epochs"]):
            assert (shaped["loss"], shaped["val"], shaped["comm_bytes"]) == (row["loss"], row["val"], row["comm_bytes"])


@needs_links
@pytest.mark.multiprocess
def test_nothing_left_after_successful_runs(shaped_runs):
    before, after = shaped_runs[2], shaped_runs[3]
    assert after == before


@needs_links
@pytest.mark.multiprocess
def test_nothing_left_after_a_failed_run(tmp_path):
    before = (namespaces(), root_links())
    out = tmp_path / "out.json"
    result = satbench(*run_args(tmp_path / "cache", out, "--lr", "1e30", "--network", FAST))  # diverges
    assert result.returncode == 1, result.stderr
    assert "diverged" in result.stderr.strip().splitlines()[-1]
    assert (namespaces(), root_links()) == before
    assert not out.exists()


@needs_links
@pytest.mark.multiprocess
def test_nothing_left_after_sigterm(tmp_path):
    before = (namespaces(), root_links())
    log = tmp_path / "log"
    with open(log, "w") as stream:
        process = subprocess.Popen(
            [sys.executable, "-m", "satbench", *run_args(tmp_path / "cache", tmp_path / "out.json", "--network",
                                                          "2mbit", epochs=100)],
            cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=stream, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "starting 2 worker" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.1)
        time.sleep(1.0)  # the workers are training over their links
        assert len(namespaces() - before[0]) == 3  # the hub and one per worker
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 128 + signal.SIGTERM, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (namespaces(), root_links()) == before
    assert not (tmp_path / "out.json").exists()


@needs_links
@pytest.mark.multiprocess
def test_delay_needs_netem(tmp_path):
    """With the kernel's netem the delay is applied and recorded; without it, one line before any work."""
    before = namespaces()
    out = tmp_path / "out.json"
    result = satbench(*run_args(tmp_path / "cache", out, "--network", "80mbit,2ms", epochs=1))
    if result.returncode == 2:
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("satbench: error: --network DELAY needs the kernel's netem"), result.stderr
        assert "partitioning" not in result.stderr and not out.exists()
    else:
        assert result.returncode == 0, result.stderr
        assert load_record(out)["env"]["network"]["delay_s"] == 0.002
    assert namespaces() == before


@needs_links
@pytest.mark.multiprocess
def test_namespaces_of_a_killed_run_are_removed_by_the_next():
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead = int(finished.stdout)  # a pid that no longer exists
    name = f"satbench-{dead}-0123abcd-hub"
    subprocess.run([network._tool("ip"), "netns", "add", name], check=True)
    try:
        assert name in namespaces()
        network.remove_orphans()
        assert name not in namespaces()
    finally:
        subprocess.run([network._tool("ip"), "netns", "delete", name], capture_output=True)


def test_record_states_the_link_in_json():
    spec = network.parse_network("1gbit,200us")
    described = network.describe(spec, 4)
    assert json.loads(json.dumps(described)) == described
    assert described["shaped"] and described["rate_bit_s"] == 1e9 and described["delay_s"] == pytest.approx(2e-4)
