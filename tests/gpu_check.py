"""``make gpu-check``: satbench on CUDA against the CPU, for a machine with GPUs and a CUDA build of torch.

Each check prints one line, ``PASS`` or ``FAIL`` (exit status 1 if any fails), or ``SKIP`` with the reason:

1. ``exact`` at W = 1 on CUDA (NCCL) and on the CPU (gloo), same seed: every epoch's loss within a relative 1e-4,
   the same best epoch;
2. ``exact`` at W = 2 on CUDA, one GPU per worker, against the CPU at W = 2 (needs two GPUs);
3. one ``sat`` run on CUDA (W = 2 where there are two GPUs): finite losses, staleness measured, its predictor trained;
4. peak CUDA memory in the records: ``memory.kind`` is ``cuda_max_allocated`` and every worker's peak is positive
   (printed next to the estimate ``satbench run`` warns with);
5. checkpoints on CUDA: ``pipegcn`` killed with SIGKILL after its checkpoint of epoch 10 of 20 and started again
   resumes, with the bytes of an uninterrupted run and its losses within a relative 1e-4;
6. communication time on CUDA (events on the current stream): ``exact`` and ``pipegcn`` at W = 2 book communication
   time in every epoch, never more than the epoch's time (printed per epoch, for a look at PipeGCN's overlap).

On a machine without CUDA it prints one line saying why and exits with status 0. It trains small generated graphs
for a few epochs; expect about a minute.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GRAPH = "sbm:n=3000,classes=5,degree=8,features=32,seed=4"
EPOCHS = 10


def skip_reason() -> str | None:
    try:
        import torch
    except ImportError:
        return f"torch is not installed for {sys.executable}"
    if torch.version.cuda is None:
        return (f"this torch ({torch.__version__}) is a CPU build; install the CUDA build (conda env create -f "
                "environment.yml) and run `make gpu-check` in that environment")
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
    return None


def run(directory: Path, name: str, *args: str) -> dict:
    out = directory / f"{name}.json"
    result = subprocess.run([sys.executable, "-m", "satbench", "run", "--dataset", GRAPH, "--epochs", str(EPOCHS),
                             "--hidden", "32", "--dropout", "0", "--no-progress", "--cache-dir",
                             str(directory / "cache"), "--out", str(out), *args],
                            cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
                            timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"satbench run {' '.join(args)} failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.read_text())


def close_losses(cuda: dict, cpu: dict, rtol: float = 1e-4) -> str | None:
    """None if every epoch's loss agrees within ``rtol`` and the best epoch is the same, else what differs."""
    for a, b in zip(cuda["epochs"], cpu["epochs"]):
        if not math.isclose(a["loss"], b["loss"], rel_tol=rtol, abs_tol=1e-7):
            return f"epoch {a['epoch']}: loss {a['loss']:.8g} on CUDA, {b['loss']:.8g} on the CPU"
    if cuda["summary"]["best_epoch"] != cpu["summary"]["best_epoch"]:
        return f"best epoch {cuda['summary']['best_epoch']} on CUDA, {cpu['summary']['best_epoch']} on the CPU"
    return None


def resumed_matches(directory: Path, workers: int) -> tuple[str | None, str]:
    """pipegcn on CUDA, 20 epochs, a checkpoint every 5: killed (SIGKILL, workers included) once the checkpoint of
    epoch 10 is committed, started again; against an uninterrupted run: the same bytes, losses within 1e-4."""
    import signal
    import time

    args = ["--workers", str(workers), "--device", "cuda", "--method", "pipegcn", "--epochs", "20"]
    reference = run(directory, "pipegcn-uninterrupted", *args)
    out = directory / "pipegcn-resumed.json"
    command = [sys.executable, "-m", "satbench", "run", "--dataset", GRAPH, "--hidden", "32", "--dropout", "0",
               "--no-progress", "--cache-dir", str(directory / "cache"), "--checkpoint-every", "5", "--out", str(out),
               *args]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    marker = directory / "pipegcn-resumed.json.checkpoint" / "latest.json"
    process = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if json.loads(marker.read_text())["epoch"] >= 10:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    if process.poll() is not None:
        raise RuntimeError(f"the run ended (status {process.returncode}) before its checkpoint of epoch 10")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = json.loads(marker.read_text())["epoch"]
    again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    if again.returncode != 0:
        raise RuntimeError(f"the resumed run failed: {again.stderr.strip().splitlines()[-1:]}")
    if f"resuming from the checkpoint of epoch {killed_at}" not in again.stderr:
        return f"it did not resume from the checkpoint of epoch {killed_at}", ""
    resumed = json.loads(out.read_text())
    if [row["comm_bytes"] for row in resumed["epochs"]] != [row["comm_bytes"] for row in reference["epochs"]]:
        return "bytes per epoch differ", ""
    return close_losses(resumed, reference), f"killed after epoch {killed_at}"


