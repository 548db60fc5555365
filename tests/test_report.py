"""satbench.report: tables checked against synthetic run records with known numbers; figures written; gaps skipped."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from runs import REPO
from satbench import report
from satbench.record import summarize
from satbench.workflow import BANDWIDTH_PATH, CONTROL_PATH, RUN_PATH, SWEEP_PATH, rate_path

# The workflow passes the long dataset spec to `satbench run`; the report must label runs by the path's dataset.
SPECS = {"sbm-a": "sbm:n=2000,classes=6,degree=8,homophily=0.9,features=32,noise=2.0,seed=0",
         "sbm-b": "sbm:n=6000,classes=8,degree=12,homophily=0.6,features=32,noise=2.0,seed=1"}
EPOCHS = 20
MEASURED = (1, 5, 10, 15, 20)


def make_record(dataset: str, method: str, workers: int, seed: int, *, test: float, epoch_time: float,
                val_slope: float, val_cap: float, rel_error: dict[int, float] | None = None,
                replaced: float | None = None, sync_period: int | None = None, bytes_per_epoch: int = 1_000_000,
                epochs: int = EPOCHS, halo: str = "method") -> dict:
    """A record in the README's schema: validation rises by ``val_slope`` per epoch up to ``val_cap``, the test
    score is ``test`` at every epoch (so test_at_best_val == test), every epoch takes ``epoch_time`` seconds, and
    measured epochs report ``rel_error[layer]`` (plus ``replaced`` as SAT's replaced_rel_error). A version-1 record
    (no study or labels: the report places it by its path); tests of version 2 add those."""
    rows = []
    for epoch in range(1, epochs + 1):
        row = {"epoch": epoch, "loss": 1.0 / epoch, "train": 0.5, "val": round(min(val_cap, val_slope * epoch), 6),
               "test": test, "epoch_time_s": epoch_time, "compute_time_s": epoch_time, "comm_time_s": 0.0,
               "comm_bytes": bytes_per_epoch, "halo_bytes": bytes_per_epoch, "halo_grad_bytes": 0,
               "reduce_bytes": 0, "protocol_bytes": 0, "comm_bytes_per_worker": [bytes_per_epoch // workers] * workers,
               "eval_time_s": 0.0, "measure_time_s": 0.0}
        if rel_error is not None and epoch in MEASURED:
            row["staleness"] = [{"layer": layer, "rel_error": error, "cosine": 1 - error, "age_epochs": 1.0,
                                 "age_steps": 1.0, **({"replaced_rel_error": replaced} if replaced is not None
                                                      else {})}
                                for layer, error in rel_error.items()]
            row["staleness_age"] = [1.0] * len(rel_error)
        rows.append(row)
    options = {"sync_period": sync_period} if sync_period is not None else {}
    config = {"dataset": SPECS[dataset], "model": "gcn", "method": method, "workers": workers, "epochs": epochs,
              "seed": seed, "hidden": 16, "layers": 3, "dropout": 0.0, "method_options": options}
    family, base = ("alleviation", "digest") if method.startswith("sat") else (
        "reference" if method in ("exact", "partition") else "historical", None)
    partition = {"partitioner": "metis", "edge_cut": 100 * workers, "halo_ratio": [0.5] * workers}
    return {"version": 1, "config": config, "method": {"name": method, "family": family, "base": base, "halo": halo,
                                         "shares_base_control": method.startswith("sat")},
            "env": {}, "partition": partition, "epochs": rows, "summary": summarize(rows)}


# method: (test score per seed, epoch time, val slope, val cap, rel_error per layer, replaced, sync period)
METHODS = {
    "exact": ((0.80, 0.82), 0.2, 0.10, 0.90, {1: 0.0, 2: 0.0}, None, None),
    "partition": ((0.50, 0.50), 0.05, 0.01, 0.50, {1: 1.0, 2: 1.0}, None, None),
    "digest": ((0.70, 0.74), 0.1, 0.05, 0.88, {1: 0.2, 2: 0.4}, None, 10),
    "sat": ((0.76, 0.78), 0.125, 0.06, 0.89, {1: 0.1, 2: 0.1}, 0.4, 10),
}
# The fresh-halo control of DIGEST's protocol (and so of SAT's): 2 points under exact, 8 and 6 over DIGEST.
CONTROL = ((0.78, 0.80), 0.1, 0.08, 0.89, {1: 0.0, 2: 0.0}, None, 10)


def write(root: Path, relative: str, record: dict) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> list[Path]:
    """Main runs: 2 datasets × W ∈ {2, 4} × 2 seeds × 4 methods; sweep runs: digest and sat at τ ∈ {1, 5, 20}."""
    root = tmp_path_factory.mktemp("report")
    paths = []
    for dataset in SPECS:
        for workers in (2, 4):
            for method, (tests, time, slope, cap, errors, replaced, period) in METHODS.items():
                for seed, test in enumerate(tests):
                    record = make_record(dataset, method, workers, seed, test=test, epoch_time=time,
                                         val_slope=slope, val_cap=cap, rel_error=errors, replaced=replaced,
                                         sync_period=period)
                    relative = RUN_PATH.format(dataset=dataset, model="gcn", method=method, workers=workers,
                                               seed=seed)
                    paths.append(write(root, relative, record))
            for method in ("digest", "sat"):
                tests, time, slope, cap, errors, replaced, period = CONTROL
                for seed, test in enumerate(tests):
                    record = make_record(dataset, method, workers, seed, test=test, epoch_time=time,
                                         val_slope=slope, val_cap=cap, rel_error=errors, sync_period=period,
                                         halo="fresh")
                    relative = CONTROL_PATH.format(dataset=dataset, model="gcn", method=method, workers=workers,
                                                   seed=seed)
                    paths.append(write(root, relative, record))
    for method in ("digest", "sat"):
        for tau in (1, 5, 20):
            # Staleness grows with τ, accuracy falls; the sweep's scores (0.6x) must stay out of the main tables.
            record = make_record("sbm-a", method, 4, 0, test=0.6 + 0.001 * tau, epoch_time=0.1 + 0.01 * tau,
                                 val_slope=0.05, val_cap=0.8, rel_error={1: 0.01 * tau, 2: 0.02 * tau},
                                 replaced=0.05 * tau if method == "sat" else None, sync_period=tau)
            relative = SWEEP_PATH.format(dataset="sbm-a", model="gcn", method=method, sync_period=tau, workers=4, seed=0)
            paths.append(write(root, relative, record))
    return paths


@pytest.fixture(scope="module")
def frames(records):
    loaded = report.load_records(records)
    return report.load_runs(loaded), report.epoch_frame(loaded), report.staleness_frame(loaded)


def test_load_runs_labels_datasets_by_path_and_reads_config(frames):
    runs, epochs, staleness = frames
    assert len(runs) == 2 * 2 * 4 * 2 + 16 + 6
    assert (runs["study"] == "control").sum() == 16
    assert set(runs["dataset"]) == set(SPECS)  # the path's label, not the long spec in config.dataset
    digest = runs[(runs["method"] == "digest") & (runs["study"] == "main")]
    assert (digest["sync_period"] == 10).all()
    assert runs[runs["method"] == "exact"]["sync_period"].isna().all()
    assert set(runs[runs["study"] == "sweep"]["sync_period"]) == {1, 5, 20}
    exact = runs[(runs["method"] == "exact") & (runs["dataset"] == "sbm-a") & (runs["workers"] == 2)]
    assert sorted(exact["test_at_best_val"]) == [0.80, 0.82]
    assert set(runs[runs["method"] == "sat"]["base"]) == {"digest"}
    assert len(epochs) == len(runs) * EPOCHS
    one = epochs[epochs["record"] == str(records_of(runs, "exact")[0])]
    assert one["wall_time_s"].iloc[-1] == pytest.approx(EPOCHS * 0.2)
    assert len(staleness) == len(runs) * len(MEASURED) * 2
    assert staleness[staleness["method"] == "digest"]["replaced_rel_error"].isna().all()


def records_of(runs: pd.DataFrame, method: str) -> list[str]:
    return list(runs[(runs["method"] == method) & (runs["study"] == "main")]["record"])


def test_labels_and_dicts(records):
    record = json.loads(Path(records[0]).read_text())
    runs = report.load_runs([record])
    assert runs["dataset"].iloc[0] == record["config"]["dataset"]  # no layout to read: the config's spec
    assert runs["record"].iloc[0] == "record[0]"
    labelled = report.load_runs([records[0]], labels={str(records[0]): "A"})
    assert labelled["dataset"].iloc[0] == "A"


def row_of(table: pd.DataFrame, **where) -> pd.Series:
    """The one row of a long table matching ``where`` (column: value)."""
    match = table
    for column, value in where.items():
        match = match[match[column] == value]
    assert len(match) == 1, (where, len(match))
    return match.iloc[0]


def test_accuracy_table_is_long_mean_and_sample_std_in_percent(frames):
    table = report.accuracy_table(frames[0])
    assert len(table) == 2 * 2 * 4  # one row per (dataset, W, method)
    assert list(table[(table["dataset"] == "sbm-a") & (table["workers"] == 2)]["method"]) == [
        "exact", "partition", "digest", "sat"]
    exact = row_of(table, dataset="sbm-a", workers=2, method="exact")
    assert (exact["test_pct_mean"], exact["n"]) == (pytest.approx(81), 2)
    assert exact["test_pct_std"] == pytest.approx(2 ** 0.5)  # (80, 82): std ddof=1 = √2
    assert row_of(table, dataset="sbm-b", workers=4, method="digest")["test_pct_std"] == pytest.approx(8 ** 0.5)
    assert row_of(table, dataset="sbm-a", workers=4, method="partition")["test_pct_std"] == 0
    digest = row_of(table, dataset="sbm-a", workers=2, method="digest")
    assert (digest["sync_period"], digest["epochs"], digest["syncs"]) == (10, EPOCHS, 2)  # 20 epochs / τ = 10
    assert math.isnan(exact["syncs"])
    # the regime beside each setting: halo ratio from the per-part list, label skew missing where not recorded
    assert digest["halo_ratio_mean"] == pytest.approx(0.5) and digest["edge_cut"] == 200
    assert math.isnan(digest["label_skew_mean"])
    assert "81.00 ± 1.41" in report.table_to_markdown(table)


def test_accuracy_single_seed_has_no_std():
    record = make_record("sbm-a", "exact", 2, 0, test=0.8125, epoch_time=1, val_slope=0.1, val_cap=0.9)
    table = report.accuracy_table(report.load_runs([record]))
    assert table["n"].tolist() == [1] and math.isnan(table["test_pct_std"].iloc[0])
    assert markdown_rows(report.table_to_markdown(table))[2][-2:] == ["81.25", "1"]


def test_the_regime_is_read_from_the_record_where_it_states_it():
    record = make_record("sbm-a", "digest", 2, 0, test=0.7, epoch_time=1, val_slope=0.1, val_cap=0.9,
                         sync_period=5)
    record["partition"].update(halo_ratio_mean=0.75, label_skew=[0.1, 0.3], label_skew_mean=0.2,
                               label_skew_max=0.3)
    record["dataset"] = {"name": "amazon-photo", "split": "per-class", "split_seed": 3, "num_nodes": 7650}
    run = report.load_runs([record]).iloc[0]
    assert (run["halo_ratio_mean"], run["label_skew_mean"], run["label_skew_max"]) == (0.75, 0.2, 0.3)
    assert (run["split"], run["split_seed"], run["num_nodes"]) == ("per-class", 3, 7650)
    row = report.accuracy_table(report.load_runs([record])).iloc[0]
    assert (row["label_skew_mean"], row["label_skew_max"], row["syncs"]) == (0.2, 0.3, 4)


def test_staleness_table_per_configuration_and_layer(frames):
    table = report.staleness_table(frames[2])
    assert row_of(table, method="digest", dataset="sbm-a", workers=4, layer=1)["rel_error_mean"] == \
        pytest.approx(0.2)
    assert row_of(table, method="digest", dataset="sbm-b", workers=2, layer=2)["rel_error_mean"] == \
        pytest.approx(0.4)
    assert row_of(table, method="exact", dataset="sbm-a", workers=2, layer=1)["rel_error_mean"] == 0
    # sweep runs (sbm-a, W=4, errors 0.01τ) are left out
    sat = row_of(table, method="sat", dataset="sbm-a", workers=4, layer=1)
    assert (sat["rel_error_mean"], sat["rel_error_std"], sat["n"]) == (pytest.approx(0.1), 0, 2)
    assert len(table) == 2 * 2 * 4 * 2  # datasets x W x methods x layers


def test_throughput_speedup_is_exact_time_over_method_time(frames):
    table = report.throughput_table(frames[0])
    row = row_of(table, dataset="sbm-b", workers=4, method="digest")
    assert row["epoch_time_s_mean"] == pytest.approx(0.1) and row["epoch_time_s_std"] == pytest.approx(0)
    assert row["speedup_vs_exact"] == pytest.approx(0.2 / 0.1)
    assert row["comm_MB_per_epoch"] == pytest.approx(1.0)
    assert row["n"] == 2
    assert table[table["method"] == "exact"]["speedup_vs_exact"].tolist() == pytest.approx([1.0] * 4)
    assert len(table) == 2 * 2 * 4


def test_throughput_memory_is_the_largest_worker_peak_over_seeds_and_missing_in_older_records():
    records = [make_record("sbm-a", "digest", 2, seed, test=0.8, epoch_time=1, val_slope=0.1, val_cap=0.9)
               for seed in (0, 1)] + [make_record("sbm-a", "exact", 2, 0, test=0.8, epoch_time=1, val_slope=0.1,
                                                  val_cap=0.9)]
    records[0]["summary"]["peak_memory_bytes"] = 2**30
    records[1]["summary"]["peak_memory_bytes"] = 3 * 2**30  # exact's record has none, as before the field existed
    table = report.throughput_table(report.load_runs(records)).set_index("method")
    assert table.loc["digest", "peak_memory_MiB"] == 3072
    assert math.isnan(table.loc["exact", "peak_memory_MiB"])


def test_the_runs_frame_says_how_the_workers_ran_as_the_record_s_env_does():
    """The launcher from the record's env (spawn, inline, inprocess, torchrun), not the config's, which says spawn
    under torchrun too; a record from before the env named it keeps its config's; the timing study is a study."""
    records = [make_record("sbm-a", "exact", 4, seed, test=0.8, epoch_time=1, val_slope=0.1, val_cap=0.9)
               for seed in range(4)]
    for record, (config, env) in zip(records, [("inprocess", "inprocess"), ("spawn", "torchrun"), ("spawn", "inline"),
                                               ("spawn", None)]):
        record["config"]["launcher"] = config
        record["env"] = {"launcher": env} if env else {}
    records[0]["study"] = "timing"
    runs = report.load_runs(records)
    assert runs["launcher"].tolist() == ["inprocess", "torchrun", "inline", "spawn"]
    assert runs["study"].tolist() == ["timing", "main", "main", "main"]


def test_time_to_target(frames):
    runs, epochs, _ = frames
    table = report.time_to_target_table(epochs, runs)
    targets = report.target_scores(runs)
    assert targets[("sbm-a", "gcn")] == pytest.approx(0.95 * 0.90)  # 0.855
    by_method = table[(table["dataset"] == "sbm-a") & (table["workers"] == 2)].set_index("method")
    assert by_method.loc["exact", "epochs_to_target_mean"] == 9          # 0.1 × 9 = 0.90 ≥ 0.855 > 0.80
    assert by_method.loc["exact", "time_to_target_s_mean"] == pytest.approx(9 * 0.2)
    assert by_method.loc["digest", "epochs_to_target_mean"] == 18        # 0.05 × 18 = 0.90 → capped 0.88 ≥ 0.855
    assert by_method.loc["sat", "epochs_to_target_mean"] == 15           # 0.06 × 15 = 0.90 → capped 0.89
    assert math.isnan(by_method.loc["partition", "epochs_to_target_mean"])  # capped at 0.50: never reached
    assert (by_method.loc["partition", "reached"], by_method.loc["partition", "n"]) == (0, 2)
    assert (by_method.loc["exact", "reached"], by_method.loc["exact", "n"]) == (2, 2)
    assert by_method.loc["exact", "target_val_pct"] == pytest.approx(85.5)
    assert "—" in report.table_to_markdown(table)


def test_alleviation_vs_base_reduction_and_overhead(frames):
    _, _, staleness = frames
    table = report.alleviation_vs_base_table(staleness, frames[0])
    assert len(table) == 4  # one SAT configuration per (dataset, W); the sweep is not mixed in
    row = table.iloc[0]
    assert row["base"] == "digest" and row["sync_period"] == 10 and row["n"] == 2
    assert row["rel_error_used"] == pytest.approx(0.1)
    assert row["rel_error_replaced"] == pytest.approx(0.4)
    assert row["reduction"] == pytest.approx(4.0)
    assert row["base_rel_error"] == pytest.approx(0.3)
    assert row["overhead_pct"] == pytest.approx(25.0)  # 0.125 s vs 0.1 s


def test_the_base_comes_from_the_record_not_the_name():
    record = make_record("sbm-a", "sat", 2, 0, test=0.7, epoch_time=0.1, val_slope=0.1, val_cap=0.9)
    record["method"]["base"] = "gas"
    assert report.load_runs([record])["base"].tolist() == ["gas"]
    record["method"] = {"name": "sat", "family": "historical", "base": None, "halo": "method"}
    assert report.load_runs([record])["base"].isna().all()


@pytest.mark.parametrize("declared, method, base, family", [
    ("alleviation", "lmc", "gas", "alleviation"), ("historical", "gas", None, "historical"),
    ("reference", "exact", None, "reference"),
    ("sat", "sat+gas", "gas", "alleviation"),  # records written before families had these names
    ("baseline", "exact", None, "reference"), ("baseline", "partition", None, "reference"),
    ("baseline", "digest", None, "historical"),
    (None, "sat", "digest", "alleviation"), (None, "gas", None, "historical"),  # version-1 records
])
def test_every_record_has_a_family(declared, method, base, family):
    assert report.family_of(declared, method, base) == family
    record = make_record("sbm-a", method, 2, 0, test=0.7, epoch_time=0.1, val_slope=0.1, val_cap=0.9)
    record["method"].update(family=declared, base=base)
    assert report.load_runs([record])["family"].item() == family


def test_decomposition_splits_the_gap_by_the_control(frames, records):
    runs, epochs, _ = frames
    table = report.decomposition_table(runs, report.reach_frame(epochs, runs))
    assert len(table) == 2 * 2 * 3  # (dataset, W) × {partition, digest, sat}; exact is the reference
    digest = row_of(table, method="digest", dataset="sbm-a", workers=2)
    assert digest["exact_pct_mean"] == pytest.approx(81) and digest["control_pct_mean"] == pytest.approx(79)
    assert digest["protocol_cost_pts_mean"] == pytest.approx(2) and digest["protocol_cost_pts_std"] == pytest.approx(0)
    assert digest["staleness_cost_pts_mean"] == pytest.approx(7)  # 8 and 6, paired by seed
    assert digest["staleness_cost_pts_std"] == pytest.approx(2 ** 0.5) and digest["n"] == 2
    # One-sided paired t on (8, 6): t = 7 / (√2 / √2) = 7 with 1 degree of freedom; the 95 % interval 7 ± t_.975,1.
    assert digest["staleness_cost_p"] == pytest.approx(stats.t.sf(7, 1))
    half = stats.t.ppf(0.975, 1) * 1.0
    assert (digest["staleness_cost_ci_low"], digest["staleness_cost_ci_high"]) == pytest.approx((7 - half, 7 + half))
    # Two seeds: p = 0.045 alone, but not once Holm adjusts it over the table's 8 tested costs (4 of them zero-spread
    # ones with p = 0: the protocol costs, 2 points every seed, and SAT's staleness cost, 2 every seed).
    assert digest["staleness_cost_p_holm"] == pytest.approx(4 * stats.t.sf(7, 1))
    assert not digest["staleness_cost_significant"] and digest["protocol_cost_significant"]
    assert digest["protocol_cost_ci_low"] == digest["protocol_cost_ci_high"] == pytest.approx(2)
    assert digest["staleness_cost_mde_pts"] > 7  # what 2 seeds with this spread could detect at 80 % power
    assert "above_noise" not in " ".join(table.columns)
    # the setting's regime, its epochs and syncs beside it
    assert (digest["halo_ratio_mean"], digest["epochs"], digest["sync_period"], digest["syncs"]) == (0.5, 20, 10, 2)
    # Epochs to the target (0.95 × 0.9): exact 9, control 11, DIGEST 18.
    assert (digest["exact_to_target_epochs"], digest["control_to_target_epochs"],
            digest["method_to_target_epochs"]) == (9, 11, 18)
    assert digest["protocol_cost_epochs"] == 2 and digest["staleness_cost_epochs"] == 7
    assert digest["staleness_cost_s"] == pytest.approx(18 * 0.1 - 11 * 0.1)
    sat = row_of(table, method="sat", dataset="sbm-a", workers=2)
    # The base's staleness cost (8, 6) passes C2's premise (one-sided p = 0.045 < 0.05), so the share is given:
    # mean(SAT − base) / mean(control − base); Fieller's interval is unbounded with 2 seeds (NaN).
    assert sat["recovered_share"] == pytest.approx((6 + 4) / (8 + 6))
    assert math.isnan(sat["recovered_share_ci_low"]) and math.isnan(sat["recovered_share_ci_high"])
    partition = table[table["method"] == "partition"].iloc[0]
    assert math.isnan(partition["control_pct_mean"]) and math.isnan(partition["staleness_cost_pts_mean"])


def test_claims_are_computed_by_their_rules(frames):
    runs, epochs, staleness = frames
    table = report.claims_table(runs, staleness, report.reach_frame(epochs, runs))
    assert set(table["claim"]) == {"C1", "C2", "C3", "C4"} and set(table["method"]) == {"sat"}
    assert set(table["verdict"]) <= set(report.claims.VERDICTS)
    assert list(table.columns[-9:]) == ["estimate", "ci_low", "ci_high", "p_raw", "p_value", "n", "test", "verdict",
                                        "rule"]
    verdicts = table.groupby("claim")["verdict"].agg(set).to_dict()
    # Two seeds. C1: 0.1 against DIGEST's 0.3 in every seed, a ratio of 1/3 with no spread; C2: +6 and +4 points on a
    # staleness cost of 8 and 6 (premise: one-sided p = 0.045), but t = 5 on 1 degree of freedom leaves the interval
    # across 0; C3: the base's 17 epochs to its control's target against the control's 11 in both seeds cannot pass
    # a signed-rank test of 2 pairs (p ≥ 1/4); C4: exactly 1.25× the epoch time, the bound itself (no test can put
    # it below), same traffic.
    assert verdicts == {"C1": {"holds"}, "C2": {"inconclusive"}, "C3": {"not testable"}, "C4": {"inconclusive"}}
    c1 = table[table["claim"] == "C1"].iloc[0]
    assert (c1["estimate"], c1["ci_low"], c1["ci_high"], c1["p_value"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3, 0))
    assert (c1["replaced_rel_error"], c1["in_run_ratio"]) == pytest.approx((0.4, 0.25))
    assert c1["measure"].startswith("rel_error")
    c2 = table[table["claim"] == "C2"].iloc[0]
    assert c2["estimate"] == pytest.approx(5) and c2["p_raw"] == pytest.approx(2 * stats.t.sf(5, 1))
    assert c2["premise_p"] == pytest.approx(stats.t.sf(7, 1)) and c2["premise_estimate"] == pytest.approx(7)
    c3 = table[table["claim"] == "C3"].iloc[0]
    # The target is 95 % of the base's control's best val (0.89): 0.8455, reached by DIGEST (0.05/epoch) at 17.
    assert (c3["target_val_pct"], c3["base_value"], c3["control_value"], c3["value"]) == pytest.approx(
        (84.55, 17, 11, 15))
    assert c3["premise_p"] == pytest.approx(0.25) and math.isnan(c3["p_raw"])
    assert (table["p_value"].dropna() >= table["p_raw"].dropna()).all()  # Holm never lowers a p
    assert all(table["rule"].str.len() > 20)
    # Where staleness costs the base nothing significant, no accuracy claim can be tested.
    noisy = runs.copy()
    control = (noisy["study"] == "control") & (noisy["seed"] == 1)
    noisy.loc[control, "test_at_best_val"] = 0.70  # the control now loses to DIGEST on seed 1: cost 8 and -4
    retable = report.claims_table(noisy, staleness, report.reach_frame(epochs, noisy))
    c2 = retable[retable["claim"] == "C2"]
    assert set(c2["verdict"]) == {"not testable"} and c2["p_raw"].isna().all()
    assert c2["premise_estimate"].tolist() == pytest.approx([2.0] * len(c2)) and (c2["premise_p"] > 0.05).all()
    assert not table["rule"].str.contains("SAT").any()  # the rules are every alleviation method's


def test_sync_period_table_uses_the_sweep(frames):
    table = report.sync_period_table(frames[0])
    assert set(table["sync_period"]) == {1, 5, 20}  # the main runs' τ = 10 (other epochs) stays out
    digest = table[table["method"] == "digest"].set_index("sync_period")
    assert digest.loc[5, "rel_error_mean"] == pytest.approx((0.05 + 0.10) / 2)
    assert digest.loc[20, "test_pct_mean"] == pytest.approx(62.0) and digest.loc[20, "n"] == 1
    assert digest.loc[20, "epoch_time_s_mean"] == pytest.approx(0.3)
    assert (digest.loc[1, "syncs"], digest.loc[5, "syncs"], digest.loc[20, "syncs"]) == (20, 4, 1)


def test_several_periods_in_the_main_study_are_kept_apart(tmp_path):
    paths = [write(tmp_path, RUN_PATH.format(dataset="sbm-a", model="gcn", method="digest", workers=2, seed=seed),
                   make_record("sbm-a", "digest", 2, seed, test=0.7, epoch_time=0.1, val_slope=0.1, val_cap=0.9,
                               sync_period=5)) for seed in (0, 1)]
    paths.append(write(tmp_path, "other/digest-tau20.json",
                       make_record("sbm-a", "digest", 2, 0, test=0.6, epoch_time=0.1, val_slope=0.1, val_cap=0.9,
                                   sync_period=20)))
    table = report.accuracy_table(report.load_runs(paths, labels={str(paths[-1]): "sbm-a"}))
    assert table["sync_period"].tolist() == [5, 20] and table["n"].tolist() == [2, 1]
    assert table["test_pct_mean"].tolist() == pytest.approx([70.0, 60.0])


def markdown_rows(text: str) -> list[list[str]]:
    """The cells of every line of a pipe table, stripped ("|" escaped as "\\|" stays inside its cell)."""
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in text.splitlines()]


