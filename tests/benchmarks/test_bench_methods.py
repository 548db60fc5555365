"""Epoch time and traffic of every method, W = 2 worker processes, one synthetic graph (``make bench``).

Each benchmark is one whole ``satbench run`` (timed once by pytest-benchmark); the per-epoch figures come from the
run record and are attached as ``extra_info`` (shown with ``--benchmark-json``) and printed as a table at the end.
"""

import pytest

from runs import load_record
from satbench.config import RunConfig
from satbench.runtime.launch import launch
from satbench.methods import discover_methods

pytestmark = pytest.mark.benchmark

DATASET, WORKERS, EPOCHS = "sbm-20k", 2, 20


@pytest.mark.parametrize("method", sorted(discover_methods()))
def test_method_epoch(benchmark, tmp_path_factory, method_summary, method):
    cache = tmp_path_factory.getbasetemp() / "cache"
    out = tmp_path_factory.mktemp(method) / "run.json"
    config = RunConfig(dataset=DATASET, method=method, workers=WORKERS, epochs=EPOCHS, hidden=128, layers=2,
                       dropout=0.0, eval_every=EPOCHS, staleness_every=0, cache_dir=str(cache), progress=False)
    benchmark.group = f"{DATASET}, GCN 2x128, W={WORKERS}, {EPOCHS} epochs"
    benchmark.pedantic(launch, args=(config.validate(), out), rounds=1, iterations=1)
    rows = load_record(out)["epochs"][1:]  # the first epoch includes warm-up
    method_summary[method] = {
        "epoch_time_s": sum(r["epoch_time_s"] for r in rows) / len(rows),
        "comm_time_s": sum(r["comm_time_s"] for r in rows) / len(rows),
        "mb_per_epoch": sum(r["comm_bytes"] for r in rows) / len(rows) / 1e6,
        "embedding_mb_per_epoch": sum(r["halo_bytes"] for r in rows) / len(rows) / 1e6,
        "predictor_time_s": sum(r.get("predictor_time_s", 0.0) for r in rows) / len(rows),
    }
    benchmark.extra_info.update(method_summary[method])
