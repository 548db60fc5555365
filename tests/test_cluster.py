"""What a cluster user sees: one log line per epoch where there is no terminal (no progress-bar frames in a log
file); a collective that times out reported as such, first, naming the worker, the collective and where training
was; and, before any worker starts, a warning (under --strict a refusal) for parts too small to be worth a worker or
an estimated memory beyond the machine's."""

import io
import json
import logging
import re
import textwrap
import time

import pytest

from runs import TINY_GRAPH, load_record, satbench
from satbench.comm import Traffic, collective_failure
from satbench.config import RunConfig
from satbench.errors import CollectiveFailed, CollectiveTimeout, ConfigError, PeerLost
from satbench.runtime.launch import Outputs, _failure_error, _first_failure, prepare
from satbench.runtime.memory import estimate_peak_bytes
from satbench.runtime.progress import epoch_reporter

GLOO_TIMEOUT = ("[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:81] Timed out waiting "
                "2000ms for recv operation to complete")
GLOO_RESET = ("[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:2248: "
              "Connection reset by peer. This is typically caused by a remote worker hanging or bugs in the "
              "application.")


# -- failures --------------------------------------------------------------------------------------------------------

def test_a_failed_collective_says_what_it_was_and_why():
    timeout = collective_failure(0, "all_to_all", Traffic.HALO, " (layer 1, epoch 2)", 2.01, 2.0,
                                 RuntimeError(GLOO_TIMEOUT))
    assert isinstance(timeout, CollectiveTimeout)
    assert str(timeout) == ("worker 0 timed out after 2.0 s in all_to_all of halo rows (layer 1, epoch 2): a peer "
                            "stopped or lags, or the link is too slow for the data; --timeout sets the limit (now 2 s)")
    lost = collective_failure(3, "all_reduce", Traffic.REDUCE, " (epoch 7)", 0.01, 300.0, RuntimeError(GLOO_RESET))
    assert isinstance(lost, PeerLost) and str(lost) == (
        "worker 3 lost a peer after 0.0 s in all_reduce of weight synchronisation (epoch 7): its process or node is "
        "gone (Read error [127.0.0.1]:2248: Connection reset by peer)")
    # NCCL's watchdog does not always say "timed out": a call that lasted the whole limit did
    slow = collective_failure(1, "all_gather", Traffic.STATS, "", 299.0, 300.0, RuntimeError("NCCL error"))
    assert isinstance(slow, CollectiveTimeout)
    other = collective_failure(1, "barrier", Traffic.STATS, "", 0.5, 300.0, RuntimeError("something else\nlast"))
    assert type(other) is CollectiveFailed
    assert str(other) == "worker 1: barrier of epoch statistics failed after 0.5 s: last"


def test_the_launcher_reports_the_timeout_before_the_echoes_of_its_peers(tmp_path):
    """The peer whose connection the timed-out worker closed may report first; the timeout is still the cause."""
    outputs = Outputs(tmp_path / "run.json")
    now = time.time()
    failures = [(0, "CollectiveTimeout", "worker 0 timed out after 1.0 s in all_to_all of halo rows", now),
                (1, "PeerLost", "worker 1 lost a peer after 0.9 s in all_to_all of halo rows", now - 0.05)]
    for rank, kind, message, stamp in failures:
        outputs.error_file(rank).write_text(json.dumps({"time": stamp, "rank": rank, "type": kind, "error": message}))
    first = _first_failure(outputs, 2)
    assert first["rank"] == 0
    error = _failure_error(first)
    assert isinstance(error, CollectiveTimeout) and str(error).startswith("worker 0 timed out")
    assert not list(tmp_path.iterdir())  # the error files are read and removed


SLEEPS = textwrap.dedent('''
    import time
    from satbench.methods import Method, register_method

    @register_method
    class Sleeps(Method):
        """exact, except that worker 1 sleeps 10 s before the halo exchange of epoch 2 (longer than --timeout 2)."""
        name = "test-sleeps-past-the-timeout"
        def supply_halo(self, layer, h_inner, partial_halo):
            if self.epoch == 2 and self.comm.rank == 1:
                time.sleep(10)
            return self.comm.exchange(h_inner)
''')


@pytest.mark.multiprocess
def test_a_collective_that_times_out_fails_the_run_with_one_line_naming_it(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "sleeps.py").write_text(SLEEPS)
    out = tmp_path / "run.json"
    result = satbench("run", "--dataset", TINY_GRAPH, "--workers", "2", "--epochs", "3", "--hidden", "8",
                      "--method", "test-sleeps-past-the-timeout", "--timeout", "2", "--no-progress",
                      "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
                      env={"SATBENCH_METHOD_PATH": str(plugins)})
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"satbench: error: worker 0 timed out after 2\.\d s in all_to_all of halo rows \(layer 1, "
                        r"epoch 2\): a peer stopped or lags, or the link is too slow for the data; --timeout sets the "
                        r"limit \(now 2 s\)", last), result.stderr
    assert "Traceback" not in result.stderr and "Terminating process" not in result.stderr
    assert not out.exists()


# -- logs ------------------------------------------------------------------------------------------------------------

class Terminal(io.StringIO):
    def isatty(self):
        return True