def latex_cells(line: str) -> list[str]:
    """A tabular row's cells: split at unescaped ``&``, without the closing ``\\\\``."""
    assert line.endswith(r"\\"), line
    return [cell.strip() for cell in re.split(r"(?<!\\)&", line[:-2])]


def latex_width(cells: list[str]) -> int:
    """Columns a header row spans, counting ``\\multicolumn{n}`` as n."""
    return sum(int(match.group(1)) if (match := re.match(r"\\multicolumn\{(\d+)\}", cell)) else 1 for cell in cells)


def check_latex(text: str, columns: int) -> tuple[list[list[str]], list[list[str]]]:
    """Asserts a table environment around one booktabs tabular of ``columns`` columns whose every row has that
    many cells, and no unescaped special character in any cell; returns (header rows, body rows)."""
    lines = text.splitlines()
    assert lines[0] == r"\begin{table}[t]" and lines[-1] == r"\end{table}"
    begin = next(i for i, line in enumerate(lines) if line.startswith(r"\begin{tabular}"))
    spec = re.fullmatch(r"\\begin\{tabular\}\{([lrc]+)\}", lines[begin]).group(1)
    assert len(spec) == columns
    assert lines.count(r"\end{tabular}") == 1 and lines.index(r"\end{tabular}") > begin
    top, middle, bottom = (lines.index(rule) for rule in (r"\toprule", r"\midrule", r"\bottomrule"))
    assert begin < top < middle < bottom
    header = [latex_cells(line) for line in lines[top + 1:middle]]
    body = [latex_cells(line) for line in lines[middle + 1:bottom]]
    assert header and all(latex_width(row) == columns for row in header)
    assert all(len(row) == columns for row in body)
    for cell in [cell for row in header + body for cell in row]:
        assert not re.search(r"(?<!\\)[_%&#$]", cell.replace(r"$\pm$", "").replace(r"$\tau$", "")), cell
    return header, body


