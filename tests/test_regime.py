"""The regime study: its screen's plan, the confirm stage planned from the screen's records, and the map and rule
built from them (satbench.workflow, "the regime study"; satbench.report.regime)."""

import math

import numpy as np
import pandas as pd
import pytest

from runs import load_record
from satbench.config import RunConfig
from satbench.errors import ConfigError
from satbench.report.regime import (
    CONFIRM_STUDY, SCREEN_STUDY, confirm_frames, predictor_table, regime_figure, regime_table,
)
from satbench.runtime.launch import launch
from satbench.workflow import (
    Run, check_config, confirm_runs, plan_confirm, regime_job, report_outputs, screen_runs, variant_name,
    variant_overrides,
)

TINY_GRAPH = "sbm:n=120,classes=3,degree=6,homophily=0.8,features=8,noise=2.0,seed=0"


def _config(**regime) -> dict:
    study = {"datasets": ["tiny", "bigger"], "methods": ["gas", "digest"], "sync_periods": [2, 8],
             "workers": [2, 4], "workers_of": {"bigger": [4]}, "seeds": [0, 1],
             "confirm": {"seeds": [0, 1, 2], "threshold_pts": 1.0, "max_settings": 1}}
    study.update(regime)
    return {"datasets": {"tiny": {"spec": TINY_GRAPH},
                         "bigger": {"spec": TINY_GRAPH.replace("n=120", "n=200"), "models": {"gcn": {}}}},
            "models": {"gcn": {"hidden": 8, "layers": 2, "dropout": 0.5, "lr": 0.01},
                       "sage": {"hidden": 8, "layers": 2, "dropout": 0.5, "lr": 0.01}},
            "epochs": 4, "device": "cpu", "sync_period": 10, "staleness_every": 2, "regime": study}


def test_the_screen_runs_each_method_at_each_period_with_one_control_per_w_and_exact_once():
    runs = screen_runs(_config())
    assert all(run.study == "regime-screen" for run in runs)
    tiny_gcn = [run for run in runs if (run.dataset, run.model) == ("tiny", "gcn")]
    exact = [run for run in tiny_gcn if run.method == "exact"]
    assert {(run.workers, run.seed) for run in exact} == {(1, 0), (1, 1)}  # every W reproduces it
    at_two = [run for run in tiny_gcn if run.workers == 2 and run.seed == 0]
    assert sorted((run.method, run.sync_period, run.halo) for run in at_two) == [
        ("digest", 2, "fresh"), ("digest", 2, "method"), ("digest", 8, "method"), ("gas", None, "fresh"),
        ("gas", None, "method")]
    # the bigger graph: its own W and only the model it trains
    assert {(run.model, run.workers) for run in runs if run.dataset == "bigger" and run.method != "exact"} == {
        ("gcn", 4)}
    assert len({run.path for run in runs}) == len(runs)


def test_a_regime_job_is_read_back_from_its_path_wildcards():
    for run in screen_runs(_config(depths=[2, 3], dropouts=[0.0])):
        parts = run.path.split("/")
        wildcards = type("Wildcards", (), dict(
            dataset=parts[3], model=parts[4], variant=parts[5], workers=parts[6][1:], sync_period=parts[7][5:],
            halo=parts[8], method=parts[9]))
        job = regime_job(_config(depths=[2, 3], dropouts=[0.0]), "screen", wildcards)
        assert job == Run(**{**run.__dict__, "seed": 0})


def test_model_variants_name_only_what_differs_from_the_model():
    runs = screen_runs(_config(depths=[2, 3], dropouts=[0.5, 0.0]))
    assert {run.overrides for run in runs} == {(), (("dropout", 0.0),), (("layers", 3),),
                                               (("layers", 3), ("dropout", 0.0))}
    assert variant_name((("layers", 3), ("dropout", 0.0))) == "layers3-dropout0"
    assert variant_overrides("layers3-dropout0") == (("layers", 3), ("dropout", 0.0))
    assert variant_overrides("model") == ()


@pytest.mark.parametrize("change, message", [
    ({"workers": [1, 4]}, "at least 2"),
    ({"datasets": ["nowhere"]}, "not among the datasets"),
    ({"methods": ["exact"]}, "no fresh-halo control"),
    ({"sync_periods": None}, "needs regime.sync_periods"),
    ({"confirm": {"seeds": [0]}}, "at least 2 seeds"),
])
def test_a_bad_regime_study_is_refused_in_one_line(change, message):
    config = _config(**change)
    config["regime"] = {key: value for key, value in config["regime"].items() if value is not None}
    with pytest.raises(ConfigError, match=message):
        check_config(config)


