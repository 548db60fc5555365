"""satbench.report.stats: each paired test against scipy or a hand computation; the claims, decomposition and
fidelity verdicts they give on small synthetic frames with known numbers."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from satbench import report
from satbench.report import claims, stats

# Eight seeds' noise, mean 0: scaled and added to per-seed values so that nothing is exactly constant.
NOISE = np.array([0.3, -0.2, 0.1, -0.4, 0.25, -0.05, 0.15, -0.15])
SEEDS = len(NOISE)


def series(values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float), index=range(len(values)))


@pytest.fixture(autouse=True)
def no_warnings():
    """No helper may leak a warning (scipy's division by zero or "catastrophic cancellation" on equal inputs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# -- the helpers --------------------------------------------------------------------------------------------------

def test_paired_difference_is_scipys_paired_t_with_its_interval():
    a, b = series([5.1, 4.8, 6.0, 5.5, 5.9]), series([4.0, 4.9, 5.0, 4.4, 5.2])
    result = stats.paired_difference(a, b)
    reference = scipy_stats.ttest_rel(a, b)
    d = a - b
    half = scipy_stats.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert (result.estimate, result.ci_low, result.ci_high) == pytest.approx((d.mean(), d.mean() - half,
                                                                             d.mean() + half))
    assert result.p_value == pytest.approx(reference.pvalue) and (result.n, result.test) == (5, "paired t")
    assert stats.paired_difference(a, b, "greater").p_value == pytest.approx(reference.pvalue / 2)
    assert stats.paired_difference(a, b, "less").p_value == pytest.approx(1 - reference.pvalue / 2)


def test_paired_difference_pairs_by_seed():
    a = pd.Series([1.0, 2.0, 3.0, 9.0], index=[0, 1, 2, 7])
    b = pd.Series([0.5, 1.0, np.nan, 2.0], index=[1, 0, 2, 5])  # seed 2 NaN, seeds 5 and 7 unpaired
    result = stats.paired_difference(a, b)
    assert result.n == 2 and result.estimate == pytest.approx(((1 - 1) + (2 - 0.5)) / 2)


def test_too_few_pairs_give_an_estimate_and_no_interval():
    one = stats.paired_difference(series([3.0]), series([1.0]))
    assert one.estimate == 2 and one.n == 1
    assert math.isnan(one.ci_low) and math.isnan(one.ci_high) and math.isnan(one.p_value)
    none = stats.paired_difference(series([]), series([]))
    assert none.n == 0 and math.isnan(none.estimate)
    assert math.isnan(stats.min_detectable_effect([1.0]))


def test_all_equal_differences_collapse_the_interval_without_warnings():
    a = series([0.78, 0.80, 0.79]) * 100  # × 100 leaves rounding noise of ~1e-14 in the differences
    b = series([0.76, 0.78, 0.77]) * 100
    result = stats.paired_difference(a, b)
    assert result.estimate == pytest.approx(2) and result.ci_low == result.ci_high == result.estimate
    assert result.p_value == 0
    assert stats.paired_difference(a, b, "less").p_value == 1  # the point lies on the other side
    same = stats.paired_difference(a, a)
    assert (same.estimate, same.ci_low, same.ci_high, same.p_value) == (0, 0, 0, 1)
    assert stats.min_detectable_effect(a - b) == 0
    assert stats.ratio(b * 1.25, b).p_value == 0 and stats.ratio(a, a).p_value == 1
    assert stats.ratio(b * 1.25, b, null=1.25).p_value == 1  # at the null, up to rounding
    assert stats.equivalence(a - b, 1.0).p_value == 1  # 2 points every seed: outside ±1
    assert stats.equivalence(a - b, 3.0).p_value == 0


def test_a_consistent_one_point_cost_over_ten_seeds_is_significant():
    """1.0 ± 0.6 points over 10 seeds: the old rule (mean > 2 × seed std) missed it; the paired t-test does not."""
    z = np.array([0.9, -1.3, 0.4, 1.6, -0.2, -0.8, 1.1, -1.5, 0.3, -0.5])
    z = (z - z.mean()) / z.std(ddof=1)
    cost = 1.0 + 0.6 * z
    assert not cost.mean() > 2 * cost.std(ddof=1)  # the old "above noise" rule
    result = stats.difference_test(cost, "greater")
    assert result.estimate == pytest.approx(1.0)
    assert result.p_value == pytest.approx(scipy_stats.t.sf(1.0 / (0.6 / math.sqrt(10)), 9)) and result.p_value < 0.001
    assert result.ci_low > 0
    assert stats.min_detectable_effect(cost) < 1.0


def test_equivalence_is_two_one_sided_tests():
    d = series([-0.4, 0.1, -0.6, -0.2, 0.3, -0.5])
    result = stats.equivalence(d, 1.0)
    lower = scipy_stats.ttest_1samp(d, -1.0, alternative="greater").pvalue
    upper = scipy_stats.ttest_1samp(d, 1.0, alternative="less").pvalue
    assert result.p_value == pytest.approx(max(lower, upper))
    assert (result.ci_low, result.ci_high) == pytest.approx(
        (stats.paired_difference(d, series([0.0] * 6)).ci_low, stats.paired_difference(d, series([0.0] * 6)).ci_high))
    assert result.test == "TOST, margin 1 pt"
    # p < 0.05 exactly when the 90 % interval lies inside the margin
    for margin in (0.5, 0.8, 1.0, 2.0):
        half = scipy_stats.t.ppf(0.95, 5) * d.std(ddof=1) / math.sqrt(6)
        inside = -margin < d.mean() - half and d.mean() + half < margin
        assert (stats.equivalence(d, margin).p_value < 0.05) == inside, margin


def test_ratio_is_a_paired_t_on_log_ratios():
    a, b = series([1.30, 1.18, 1.25, 1.22, 1.35]), series([1.0, 0.97, 1.02, 0.99, 1.05])
    result = stats.ratio(a, b)
    logs = np.log(a / b)
    reference = scipy_stats.ttest_1samp(logs, 0.0)
    half = scipy_stats.t.ppf(0.975, 4) * logs.std(ddof=1) / math.sqrt(5)
    assert result.estimate == pytest.approx(math.exp(logs.mean()))  # the geometric mean ratio
    assert (result.ci_low, result.ci_high) == pytest.approx((math.exp(logs.mean() - half),
                                                             math.exp(logs.mean() + half)))
    assert result.p_value == pytest.approx(reference.pvalue) and result.test == "paired t on log ratio"
    against = stats.ratio(a, b, null=1.25)
    assert against.p_value == pytest.approx(scipy_stats.ttest_1samp(logs, math.log(1.25)).pvalue)
    assert stats.ratio(series([1.0, 0.0, 2.0]), series([1.0, 1.0, 1.0])).n == 2  # a zero has no log: dropped


def test_holm_on_known_values():
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 → ×4, ×3, ×2, ×1 = 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06
    assert adjusted.tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    with_nan = stats.holm(pd.Series([0.5, np.nan, 0.6], index=["a", "b", "c"]))
    assert list(with_nan.index) == ["a", "b", "c"] and math.isnan(with_nan["b"])
    assert with_nan[["a", "c"]].tolist() == [1.0, 1.0]  # 0.5 × 2, capped at 1; monotone
    assert stats.holm([0.2]).tolist() == [0.2] and stats.holm([]).tolist() == []
    assert np.isnan(stats.holm([np.nan, np.nan])).all()


def test_min_detectable_effect_has_the_asked_power():
    d = series([1.2, -0.3, 0.8, 2.1, 0.4, -0.9, 1.5, 0.2])
    mde = stats.min_detectable_effect(d)
    n, sd = len(d), d.std(ddof=1)
    critical = scipy_stats.t.ppf(0.975, n - 1)
    nc = mde * math.sqrt(n) / sd
    power = scipy_stats.nct.sf(critical, n - 1, nc) + scipy_stats.nct.cdf(-critical, n - 1, nc)
    assert power == pytest.approx(0.8, abs=1e-6)
    approximation = (critical + scipy_stats.t.ppf(0.8, n - 1)) * sd / math.sqrt(n)
    assert mde == pytest.approx(approximation, rel=0.05)
    # The textbook case: 10 pairs of sd 1 detect a difference of about one sd at 80 % power.
    unit = series(np.linspace(-1, 1, 10))
    assert 0.95 < stats.min_detectable_effect(unit / unit.std(ddof=1)) < 1.0
    assert stats.min_detectable_effect(series([1.0, 3.0])) > stats.min_detectable_effect(d)


def test_censored_comparison_is_scipys_signed_rank_test_without_censoring():
    a = series([12.0, 15.0, 11.0, 18.0, 14.0, 16.0, 13.5])
    b = series([10.0, 15.5, 9.0, 14.0, 13.0, 12.2, 13.0])
    for alternative in ("two-sided", "greater", "less"):
        result = stats.censored_paired(a, b, alternative)
        assert result.p_value == pytest.approx(scipy_stats.wilcoxon(a, b, alternative=alternative,
                                                                    method="exact").pvalue)
    assert result.estimate == pytest.approx(np.median(a - b))
    assert result.test == "Wilcoxon signed-rank (censored as +inf)"


def test_a_run_that_never_reaches_the_target_is_kept_not_dropped():
    """The method reaches the target later than its base in 5 seeds and never in 3: kept as +inf, all 8 point the
    same way (p = 2/2⁸); dropped, 5 pairs cannot reach p < 0.05 (at best 2/2⁵)."""
    base = series([10, 12, 11, 13, 12, 14, 10, 11])
    method = series([14, np.nan, 15, np.inf, 16, np.nan, 13, 15])
    kept = stats.censored_paired(method, base)
    assert kept.n == 8 and kept.p_value == pytest.approx(2 / 2 ** 8)
    # differences 4, +inf, 4, +inf, 4, +inf, 3, 4: median 4; the sign-test interval (n = 8: the extremes) is open
    assert kept.estimate == 4 and (kept.ci_low, kept.ci_high) == (3, math.inf)
    late = stats.censored_paired(series([np.nan, np.nan, 5.0]), series([1.0, 2.0, 3.0]))
    assert late.estimate == math.inf  # the median pair is one that never reached
    reached = method.notna() & np.isfinite(method)
    dropped = stats.censored_paired(method[reached], base[reached])
    assert dropped.n == 5 and dropped.p_value == pytest.approx(2 / 2 ** 5) and dropped.p_value > 0.05


def test_censored_estimate_and_sign_test_interval():
    both_never = stats.censored_paired(series([np.nan, 5.0, 7.0]), series([np.nan, 6.0, 4.0]))
    assert both_never.estimate == 0  # differences 0 (both never), -1, 3
    d = np.array([-3.0, 1.0, 4.0, 2.0, 6.0, -1.0, 5.0, 3.0, 7.0, 0.5])
    result = stats.censored_paired(series(d), series(np.zeros(10)))
    ordered = np.sort(d)
    # n = 10: P(Binomial(10, ½) ≤ 1) = 0.011 ≤ 0.025 < P(≤ 2) = 0.055, so k = 2: the 2nd and 9th order statistics
    assert (result.ci_low, result.ci_high) == (ordered[1], ordered[8])
    assert result.estimate == pytest.approx(np.median(d))
    few = stats.censored_paired(series([1.0, 2.0, 3.0, 4.0, 5.0]), series(np.zeros(5)))
    assert math.isnan(few.ci_low) and math.isnan(few.ci_high)  # no 95 % sign-test interval below 6 pairs
    assert few.p_value == pytest.approx(2 / 2 ** 5)
    never = stats.censored_paired(series([np.nan] * 3), series([np.nan] * 3))
    assert (never.estimate, never.p_value) == (0, 1)


def test_fieller_interval_bounds_are_where_the_t_test_just_rejects():
    gain = series([6.0, 5.0, 5.5, 6.2, 4.8, 5.9])
    cost = series([8.0, 6.0, 7.0, 7.5, 6.5, 7.8])
    result = stats.ratio_of_means(gain, cost)
    assert result.estimate == pytest.approx(gain.mean() / cost.mean()) and result.test == "Fieller"
    for bound in (result.ci_low, result.ci_high):
        assert scipy_stats.ttest_1samp(gain - bound * cost, 0.0).pvalue == pytest.approx(0.05)
    assert result.ci_low < result.estimate < result.ci_high
    unbounded = stats.ratio_of_means(series([1.0, -1.0, 2.0]), series([0.5, -0.4, 0.1]))
    assert math.isnan(unbounded.ci_low) and math.isnan(unbounded.ci_high)


def test_comparison_as_columns():
    result = stats.Comparison(1.0, 0.5, 1.5, 0.01, 4, "paired t")
    assert result.columns("premise_") == {"premise_estimate": 1.0, "premise_ci_low": 0.5, "premise_ci_high": 1.5,
                                          "premise_p_value": 0.01, "premise_n": 4, "premise_test": "paired t"}
    assert result.significant() and not stats.Comparison(1, 0, 2, math.nan, 1, "").significant()


# -- the verdicts, on synthetic frames ----------------------------------------------------------------------------

FAMILY = {"exact": ("reference", None), "digest": ("historical", None), "sat": ("alleviation", "digest"),
          "staleness-weighted": ("alleviation", "digest")}


def scenario(**changes) -> dict:
    """Per (method, study): per-seed test score (%), epoch time (s), traffic (bytes), epochs to the control's target
    (NaN: never) and staleness error. The default: DIGEST loses 7 points to its control and is 6 epochs slower;
    SAT wins back 5 of them, reaches the target 3 epochs sooner, uses rows of a third of DIGEST's error and takes
    1.1× its time; all within a little seed noise."""
    values = {
        ("exact", "main"): dict(test=81 + NOISE, epochs=9 + 0 * NOISE),
        ("digest", "main"): dict(test=72 + 2 * NOISE, time=0.1 * (1 + 0.05 * NOISE), epochs=17 + 2 * NOISE,
                                 error=0.3 + 0.1 * NOISE),
        ("digest", "control"): dict(test=79 + 2 * np.roll(NOISE, 1), epochs=11 + np.roll(NOISE, 1)),
        ("sat", "main"): dict(test=77 + 2 * np.roll(NOISE, 2), time=0.11 * (1 + 0.05 * np.roll(NOISE, 3)),
                              epochs=14 + np.roll(NOISE, 2), error=0.1 + 0.05 * np.roll(NOISE, 4)),
    }
    for key, change in changes.items():
        method, study = key.split("__")
        values.setdefault((method, study), {}).update(change)
    return values


def frames_of(values: dict, launcher: str | None = None, drift: bool = False):
    """The runs, staleness and reach frames of a scenario: one setting (g, gcn, W = 4, τ = 10)."""
    runs, staleness, reach = [], [], []
    for (method, study), columns in values.items():
        family, base = FAMILY[method]
        for seed in range(SEEDS):
            record = f"{study}/{method}/seed{seed}"
            epochs = float(np.asarray(columns.get("epochs", [np.nan] * SEEDS), dtype=float)[seed])
            runs.append({"record": record, "study": study, "method": method, "family": family, "base": base,
                         "shares_base_control": base is not None, "dataset": "g", "model": "gcn", "workers": 4,
                         "seed": seed, "sync_period": 10.0, "test_at_best_val": columns["test"][seed] / 100,
                         "mean_epoch_time_s": np.asarray(columns.get("time", [0.1] * SEEDS))[seed],
                         "mean_comm_bytes": columns.get("bytes", 1e6),
                         **({"launcher": launcher} if launcher else {})})
            reach.append({"record": record, "epochs_to_target": epochs, "time_to_target_s": 0.1 * epochs,
                          "control_target": 0.85, "epochs_to_control_target": epochs,
                          "time_to_control_target_s": 0.1 * epochs})
            if "error" in columns:
                for measurement in (0.9, 1.1):  # two measurements per run, averaged per seed
                    error = columns["error"][seed] * measurement
                    staleness.append({"study": study, "dataset": "g", "model": "gcn", "workers": 4,
                                      "sync_period": 10.0, "method": method, "seed": seed, "rel_error": error,
                                      "replaced_rel_error": 0.4 if method == "sat" else np.nan,
                                      **({"drift_rel_error": error / 2} if drift else {})})
    staleness = pd.DataFrame(staleness, columns=["study", "dataset", "model", "workers", "sync_period", "method",
                                                 "seed", "rel_error", "replaced_rel_error"]
                             + (["drift_rel_error"] if drift else []))
    return pd.DataFrame(runs), staleness, pd.DataFrame(reach)


def claims_of(values: dict, **kwargs) -> dict[str, pd.Series]:
    table = report.claims_table(*frames_of(values, **kwargs))
    assert set(table["verdict"]) <= set(claims.VERDICTS)
    return {row["claim"]: row for _, row in table.iterrows()}


def test_every_claim_holds_in_the_default_scenario():
    rows = claims_of(scenario())
    assert {claim: row["verdict"] for claim, row in rows.items()} == {
        "C1": "holds", "C2": "holds", "C3": "holds", "C4": "holds"}
    assert rows["C1"]["ci_high"] < 1 and rows["C1"]["measure"].startswith("rel_error")
    assert rows["C2"]["ci_low"] > 0 and rows["C2"]["premise_p"] < 0.05
    assert rows["C3"]["estimate"] < 0 and rows["C3"]["premise_p"] < 0.05 and rows["C3"]["n"] == SEEDS
    assert rows["C4"]["estimate"] == pytest.approx(1.1, abs=0.01) and rows["C4"]["ci_high"] <= 1.25
    for row in rows.values():
        assert row["p_value"] < 0.05 and row["p_value"] >= row["p_raw"]


def test_c1_verdicts():
    assert claims_of(scenario(sat__main=dict(error=0.5 + 0.05 * NOISE)))["C1"]["verdict"] == "fails"
    same = claims_of(scenario(sat__main=dict(error=0.3 + 0.1 * np.roll(NOISE, 3))))["C1"]
    assert same["verdict"] == "inconclusive" and same["ci_low"] < 1 < same["ci_high"]
    values = scenario()
    del values[("sat", "main")]["error"]  # no staleness measured
    assert claims_of(values)["C1"]["verdict"] == "not testable"
    weighted = scenario()
    weighted[("staleness-weighted", "main")] = weighted.pop(("sat", "main"))
    row = claims_of(weighted)["C1"]
    assert row["verdict"] == "not applicable" and math.isnan(row["p_raw"])
    assert "leaves its base's rows as they are" in row["measure"]
    drift = claims_of(scenario(), drift=True)["C1"]
    assert drift["measure"].startswith("drift_rel_error") and drift["verdict"] == "holds"
    # rows exact at every measurement (REST refreshing before every step): a ratio of 0 holds without a test,
    # where a log ratio would have no seed to test (not testable)
    exact = claims_of(scenario(sat__main=dict(error=0.0 * NOISE)))["C1"]
    assert (exact["verdict"], exact["estimate"], exact["ci_high"]) == ("holds", 0.0, 0.0)
    assert math.isnan(exact["p_raw"]) and exact["n"] > 0


def test_c2_verdicts():
    # no premise: the control is no better than DIGEST
    row = claims_of(scenario(digest__control=dict(test=72 + 2 * np.roll(NOISE, 1))))["C2"]
    assert row["verdict"] == "not testable" and math.isnan(row["p_raw"])
    assert row["premise_p"] > 0.05 and row["premise_ci_low"] < row["premise_estimate"] < row["premise_ci_high"]
    assert claims_of(scenario(sat__main=dict(test=69 + NOISE)))["C2"]["verdict"] == "fails"
    assert claims_of(scenario(sat__main=dict(test=72 + 3 * np.roll(NOISE, 5))))["C2"]["verdict"] == "inconclusive"
    # a gain beyond the fresh-halo control: not staleness alleviation
    beyond = claims_of(scenario(sat__main=dict(test=85 + NOISE)))["C2"]
    assert beyond["verdict"] == "inconclusive" and "beats the base's control" in beyond["measure"]
    assert beyond["ci_low"] > 0 and beyond["beyond_control_pts"] > 4


def test_c3_keeps_censored_seeds():
    """SAT slower than DIGEST in 5 seeds and never reaching in 3: fails; judged on the 5 that reached it alone, the
    same data would be inconclusive."""
    never = 20 + NOISE
    never[[1, 3, 5]] = np.nan
    row = claims_of(scenario(sat__main=dict(epochs=never)))["C3"]
    assert row["verdict"] == "fails" and row["n"] == SEEDS and row["method_reached"] == 5
    assert row["estimate"] > 0 and row["p_raw"] == pytest.approx(2 / 2 ** SEEDS)
    reached = ~np.isnan(never)
    dropped = stats.censored_paired(series(never[reached]), series((17 + 2 * NOISE)[reached]))
    assert dropped.p_value > 0.05
    # no premise: DIGEST is no slower than its control
    flat = claims_of(scenario(digest__main=dict(epochs=11 + np.roll(NOISE, 3))))["C3"]
    assert flat["verdict"] == "not testable" and flat["premise_p"] > 0.05


def test_c4_verdicts_and_never_a_speed_up():
    assert claims_of(scenario(sat__main=dict(time=0.15 * (1 + 0.05 * NOISE))))["C4"]["verdict"] == "fails"
    traffic = claims_of(scenario(sat__main=dict(bytes=1.1e6)))["C4"]
    assert traffic["verdict"] == "fails" and traffic["traffic_ratio"] == pytest.approx(1.1)
    edge = claims_of(scenario(sat__main=dict(time=0.125 * (1 + 0.2 * NOISE))))["C4"]
    assert edge["verdict"] == "inconclusive" and edge["ci_low"] < 1.25 < edge["ci_high"]
    faster = claims_of(scenario(sat__main=dict(time=0.09 * (1 + 0.05 * NOISE))))["C4"]
    assert faster["estimate"] < 1 and faster["verdict"] == "holds"  # not more than 1.25×: the claim holds ...
    assert "timing noise" in faster["measure"] and "cannot be faster" in faster["measure"]  # ... but no speed-up
    assert "speed-up" not in faster["measure"] and "speedup" not in faster["measure"]
    threads = claims_of(scenario(), launcher="inprocess")["C4"]
    assert threads["verdict"] == "not testable" and threads["timing_launcher"] == "inprocess"
    assert claims_of(scenario(), launcher="spawn")["C4"]["timing_launcher"] == "spawn"


def with_timing_study(runs: pd.DataFrame, times: dict[str, np.ndarray], launcher: str = "spawn") -> pd.DataFrame:
    """``runs`` with a timing study of the scenario's setting: per method, one run per repetition (its seed)."""
    rows = []
    for method, values in times.items():
        family, base = FAMILY[method]
        rows += [{"record": f"timing/{method}/rep{rep}", "study": "timing", "method": method, "family": family,
                  "base": base, "shares_base_control": base is not None, "dataset": "g", "model": "gcn",
                  "workers": 4, "seed": rep, "sync_period": 10.0, "test_at_best_val": np.nan,
                  "mean_epoch_time_s": value, "mean_comm_bytes": 1e6, "launcher": launcher}
                 for rep, value in enumerate(values)]
    return pd.concat([runs, pd.DataFrame(rows)], ignore_index=True)


def test_c4_takes_its_times_from_the_timing_study_where_it_timed_the_setting():
    runs, staleness, reach = frames_of(scenario(), launcher="inprocess")
    threads = report.claims_table(runs, staleness, reach).set_index("claim").loc["C4"]
    assert threads["verdict"] == "not testable" and threads["timing_study"] == "main"
    reps = 1 + 0.02 * NOISE[:5]  # 5 repetitions, method and base each timed in turn
    timed = with_timing_study(runs, {"digest": 0.1 * reps, "sat": 0.16 * np.roll(reps, 1)})
    row = report.claims_table(timed, staleness, reach).set_index("claim").loc["C4"]
    assert row["timing_study"] == "timing" and row["timing_launcher"] == "spawn" and row["n"] == 5
    assert row["estimate"] == pytest.approx(1.6, rel=0.05) and row["verdict"] == "fails"  # the timing study's 1.6×
    assert "timing study" in row["measure"] and "per-repetition" in row["measure"]
    # the other claims still read the main runs
    assert report.claims_table(timed, staleness, reach).set_index("claim").loc["C2", "n"] == SEEDS
    # a timing study that timed the method but not its base: no base run to compare with
    lone = report.claims_table(with_timing_study(runs, {"sat": 0.16 * reps}), staleness, reach)
    assert lone.set_index("claim").loc["C4", "verdict"] == "not testable"
    # the throughput table reads the same times, and says where they come from
    timed, runs = (frame.assign(peak_memory_bytes=2.0**30) for frame in (timed, runs))
    table = report.throughput_table(timed).set_index("method")
    assert set(table["study"]) == {"timing"} and set(table["launcher"]) == {"spawn"}
    assert table.loc["sat", "epoch_time_s_mean"] == pytest.approx(0.16 * reps.mean()) and table.loc["sat", "n"] == 5
    assert "exact" not in table.index  # not timed: the timing study's methods only, where it timed the setting
    main = report.throughput_table(runs).set_index("method")
    assert set(main["study"]) == {"main"} and set(main["launcher"]) == {"inprocess"}


def test_holm_across_the_table_can_turn_a_verdict_inconclusive():
    """C2's gain alone has p ≈ 0.03 (its interval above 0), but it is one of three tests in the table (C1 and C4
    inconclusive, C3 without premise): Holm multiplies the smallest p by 3."""
    gain = 1 + NOISE / NOISE.std(ddof=1) * 1.06  # t ≈ 2.67 on 7 degrees of freedom
    rows = claims_of(scenario(sat__main=dict(test=72 + 2 * NOISE + gain, error=0.3 + 0.1 * np.roll(NOISE, 3),
                                             time=0.125 * (1 + 0.2 * NOISE), epochs=17 + 2 * NOISE),
                              digest__main=dict(epochs=11 + 0 * NOISE)))
    c2 = rows["C2"]
    assert c2["ci_low"] > 0 and 0.01 < c2["p_raw"] < 0.05
    assert c2["p_value"] == pytest.approx(3 * c2["p_raw"]) and c2["verdict"] == "inconclusive"
    assert rows["C3"]["verdict"] == "not testable" and math.isnan(rows["C3"]["p_raw"])


def test_the_claims_table_shows_intervals_and_adjusted_p():
    table = report.claims_table(*frames_of(scenario()))
    markdown = report.table_to_markdown(table)
    assert "95% CI" in markdown and "premise 95% CI" in markdown
    assert "p (Holm)" in markdown and "p (raw)" in markdown and re.search(r"\[0\.\d+, 0\.\d+\]", markdown)


def test_the_decomposition_tests_each_cost():
    z = np.array([0.9, -1.3, 0.4, 1.6, -0.2, -0.8, 1.1, -1.5, 0.3, -0.5])
    z = (z - z.mean()) / z.std(ddof=1)
    control = 80 + np.linspace(-1, 1, 10)
    runs = []
    for method, study, scores in (("exact", "main", control + 0.3 * z[::-1]), ("digest", "control", control),
                                  ("digest", "main", control - (1.0 + 0.6 * z))):
        family, base = FAMILY[method]
        runs += [{"record": f"{study}/{method}/{seed}", "study": study, "method": method, "family": family,
                  "base": base, "shares_base_control": False, "dataset": "g", "model": "gcn", "workers": 4,
                  "seed": seed, "sync_period": np.nan if method == "exact" else 10.0,
                  "test_at_best_val": score / 100} for seed, score in enumerate(scores)]
    table = claims.decomposition_frame(pd.DataFrame(runs), pd.DataFrame())
    row = table[table["method"] == "digest"].iloc[0]
    assert row["staleness_cost_pts_mean"] == pytest.approx(1.0) and row["staleness_cost_pts_std"] == pytest.approx(0.6)
    assert row["staleness_cost_p"] == pytest.approx(scipy_stats.t.sf(1.0 / (0.6 / math.sqrt(10)), 9))
    assert row["staleness_cost_p_holm"] == pytest.approx(2 * row["staleness_cost_p"])  # two costs tested
    assert row["staleness_cost_significant"] and not row["protocol_cost_significant"]  # the protocol: 0 ± 0.3
    assert row["staleness_cost_ci_low"] > 0 and row["staleness_cost_mde_pts"] < 1.0 and row["n"] == 10
    assert row["test"] == claims.COST_TEST
    assert math.isnan(row["recovered_share"])  # a historical method recovers nothing


def test_fidelity_verdicts_are_adjusted_over_the_table():
    runs = []
    gaps = {"gas": -0.2 + 0.1 * NOISE, "pipegcn": -3 + 0.5 * NOISE, "digest": -0.5 + 3 * NOISE}
    for method, scores in (("exact", 81 + NOISE), *((m, 81 + NOISE + g) for m, g in gaps.items())):
        family, base = FAMILY.get(method, ("historical", None))
        runs += [{"record": f"main/{method}/{seed}", "study": "main", "method": method, "family": family,
                  "base": base, "shares_base_control": False, "dataset": "g", "model": "gcn", "workers": 4,
                  "seed": seed, "sync_period": np.nan, "test_at_best_val": score / 100}
                 for seed, score in enumerate(scores)]
    table = claims.fidelity_frame(pd.DataFrame(runs), pd.DataFrame()).set_index("method")
    assert table.loc["gas", "verdict"] == "holds" and table.loc["gas", "p_value"] < 0.05
    assert table.loc["pipegcn", "verdict"] == "fails" and table.loc["pipegcn", "cost_on"] == "no control"
    assert table.loc["digest", "verdict"] == "inconclusive"
    assert table["p_value"].tolist() == pytest.approx(stats.holm(table["p_raw"]).tolist())
    assert set(table["verdict"]) <= set(claims.FIDELITY_VERDICTS)


def test_rules_name_their_tests():
    for claim, rule in claims.RULES.items():
        assert "0.05" in rule and "Holm" in rule and ("95 % interval" in rule or claim == "C3"), claim
    assert "Wilcoxon" in claims.RULES["C3"] and "+inf" in claims.RULES["C3"]
    assert "log ratio" in claims.RULES["C1"] and "log ratio" in claims.RULES["C4"]
    assert "TOST" in claims.FIDELITY_RULE and "±1" in claims.FIDELITY_RULE and "Holm" in claims.FIDELITY_RULE
    assert "not applicable" in claims.VERDICTS and "within noise" not in claims.FIDELITY_VERDICTS