def test_writers(tmp_path, frames):
    """The CSV is the long numeric table; Markdown and LaTeX show each mean with its std as "mean ± std"."""
    table = report.accuracy_table(frames[0])
    written = report.write_table(table, tmp_path / "accuracy", caption="Test score (%)")
    assert [path.name for path in written] == ["accuracy.csv", "accuracy.md", "accuracy.tex"]
    csv = pd.read_csv(tmp_path / "accuracy.csv")
    exact = row_of(csv, dataset="sbm-a", workers=2, method="exact")
    assert (exact["test_pct_mean"], exact["n"]) == (pytest.approx(81), 2)
    assert exact["test_pct_std"] == pytest.approx(2 ** 0.5)
    assert csv["workers"].dtype == "int64" and csv["n"].dtype == "int64"  # integers as integers
    assert "10," in (tmp_path / "accuracy.csv").read_text() and "10.0," not in (tmp_path / "accuracy.csv").read_text()
    markdown = markdown_rows((tmp_path / "accuracy.md").read_text())
    assert markdown[0] == ["dataset", "model", "W", "partitioner", "halo ratio", "label skew", "label skew (max)",
                           "edge cut", "method", "family", "base", "epochs", "τ", "syncs", "test (%)", "n"]
    assert markdown[2] == ["sbm-a", "gcn", "2", "metis", "0.5000", "—", "—", "200", "exact", "reference", "—",
                           "20", "—", "—", "81.00 ± 1.41", "2"]
    latex = (tmp_path / "accuracy.tex").read_text()
    header, body = check_latex(latex, 16)
    assert header[0][-2:] == [r"test (\%)", "n"] and header[0][12] == r"$\tau$"
    assert body[0][-2:] == [r"81.00 $\pm$ 1.41", "2"]
    assert r"\caption{Test score (\%)}" in latex and r"\label{tab:accuracy}" in latex
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no staging files
    assert report.latex_escape("sat+gas_1 & 50% τ") == r"sat+gas\_1 \& 50\% $\tau$"
    assert report.format_cell(float("nan")) == "—"
    assert report.format_cell(0.0123456) == "0.01235"
    assert report.format_cell(1234.5678) == "1235"