def test_the_shipped_config_plans_a_screen_over_w_tau_and_both_models():
    import yaml

    config = yaml.safe_load(open("config/regime.yaml"))
    check_config(config)
    runs = screen_runs(config)
    stale = [run for run in runs if run.halo == "method" and run.method != "exact"]
    assert {run.dataset for run in stale} >= {"cora", "citeseer"}  # Amazon Photo: regime-full.yaml
    assert {run.model for run in stale} == {"gcn", "sage"}
    assert len({run.workers for run in stale}) >= 4 and max(run.workers for run in stale) == 32
    assert len({run.sync_period for run in stale if run.sync_period is not None}) >= 3
    assert "regime" in report_outputs(config)[0] and "regime" in report_outputs(config)[1]


# -- the confirm stage, from the screen's table ----------------------------------------------------------------------


def _screen_table(costs: dict) -> pd.DataFrame:
    rows = [{"dataset": "tiny", "model": "gcn", "layers": 2, "dropout": 0.5, "workers": workers, "method": method,
             "sync_period": period, "staleness_cost_estimate": cost}
            for (workers, method, period), cost in costs.items()]
    return pd.DataFrame(rows)


def test_the_confirm_stage_reruns_the_largest_costs_above_the_threshold_with_every_alleviation_method():
    config = _config()
    table = _screen_table({(4, "digest", 8.0): 5.0, (4, "gas", math.nan): 2.0, (2, "digest", 8.0): 0.5})
    plan = plan_confirm(config, table)
    assert [(s["workers"], s["method"]) for s in plan["settings"]] == [(4, "digest")]
    assert [(s["workers"], s["method"]) for s in plan["deferred"]] == [(4, "gas")]  # passed, beyond the budget
    setting = plan["settings"][0]
    assert {"sat", "rest", "sat-plus", "staleness-weighted"} <= set(setting["methods"])
    assert "sat-layer1" in setting["not_applicable"]  # dropout 0.5: its exact first layer cannot run
    runs = confirm_runs(config, plan)
    assert all(run.study == "regime-confirm" and run.workers == 4 for run in runs)
    assert {run.seed for run in runs} == {0, 1, 2}
    methods = {(run.method, run.halo, run.sync_period) for run in runs}
    assert ("exact", "method", None) in methods and ("digest", "fresh", 8) in methods
    assert ("sat", "method", 8) in methods and ("digest", "method", 8) in methods
    assert plan_confirm(config, table.assign(staleness_cost_estimate=0.0))["settings"] == []
    # a budget on W: the largest cost within it is confirmed, the larger-W ones deferred
    capped = _config(confirm={"seeds": [0, 1], "max_settings": 1, "max_workers": 2})
    table = _screen_table({(4, "digest", 8.0): 5.0, (2, "digest", 8.0): 1.5, (2, "gas", math.nan): 1.2})
    plan = plan_confirm(capped, table)
    assert [(s["workers"], s["method"]) for s in plan["settings"]] == [(2, "digest")]
    assert [(s["workers"], s["method"]) for s in plan["deferred"]] == [(4, "digest"), (2, "gas")]


# -- the map, from records -------------------------------------------------------------------------------------------


def _runs(rows: list[tuple]) -> pd.DataFrame:
    """Runs frame rows: (study, method, halo, workers, sync_period, seed, score)."""
    frame = pd.DataFrame(rows, columns=["study", "method", "halo", "workers", "sync_period", "seed",
                                        "test_at_best_val"])
    return frame.assign(dataset="tiny", model="gcn", layers=2, dropout=0.5, epochs=40, base=None,
                        shares_base_control=False, halo_ratio_mean=0.5, label_skew_mean=0.3,
                        record=[f"r{i}" for i in range(len(frame))])


def _staleness(runs: pd.DataFrame) -> pd.DataFrame:
    stale = runs[(runs["halo"] == "method") & (runs["method"] != "exact")]
    return pd.DataFrame({"record": stale["record"], "study": stale["study"], "halo": stale["halo"],
                         "drift_rel_error": 0.2, "age_steps": 3.0})


