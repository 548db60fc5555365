"""Controls before conclusions: what staleness costs, what the protocol costs, whether each historical method keeps
its paper's accuracy claim, and a verdict on each alleviation method's claims. Every comparison stated is a paired
statistical test over seeds (:mod:`.stats`, scipy.stats), at α = 0.05, with a 95 % interval beside its estimate.

A stale method's gap to ``exact`` has two causes: the stale halo rows, and the protocol around them (DIGEST and SAT:
local steps and model averaging; GAS: no halo gradient). The fresh-halo control (``satbench run --halo fresh``) runs
the method's whole protocol with exact halo rows, so, per (dataset, model, W, method, τ) and paired by seed:

* protocol cost = exact − control (what the protocol alone costs);
* staleness cost = control − method (what the stale rows cost on top of it);
* an alleviation method's recovered share = mean(method − base) / mean(control − base): the part of its base's
  staleness cost it wins back (1: all of it, 0: none, < 0: it made things worse), with ``control`` the base's
  control; reported only where that cost is a significant loss (the premise of C2), with Fieller's interval.

Each cost is tested by a one-sided paired t-test (H1: the cost is a loss, > 0); a cost is *significant* when its
Holm-adjusted p (the family: every cost the decomposition table tests) is below α and its estimate positive. The same
decomposition is given, descriptively, in epochs and seconds to the target validation score.

Fidelity: each historical method's gap to ``exact`` at the same settings, against the accuracy claim its paper makes
(:data:`PAPER_CLAIMS`, the one place those claims are quoted), judged by :data:`FIDELITY_RULE` (an equivalence test).

Claims: SAT's paper (Bai et al. 2023) claims that alleviating staleness reduces it (C1), improves accuracy (C2) and
convergence (C3), at a small overhead (C4). Every alleviation method (SAT's variants and any method that corrects a
base's stale rows) is held to the same four claims against its base, by the rules in :data:`RULES` (quoted in the
README), computed from the records: exactly one of :data:`VERDICTS`.

Multiplicity: a table's p-values form one family, adjusted by Holm's method (``p_value``; the unadjusted one is
``p_raw``). Intervals are per-row 95 % intervals, not adjusted; a verdict of ``holds`` or ``fails`` that rests on a
test needs both its interval rule and an adjusted p below α.

Timings (C4) come from the timing study where it timed the setting (``study`` ``timing``: worker processes, the
method and its base trained in turn in one job, paired by repetition), else from the main runs (paired by seed),
which the in-process launcher leaves untestable (:func:`timed_runs`).

Inputs are the report's frames (``satbench.report``): one row per run with ``study`` ``main``, ``control`` or
``timing``, and per run the epochs and seconds to target; nothing here reads files.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .families import ALLEVIATION, HISTORICAL
from .keys import period_key, period_of_key
from .stats import (
    ALPHA,
    Comparison,
    EXACT_ROWS,
    censored_paired,
    equivalence,
    error_ratio,
    holm,
    min_detectable_effect,
    paired_difference,
    ratio,
    ratio_of_means,
)

# The published-figures comparison (satbench.report.published) calls a published value within the seeds' spread
# when it is within this many seed std of the runs' mean; no claim or verdict here uses it.
NOISE_FACTOR = 2.0
OVERHEAD_TIME = 1.25  # C4: the method's epoch time at most this × its base's
OVERHEAD_BYTES = 1.05  # C4: the method's traffic at most this × its base's
PARITY_MARGIN = 1.0  # fidelity: parity with exact means a gap within ±this many test points
# Methods that leave their base's rows as they are and only weight the messages those rows send (the
# staleness-weighted pair, baselines/staleness_weighted.py): no registry attribute says so, hence this explicit set.
# They make no claim to reduce the rows' staleness, so C1 is not applicable to them.
ROWS_UNCHANGED = frozenset({"staleness-weighted", "staleness-weighted+gas"})
# Launchers whose timings do not represent a deployment (the workers as threads of one process).
THREAD_LAUNCHERS = frozenset({"inprocess"})
COST_TEST = "paired t, one-sided (cost > 0)"

_HOLM = (f"Holm-adjusted p (the family: every row of the claims table with a p) < {ALPHA:g}")
RULES = {
    "C1": "per seed, the mean relative error of the halo rows the method used (mean over its measurements; "
          "drift_rel_error where the records have it, else rel_error; measure says which) against its base's in "
          "the base's own run, compared as a ratio by a paired t-test on the log ratio over seeds: holds if the "
          f"ratio's 95 % interval lies below 1 and the {_HOLM}; fails if it lies above 1 and the adjusted p < "
          f"{ALPHA:g}; else inconclusive; holds without a test where the method's rows were exact at every "
          "measurement of every seed (a ratio of 0); not applicable to a method that leaves its base's rows as they "
          "are (it only weights their messages); not testable without staleness measurements of both",
    "C2": "premise: staleness costs the base accuracy, i.e. the base's fresh-halo control beats it (control − "
          f"base in test points, one-sided paired t over seeds, p < {ALPHA:g} and a positive mean); without it, "
          "not testable (the premise's estimate, interval and p are in the premise columns). Then method − base "
          f"(paired t, two-sided): holds if the 95 % interval lies above 0 and the {_HOLM}; fails if it lies below 0 "
          f"and the adjusted p < {ALPHA:g}; else inconclusive. A method whose 95 % interval over the base's control "
          "lies above 0 beats even fresh halo rows: that gain is not staleness alleviation, so such a row is "
          "inconclusive at best (measure says so)",
    "C3": "target: 95 % of the best validation score of the base's fresh-halo control at the setting; epochs to "
          "it per seed, a seed that never reaches it kept as +inf (censored). Premise: the base is slower than its "
          "control (Wilcoxon signed-rank on base − control over seeds, one-sided, never-reached ranked above every "
          f"reached time, exact p < {ALPHA:g}, positive median difference); without it, not testable. Then method − "
          f"base (the same test, two-sided): holds if the {_HOLM} and the median difference is negative (it reaches "
          f"the target sooner); fails if the adjusted p < {ALPHA:g} and it is positive; else inconclusive",
    "C4": f"per repetition of the timing study where it timed the setting (worker processes; the method and its "
          "base trained in turn, repetition after repetition, in one job), else per seed of the main runs, the "
          f"method's mean epoch time over its base's, a paired t-test on the log ratio against "
          f"{OVERHEAD_TIME:g}: holds if the ratio's 95 % interval lies at or below {OVERHEAD_TIME:g}, its traffic "
          f"(mean bytes per epoch, the same every seed) is at most {OVERHEAD_BYTES:g}× its base's, and the {_HOLM}; "
          f"fails if its traffic exceeds {OVERHEAD_BYTES:g}× its base's, or if the interval lies above "
          f"{OVERHEAD_TIME:g} and the adjusted p < {ALPHA:g}; else inconclusive. A ratio below 1 is timing noise "
          "(the method does its base's work and more), never a speed-up. Not testable without a base run, or where "
          "the timings come from the in-process launcher (workers as threads: no deployment's timing)",
}
VERDICTS = ("holds", "fails", "inconclusive", "not testable", "not applicable")  # "not applicable": C1 only

# What each historical method's paper says of its accuracy against training without staleness, and where.
PAPER_CLAIMS = {
    "gas": ("closely resembles the performance of their non-scaling counterparts",
            "Fey et al., GNNAutoScale, ICML 2021 (arXiv:2106.05609), abstract"),
    "pipegcn": ("achieving the same accuracy as its vanilla counterpart and existing full-graph training methods",
                "Wan et al., PipeGCN, ICLR 2022, abstract"),
    "pipegcn-gf": ("achieving the same accuracy as its vanilla counterpart and existing full-graph training methods",
                   "Wan et al., PipeGCN, ICLR 2022, abstract (PipeGCN-GF: its smoothed variant)"),
    "digest": ("achieves up to 21.82 speedups without compromising performance compared to state-of-the-art "
               "distributed GNN training frameworks", "Chai et al., DIGEST, arXiv:2206.00057, abstract"),
    "sancus": ("faster throughput on average without accuracy loss",
               "Peng et al., SANCUS, VLDB 2022 (IJCAI 2023 extended abstract), abstract"),
    "graphfm": ("GraphFM-OB achieves promising performance on multiple large-scale graph datasets (no explicit "
                "parity claim; held to parity with exact here)", "Yu et al., GraphFM, ICML 2022, abstract"),
}
FIDELITY_VERDICTS = ("holds", "fails", "inconclusive", "not testable")
FIDELITY_RULE = (f"gap = method − exact in test points at the best validation epoch, paired by seed; parity is an "
                 f"equivalence test with margin ±{PARITY_MARGIN:g} point (two one-sided t-tests, TOST): holds if "
                 f"the TOST p, Holm-adjusted over the table's rows, is below {ALPHA:g} (the 90 % interval lies "
                 f"within ±{PARITY_MARGIN:g}); fails if the 95 % interval lies entirely below −{PARITY_MARGIN:g} (a "
                 f"loss beyond the margin); else inconclusive (a gain beyond the margin included: no loss, but no "
                 "parity shown); not testable with fewer than 2 paired seeds")

SETTING = ["dataset", "model", "workers", "tau_key"]


def _per_seed(frame: pd.DataFrame, column: str) -> pd.Series:
    """Mean of ``column`` per seed (one run per seed in a grid; the mean guards against duplicates)."""
    return frame.groupby("seed")[column].mean()


def _paired(first: pd.Series, second: pd.Series) -> pd.Series:
    """first − second over the seeds both have (NaN where either is)."""
    seeds = first.index.intersection(second.index)
    return first[seeds] - second[seeds]


def _std(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.std(ddof=1)) if len(values) >= 2 else math.nan


def _mean(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.mean()) if len(values) else math.nan


def _with_reach(runs: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    runs = runs.assign(tau_key=period_key(runs["sync_period"]), score=runs["test_at_best_val"] * 100)
    columns = ["epochs_to_target", "time_to_target_s", "control_target", "epochs_to_control_target",
               "time_to_control_target_s"]
    if reach.empty:
        return runs.assign(**{column: math.nan for column in columns})
    present = [column for column in columns if column in reach.columns]
    merged = runs.merge(reach[["record", *present]], on="record", how="left")
    return merged.assign(**{column: math.nan for column in columns if column not in present})


def _reach_mean(frame: pd.DataFrame, column: str) -> float:
    """Mean epochs (or seconds) to target over the seeds that reached it; inf when none did, NaN without runs."""
    if frame.empty:
        return math.nan
    reached = frame[column].dropna()
    return float(reached.mean()) if len(reached) else math.inf


def _exact_runs(main: pd.DataFrame, dataset, model, workers) -> pd.DataFrame:
    """exact's runs at the setting; at any W where it has none there (exact equals full-graph training for any W)."""
    exact = main[(main["method"] == "exact") & (main["dataset"] == dataset) & (main["model"] == model)]
    return exact[exact["workers"] == workers] if (exact["workers"] == workers).any() else exact