def test_writers_escape_and_keep_one_cell_per_column():
    """Special characters in names and cells, a missing value, a row index: LaTeX escapes them (an unescaped ``&``
    would add a column, ``%`` would comment out the rest of the row), Markdown keeps a ``|`` inside its cell."""
    table = pd.DataFrame({"dataset": ["ogbn_arxiv", "a|b"], "gain (%)": [12.5, float("nan")],
                          "note": ["50% & τ", "#1 {x}"]},
                         index=pd.Index(["sat+gas_1", "digest"], name="method"))
    latex = report.table_to_latex(table, caption="Gains_1 & 2 (%)", label="tab:gains")
    header, body = check_latex(latex, 4)
    assert header == [["method", "dataset", r"gain (\%)", "note"]]
    assert body == [[r"sat+gas\_1", r"ogbn\_arxiv", "12.50", r"50\% \& $\tau$"],
                    ["digest", "a|b", "---", r"\#1 \{x\}"]]
    assert r"\begin{tabular}{llrl}" in latex  # names and words left, numbers right
    assert r"\caption{Gains\_1 \& 2 (\%)}" in latex
    markdown = markdown_rows(report.table_to_markdown(table))
    assert markdown[0] == ["method", "dataset", "gain (%)", "note"]
    assert all(re.fullmatch(r":?-+:?", cell) for cell in markdown[1]) and len(markdown[1]) == 4
    assert markdown[2:] == [["sat+gas_1", "ogbn_arxiv", "12.50", "50% & τ"], ["digest", r"a\|b", "—", "#1 {x}"]]
    csv = pd.read_csv(io.StringIO(report.table_to_csv(table)), index_col=0)
    assert csv.loc["digest", "dataset"] == "a|b" and math.isnan(csv.loc["digest", "gain (%)"])


@pytest.mark.multiprocess
def test_method_colors_are_fixed_and_distinct():
    assert report.method_color("sat") == report.METHOD_COLORS["sat"]
    assert report.method_color("digest (τ=5)") == report.METHOD_COLORS["digest"]
    # A method the palette does not know gets a fallback colour of its own, the same in every process (Python's
    # string hash is salted per process, so a colour derived from it would change between figures).
    from satbench.report.style import FALLBACK_COLORS
    assert report.method_color("my-new-method") in FALLBACK_COLORS
    code = "from satbench.report import method_color; print(method_color('my-new-method'))"
    colours = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2")}
    assert colours == {report.method_color("my-new-method")}
    assert len(set(report.METHOD_COLORS.values())) == len(report.METHOD_COLORS)


def test_build_all_writes_every_table_and_plot(records, tmp_path):
    written = report.build_all(records, tmp_path / "tables", tmp_path / "plots")
    names = {path.name for path in written}
    for table in ("accuracy", "staleness", "throughput", "time_to_target", "alleviation_vs_base", "sync_period",
                  "decomposition", "claims", "fidelity", "reported_vs_measured"):
        assert {f"{table}.csv", f"{table}.md", f"{table}.tex"} <= names
    for plot in ("val_vs_epoch", "val_vs_time", "staleness", "throughput", "accuracy_vs_staleness", "sync_period",
                 "decomposition"):
        png, pdf = tmp_path / "plots" / f"{plot}.png", tmp_path / "plots" / f"{plot}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert pdf.read_bytes()[:5] == b"%PDF-"
    assert all(path.stat().st_size > 0 for path in written)


def test_build_all_skips_what_the_runs_cannot_support(tmp_path, caplog):
    """digest only, one τ: no exact (no target, no speedup), no SAT, no sweep — those are skipped, not errors."""
    paths = [write(tmp_path / "in", RUN_PATH.format(dataset="sbm-a", model="gcn", method="digest", workers=2,
                                                    seed=seed),
                   make_record("sbm-a", "digest", 2, seed, test=0.7, epoch_time=0.1, val_slope=0.1, val_cap=0.9,
                               rel_error={1: 0.2}, sync_period=10)) for seed in (0, 1)]
    with caplog.at_level(logging.INFO, logger="satbench.report"):
        written = report.build_all(paths, tmp_path / "tables", tmp_path / "plots")
    names = {path.name for path in written}
    assert {"accuracy.md", "staleness.md", "throughput.md", "val_vs_epoch.png", "staleness.png"} <= names
    for skipped in ("time_to_target", "alleviation_vs_base", "sync_period", "decomposition", "claims", "fidelity"):
        assert f"{skipped}.csv" not in names
        assert f"table {skipped} skipped" in caplog.text
    assert "figure sync_period skipped: it needs a method run at two or more sync periods" in caplog.text
    throughput = pd.read_csv(tmp_path / "tables" / "throughput.csv")
    assert throughput["speedup_vs_exact"].isna().all()
    assert report.build_all([], tmp_path / "t2", tmp_path / "p2") == []