def rows(epochs: int) -> list[dict]:
    return [{"epoch": epoch, "loss": 1.0 / epoch, "train": 0.5 if epoch % 2 == 0 else None,
             "val": 0.25 if epoch % 2 == 0 else None, "test": None, "epoch_time_s": 0.0125, "comm_bytes": 1_234_567}
            for epoch in range(1, epochs + 1)]


def test_without_a_terminal_one_line_every_k_epochs_and_on_a_terminal_a_bar(caplog):
    config = RunConfig(dataset=TINY_GRAPH, epochs=5, log_every=2)
    on_epoch, close = epoch_reporter(config, 2, stream=io.StringIO())
    every = rows(5)
    with caplog.at_level(logging.INFO, logger="satbench"):
        for epoch in range(1, 6):
            on_epoch(every[:epoch])
        close()
    assert caplog.messages == [
        "epoch 2/5: loss 0.5000, train 0.5000, val 0.2500, test -, 0.013 s, comm 1.23 MB",
        "epoch 4/5: loss 0.2500, train 0.5000, val 0.2500, test -, 0.013 s, comm 1.23 MB",
        "epoch 5/5: loss 0.2000, 0.013 s, comm 1.23 MB",  # the last epoch always; not evaluated here
    ]
    terminal = Terminal()
    on_epoch, close = epoch_reporter(config, 2, stream=terminal)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="satbench"):
        on_epoch(every[:1])
        on_epoch(every[:3])  # a resumed run jumps
        close()
    assert "\r" in terminal.getvalue() and "3/5" in terminal.getvalue() and caplog.messages == []
    on_epoch, close = epoch_reporter(RunConfig(dataset=TINY_GRAPH, progress=False), 2, stream=Terminal())
    with caplog.at_level(logging.INFO, logger="satbench"):
        on_epoch(every[:1])
    assert caplog.messages == ["epoch 1/100: loss 1.0000, 0.013 s, comm 1.23 MB"]  # --no-progress


@pytest.mark.multiprocess
def test_a_redirected_run_logs_epochs_in_lines_without_bar_frames(tmp_path):
    out = tmp_path / "run.json"
    result = satbench("run", "--dataset", TINY_GRAPH, "--workers", "2", "--epochs", "5", "--hidden", "8",
                      "--log-every", "2", "--cache-dir", str(tmp_path / "cache"), "--out", str(out))  # no --no-progress
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    epochs = [line for line in result.stderr.splitlines() if " epoch " in line]
    assert [re.search(r"\[rank 0/2\] satbench INFO epoch (\d)/5: loss [\d.]+, train [\d.]+, val [\d.]+, test [\d.]+, "
                      r"[\d.]+ s, comm [\d.]+ MB$", line).group(1) for line in epochs] == ["2", "4", "5"], epochs
    assert result.stderr.strip().splitlines()[-1].endswith(f"satbench INFO wrote {out}")
    assert load_record(out)["config"]["log_every"] == 2


# -- before spawning -------------------------------------------------------------------------------------------------

SMALL_GRAPH = "sbm:n=1500,classes=4,degree=6,features=16,seed=2"


@pytest.fixture
def machine_of(monkeypatch):
    """Pretend this machine has the given GiB of memory (the checks must not depend on the machine's)."""
    import satbench.runtime.launch

    def set_memory(gib: float) -> None:
        monkeypatch.setattr(satbench.runtime.launch, "machine_memory_bytes", lambda: int(gib * 2**30))
    return set_memory


def test_tiny_parts_warn_before_any_worker_starts_and_strict_refuses(tmp_path, caplog, machine_of):
    machine_of(1024)
    config = RunConfig(dataset=SMALL_GRAPH, workers=64, cache_dir=str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="satbench"):
        prepare(config)
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and re.match(r"the smallest of the 64 parts holds \d+ nodes \(fewer than 50\)",
                                           warnings[0]), warnings
    with pytest.raises(ConfigError, match=r"--strict: the smallest of the 64 parts holds \d+ nodes"):
        prepare(RunConfig(dataset=SMALL_GRAPH, workers=64, cache_dir=str(tmp_path), strict=True))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="satbench"):
        prepare(RunConfig(dataset=SMALL_GRAPH, workers=4, cache_dir=str(tmp_path)))
    assert not [record for record in caplog.records if record.levelno == logging.WARNING]


def test_an_estimate_beyond_the_machines_memory_warns_and_strict_refuses(tmp_path, caplog, capsys, machine_of):
    """A 3-layer GCN 100,000 wide: its middle layer alone holds 10^10 weights (40 GB), Adam's state three times that."""
    machine_of(64)
    wide = dict(dataset=SMALL_GRAPH, workers=2, hidden=100_000, layers=3, cache_dir=str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="satbench"):
        meta = prepare(RunConfig(**wide))
    assert min(estimate_peak_bytes(RunConfig(**wide), meta.part_sizes)) > 160e9
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and re.match(r"the 2 workers on this machine need an estimated [\d.]+ GiB at their "
                                           r"peak, more than its 64.0 GiB", warnings[0]), warnings
    from satbench.cli import main

    rc = main(["run", "--dataset", SMALL_GRAPH, "--workers", "2", "--hidden", "100000", "--layers", "3", "--strict",
               "--cache-dir", str(tmp_path), "--out", str(tmp_path / "run.json")])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 2 and last.startswith("satbench: error: --strict: the 2 workers on this machine need an estimated")
    assert not (tmp_path / "run.json").exists()