def main() -> int:
    reason = skip_reason()
    if reason is not None:
        print(f"gpu-check: SKIP: {reason}")
        return 0
    import torch

    from satbench.config import RunConfig
    from satbench.runtime.launch import prepare
    from satbench.runtime.memory import estimate_peak_bytes

    gpus = torch.cuda.device_count()
    print(f"gpu-check: torch {torch.__version__}, CUDA {torch.version.cuda}, {gpus} GPU(s): "
          f"{torch.cuda.get_device_name(0)}")
    failed = 0

    def report(check: str, problem: str | None, detail: str = "") -> None:
        nonlocal failed
        failed += problem is not None
        print(f"gpu-check: {'FAIL' if problem else 'PASS'}: {check}" + (f": {problem}" if problem else "")
              + (f" ({detail})" if detail and not problem else ""))

    with tempfile.TemporaryDirectory(prefix="satbench-gpu-check-") as temporary:
        directory = Path(temporary)
        records = {}
        for workers in (1, 2):
            check = f"exact at W = {workers} on CUDA (NCCL) matches the CPU (gloo), same seed"
            if workers > gpus:
                print(f"gpu-check: SKIP: {check}: needs {workers} GPUs, this machine has {gpus}")
                continue
            try:
                cuda = records[f"exact{workers}"] = run(directory, f"exact-cuda{workers}", "--workers",
                                                        str(workers), "--device", "cuda")
                cpu = run(directory, f"exact-cpu{workers}", "--workers", str(workers))
                report(check, close_losses(cuda, cpu),
                       f"final loss {cuda['epochs'][-1]['loss']:.6f} vs {cpu['epochs'][-1]['loss']:.6f}")
            except RuntimeError as error:
                report(check, str(error))

        workers = min(2, gpus)
        check = f"sat at W = {workers} on CUDA trains"
        try:
            sat = records["sat"] = run(directory, "sat-cuda", "--workers", str(workers), "--device", "cuda",
                                       "--method", "sat", "--sync-period", "3", "--staleness-every", "3")
            losses = [row["loss"] for row in sat["epochs"]]
            measured = [layer["rel_error"] for row in sat["epochs"] for layer in row.get("staleness") or []]
            problem = None
            if not all(math.isfinite(loss) for loss in losses):
                problem = f"losses {losses}"
            elif workers > 1 and not any(value is not None and value > 0 for value in measured):
                problem = f"no staleness measured: {measured}"
            elif workers > 1 and not any(row.get("predictor_loss", 0) > 0 for row in sat["epochs"]):
                problem = "the predictor never trained"
            report(check, problem, f"test at best validation {sat['summary']['test_at_best_val']}")
        except RuntimeError as error:
            report(check, str(error))

        for name, record in records.items():
            memory = record["memory"]
            try:  # the estimate is information only
                config = RunConfig.from_dict(dict(record["config"], cache_dir=str(directory / "cache")))
                estimate = f", estimated {max(estimate_peak_bytes(config, prepare(config).part_sizes)) / 2**20:.0f} MiB"
            except Exception as error:  # noqa: BLE001
                estimate = f", no estimate ({error})"
            problem = None
            if memory["kind"] != "cuda_max_allocated" or not all(peak > 0 for peak in memory["per_worker_bytes"]):
                problem = f"memory {memory}"
            report(f"peak CUDA memory in the record of {name}", problem,
                   f"per worker {[round(peak / 2**20) for peak in memory['per_worker_bytes']]} MiB{estimate}")

        workers = min(2, gpus)
        check = (f"pipegcn at W = {workers} on CUDA, killed and resumed from its checkpoint, matches the uninterrupted "
                 "run")
        try:
            report(check, *resumed_matches(directory, workers))
        except RuntimeError as error:
            report(check, str(error))

        if gpus >= 2:
            for method in ("exact", "pipegcn"):
                check = f"communication time of {method} at W = 2 on CUDA"
                try:
                    record = records.get("exact2") if method == "exact" else None
                    record = record or run(directory, f"{method}-cuda2-timing", "--workers", "2", "--device", "cuda",
                                           "--method", method)
                    rows = record["epochs"]
                    problem = None
                    if not all(row["comm_time_s"] > 0 for row in rows):
                        problem = f"an epoch without communication time: {[row['comm_time_s'] for row in rows]}"
                    elif not all(row["comm_time_s"] <= row["epoch_time_s"] * 1.01 + 1e-4 for row in rows):
                        problem = "communication time above the epoch time: " + ", ".join(
                            f"{row['comm_time_s']:.4f}/{row['epoch_time_s']:.4f}" for row in rows)
                    report(check, problem, "comm/epoch s per epoch: " + ", ".join(
                        f"{row['comm_time_s']:.4f}/{row['epoch_time_s']:.4f}" for row in rows))
                except RuntimeError as error:
                    report(check, str(error))
        else:
            print("gpu-check: SKIP: communication time at W = 2 on CUDA: needs 2 GPUs")
    print(f"gpu-check: {'FAILED' if failed else 'passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