def test_runs_without_staleness_or_validation(tmp_path):
    record = make_record("sbm-a", "exact", 2, 0, test=0.8, epoch_time=0.1, val_slope=0.1, val_cap=0.9)
    for row in record["epochs"]:
        row["val"] = None
    record["summary"] = summarize(record["epochs"])
    written = report.build_all([record], tmp_path / "tables", tmp_path / "plots")
    assert {path.name for path in written} >= {"runs.csv", "throughput.csv"}
    assert not any(path.suffix == ".png" and path.stem.startswith(("val_", "staleness")) for path in written)


def test_cli(records, tmp_path, capsys):
    main_runs = [path for path in records if "/runs/" in path.as_posix()][:8]
    assert report.main(["--tables", str(tmp_path / "t"), "--plots", str(tmp_path / "p"), *map(str, main_runs)]) == 0
    assert (tmp_path / "t" / "accuracy.tex").is_file() and not (tmp_path / "d").exists()
    assert report.main(["--data", str(tmp_path / "d"), *map(str, main_runs)]) == 0
    assert sorted(path.name for path in (tmp_path / "d").iterdir()) == ["epochs.parquet", "runs.parquet",
                                                                        "staleness.parquet"]
    with pytest.raises(SystemExit) as caught:  # argparse's one line, exit status 2
        report.main(list(map(str, main_runs)))
    assert caught.value.code == 2 and "give --tables DIR, --plots DIR or --data DIR" in capsys.readouterr().err


def test_the_report_logs_what_it_wrote_and_nothing_of_its_libraries(records, tmp_path):
    """One line per artefact (and data file) written or skipped, also when the caller's root logger is at DEBUG:
    fontTools, subsetting the fonts of every PDF, would otherwise add hundreds."""
    root = logging.getLogger()
    stream, level, handlers = io.StringIO(), root.level, root.handlers[:]
    root.handlers, root.level = [logging.StreamHandler(stream)], logging.DEBUG
    try:
        main_runs = [str(path) for path in records if "/runs/" in path.as_posix()]
        assert report.main(["--tables", str(tmp_path / "t"), "--plots", str(tmp_path / "p"), "--data",
                            str(tmp_path / "d"), *main_runs]) == 0
    finally:
        root.handlers, root.level = handlers, level
    lines = stream.getvalue().splitlines()
    artefacts = [a for a in report.ARTEFACTS]
    assert len(lines) == len(artefacts) + 4, lines  # runs.csv, runs.parquet, epochs.parquet, staleness.parquet
    assert any("figure staleness:" in line and "staleness.pdf" in line for line in lines)
    # the sync-period, decomposition and bandwidth table and figure: no sweep, control or bandwidth run among them;
    # the regime study's three tables and two figures: no run of its screen; the options table: no option study
    assert sum("skipped" in line for line in lines) == 6 + 5 + 1
    assert all(line.startswith(("table ", "figure ", "data ")) for line in lines), lines


# -- the bandwidth study ---------------------------------------------------------------------------------------------

RATES = {"20mbit": 20e6, "100mbit,1ms": 100e6, "1gbit": 1e9, "10gbit": 1e10}
# Epoch time per rate (s): gas wins at and below 100 Mbit/s; pipegcn never; digest everywhere; sat only at the top
# rate, which is no crossover (it loses at every lower rate).
BANDWIDTH_TIMES = {
    "exact": {"20mbit": 30.0, "100mbit,1ms": 6.0, "1gbit": 1.5, "10gbit": 1.0},
    "gas": {"20mbit": 15.0, "100mbit,1ms": 4.0, "1gbit": 2.0, "10gbit": 1.25},
    "pipegcn": {"20mbit": 32.0, "100mbit,1ms": 8.0, "1gbit": 2.5, "10gbit": 1.1},
    "digest": {"20mbit": 5.0, "100mbit,1ms": 2.0, "1gbit": 1.0, "10gbit": 0.5},
    "sat": {"20mbit": 40.0, "100mbit,1ms": 7.0, "1gbit": 1.6, "10gbit": 0.8},
}


def bandwidth_record(method: str, rate: str, seed: int, path_rate: bool = True) -> tuple[str, dict]:
    """A bandwidth run: its first epoch slow (left out of the times), the others 10 % apart between seeds 0 and 1;
    the link stated as `satbench run --network` states it."""
    time = BANDWIDTH_TIMES[method][rate] * (1.0 + 0.1 * seed)
    record = make_record("sbm-a", method, 4, seed, test=0.8, epoch_time=time, val_slope=0.1, val_cap=0.9, epochs=5,
                         bytes_per_epoch=2_000_000 * (1 + seed))
    record["epochs"][0]["epoch_time_s"] = 1000.0
    for row in record["epochs"]:
        row["comm_time_s"] = time / 2
    record["config"]["network"] = rate
    record["env"] = {"network": {"spec": rate, "rate_bit_s": RATES[rate], "delay_s": 0.0, "shaped": True}}
    relative = BANDWIDTH_PATH.format(dataset="sbm-a", model="gcn", method=method, rate=rate_path(rate), workers=4,
                                     seed=seed)
    return relative, record


