"""Peak memory per worker in the run record, and a worker killed for memory reported as such."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from runs import REPO, TINY_GRAPH, load_record, satbench

from satbench.runtime.launch import _failure_error, death_error
from satbench.errors import OutOfMemory, WorkerFailed

RUN = ["run", "--dataset", TINY_GRAPH, "--epochs", "3", "--hidden", "8", "--no-progress"]

HOARDER = textwrap.dedent('''
    import torch
    from satbench.methods import Method, register_method

    @register_method
    class Hoarder(Method):
        """exact, except that worker 1 holds an extra 256 MiB, written (so resident) once."""
        name = "test-hoarder"
        held = None
        def supply_halo(self, layer, h_inner, partial_halo):
            if self.comm.rank == 1 and Hoarder.held is None:
                Hoarder.held = torch.ones(64 * 2**20)  # float32: 256 MiB
            return self.comm.exchange(h_inner)
''')

KILLED = textwrap.dedent('''
    import os, signal
    from satbench.methods import Method, register_method

    @register_method
    class Killed(Method):
        name = "test-killed"
        def supply_halo(self, layer, h_inner, partial_halo):
            if self.comm.rank == 1 and self.epoch == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return self.comm.exchange(h_inner)
''')


def plugin(tmp_path, source: str) -> dict:
    directory = tmp_path / "plugins"
    directory.mkdir(exist_ok=True)
    (directory / f"plugin_{abs(hash(source))}.py").write_text(source)
    return {"SATBENCH_METHOD_PATH": str(directory)}


@pytest.mark.multiprocess
def test_peak_memory_is_each_workers_own_and_the_summary_holds_the_largest(tmp_path):
    out = tmp_path / "run.json"
    result = satbench(*RUN, "--workers", "2", "--method", "test-hoarder", "--cache-dir", str(tmp_path / "cache"),
                      "--out", str(out), env=plugin(tmp_path, HOARDER))
    assert result.returncode == 0, result.stderr
    record = load_record(out)
    assert record["memory"]["kind"] == "peak_rss"
    light, heavy = record["memory"]["per_worker_bytes"]
    assert heavy - light >= 200 * 2**20, (light, heavy)  # worker 1's extra 256 MiB, and only worker 1's
    assert record["summary"]["peak_memory_bytes"] == heavy


def test_a_worker_killed_while_the_oom_kill_count_grew_is_reported_as_out_of_memory():
    error = death_error(2, "SIGKILL", "process 2 terminated with signal SIGKILL", 4, 5)
    assert isinstance(error, OutOfMemory)
    assert str(error).startswith("worker 2 was killed by the kernel's out-of-memory killer")


@pytest.mark.parametrize("signal_name, before, after", [("SIGKILL", 4, 4), ("SIGKILL", None, None),
                                                        ("SIGSEGV", 4, 5)])
def test_other_deaths_are_not_called_out_of_memory(signal_name, before, after):
    error = death_error(1, signal_name, f"process 1 terminated with signal {signal_name}", before, after)
    assert type(error) is WorkerFailed and str(error) == f"a worker died: process 1 terminated with signal {signal_name}"


@pytest.mark.parametrize("error_type, message", [
    ("OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB"),
    ("RuntimeError", "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory"),
    ("MemoryError", "MemoryError")])
def test_a_refused_allocation_in_a_worker_is_reported_as_out_of_memory(error_type, message):
    error = _failure_error({"rank": 3, "type": error_type, "error": f"Traceback ...\n{message}"})
    assert isinstance(error, OutOfMemory) and str(error) == f"worker 3 ran out of memory: {message}"


@pytest.mark.multiprocess
def test_sigkilled_worker_with_a_growing_oom_count_fails_the_run_with_one_line(tmp_path):
    """End to end: the kernel's count is stubbed (nothing here may exhaust the machine's memory); the death is real."""
    out = tmp_path / "run.json"
    args = [*RUN, "--epochs", "4", "--workers", "2", "--method", "test-killed", "--timeout", "30",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    script = textwrap.dedent(f'''
        import sys, itertools
        import satbench.runtime.launch as launch
        counts = itertools.count()
        launch.oom_kills = lambda: next(counts)
        from satbench.cli import main
        sys.exit(main({json.dumps(args)}))
    ''')
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO), **plugin(tmp_path, KILLED)})
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("satbench: error: worker 1 was killed by the kernel's out-of-memory killer"), last
    assert not out.exists()


def test_the_memory_estimate_takes_the_runs_method_options():
    """SAT's window holds a snapshot of the halo rows per entry: -o window=8 holds more than the default 4, and the
    estimate before any worker starts says so (it read the option defaults before)."""
    from satbench.config import RunConfig
    from satbench.prepared import PartSizes
    from satbench.runtime.memory import estimate_peak_bytes

    sizes = PartSizes(inner_sizes=(500, 500), halo_sizes=(400, 400), num_edges=5000, num_nodes=1000,
                      num_features=64, num_classes=4)

    def peak(**options):
        config = RunConfig(dataset="cora", method="sat", workers=2, method_options=options).resolved()
        return max(estimate_peak_bytes(config, sizes))

    assert peak(window=8) > peak() == peak(window=4)
    assert peak(window=1) < peak()
