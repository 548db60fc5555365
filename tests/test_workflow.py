"""The Snakemake workflow: every shipped config plans, a bad config fails before any job, and a tiny grid runs
through to tables, figures and the report, whose numbers match the run records."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from runs import REPO
from satbench.workflow import report_outputs

BIN = Path(sys.executable).parent


def snakemake(workdir, *args, timeout=600):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("config", ["config.yaml", "real-small.yaml", "paper.yaml", "sat-study.yaml"])
@pytest.mark.multiprocess
def test_every_shipped_config_plans(config):
    # --forceall: plan every job even where this checkout already holds results
    result = snakemake(REPO, "-n", "--forceall", "--cores", "1", "--configfile", f"config/{config}")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "rule train" in result.stdout and "rule figures" in result.stdout
    if config in ("real-small.yaml", "paper.yaml"):  # nothing of the default config leaks into another grid
        assert "results/runs/sbm-" not in result.stdout


def workflow_copy(tmp_path, config: dict) -> Path:
    for name in ("Snakefile", "config/schema.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "report", tmp_path / "report")
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


TINY = {
    "datasets": {"tiny": {"spec": "sbm:n=300,classes=3,degree=6,features=8,seed=2"}},
    "models": {"gcn": {"hidden": 8, "layers": 2, "dropout": 0.0, "lr": 0.05}},
    "methods": ["exact", "digest"],
    "workers": [1, 2],
    "seeds": [0, 1],
    "epochs": 6,
    "device": "cpu",
    "sync_period": 3,
    "staleness_every": 1,
}


@pytest.mark.parametrize("change, message", [
    ({"methods": ["exact", "digset"]}, "unknown method 'digset'"),
    ({"datasets": {"tiny": {"spec": "no-such-graph"}}}, "unknown dataset 'no-such-graph'"),
    ({"workers": [0, 2]}, "workers"),
    ({"epochs": "many"}, "epochs"),
])
@pytest.mark.multiprocess
def test_bad_config_fails_before_any_job(tmp_path, change, message):
    workdir = workflow_copy(tmp_path, {**TINY, **change})
    result = snakemake(workdir, "-n", "--cores", "1")
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert not (workdir / "results").exists()


@pytest.mark.multiprocess
def test_tiny_workflow_produces_tables_plots_and_report(tmp_path):
    workdir = workflow_copy(tmp_path, TINY)
    run = snakemake(workdir, "--cores", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    records = {path: json.loads(path.read_text()) for path in (workdir / "results" / "runs").rglob("*.json")}
    assert len(records) == 2 * 2 * 2  # methods x workers x seeds
    controls = sorted(path.relative_to(workdir).as_posix() for path in (workdir / "results" / "controls").rglob("*.json"))
    # Only the stale method gets a control, and only where it has halo rows (W > 1).
    assert controls == [f"results/controls/tiny/gcn/digest/w2/seed{seed}.json" for seed in (0, 1)]
    decomposition = pd.read_csv(workdir / "results" / "tables" / "decomposition.csv")
    assert set(decomposition["method"]) == {"digest"} and set(decomposition["W"]) == {1, 2}
    assert decomposition[decomposition["W"] == 2]["control (%)"].notna().all()

    accuracy = pd.read_csv(workdir / "results" / "tables" / "accuracy.csv")
    assert set(accuracy["method"]) == {"exact", "digest"}
    runs = pd.read_csv(workdir / "results" / "tables" / "runs.csv")
    for path, record in records.items():
        row = runs[runs["record"].str.endswith(str(path.relative_to(workdir)))]
        assert len(row) == 1
        assert row["test_at_best_val"].item() == pytest.approx(record["summary"]["test_at_best_val"])
    exact_w2 = [r["summary"]["test_at_best_val"] for p, r in records.items() if "/exact/w2/" in str(p)]
    mean = 100 * sum(exact_w2) / len(exact_w2)
    cells = " ".join(str(value) for value in accuracy[accuracy["method"] == "exact"].iloc[0].tolist())
    assert f"{mean:.2f}"[:4] in cells  # the mean over seeds appears in exact's row

    for name in ("val_vs_epoch", "staleness", "throughput", "accuracy_vs_staleness"):
        for ext in ("png", "pdf"):
            assert (workdir / "plots" / f"{name}.{ext}").stat().st_size > 1000

    rerun = snakemake(workdir, "figures", "--cores", "1", "--config", "existing_only=true", "--forcerun", "figures")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "rule train" not in rerun.stdout + rerun.stderr  # figures again without training

    report = snakemake(workdir, "--report", "report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    assert (workdir / "report.html").stat().st_size > 10_000


def test_expected_outputs_follow_what_the_runs_support():
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    tables, plots = report_outputs(default)
    assert {"time_to_target", "sat_vs_base", "sync_period"} <= set(tables)
    assert {"staleness", "sync_period"} <= set(plots)
    tables, plots = report_outputs(TINY)  # no SAT method, no sweep
    assert "sat_vs_base" not in tables and "sync_period" not in tables + plots
    tables, plots = report_outputs({**TINY, "methods": ["exact"]})  # nothing stale to plot
    assert "staleness" not in plots and "time_to_target" in tables
    assert "decomposition" not in tables + plots  # and no control to run
    tables, plots = report_outputs({**TINY, "controls": False})
    assert "decomposition" not in tables + plots
    assert "decomposition" in report_outputs(TINY)[0]