@pytest.fixture(scope="module")
def bandwidth_records(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("bandwidth")
    return [write(root, *bandwidth_record(method, rate, seed)) for method in BANDWIDTH_TIMES for rate in RATES
            for seed in (0, 1)]


def test_bandwidth_table_speedup_and_crossover(bandwidth_records):
    loaded = report.load_records(bandwidth_records)
    runs, epochs = report.load_runs(loaded), report.epoch_frame(loaded)
    assert set(runs["study"]) == {"bandwidth"} and set(runs["rate"]) == set(RATES)
    table = report.bandwidth_table(epochs)
    assert len(table) == len(BANDWIDTH_TIMES) * len(RATES)
    # Rows by method, then rate from the slowest link up.
    assert list(table["method"].unique()) == ["exact", "gas", "pipegcn", "digest", "sat"]
    assert list(table.loc[table["method"] == "gas", "rate"]) == ["20mbit", "100mbit,1ms", "1gbit", "10gbit"]
    row = table[(table["method"] == "gas") & (table["rate"] == "20mbit")].iloc[0]
    assert row["epoch_time_s_mean"] == pytest.approx(15.0 * 1.05)  # seeds' mean, first epoch left out
    assert row["epoch_time_s_std"] == pytest.approx(pd.Series([15.0, 16.5]).std())
    assert row["comm_time_s_per_epoch"] == pytest.approx(15.0 * 1.05 / 2)
    assert row["comm_MB_per_epoch"] == pytest.approx(3.0)
    assert row["speedup_vs_exact"] == pytest.approx(30.0 / 15.0)  # exact's time over the method's, same rate
    assert row["n"] == 2
    crossover = table.groupby("method")["faster_than_exact_at_and_below"].first()
    assert crossover["gas"] == "100mbit,1ms"
    assert crossover["pipegcn"] == report.NEVER_IN_SWEEP
    assert crossover["digest"] == "10gbit"
    assert crossover["sat"] == report.NEVER_IN_SWEEP  # faster only at 10gbit: it does not win from there down
    assert table.loc[table["method"] == "exact", "faster_than_exact_at_and_below"].isna().all()
    assert (table.loc[table["method"] == "exact", "speedup_vs_exact"] == 1).all()


def test_bandwidth_study_stays_out_of_the_main_tables(records, bandwidth_records):
    both, main = report.load_runs(records + bandwidth_records), report.load_runs(records)
    for table in (report.throughput_table, report.accuracy_table, report.sync_period_table):
        pd.testing.assert_frame_equal(table(both), table(main))
    assert report.bandwidth_table(report.epoch_frame(records)).empty


def test_the_rate_is_read_from_the_record(tmp_path):
    """A record's config.network is its rate, wherever it lies; its rate in bit/s from env.network, or parsed."""
    relative, record = bandwidth_record("gas", "100mbit,1ms", 0)
    elsewhere = write(tmp_path, "somewhere/gas.json", record)
    assert report.load_runs([elsewhere])["rate"].item() == "100mbit,1ms"
    del record["env"]["network"]
    parsed = report.load_runs([write(tmp_path, relative, record)]).iloc[0]
    assert (parsed["study"], parsed["rate"], parsed["rate_bit_s"]) == ("bandwidth", "100mbit,1ms", 100e6)


@pytest.mark.multiprocess
def test_satbench_report_makes_the_bandwidth_table_and_figure(bandwidth_records, tmp_path):
    result = subprocess.run([sys.executable, "-m", "satbench", "report", "--tables", str(tmp_path / "tables"),
                             "--plots", str(tmp_path / "plots"), *map(str, bandwidth_records)],
                            cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in (tmp_path / "tables").iterdir()) == [
        "bandwidth.csv", "bandwidth.md", "bandwidth.tex", "runs.csv"]
    assert sorted(path.name for path in (tmp_path / "plots").iterdir()) == ["bandwidth.pdf", "bandwidth.png"]
    assert (tmp_path / "plots" / "bandwidth.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "plots" / "bandwidth.pdf").read_bytes()[:5] == b"%PDF-"
    table = pd.read_csv(tmp_path / "tables" / "bandwidth.csv")
    assert table.loc[(table["method"] == "digest") & (table["rate"] == "1gbit"), "speedup_vs_exact"].item() == \
        pytest.approx(1.5)
    assert "never in the sweep" in (tmp_path / "tables" / "bandwidth.md").read_text()
    assert r"\caption{Bandwidth study" in (tmp_path / "tables" / "bandwidth.tex").read_text()
    assert "table accuracy skipped" in result.stderr  # the main study's artefacts: nothing to make them from


def test_a_record_states_its_study_and_label_wherever_it_lies(tmp_path):
    """Records since version 2 say their study and dataset label; the report reads them there, not from the path
    (version-1 records, such as the others in this file, are read from the workflow's layout of then)."""
    record = make_record("sbm-a", "digest", 4, 0, test=0.7, epoch_time=0.1, val_slope=0.1, val_cap=0.9,
                         sync_period=5)
    record.update(version=2, study="sweep", labels={"dataset": "my-graph"})
    run = report.load_runs([write(tmp_path, "anywhere/at/all.json", record)]).iloc[0]
    assert (run["study"], run["dataset"], run["sync_period"]) == ("sweep", "my-graph", 5.0)
    legacy = make_record("sbm-a", "digest", 4, 0, test=0.7, epoch_time=0.1, val_slope=0.1, val_cap=0.9,
                         sync_period=5)
    old = report.load_runs([write(tmp_path, SWEEP_PATH.format(dataset="sbm-a", model="gcn", method="digest", sync_period=5,
                                                              workers=4, seed=0), legacy)]).iloc[0]
    assert (old["study"], old["dataset"]) == ("sweep", "sbm-a")
    assert report.load_runs([write(tmp_path, "elsewhere.json", legacy)]).iloc[0]["study"] == "main"


# -- alleviation methods other than SAT ------------------------------------------------------------------------------

GAS_SCORES = (0.70, 0.74, 0.72, 0.71, 0.73)
GAS_CONTROL = (0.78, 0.80, 0.79, 0.785, 0.795)  # 8, 6, 7, 7.5, 6.5 points over gas


def corrector_records(root: Path, *, used: float, gain: tuple[float, ...], time: float = 0.1) -> list[Path]:
    """Five seeds of gas (GAS_SCORES), its control (GAS_CONTROL) and exact, and "corrector", an alleviation
    method on gas that reports no replaced copy: its rows' error ``used`` (gas's: 0.3), its test scores gas's +
    ``gain``."""
    paths = []
    specs = {"exact": ((0.80, 0.82, 0.81, 0.805, 0.815), "main", None), "gas": (GAS_SCORES, "main", None),
             "corrector": (tuple(g + t for g, t in zip(gain, GAS_SCORES)), "main", "gas")}
    for method, (tests, study, base) in specs.items():
        for seed, test in enumerate(tests):
            error = {1: 0.0} if method == "exact" else {1: used if method == "corrector" else 0.3}
            record = make_record("sbm-a", method, 2, seed, test=test, epoch_time=time if base else 0.1,
                                 val_slope=0.1, val_cap=0.9, rel_error=error)
            record["method"].update(family="alleviation" if base else record["method"]["family"], base=base,
                                    shares_base_control=False)
            record.update(version=2, study=study, labels={"dataset": "sbm-a"})
            paths.append(write(root, f"{method}/seed{seed}.json", record))
    for seed, test in enumerate(GAS_CONTROL):
        record = make_record("sbm-a", "gas", 2, seed, test=test, epoch_time=0.1, val_slope=0.1, val_cap=0.9,
                             rel_error={1: 0.0}, halo="fresh")
        record.update(version=2, study="control", labels={"dataset": "sbm-a"})
        paths.append(write(root, f"control/seed{seed}.json", record))
    return paths


def test_claims_hold_an_alleviation_method_other_than_sat_to_the_same_rules(tmp_path):
    """Any method whose record says it is an alleviation method on a base is judged like SAT; one that reports no
    replaced copy is judged on staleness by its rows against its base's own run."""
    gain = (0.06, 0.05, 0.055, 0.06, 0.05)
    loaded = report.load_records(corrector_records(tmp_path / "good", used=0.1, gain=gain))
    runs, epochs, staleness = report.load_runs(loaded), report.epoch_frame(loaded), report.staleness_frame(loaded)
    table = report.claims_table(runs, staleness, report.reach_frame(epochs, runs))
    assert set(table["method"]) == {"corrector"} and set(table["base"]) == {"gas"}
    verdicts = dict(zip(table["claim"], table["verdict"]))
    # C1: 0.1 against gas's 0.3 in every seed; C2: +5.5 ± 0.5 points on gas's staleness cost of 7 ± 0.8 (its
    # control), and not beyond it; C4: the same epoch time and traffic as gas
    assert verdicts["C1"] == "holds" and verdicts["C2"] == "holds" and verdicts["C4"] == "holds"
    decomposition = report.decomposition_table(runs, report.reach_frame(epochs, runs))
    corrector = row_of(decomposition, method="corrector")
    assert corrector["recovered_share"] == pytest.approx(5.5 / 7)
    assert corrector["recovered_share_ci_low"] < 5.5 / 7 < corrector["recovered_share_ci_high"]
    assert math.isnan(corrector["control_pct_mean"])  # its control is its own, which did not run
    worse = report.load_records(corrector_records(tmp_path / "bad", used=0.5, gain=(-0.03, -0.02, -0.025, -0.03,
                                                                                     -0.02), time=0.2))
    runs, epochs, staleness = report.load_runs(worse), report.epoch_frame(worse), report.staleness_frame(worse)
    verdicts = dict(zip(*report.claims_table(runs, staleness, report.reach_frame(epochs, runs))[
        ["claim", "verdict"]].T.to_numpy()))
    assert (verdicts["C1"], verdicts["C2"], verdicts["C4"]) == ("fails", "fails", "fails")


# -- fidelity ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gaps, verdict", [
    ((-0.2, -0.3, -0.1, -0.25, -0.15), "holds"),  # -0.2 ± 0.08: the 90 % interval well inside ±1 point
    ((-0.5, 0.2, -0.9), "inconclusive"),   # -0.4 ± 0.57: its 90 % interval (-1.36, 0.56) reaches past -1
    ((2.0, 3.0), "inconclusive"),          # a gain beyond the margin: no loss, but no parity either
    ((-3.0, -3.5, -2.5), "fails"),         # -3 ± 0.5: the 95 % interval (-4.2, -1.8) lies below -1
    ((-6.0, 2.0, -2.0), "inconclusive"),   # -2 ± 4: the interval spans the margin
    ((-5.0,), "not testable"),             # one seed: no spread to judge by
])
def test_the_fidelity_rule(gaps, verdict):
    assert report.fidelity_verdict(pd.Series(gaps)) == verdict


def test_the_fidelity_rule_uses_the_adjusted_p_where_given():
    gaps = pd.Series([-0.2, -0.3, -0.1, -0.25, -0.15])
    assert report.fidelity_verdict(gaps, adjusted_p=0.2) == "inconclusive"  # equivalent alone, not after Holm


def fidelity_records(root: Path) -> list[Path]:
    """exact (80, 82, 81); gas half a point under it; digest 10 points under it with a control that keeps all but
    half a point on average (protocol cost 0, 1, 0.5: not significant; staleness cost 10, 9, 9.5); pipegcn 3 points
    under, noisily (−8, +2, −3)."""
    scores = {"exact": (0.80, 0.82, 0.81), "gas": (0.795, 0.815, 0.805), "digest": (0.70, 0.72, 0.71),
              "pipegcn": (0.72, 0.84, 0.78)}
    paths = []
    for method, tests in scores.items():
        for seed, test in enumerate(tests):
            record = make_record("sbm-a", method, 4, seed, test=test, epoch_time=0.1, val_slope=0.1, val_cap=0.9)
            paths.append(write(root, RUN_PATH.format(dataset="sbm-a", model="gcn", method=method, workers=4,
                                                     seed=seed), record))
    for seed, test in enumerate((0.80, 0.81, 0.805)):
        record = make_record("sbm-a", "digest", 4, seed, test=test, epoch_time=0.1, val_slope=0.1, val_cap=0.9,
                             halo="fresh")
        paths.append(write(root, CONTROL_PATH.format(dataset="sbm-a", model="gcn", method="digest", workers=4,
                                                     seed=seed), record))
    return paths