def _premise(comparison: Comparison) -> bool:
    """A one-sided premise test passed: p < α and the estimate on the premise's side (> 0)."""
    return bool(comparison.p_value < ALPHA and comparison.estimate > 0)


def _premise_columns(comparison: Comparison) -> dict[str, float]:
    """A premise's test as the claims table's premise columns (its p unadjusted: a premise gates, it is no claim)."""
    return {"premise_estimate": comparison.estimate, "premise_ci_low": comparison.ci_low,
            "premise_ci_high": comparison.ci_high, "premise_p": comparison.p_value}


# -- decomposition --------------------------------------------------------------------------------------------------

DECOMPOSITION_TESTS = ("protocol_cost", "staleness_cost")


def decomposition_frame(runs: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, model, W, method, τ) of the main study: exact, control and method scores; protocol and
    staleness costs in test points, each with its mean and seed std (``X_pts_mean``, ``X_pts_std``), 95 % interval
    (``X_ci_low``, ``X_ci_high``), one-sided paired-t p (``X_p``), Holm-adjusted p (``X_p_holm``, the family: every
    cost of the table) and significance (``X_significant``: adjusted p < α and a positive estimate); the staleness
    cost's minimum detectable effect (``staleness_cost_mde_pts``: two-sided paired t, α = 0.05, 80 % power, its n
    and seed std); ``n`` (seeds paired for the staleness cost) and ``test``; the costs in epochs and seconds to
    target (descriptive: means over the seeds that reached it); an alleviation method's recovered share with its
    Fieller interval where the base's staleness cost is a significant loss (the premise of C2); and ``estimate``,
    ``ci_low``, ``ci_high``, ``p_value`` (Holm-adjusted): the staleness cost's, under the names of every verdict
    table."""
    runs = _with_reach(runs, reach)
    main, control = runs[runs["study"] == "main"], runs[runs["study"] == "control"]
    if main.empty or control.empty:
        return pd.DataFrame()
    rows = []
    for (dataset, model, workers, tau_key, method), group in main.groupby(SETTING + ["method"], sort=False):
        if method == "exact":
            continue
        exact = _exact_runs(main, dataset, model, workers)
        own_control = _control_of(runs, group.iloc[0], dataset, model, workers, tau_key)
        method_scores, control_scores = _per_seed(group, "score"), _per_seed(own_control, "score")
        exact_scores = _per_seed(exact, "score")
        protocol, staleness = _paired(exact_scores, control_scores), _paired(control_scores, method_scores)
        protocol_test = paired_difference(exact_scores, control_scores, "greater")
        staleness_test = paired_difference(control_scores, method_scores, "greater")
        control_name = own_control["method"].iloc[0] if not own_control.empty else method
        row = {
            "dataset": dataset, "model": model, "workers": workers,
            "sync_period": period_of_key(tau_key), "method": method,
            # the same comparison (exact against one control) is one test, however many methods share the control
            "_tests": {"protocol_cost": (dataset, model, workers, tau_key, "protocol", control_name),
                       "staleness_cost": (dataset, model, workers, tau_key, "staleness", method)},
            "family": group["family"].iloc[0], "base": group["base"].iloc[0], "n": staleness_test.n,
            "exact_pct_mean": _mean(exact_scores), "exact_pct_std": _std(exact_scores),
            "control_pct_mean": _mean(control_scores), "control_pct_std": _std(control_scores),
            "method_pct_mean": _mean(method_scores), "method_pct_std": _std(method_scores),
        }
        for name, differences, test in (("protocol_cost", protocol, protocol_test),
                                        ("staleness_cost", staleness, staleness_test)):
            row.update({f"{name}_pts_mean": test.estimate, f"{name}_pts_std": _std(differences),
                        f"{name}_ci_low": test.ci_low, f"{name}_ci_high": test.ci_high, f"{name}_p": test.p_value,
                        f"{name}_p_holm": math.nan, f"{name}_significant": False})
        row["staleness_cost_mde_pts"] = min_detectable_effect(staleness.dropna())
        row["test"] = COST_TEST
        for unit, column in (("epochs", "epochs_to_target"), ("s", "time_to_target_s")):
            exact_reach, control_reach = _reach_mean(exact, column), _reach_mean(own_control, column)
            method_reach = _reach_mean(group, column)
            row[f"exact_to_target_{unit}"] = exact_reach
            row[f"control_to_target_{unit}"] = control_reach
            row[f"method_to_target_{unit}"] = method_reach
            row[f"protocol_cost_{unit}"] = _difference(control_reach, exact_reach)
            row[f"staleness_cost_{unit}"] = _difference(method_reach, control_reach)
        row.update(_recovered_share(runs, group, dataset, model, workers, tau_key))
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    # The family: every distinct cost of the table (a protocol cost shared by the methods on one control counts once).
    tests: dict[tuple, float] = {}
    for name in DECOMPOSITION_TESTS:
        for key, p_value in zip(table["_tests"].map(lambda keys: keys[name]), table[f"{name}_p"]):
            tests.setdefault(key, p_value)
    adjusted = dict(zip(tests, holm(list(tests.values()))))
    for name in DECOMPOSITION_TESTS:
        column = table["_tests"].map(lambda keys: adjusted[keys[name]]).astype(float)
        table[f"{name}_p_holm"] = column
        table[f"{name}_significant"] = (column < ALPHA) & (table[f"{name}_pts_mean"] > 0)
    # The row's headline comparison under the names every verdict table uses: the staleness cost (what an
    # alleviation method could win back), with its Holm-adjusted p; the protocol cost keeps its prefixed columns.
    table = table.assign(estimate=table["staleness_cost_pts_mean"], ci_low=table["staleness_cost_ci_low"],
                         ci_high=table["staleness_cost_ci_high"], p_value=table["staleness_cost_p_holm"])
    return table.drop(columns="_tests")


def _difference(later: float, earlier: float) -> float:
    """later − earlier for times to target; NaN where either never reached (inf) or is missing."""
    if math.isinf(later) or math.isinf(earlier):
        return math.nan
    return later - earlier


def _runs_of(runs: pd.DataFrame, study: str, method: str, dataset, model, workers, tau_key) -> pd.DataFrame:
    return runs[(runs["study"] == study) & (runs["method"] == method) & (runs["dataset"] == dataset)
                & (runs["model"] == model) & (runs["workers"] == workers) & (runs["tau_key"] == tau_key)]


def _control_of(runs: pd.DataFrame, run: pd.Series, dataset, model, workers, tau_key) -> pd.DataFrame:
    """A method's control runs; for a method without its own whose control is its base's (``shares_base_control``:
    with every halo row replaced, it trains the GNN as its base does, e.g. SAT, whose predictor never touches the
    GNN; the workflow then runs only the base's), its base's."""
    control = _runs_of(runs, "control", run["method"], dataset, model, workers, tau_key)
    if control.empty and run["shares_base_control"] and isinstance(run["base"], str):
        control = _runs_of(runs, "control", run["base"], dataset, model, workers, tau_key)
    return control


def _base_control(runs: pd.DataFrame, run: pd.Series, dataset, model, workers, tau_key) -> pd.DataFrame:
    """The fresh-halo control of an alleviation method's base: the base's own, else the method's where it shares
    its base's control (the same GNN training)."""
    control = _runs_of(runs, "control", run["base"], dataset, model, workers, tau_key)
    if control.empty and run["shares_base_control"]:
        control = _runs_of(runs, "control", run["method"], dataset, model, workers, tau_key)
    return control


SHARE_COLUMNS = ("recovered_share", "recovered_share_ci_low", "recovered_share_ci_high")


def _recovered_share(runs, group, dataset, model, workers, tau_key) -> dict[str, float]:
    """mean(method − base) / mean(control − base) over the seeds all three have, with Fieller's 95 % interval
    (:func:`.stats.ratio_of_means`; NaN bounds where it is unbounded); NaN unless the base's staleness cost is a
    significant loss (one-sided paired t, p < α: the premise of C2)."""
    run = group.iloc[0]
    empty = dict.fromkeys(SHARE_COLUMNS, math.nan)
    if run["family"] != ALLEVIATION or not isinstance(run["base"], str):
        return empty
    base_runs = _runs_of(runs, "main", run["base"], dataset, model, workers, tau_key)
    base_control = _base_control(runs, run, dataset, model, workers, tau_key)
    method, base_scores, control = (_per_seed(frame, "score") for frame in (group, base_runs, base_control))
    if not _premise(paired_difference(control, base_scores, "greater")):
        return empty
    share = ratio_of_means(_paired(method, base_scores), _paired(control, base_scores))
    return dict(zip(SHARE_COLUMNS, (share.estimate, share.ci_low, share.ci_high)))


# -- claims ---------------------------------------------------------------------------------------------------------


def alleviation_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Main-study runs of alleviation methods that name their base: the runs the claims judge."""
    main = runs[runs["study"] == "main"]
    return main[(main["family"] == ALLEVIATION) & main["base"].notna()]


TEST_COLUMNS = ["estimate", "ci_low", "ci_high", "p_raw", "p_value", "n", "test"]


def claims_frame(runs: pd.DataFrame, staleness: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    """One row per (claim, alleviation method, setting): what is measured and its descriptive numbers, then the
    test's ``estimate``, 95 % interval (``ci_low``, ``ci_high``), unadjusted ``p_raw``, Holm-adjusted ``p_value``
    (over every row of the table with a p), ``n`` pairs and ``test``, the ``verdict`` and its ``rule``."""
    runs = _with_reach(runs, reach)
    judged = alleviation_runs(runs)
    if judged.empty:
        return pd.DataFrame()
    staleness = staleness[staleness["study"] == "main"].assign(tau_key=lambda f: period_key(f["sync_period"]))
    timed = timed_runs(runs)
    rows = []
    for (dataset, model, workers, tau_key, method, base), group in judged.groupby(
            SETTING + ["method", "base"], sort=False):
        base_runs = _runs_of(runs, "main", base, dataset, model, workers, tau_key)
        control = _base_control(runs, group.iloc[0], dataset, model, workers, tau_key)
        setting = {"method": method, "base": base, "dataset": dataset, "model": model, "workers": workers,
                   "sync_period": period_of_key(tau_key)}
        at = (staleness["dataset"] == dataset) & (staleness["model"] == model) & (staleness["workers"] == workers) & (
            staleness["tau_key"] == tau_key)
        for claim, result in (("C1", _c1(method, staleness[at & (staleness["method"] == method)],
                                         staleness[at & (staleness["method"] == base)])),
                              ("C2", _c2(group, base_runs, control)),
                              ("C3", _c3(group, base_runs, control)),
                              ("C4", _c4(*_timed_pair(timed, method, base, dataset, model, workers, tau_key)))):
            rows.append({"claim": claim, **setting, **result, "rule": RULES[claim]})
    table = pd.DataFrame(rows)
    table["p_value"] = holm(table["p_raw"])
    table["verdict"] = [_final(verdict, needs_p, p) for verdict, needs_p, p in
                        zip(table["verdict"], table.pop("_needs_p"), table["p_value"])]
    assert set(table["verdict"]) <= set(VERDICTS)
    first = ["claim", *setting, "measure", "value", "base_value", "control_value", "ratio"]
    last = TEST_COLUMNS + ["verdict", "rule"]
    return table[first + [c for c in table.columns if c not in first + last] + last]


def _timed_pair(timed: pd.DataFrame, method, base, dataset, model, workers, tau_key):
    """The method's and its base's runs that time them at a setting (:func:`timed_runs`: the timing study's where
    it timed the setting, else the main study's), and that study."""
    study = "timing" if ((timed["study"] == "timing") & (timed["dataset"] == dataset) & (timed["model"] == model)
                         & (timed["workers"] == workers)).any() else "main"
    return (_runs_of(timed, study, method, dataset, model, workers, tau_key),
            _runs_of(timed, study, base, dataset, model, workers, tau_key), study)


def _final(verdict: str, needs_p: bool, adjusted_p: float) -> str:
    """A verdict of holds or fails that rests on a test stands only where the Holm-adjusted p is below α."""
    if verdict in ("holds", "fails") and needs_p and not adjusted_p < ALPHA:
        return "inconclusive"
    return verdict


def _row(measure: str, verdict: str, comparison: Comparison | None = None, *, value: float = math.nan,
         base_value: float = math.nan, control_value: float = math.nan, ratio: float = math.nan,
         tested: bool = True, needs_p: bool = True, **numbers) -> dict:
    """A claim's row: what ``value`` measures, the method's, its base's and the base's control's values, a ratio of
    the two where one applies, the claim's own further numbers (columns of their own, NaN in other claims' rows),
    the test's columns and the provisional verdict. ``tested``: the comparison's p enters the table's Holm family
    (False where the verdict does not rest on it: no premise, not applicable); ``needs_p``: a holds or fails
    verdict needs the adjusted p below α."""
    assert verdict in VERDICTS
    test = {"estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p_raw": math.nan, "n": 0, "test": ""}
    if comparison is not None:
        test.update(estimate=comparison.estimate, ci_low=comparison.ci_low, ci_high=comparison.ci_high,
                    p_raw=comparison.p_value if tested else math.nan, n=comparison.n, test=comparison.test)
    return {"measure": measure, "value": value, "base_value": base_value, "control_value": control_value,
            "ratio": ratio, **numbers, **test, "verdict": verdict, "_needs_p": needs_p}


def _ratio(value: float, reference: float) -> float:
    return value / reference if reference and not math.isnan(reference) else math.nan


def _interval_verdict(comparison: Comparison, bound: float) -> str:
    """holds where the 95 % interval lies below ``bound``, fails where above, else inconclusive."""
    if comparison.ci_high < bound:
        return "holds"
    if comparison.ci_low > bound:
        return "fails"
    return "inconclusive"


def _error_column(method: pd.DataFrame, base: pd.DataFrame) -> str:
    """drift_rel_error (the rows against exact rows with the same weights and dropout masks) where both runs
    measured it, else rel_error."""
    if "drift_rel_error" in method.columns and method["drift_rel_error"].notna().any() and \
            base["drift_rel_error"].notna().any():
        return "drift_rel_error"
    return "rel_error"


def _c1(name: str, method: pd.DataFrame, base: pd.DataFrame) -> dict:
    """Staleness: the error of the rows the method used against its base's in the base's own run, per seed."""
    column = _error_column(method, base)
    measure = (f"{column} of the rows used (per seed, mean over measurements): the method's against its base's in "
               "the base's own run (estimate: geometric mean ratio method / base)")
    method_errors = _per_seed(method.dropna(subset=[column]), column)
    base_errors = _per_seed(base.dropna(subset=[column]), column)
    used = _mean(method_errors)
    replaced = float(method["replaced_rel_error"].mean()) if method["replaced_rel_error"].notna().any() \
        else math.nan
    numbers = dict(value=used, base_value=_mean(base_errors), replaced_rel_error=replaced,
                   in_run_ratio=_ratio(float(method["rel_error"].mean()), replaced))
    numbers["ratio"] = _ratio(numbers["value"], numbers["base_value"])
    comparison = error_ratio(method_errors, base_errors)
    if name in ROWS_UNCHANGED:
        measure += "; the method leaves its base's rows as they are (it weights their messages): no claim to test"
        return _row(measure, "not applicable", comparison, tested=False, **numbers)
    if comparison.n == 0:
        return _row(measure, "not testable", comparison, tested=False, **numbers)
    # Exact rows at every measurement (REST refreshing before every step): a ratio of 0 that no test needs.
    exact = comparison.test == EXACT_ROWS
    return _row(measure, _interval_verdict(comparison, 1.0), comparison, tested=not exact, needs_p=not exact,
                **numbers)


def _c2(method: pd.DataFrame, base: pd.DataFrame, control: pd.DataFrame) -> dict:
    """Accuracy: the method against its base, paired over seeds, where staleness costs the base accuracy."""
    method_scores, base_scores, control_scores = (_per_seed(f, "score") for f in (method, base, control))
    premise = paired_difference(control_scores, base_scores, "greater")
    gain = paired_difference(method_scores, base_scores)
    beyond = paired_difference(method_scores, control_scores)
    numbers = dict(value=_mean(method_scores), base_value=_mean(base_scores), control_value=_mean(control_scores),
                   gain_pts_std=_std(_paired(method_scores, base_scores)), **_premise_columns(premise),
                   beyond_control_pts=beyond.estimate)
    measure = "test at best val (%); estimate: method − base in points, paired by seed"
    if not _premise(premise):
        measure += "; premise: control − base, one-sided paired t (premise columns)"
        return _row(measure, "not testable", gain, tested=False, **numbers)
    verdict = "holds" if gain.ci_low > 0 else "fails" if gain.ci_high < 0 else "inconclusive"
    if beyond.ci_low > 0:
        measure += "; it beats the base's control (a gain beyond the control is not staleness alleviation)"
        verdict = "inconclusive" if verdict == "holds" else verdict
    return _row(measure, verdict, gain, **numbers)


def _median(values: pd.Series) -> float:
    """Median epochs to target over seeds, never reached (NaN) counted as +inf; NaN without seeds."""
    if values.empty:
        return math.nan
    return float(np.median(values.fillna(math.inf).to_numpy()))


def _c3(method: pd.DataFrame, base: pd.DataFrame, control: pd.DataFrame) -> dict:
    """Convergence: epochs to the base's control's target, censored at never-reached (+inf)."""
    column = "epochs_to_control_target"
    epochs = {name: _per_seed(frame, column) for name, frame in
              (("method", method), ("base", base), ("control", control))}
    seconds = {name: _per_seed(frame, "time_to_control_target_s") for name, frame in
               (("method", method), ("base", base))}
    targets = control["control_target"].dropna() if "control_target" in control.columns else pd.Series([])
    premise = censored_paired(epochs["base"], epochs["control"], "greater")
    comparison = censored_paired(epochs["method"], epochs["base"])
    numbers = dict(value=_median(epochs["method"]), base_value=_median(epochs["base"]),
                   control_value=_median(epochs["control"]),
                   target_val_pct=float(targets.mean() * 100) if len(targets) else math.nan,
                   method_reached=int(epochs["method"].notna().sum()),
                   base_reached=int(epochs["base"].notna().sum()),
                   time_to_target_s=_median(seconds["method"]), base_time_to_target_s=_median(seconds["base"]),
                   **_premise_columns(premise))
    measure = ("epochs to 95 % of the base's control's best val (median over seeds; inf: never reached, kept as "
               "censored); estimate: median of method − base, paired by seed")
    if len(targets) == 0 or epochs["base"].empty or epochs["method"].empty or not _premise(premise):
        measure += "; premise: base − control, one-sided (premise columns)"
        return _row(measure, "not testable", comparison, tested=False, **numbers)
    direction = comparison.estimate
    verdict = "inconclusive"
    if comparison.p_value < ALPHA and direction < 0:
        verdict = "holds"
    elif comparison.p_value < ALPHA and direction > 0:
        verdict = "fails"
    return _row(measure, verdict, comparison, **numbers)


def _launchers(*frames: pd.DataFrame) -> str | float:
    """The launchers that timed these runs, joined by "/" (NaN where the runs frame does not say)."""
    names = set()
    for frame in frames:
        if "launcher" in frame.columns:
            names |= {str(name) for name in frame["launcher"].dropna()}
    return "/".join(sorted(names)) if names else math.nan


def timed_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs whose epoch times the throughput table and C4 read: per (dataset, model, W), the timing study's runs
    where it timed that setting (``satbench run --study timing``: worker processes, the methods trained in turn in
    one job, a run's seed its repetition), else the main study's."""
    main, timing = runs[runs["study"] == "main"], runs[runs["study"] == "timing"]
    if timing.empty:
        return main
    covered = pd.MultiIndex.from_frame(timing[["dataset", "model", "workers"]]).unique()
    untimed = ~pd.MultiIndex.from_frame(main[["dataset", "model", "workers"]]).isin(covered)
    return pd.concat([timing, main[untimed]], ignore_index=True)


def _c4(method: pd.DataFrame, base: pd.DataFrame, study: str = "main") -> dict:
    """Overhead: epoch time per seed (per repetition in the timing study, ``study`` ``timing``) and traffic against
    the base."""
    if study == "timing":
        measure = ("mean epoch time (s), timing study (method and base trained in turn); estimate: geometric mean "
                   "of the per-repetition ratio method / base")
    else:
        measure = "mean epoch time (s); estimate: geometric mean of the per-seed ratio method / base"
    launcher = _launchers(method, base)
    if base.empty:
        return _row(measure, "not testable", tested=False, timing_launcher=launcher, timing_study=study)
    time, base_time = float(method["mean_epoch_time_s"].mean()), float(base["mean_epoch_time_s"].mean())
    traffic, base_traffic = float(method["mean_comm_bytes"].mean()), float(base["mean_comm_bytes"].mean())
    traffic_ratio = _ratio(traffic, base_traffic)
    comparison = ratio(_per_seed(method, "mean_epoch_time_s"), _per_seed(base, "mean_epoch_time_s"),
                       null=OVERHEAD_TIME)
    numbers = dict(value=time, base_value=base_time, ratio=_ratio(time, base_time),
                   comm_MB_per_epoch=traffic / 1e6, base_comm_MB_per_epoch=base_traffic / 1e6,
                   traffic_ratio=traffic_ratio, timing_launcher=launcher, timing_study=study)
    if comparison.estimate < 1:
        measure += ("; a ratio below 1 is timing noise: the method does all its base's work and more, so it cannot "
                    "be faster")
    if isinstance(launcher, str) and set(launcher.split("/")) & THREAD_LAUNCHERS:
        measure += "; timed by the in-process launcher (workers as threads): not a deployment's timing"
        return _row(measure, "not testable", comparison, tested=False, **numbers)
    if comparison.n == 0:
        return _row(measure, "not testable", comparison, tested=False, **numbers)
    if traffic_ratio > OVERHEAD_BYTES:
        return _row(measure, "fails", comparison, needs_p=False, **numbers)  # traffic is deterministic
    if comparison.ci_low > OVERHEAD_TIME:
        return _row(measure, "fails", comparison, **numbers)
    if comparison.ci_high <= OVERHEAD_TIME:
        return _row(measure, "holds", comparison, **numbers)
    return _row(measure, "inconclusive", comparison, **numbers)


# -- fidelity -----------------------------------------------------------------------------------------------------


def fidelity_verdict(gap: pd.Series, adjusted_p: float | None = None) -> str:
    """:data:`FIDELITY_RULE` on the paired gaps (method − exact, test points) of one setting; ``adjusted_p``: the
    TOST p after Holm's adjustment over the table (default: the gap's own TOST p, a family of one)."""
    gap = pd.Series(gap).dropna()
    if len(gap) < 2:
        return "not testable"
    comparison = equivalence(gap, PARITY_MARGIN)
    p = comparison.p_value if adjusted_p is None else adjusted_p
    if p < ALPHA:
        return "holds"
    if comparison.ci_high < -PARITY_MARGIN:
        return "fails"
    return "inconclusive"


def _cost_on(decomposition: pd.DataFrame, run: pd.Series) -> str:
    """Where the decomposition puts a historical method's loss: on its protocol, its stale rows, both, or neither
    significant (each a one-sided paired t, Holm-adjusted over the decomposition table); "no control" without its
    fresh-halo control."""
    if decomposition.empty:
        return "no control"
    row = decomposition[(decomposition["dataset"] == run["dataset"]) & (decomposition["model"] == run["model"])
                        & (decomposition["workers"] == run["workers"]) & (decomposition["method"] == run["method"])
                        & (period_key(decomposition["sync_period"]) == run["tau_key"])]
    if row.empty or math.isnan(row["control_pct_mean"].iloc[0]):
        return "no control"
    row = row.iloc[0]
    protocol, stale = bool(row["protocol_cost_significant"]), bool(row["staleness_cost_significant"])
    return {(True, True): "both", (True, False): "protocol", (False, True): "stale rows",
            (False, False): "neither significant"}[(protocol, stale)]


def fidelity_frame(runs: pd.DataFrame, decomposition: pd.DataFrame) -> pd.DataFrame:
    """One row per (historical method, dataset, model, W, τ) beside an exact run: the paired gap to exact (mean,
    seed std) and its equivalence test (``estimate``, 95 % ``ci_low``/``ci_high``, TOST ``p_raw`` and its
    Holm-adjusted ``p_value`` over the table, ``n``, ``test``), the verdict of :data:`FIDELITY_RULE`, where the
    fresh-halo control puts the cost where the claim does not hold (``cost_on``), and the paper's claim with its
    source."""
    runs = runs.assign(tau_key=period_key(runs["sync_period"]), score=runs["test_at_best_val"] * 100)
    main = runs[runs["study"] == "main"]
    rows, gaps = [], []
    for (dataset, model, workers, tau_key, method), group in main[main["family"] == HISTORICAL].groupby(
            SETTING + ["method"], sort=False):
        exact = _exact_runs(main, dataset, model, workers)
        if exact.empty:
            continue
        exact_scores, method_scores = _per_seed(exact, "score"), _per_seed(group, "score")
        gap = _paired(method_scores, exact_scores).dropna()
        comparison = equivalence(gap, PARITY_MARGIN)
        gaps.append(gap)
        rows.append({
            "dataset": dataset, "model": model, "workers": workers,
            "sync_period": period_of_key(tau_key), "method": method, "n": comparison.n,
            "exact_pct_mean": _mean(exact_scores), "method_pct_mean": _mean(method_scores),
            "gap_pts_mean": _mean(gap), "gap_pts_std": _std(gap), "estimate": comparison.estimate,
            "ci_low": comparison.ci_low, "ci_high": comparison.ci_high, "p_raw": comparison.p_value,
            "test": comparison.test, "run": group.iloc[0],
        })
    if not rows:
        return pd.DataFrame()
    adjusted = holm([row["p_raw"] for row in rows])
    for row, gap, p in zip(rows, gaps, adjusted):
        run = row.pop("run")
        row["p_value"] = p
        row["verdict"] = fidelity_verdict(gap, p)
        row["cost_on"] = "" if row["verdict"] == "holds" else _cost_on(decomposition, run)
        row["claim"], row["source"] = PAPER_CLAIMS.get(row["method"], ("", "no claim declared for this method"))
    order = ["dataset", "model", "workers", "sync_period", "method", "exact_pct_mean", "method_pct_mean",
             "gap_pts_mean", "gap_pts_std", "estimate", "ci_low", "ci_high", "p_raw", "p_value", "n", "test",
             "verdict", "cost_on", "claim", "source"]
    return pd.DataFrame(rows)[order]