def test_the_map_states_staleness_and_protocol_costs_paired_by_seed():
    rows = []
    for seed, (exact, control, digest) in enumerate([(0.80, 0.78, 0.70), (0.82, 0.79, 0.72), (0.81, 0.80, 0.70)]):
        rows += [(SCREEN_STUDY, "exact", "method", 1, math.nan, seed, exact),
                 (SCREEN_STUDY, "digest", "fresh", 4, 10.0, seed, control),
                 (SCREEN_STUDY, "digest", "method", 4, 10.0, seed, digest),
                 (SCREEN_STUDY, "digest", "method", 4, 50.0, seed, control)]  # τ = 50 costs nothing here
    runs = _runs(rows)
    table = regime_table(runs, _staleness(runs))
    row = table[table["sync_period"] == 10].iloc[0]
    assert row["staleness_cost_estimate"] == pytest.approx((8 + 7 + 10) / 3)
    assert row["protocol_cost_estimate"] == pytest.approx((2 + 3 + 1) / 3)
    assert row["n"] == 3 and row["stage"] == "screen" and row["syncs"] == 4
    assert row["staleness_cost_ci_low"] > 0 and bool(row["significant"])
    assert row["drift_x_halo"] == pytest.approx(0.2 * 0.5)
    assert table[table["sync_period"] == 50].iloc[0]["staleness_cost_estimate"] == pytest.approx(0)
    assert regime_figure(table) is not None


def test_a_confirmed_setting_is_reported_from_the_confirm_stage_with_the_screen_estimate_beside_it():
    rows = []
    for seed in range(2):
        rows += [(SCREEN_STUDY, "exact", "method", 1, math.nan, seed, 0.8),
                 (SCREEN_STUDY, "gas", "fresh", 4, math.nan, seed, 0.8),
                 (SCREEN_STUDY, "gas", "method", 4, math.nan, seed, 0.75 + 0.01 * seed)]
    for seed in range(4):
        rows += [(CONFIRM_STUDY, "exact", "method", 4, math.nan, seed, 0.8),
                 (CONFIRM_STUDY, "gas", "fresh", 4, math.nan, seed, 0.8),
                 (CONFIRM_STUDY, "gas", "method", 4, math.nan, seed, 0.78 - 0.001 * seed)]
    runs = _runs(rows)
    table = regime_table(runs, _staleness(runs))
    assert len(table) == 1
    row = table.iloc[0]
    assert row["stage"] == "confirm" and row["n"] == 4
    assert row["screen_staleness_cost_pts"] == pytest.approx(4.5)
    assert row["staleness_cost_estimate"] == pytest.approx(2.15)
    main, _, _ = confirm_frames(runs, runs.assign(epoch=1), _staleness(runs))
    assert set(main["study"]) == {"main", "control"}


def test_the_rule_ranks_what_explains_the_cost_best():
    rng = np.random.default_rng(0)
    drift = rng.uniform(0.05, 0.5, 12)
    halo = rng.uniform(0.1, 1.5, 12)
    table = pd.DataFrame({"drift_x_halo": drift * halo, "drift_rel_error_mean": drift, "halo_ratio_mean": halo,
                          "age_x_halo": halo * 3, "row_age_steps_mean": 3.0,
                          "staleness_cost_estimate": 20 * drift * halo + rng.normal(0, 0.05, 12)})
    ranked = predictor_table(table)
    assert ranked.iloc[0]["predictor"] == "drift_x_halo" and ranked.iloc[0]["r2"] > 0.95
    assert ranked.iloc[0]["test"] == "Spearman ρ"
    assert math.isnan(ranked.set_index("predictor").loc["row_age_steps_mean", "r2"])  # constant: explains nothing


# -- one fact the screen's design rests on ---------------------------------------------------------------------------


@pytest.mark.multiprocess
def test_digests_control_does_not_depend_on_its_sync_period(tmp_path):
    """With exact halo rows DIGEST trains the same whatever τ, so the screen runs one control per W for all its τ."""
    losses = []
    for period in (1, 7):
        out = tmp_path / f"control-{period}.json"
        launch(RunConfig(dataset=TINY_GRAPH, method="digest", workers=3, epochs=8, halo="fresh", dropout=0.5,
                         launcher="inprocess", method_options={"sync_period": period}, staleness_every=0,
                         progress=False, cache_dir=str(tmp_path / "cache")).validate(), out)
        losses.append([row["loss"] for row in load_record(out)["epochs"]])
    assert losses[0] == losses[1]