def test_fidelity_table_judges_each_historical_method_against_its_papers_claim(tmp_path):
    loaded = report.load_records(fidelity_records(tmp_path))
    runs, epochs = report.load_runs(loaded), report.epoch_frame(loaded)
    table = report.fidelity_table(runs, report.reach_frame(epochs, runs))
    assert list(table["method"]) == ["gas", "pipegcn", "digest"]  # historical methods only, in display order
    gas, pipegcn, digest = (row_of(table, method=m) for m in ("gas", "pipegcn", "digest"))
    assert gas["gap_pts_mean"] == pytest.approx(-0.5) and gas["n"] == 3
    assert (gas["verdict"], gas["cost_on"]) == ("holds", "")  # -0.5 in every seed: inside ±1, TOST p = 0
    assert gas["test"].startswith("TOST") and gas["p_value"] == 0
    assert "closely resembles" in gas["claim"] and "ICML 2021" in gas["source"]
    assert (digest["verdict"], digest["cost_on"]) == ("fails", "stale rows")  # the control keeps 9.5 of 10 points
    assert digest["ci_high"] < -1
    # -3 ± 5 over 3 seeds: the 95 % interval -3 ± 4.30 × 5 / √3 spans the margin
    assert (pipegcn["verdict"], pipegcn["cost_on"]) == ("inconclusive", "no control")
    half = stats.t.ppf(0.975, 2) * 5 / 3 ** 0.5
    assert (pipegcn["ci_low"], pipegcn["ci_high"]) == pytest.approx((-3 - half, -3 + half))
    assert (table["p_value"] >= table["p_raw"]).all() and set(table["verdict"]) <= set(
        report.claims.FIDELITY_VERDICTS)
    assert report.PAPER_CLAIMS["digest"][0] in digest["claim"]
    assert "closely resembles" in report.table_to_markdown(table)


# -- tidy data -----------------------------------------------------------------------------------------------------------

def test_the_data_files_answer_questions_without_the_records(records, tmp_path):
    """One grain per file: a run, a run's epoch, a run's measured epoch and hidden layer; each run's settings beside
    its epochs and measurements, so no question needs a join; a sum over epochs counts each epoch once; columns
    typed as declared."""
    written = report.build_all(records, data_dir=tmp_path)
    assert sorted(path.name for path in written) == ["epochs.parquet", "runs.parquet", "staleness.parquet"]
    runs = pd.read_parquet(tmp_path / "runs.parquet")
    assert len(runs) == len(records) and runs["record"].is_unique  # one row per run
    for column in ("test_at_best_val", "best_val", "mean_epoch_time_s", "mean_staleness", "halo_ratio_mean"):
        assert pd.api.types.is_float_dtype(runs[column]), column
    for column in ("workers", "seed", "epochs", "hidden", "layers", "best_epoch", "edge_cut"):
        assert pd.api.types.is_integer_dtype(runs[column]), column
    assert pd.api.types.is_bool_dtype(runs["shares_base_control"])
    assert isinstance(runs["created"].dtype, pd.DatetimeTZDtype)  # version-1 records say no time: missing
    assert {"study", "family", "base", "dataset_spec", "dropout", "option_sync_period", "partitioner",
            "label_skew_mean", "label_skew_max", "split", "model_parameters", "cpu_model", "cpu_cores",
            "accelerator"} <= set(runs.columns)
    assert not any(str(value).startswith("/") for value in runs.astype(str).to_numpy().ravel())
    main = runs[runs["study"] == "main"]
    means = main.groupby(["dataset", "workers", "method"])["test_at_best_val"].mean()
    assert means[("sbm-a", 2, "exact")] == pytest.approx(0.81)

    epochs = pd.read_parquet(tmp_path / "epochs.parquet")
    assert len(epochs) == len(records) * EPOCHS and not epochs.duplicated(["record", "epoch"]).any()
    assert {"loss", "val", "test", "epoch_time_s", "wall_time_s", "method", "workers", "sync_period", "hidden",
            "halo_ratio_mean"} <= set(epochs.columns)
    assert not {"layer", "rel_error", "best_val", "created"} & set(epochs.columns)  # measurements and runs apart
    totals = epochs.groupby("record")["comm_bytes"].sum()
    assert (totals == runs.set_index("record")["total_comm_bytes"].reindex(totals.index)).all()

    staleness = pd.read_parquet(tmp_path / "staleness.parquet")
    assert len(staleness) == len(records) * len(MEASURED) * 2  # one row per (run, measured epoch, hidden layer)
    assert not staleness.duplicated(["record", "epoch", "layer"]).any()
    assert pd.api.types.is_integer_dtype(staleness["layer"]) and pd.api.types.is_integer_dtype(staleness["epoch"])
    assert {"rel_error", "replaced_rel_error", "supplied_rel_error", "method", "hidden"} <= set(staleness.columns)
    sat = staleness[(staleness["method"] == "sat") & (staleness["study"] == "main")]
    assert sat["replaced_rel_error"].eq(0.4).all() and sat["rel_error"].eq(0.1).all()


def test_method_metrics_reach_the_epochs_file_as_each_record_declares_them(tmp_path):
    """A method's own per-epoch numbers reach epochs.parquet without the report knowing them: as a record of version 3
    declares them (``method.metrics``), or, in an older record, whatever numbers its rows hold beyond the record's
    own columns; NaN for a run whose method has no such metric."""
    from satbench.record import Column

    old = make_record("sbm-a", "digest", 2, 0, test=0.7, epoch_time=0.1, val_slope=0.05, val_cap=0.8, sync_period=5)
    for row in old["epochs"]:
        row["refresh_time_s"] = 0.01  # a version-2 REST row: undeclared
    declared = make_record("sbm-a", "sat", 2, 0, test=0.7, epoch_time=0.1, val_slope=0.05, val_cap=0.8,
                           sync_period=5)
    metric = Column("gate_share", "float", "fraction", "a plug-in's share of rows it predicted")
    declared.update(version=3, study="main", labels={"dataset": "sbm-a"})
    declared["method"]["metrics"] = [metric.as_json()]
    for row in declared["epochs"]:
        row["gate_share"] = 0.25
    plain = make_record("sbm-a", "exact", 2, 0, test=0.8, epoch_time=0.2, val_slope=0.1, val_cap=0.9)
    runs = [write(tmp_path, f"{name}.json", record) for name, record in
            (("old", old), ("declared", declared), ("plain", plain))]
    report.build_all(runs, data_dir=tmp_path / "data")
    epochs = pd.read_parquet(tmp_path / "data" / "epochs.parquet").set_index("record")
    assert (epochs.loc["old.json", "refresh_time_s"] == 0.01).all()
    assert (epochs.loc["declared.json", "gate_share"] == 0.25).all()
    assert epochs.loc["plain.json", ["refresh_time_s", "gate_share"]].isna().all().all()


def test_every_table_csv_is_long_and_numeric(records, bandwidth_records, tmp_path):
    """Every table's CSV: each ``_mean``, ``_std`` and ``n`` column numeric, counts as integers, no "±" text and no
    absolute path anywhere."""
    written = report.build_all(records + bandwidth_records, tmp_path / "tables")
    tables = [path for path in written if path.suffix == ".csv"]
    assert len(tables) >= 12
    for path in tables:
        text = path.read_text()
        assert "±" not in text and "/tmp" not in text and str(tmp_path) not in text, path.name
        table, text = pd.read_csv(path), pd.read_csv(path, dtype=str)
        for column in table.columns:
            if column.endswith(("_mean", "_std", "_pct", "_s")) or column in ("n", "workers", "sync_period"):
                assert pd.api.types.is_numeric_dtype(table[column]), (path.name, column)
            if column in ("n", "workers", "epochs", "layer", "reached", "sync_period", "syncs"):
                assert text[column].dropna().str.fullmatch(r"\d+").all(), (path.name, column)  # "2", not "2.0"
        assert not any(" / " in column for column in table.columns), path.name  # no wide "dataset / model / W"


# -- published figures ------------------------------------------------------------------------------------------------

def test_reported_vs_measured_pairs_each_published_number_with_the_same_setting(tmp_path):
    published = pd.DataFrame([
        {"paper": "A", "table": "Table 2", "dataset": "cora", "model": "gcn", "method": "exact", "workers": None,
         "metric": "accuracy", "value": 81.5, "plus_minus": None, "note": "full graph"},
        {"paper": "B", "table": "Table 3", "dataset": "citeseer", "model": "gcn", "method": "exact",
         "workers": None, "metric": "accuracy", "value": 70.3, "plus_minus": None, "note": ""},
        {"paper": "C", "table": "README.md", "dataset": "reddit", "model": "sage", "method": "pipegcn",
         "workers": 2, "metric": "accuracy", "value": 97.1, "plus_minus": None, "note": ""},
        {"paper": "D", "table": "—", "dataset": None, "model": None, "method": "sat", "workers": None,
         "metric": "accuracy", "value": None, "plus_minus": None, "note": "tables not found"},
        {"paper": "E", "table": "Table 1", "dataset": "cora", "model": "gcn", "method": "exact", "workers": 4,
         "metric": "accuracy", "value": 60.0, "plus_minus": None, "note": ""},
    ])
    runs = []
    for workers in (2, 4):
        for seed, test in enumerate((0.80, 0.82, 0.81)):
            record = make_record("sbm-a", "exact", workers, seed, test=test, epoch_time=0.1, val_slope=0.1,
                                 val_cap=0.9)
            record["config"]["dataset"] = "cora"
            record.update(version=2, study="main", labels={"dataset": "my-cora"})
            runs.append(record)
    table = report.reported_vs_measured(published, report.load_runs(runs))
    cora = table[table["paper"] == "A"]
    assert list(cora["workers"]) == [2, 4] and set(cora["status"]) == {"measured"}  # W not stated: one row per W
    row = cora.iloc[0]
    assert row["measured_pct_mean"] == pytest.approx(81) and row["difference_pts"] == pytest.approx(-0.5)
    assert row["within_seed_spread"] is True and row["n"] == 3  # |−0.5| ≤ 2 × 1.0
    assert row_of(table, paper="E")["within_seed_spread"] is False  # 81 against 60, at the W it states
    assert row_of(table, paper="B")["status"] == "no matching run"
    assert row_of(table, paper="C")["status"].startswith("cannot run here (no data here")
    assert row_of(table, paper="D")["status"] == "no published number"


def test_the_shipped_published_figures_cite_their_sources():
    published = report.load_published(REPO / "config" / "published.csv")
    assert published["paper"].notna().all() and published["table"].notna().all()
    numbers = published.dropna(subset=["value"])
    assert {"cora", "citeseer", "pubmed"} <= set(numbers["dataset"])
    kipf = numbers[numbers["paper"].str.startswith("Kipf")].set_index("dataset")["value"]
    assert kipf.to_dict() == {"cora": 81.5, "citeseer": 70.3, "pubmed": 79.0}
    missing = published[published["value"].isna()]
    assert "sat" in set(missing["method"]) and missing["note"].str.len().gt(20).all()


# -- figures ---------------------------------------------------------------------------------------------------------------

def test_facets_put_every_method_where_its_family_says():
    methods = pd.DataFrame([
        ("exact", "reference", None), ("partition", "reference", None), ("gas", "historical", None),
        ("pipegcn", "historical", None), ("digest", "historical", None), ("sat", "alleviation", "digest"),
        ("sat-plus", "alleviation", "digest"), ("sat+gas", "alleviation", "gas"), ("lmc", "alleviation", "gas"),
        ("rest", "alleviation", "digest"), ("staleness-weighted+gas", "alleviation", "gas"),
    ], columns=["method", "family", "base"]).assign(variant=lambda f: f["method"])
    facets = dict(report.method_facets(methods))
    assert list(facets) == ["historical", "on gas", "on digest"]
    for names in facets.values():
        assert names[:2] == ["exact", "partition"]  # the references in every facet
    assert facets["historical"] == ["exact", "partition", "gas", "pipegcn", "digest"]
    assert facets["on gas"] == ["exact", "partition", "gas", "sat+gas", "lmc", "staleness-weighted+gas"]
    assert facets["on digest"] == ["exact", "partition", "digest", "sat", "sat-plus", "rest"]
    for method, family, base in methods[["method", "family", "base"]].itertuples(index=False):
        where = {title for title, names in facets.items() if method in names}
        expected = (set(facets) if family == "reference" else
                    {"historical"} | {f"on {method}"} & set(facets) if family == "historical" else {f"on {base}"})
        assert where == expected, method
    assert report.method_facets(methods[methods["family"] == "reference"]) == [("reference", ["exact",
                                                                                              "partition"])]


def test_each_method_has_a_look_of_its_own():
    looks = [(style.dashes, style.marker) for style in report.METHOD_STYLES.values()]
    assert len(set(looks)) == len(looks)  # two curves that coincide still show as two
    for method in ("lmc", "rest", "staleness-weighted", "staleness-weighted+gas"):
        assert method in report.METHOD_STYLES
    assert report.method_style("digest (τ=5)") == report.METHOD_STYLES["digest"]
    assert report.rate_label("20mbit", 20e6) == "20 Mbit/s"
    assert report.rate_label("10gbit", 1e10) == "10 Gbit/s"
    assert report.rate_label("100mbit,1ms", 1e8) == "100 Mbit/s, 1 ms"


# -- evidence: the tables again from the compact export alone ---------------------------------------------------------

def test_tables_from_the_exported_evidence_equal_those_from_the_records(records, bandwidth_records, tmp_path):
    """``satbench report --evidence``: runs, epochs and staleness as Parquet, which read back into frames that give
    every table as the records do: the same CSV text where the export is lossless; with the measured times and errors
    in single precision (the default), the same rows, words and counts, floats within 1e-5 relative. Beside them the
    table CSVs and a manifest."""
    from satbench.report import evidence

    sources = records + bandwidth_records
    from_records = {path.name: path for path in report.build_all(sources, tmp_path / "tables")
                    if path.suffix == ".csv" and path.name != "runs.csv"}
    assert len(from_records) >= 12
    directory, lossless = tmp_path / "evidence" / "demo", tmp_path / "evidence" / "lossless"
    assert report.main(["--evidence", str(directory), "--evidence-config", "config/config.yaml",
                        *map(str, sources)]) == 0
    evidence.export_evidence(sources, lossless, lossless=True)
    for exported in (directory, lossless):
        files = {path.relative_to(exported).as_posix() for path in exported.rglob("*") if path.is_file()}
        assert files == {"runs.parquet", "epochs.parquet", "staleness.parquet", "published.csv", "manifest.json",
                         *(f"tables/{name}" for name in from_records)}
    for name, path in from_records.items():
        expected = pd.read_csv(path, keep_default_na=False, na_values=[""])
        assert (lossless / "tables" / name).read_text() == path.read_text(), name
        compact = pd.read_csv(directory / "tables" / name, keep_default_na=False, na_values=[""])
        pd.testing.assert_frame_equal(compact, expected, check_exact=False, rtol=1e-5, atol=1e-12, obj=name)
    # a table of no time or staleness error: the same text
    assert (directory / "tables" / "accuracy.csv").read_text() == from_records["accuracy.csv"].read_text()

    # The frames themselves: runs whole; epochs in the columns kept (the others missing); staleness whole.
    expected = report.Frames.of(report.load_records(sources))
    left_out = [column for column in report.frames.EPOCH_COLUMNS if column not in evidence.EPOCH_KEPT]
    bandwidth = expected.epochs["study"] == "bandwidth"
    for exported, exact in ((lossless, True), (directory, False)):
        loaded = evidence.load_evidence(exported)
        pd.testing.assert_frame_equal(loaded.runs, expected.runs)
        pd.testing.assert_frame_equal(loaded.staleness, expected.staleness, check_exact=exact, rtol=1e-6)
        assert "loss" in left_out and loaded.epochs[left_out].isna().all().all()
        pd.testing.assert_frame_equal(loaded.epochs.drop(columns=[*left_out, "comm_time_s"]),
                                      expected.epochs.drop(columns=[*left_out, "comm_time_s"]), check_exact=exact,
                                      rtol=1e-6)
        pd.testing.assert_series_equal(loaded.epochs.loc[bandwidth, "comm_time_s"],
                                       expected.epochs.loc[bandwidth, "comm_time_s"], check_exact=exact, rtol=1e-6)
        assert loaded.epochs.loc[~bandwidth, "comm_time_s"].isna().all()  # read by the bandwidth table alone

    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["study"] == "demo" and manifest["config"] == "config/config.yaml"
    assert manifest["runs"] == len(sources) and manifest["runs_per_study"]["bandwidth"] == len(bandwidth_records)
    assert manifest["satbench"] and manifest["command"].startswith("python -m satbench.report --evidence")
    assert f"RECORDS ({len(sources)} files)" in manifest["command"] and str(sources[0]) not in manifest["command"]
    assert manifest["files"]["runs.parquet"]["rows"] == len(sources)
    assert "loss" in manifest["left_out"]["epochs"] and manifest["precision"].startswith("single")
    assert json.loads((lossless / "manifest.json").read_text())["precision"] == "double"
    total = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    assert total < 150_000, total

    # The shipped CSVs checked against the Parquet files: a changed one is found, and put back.
    assert evidence.verify_evidence(directory) == []
    accuracy = directory / "tables" / "accuracy.csv"
    accuracy.write_text(accuracy.read_text().replace("81", "82"))
    assert evidence.verify_evidence(directory) == [f"{accuracy}: differs from what the evidence gives"]
    assert evidence.verify_evidence(directory, fix=True)  # rewritten
    assert accuracy.read_text() == from_records["accuracy.csv"].read_text()


def test_an_export_keeps_what_a_table_reads(records, tmp_path, monkeypatch, caplog):
    """Evidence that leaves out an epoch column a table reads would give other tables: the export finds it and keeps
    every column at full precision."""
    from satbench.report import evidence

    monkeypatch.setattr(evidence, "EPOCH_KEPT", ("epoch_time_s", "comm_time_s", "comm_bytes"))  # no val
    sources = [path for path in records if "/sbm-a/" in path.as_posix() and "/sweep/" not in path.as_posix()]
    with caplog.at_level(logging.WARNING, logger="satbench.report"):
        evidence.export_evidence(sources, tmp_path / "demo")
    assert "keeping every column at full precision" in caplog.text and "time_to_target.csv" in caplog.text
    manifest = json.loads((tmp_path / "demo" / "manifest.json").read_text())
    assert manifest["precision"] == "double" and "loss" not in manifest["left_out"]["epochs"]
    assert not pd.read_parquet(tmp_path / "demo" / "epochs.parquet")["loss"].isna().any()
    from_records = report.build_all(sources, tmp_path / "tables")
    for path in from_records:
        if path.suffix == ".csv" and path.name != "runs.csv":
            assert (tmp_path / "demo" / "tables" / path.name).read_text() == path.read_text()
