"""Controls before conclusions: what staleness costs, what the protocol costs, whether each historical method keeps
its paper's accuracy claim, and a verdict on each alleviation method's claims.

A stale method's gap to ``exact`` has two causes: the stale halo rows, and the protocol around them (DIGEST and SAT:
local steps and model averaging; GAS: no halo gradient). The fresh-halo control (``satbench run --halo fresh``) runs
the method's whole protocol with exact halo rows, so, per (dataset, model, W, method, τ) and paired by seed:

* protocol cost = exact − control (what the protocol alone costs);
* staleness cost = control − method (what the stale rows cost on top of it);
* an alleviation method's recovered share = (method − base) / (control − base): the part of its base's staleness
  cost it wins back (1: all of it, 0: none, < 0: it made things worse), with ``control`` the base's control.

The same decomposition is given in epochs and seconds to the target validation score. A cost is *above seed noise*
when its mean exceeds :data:`NOISE_FACTOR` × its standard deviation over seeds and :data:`MIN_POINTS`.

Fidelity: each historical method's gap to ``exact`` at the same settings, against the accuracy claim its paper makes
(:data:`PAPER_CLAIMS`, the one place those claims are quoted), judged by :data:`FIDELITY_RULE`.

Claims: SAT's paper (Bai et al. 2023) claims that alleviating staleness reduces it (C1), improves accuracy (C2) and
convergence (C3), at a small overhead (C4). Every alleviation method (SAT's variants and any method that corrects a
base's stale rows) is held to the same four claims against its base, by the rules in :data:`RULES` (quoted in the
README), computed from the records: exactly one of ``holds``, ``fails`` or ``not testable``.

Inputs are the report's frames (``satbench.report``): one row per run with ``study`` ``main`` or ``control``, and
per run the epochs and seconds to target; nothing here reads files.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .families import ALLEVIATION, HISTORICAL

NOISE_FACTOR = 2.0  # a cost is above seed noise when |mean| > NOISE_FACTOR × its std over seeds ...
MIN_POINTS = 1.0  # ... and at least this many test points (or epochs): the resolution of a few hundred test nodes
IN_RUN_GAIN = 0.99  # C1: the rows used must be at least 1 % closer to exact than the copies they replaced
OVERHEAD_TIME = 1.25  # C4: the method's epoch time at most this × its base's
OVERHEAD_BYTES = 1.05  # C4: the method's traffic at most this × its base's

RULES = {
    "C1": f"holds if the rows the method used were closer to the exact rows than the stale copies they replaced by "
          f"at least {1 - IN_RUN_GAIN:.0%} (in-run ratio < {IN_RUN_GAIN:g}, same rows and weights) and than its "
          "base's rows in the base's own run (across-run ratio < 1); a method that reports no replaced copy is "
          f"judged by the across-run ratio alone (< {IN_RUN_GAIN:g}); else fails; not testable without staleness "
          "measurements",
    "C2": f"testable only where the base's staleness cost (control − base, paired by seed) exceeds "
          f"{NOISE_FACTOR:g}× its seed std and {MIN_POINTS:g} point; then holds if the method's paired gain over the "
          f"base exceeds {NOISE_FACTOR:g}× its standard error and the method does not beat the base's fresh-halo "
          "control by more than that (a gain beyond the control is not staleness alleviation), else fails",
    "C3": f"testable only where staleness slows the base: its epochs to target exceed its control's (paired by "
          f"seed) by more than {NOISE_FACTOR:g}× their seed std and {MIN_POINTS:g} epoch, or the control reaches "
          "the target in every seed where the base never does; then holds if the method reaches the target in "
          "fewer epochs and no more seconds than the base (means over seeds, never reaching counts as infinite), "
          "else fails",
    "C4": f"holds if the method's mean epoch time is at most {OVERHEAD_TIME:g}× its base's and its traffic at most "
          f"{OVERHEAD_BYTES:g}× its base's; else fails; not testable without a base run",
}
VERDICTS = ("holds", "fails", "not testable")

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
FIDELITY_VERDICTS = ("holds", "within noise", "fails", "not testable")
FIDELITY_RULE = (f"gap = method − exact in test points at the best validation epoch, paired by seed; holds if its "
                 f"mean is no loss of more than {MIN_POINTS:g} point (mean ≥ −{MIN_POINTS:g}); fails if it is a "
                 f"loss above seed noise (mean < −{MIN_POINTS:g} and |mean| > {NOISE_FACTOR:g}× its seed std); "
                 f"else within noise (a loss of more than {MIN_POINTS:g} point, within {NOISE_FACTOR:g} seed std); "
                 "not testable with fewer than 2 paired seeds")

SETTING = ["dataset", "model", "workers", "tau_key"]


def _tau_key(series: pd.Series) -> pd.Series:
    return series.fillna(-1.0)


def _per_seed(frame: pd.DataFrame, column: str) -> pd.Series:
    """Mean of ``column`` per seed (one run per seed in a grid; the mean guards against duplicates)."""
    return frame.groupby("seed")[column].mean()


def _paired(first: pd.Series, second: pd.Series) -> pd.Series:
    """first − second over the seeds both have."""
    seeds = first.index.intersection(second.index)
    return first[seeds] - second[seeds]


def _std(values: pd.Series) -> float:
    return float(values.std(ddof=1)) if len(values) >= 2 else math.nan


def above_noise(differences: pd.Series) -> bool:
    """Whether a paired difference's mean exceeds NOISE_FACTOR × its seed std and MIN_POINTS (needs two seeds)."""
    if len(differences) < 2:
        return False
    mean = abs(differences.mean())
    return bool(mean > NOISE_FACTOR * differences.std(ddof=1) and mean >= MIN_POINTS)


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else math.nan


def _with_reach(runs: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    runs = runs.assign(tau_key=_tau_key(runs["sync_period"]), score=runs["test_at_best_val"] * 100)
    if reach.empty:
        return runs.assign(epochs_to_target=math.nan, time_to_target_s=math.nan)
    return runs.merge(reach[["record", "epochs_to_target", "time_to_target_s"]], on="record", how="left")


def _reach_mean(frame: pd.DataFrame, column: str) -> float:
    """Mean epochs (or seconds) to target over seeds; inf when no seed reached it, NaN without runs."""
    if frame.empty:
        return math.nan
    reached = frame[column].dropna()
    return float(reached.mean()) if len(reached) else math.inf


def _exact_runs(main: pd.DataFrame, dataset, model, workers) -> pd.DataFrame:
    """exact's runs at the setting; at any W where it has none there (exact equals full-graph training for any W)."""
    exact = main[(main["method"] == "exact") & (main["dataset"] == dataset) & (main["model"] == model)]
    return exact[exact["workers"] == workers] if (exact["workers"] == workers).any() else exact


def decomposition_frame(runs: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, model, W, method, τ) of the main study: exact, control and method scores, protocol and
    staleness costs (points, epochs and seconds to target), and an alleviation method's recovered share."""
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
        protocol = _paired(exact_scores, control_scores)
        staleness = _paired(control_scores, method_scores)
        row = {
            "dataset": dataset, "model": model, "workers": workers,
            "sync_period": math.nan if tau_key == -1.0 else tau_key, "method": method,
            "family": group["family"].iloc[0], "base": group["base"].iloc[0], "n": len(staleness),
            "exact_pct_mean": _mean(exact_scores), "exact_pct_std": _std(exact_scores),
            "control_pct_mean": _mean(control_scores), "control_pct_std": _std(control_scores),
            "method_pct_mean": _mean(method_scores), "method_pct_std": _std(method_scores),
            "protocol_cost_pts_mean": _mean(protocol), "protocol_cost_pts_std": _std(protocol),
            "staleness_cost_pts_mean": _mean(staleness), "staleness_cost_pts_std": _std(staleness),
            "staleness_cost_above_noise": above_noise(staleness),
        }
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
    return pd.DataFrame(rows)


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


def _recovered_share(runs, group, dataset, model, workers, tau_key) -> dict[str, float]:
    """(method − base) / (control − base), paired by seed: the mean gain over the mean base staleness cost, and the
    spread of the per-seed shares."""
    run = group.iloc[0]
    empty = {"recovered_share_mean": math.nan, "recovered_share_std": math.nan}
    if run["family"] != ALLEVIATION or not isinstance(run["base"], str):
        return empty
    base_runs = _runs_of(runs, "main", run["base"], dataset, model, workers, tau_key)
    base_control = _base_control(runs, run, dataset, model, workers, tau_key)
    method, base_scores, control = (_per_seed(frame, "score") for frame in (group, base_runs, base_control))
    gain, cost = _paired(method, base_scores), _paired(control, base_scores)
    seeds = gain.index.intersection(cost.index)
    if len(seeds) == 0 or cost[seeds].mean() == 0:
        return empty
    shares = gain[seeds] / cost[seeds].replace(0.0, np.nan)
    return {"recovered_share_mean": float(gain[seeds].mean() / cost[seeds].mean()),
            "recovered_share_std": _std(shares.dropna())}


def alleviation_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Main-study runs of alleviation methods that name their base: the runs the claims judge."""
    main = runs[runs["study"] == "main"]
    return main[(main["family"] == ALLEVIATION) & main["base"].notna()]


def claims_frame(runs: pd.DataFrame, staleness: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    """One row per (claim, alleviation method, setting) with its numbers, rule and computed verdict."""
    runs = _with_reach(runs, reach)
    judged = alleviation_runs(runs)
    if judged.empty:
        return pd.DataFrame()
    staleness = staleness[staleness["study"] == "main"].assign(tau_key=lambda f: _tau_key(f["sync_period"]))
    rows = []
    for (dataset, model, workers, tau_key, method, base), group in judged.groupby(
            SETTING + ["method", "base"], sort=False):
        base_runs = _runs_of(runs, "main", base, dataset, model, workers, tau_key)
        control = _base_control(runs, group.iloc[0], dataset, model, workers, tau_key)
        setting = {"method": method, "base": base, "dataset": dataset, "model": model, "workers": workers,
                   "sync_period": math.nan if tau_key == -1.0 else tau_key}
        at = (staleness["dataset"] == dataset) & (staleness["model"] == model) & (staleness["workers"] == workers) & (
            staleness["tau_key"] == tau_key)
        for claim, verdict in (("C1", _c1(staleness[at & (staleness["method"] == method)],
                                          staleness[at & (staleness["method"] == base)])),
                               ("C2", _c2(group, base_runs, control)),
                               ("C3", _c3(group, base_runs, control)),
                               ("C4", _c4(group, base_runs))):
            rows.append({"claim": claim, **setting, **verdict, "rule": RULES[claim]})
    table = pd.DataFrame(rows)
    return table[[c for c in table.columns if c not in ("verdict", "rule")] + ["verdict", "rule"]]


def _verdict(measure: str, value: float, base_value: float, verdict: str, control_value: float = math.nan,
             ratio: float = math.nan, **numbers: float) -> dict:
    """A claim's row: what ``value`` measures, the method's, its base's and the base's control's values, their ratio,
    the verdict, and the claim's own further numbers (columns of their own, NaN in the other claims' rows)."""
    assert verdict in VERDICTS
    return {"measure": measure, "value": value, "base_value": base_value, "control_value": control_value,
            "ratio": ratio, **numbers, "verdict": verdict}


def _ratio(value: float, reference: float) -> float:
    return value / reference if reference and not math.isnan(reference) else math.nan


def _c1(method: pd.DataFrame, base: pd.DataFrame) -> dict:
    """Staleness: rows used vs the stale copies replaced (same run), and vs the base's own run."""
    measure = "mean rel. error of the rows used (base value: of the stale copies they replaced; ratio: used / replaced)"
    measured = method.dropna(subset=["rel_error"])
    if measured.empty:
        return _verdict(measure, math.nan, math.nan, "not testable")
    used = float(measured["rel_error"].mean())
    replaced = float(measured["replaced_rel_error"].mean()) if measured["replaced_rel_error"].notna().any() \
        else math.nan
    base_error = float(base["rel_error"].mean()) if base["rel_error"].notna().any() else math.nan
    in_run, across = _ratio(used, replaced), _ratio(used, base_error)
    if math.isnan(in_run) and math.isnan(across):
        verdict = "not testable"
    elif math.isnan(in_run):
        verdict = "holds" if across < IN_RUN_GAIN else "fails"
    else:
        verdict = "holds" if in_run < IN_RUN_GAIN and (math.isnan(across) or across < 1) else "fails"
    return _verdict(measure, used, replaced, verdict, ratio=in_run, base_run_rel_error=base_error,
                    across_run_ratio=across)


def _c2(method: pd.DataFrame, base: pd.DataFrame, control: pd.DataFrame) -> dict:
    """Accuracy: the method against its base, paired over seeds, where staleness costs the base accuracy at all."""
    method_scores, base_scores, control_scores = (_per_seed(f, "score") for f in (method, base, control))
    cost, gain = _paired(control_scores, base_scores), _paired(method_scores, base_scores)
    beyond_control = _paired(method_scores, control_scores)
    numbers = dict(value=_mean(method_scores), base_value=_mean(base_scores), control_value=_mean(control_scores),
                   n=len(gain), gain_pts_mean=_mean(gain), gain_pts_std=_std(gain),
                   base_staleness_cost_pts_mean=_mean(cost), base_staleness_cost_pts_std=_std(cost),
                   beyond_control_pts=_mean(beyond_control))
    measure = "test at best val (%), paired by seed"
    if len(cost) < 2 or len(gain) < 2 or not (cost.mean() > 0 and above_noise(cost)):
        return _verdict(measure, verdict="not testable", **numbers)
    error = gain.std(ddof=1) / math.sqrt(len(gain))
    beyond_error = beyond_control.std(ddof=1) / math.sqrt(len(beyond_control)) if len(beyond_control) >= 2 else 0.0
    explained = beyond_control.mean() <= NOISE_FACTOR * beyond_error
    holds = gain.mean() > NOISE_FACTOR * error and explained
    if not explained:
        measure += "; it beats the base's control (a gain beyond the control is not staleness alleviation)"
    return _verdict(measure, verdict="holds" if holds else "fails", **numbers)


def _c3(method: pd.DataFrame, base: pd.DataFrame, control: pd.DataFrame) -> dict:
    """Convergence: epochs and seconds to the target validation score."""
    epochs = {name: _reach_mean(frame, "epochs_to_target") for name, frame in
              (("method", method), ("base", base), ("control", control))}
    seconds = {name: _reach_mean(frame, "time_to_target_s") for name, frame in (("method", method), ("base", base))}
    numbers = dict(value=epochs["method"], base_value=epochs["base"], control_value=epochs["control"],
                   time_to_target_s=seconds["method"], base_time_to_target_s=seconds["base"])
    measure = "epochs to target (mean over seeds; inf: never reached)"
    if any(math.isnan(value) for value in epochs.values()) or not _slows(base, control):
        return _verdict(measure, verdict="not testable", **numbers)
    holds = epochs["method"] < epochs["base"] and seconds["method"] <= seconds["base"]
    return _verdict(measure, verdict="holds" if holds else "fails", **numbers)


def _slows(base: pd.DataFrame, control: pd.DataFrame) -> bool:
    """Whether staleness slows the base to the target beyond seed noise (see RULES["C3"])."""
    base_epochs = _per_seed(base, "epochs_to_target").fillna(math.inf)
    control_epochs = _per_seed(control, "epochs_to_target").fillna(math.inf)
    seeds = base_epochs.index.intersection(control_epochs.index)
    base_epochs, control_epochs = base_epochs[seeds], control_epochs[seeds]
    reached = control_epochs < math.inf
    if reached.any() and (base_epochs[reached] == math.inf).all():
        return True
    both = reached & (base_epochs < math.inf)
    difference = base_epochs[both] - control_epochs[both]
    return bool(len(difference) and difference.mean() > 0 and above_noise(difference))


def _c4(method: pd.DataFrame, base: pd.DataFrame) -> dict:
    """Overhead: epoch time and traffic against the base."""
    measure = "mean epoch time (s; ratio: the method's over its base's)"
    if base.empty:
        return _verdict(measure, math.nan, math.nan, "not testable")
    time, base_time = float(method["mean_epoch_time_s"].mean()), float(base["mean_epoch_time_s"].mean())
    traffic, base_traffic = float(method["mean_comm_bytes"].mean()), float(base["mean_comm_bytes"].mean())
    time_ratio, bytes_ratio = _ratio(time, base_time), _ratio(traffic, base_traffic)
    holds = time_ratio <= OVERHEAD_TIME and (math.isnan(bytes_ratio) or bytes_ratio <= OVERHEAD_BYTES)
    return _verdict(measure, time, base_time, "holds" if holds else "fails", ratio=time_ratio,
                    comm_MB_per_epoch=traffic / 1e6, base_comm_MB_per_epoch=base_traffic / 1e6,
                    traffic_ratio=bytes_ratio)


# -- fidelity -----------------------------------------------------------------------------------------------------


def fidelity_verdict(gap: pd.Series) -> str:
    """:data:`FIDELITY_RULE` on the paired gaps (method − exact, test points) of one setting."""
    if len(gap) < 2:
        return "not testable"
    mean = float(gap.mean())
    if mean >= -MIN_POINTS:
        return "holds"
    return "fails" if abs(mean) > NOISE_FACTOR * gap.std(ddof=1) else "within noise"


def _cost_on(decomposition: pd.DataFrame, run: pd.Series) -> str:
    """Where the decomposition puts a historical method's loss: on its protocol, its stale rows, both, or neither
    above noise; "no control" without its fresh-halo control."""
    if decomposition.empty:
        return "no control"
    row = decomposition[(decomposition["dataset"] == run["dataset"]) & (decomposition["model"] == run["model"])
                        & (decomposition["workers"] == run["workers"]) & (decomposition["method"] == run["method"])
                        & (_tau_key(decomposition["sync_period"]) == run["tau_key"])]
    if row.empty or math.isnan(row["control_pct_mean"].iloc[0]):
        return "no control"
    row = row.iloc[0]

    def costs(kind: str) -> bool:  # a loss above noise (the decomposition's rule)
        mean, std = row[f"{kind}_cost_pts_mean"], row[f"{kind}_cost_pts_std"]
        return bool(mean >= MIN_POINTS and (row["n"] >= 2 and mean > NOISE_FACTOR * std))

    protocol, stale = costs("protocol"), costs("staleness")
    return {(True, True): "both", (True, False): "protocol", (False, True): "stale rows",
            (False, False): "neither above noise"}[(protocol, stale)]


def fidelity_frame(runs: pd.DataFrame, decomposition: pd.DataFrame) -> pd.DataFrame:
    """One row per (historical method, dataset, model, W, τ) beside an exact run: the paired gap to exact, the
    paper's accuracy claim with its source, the verdict of :data:`FIDELITY_RULE` and, where the claim does not hold,
    where the fresh-halo control puts the cost."""
    runs = runs.assign(tau_key=_tau_key(runs["sync_period"]), score=runs["test_at_best_val"] * 100)
    main = runs[runs["study"] == "main"]
    rows = []
    for (dataset, model, workers, tau_key, method), group in main[main["family"] == HISTORICAL].groupby(
            SETTING + ["method"], sort=False):
        exact = _exact_runs(main, dataset, model, workers)
        if exact.empty:
            continue
        exact_scores, method_scores = _per_seed(exact, "score"), _per_seed(group, "score")
        gap = _paired(method_scores, exact_scores)
        claim, source = PAPER_CLAIMS.get(method, ("", "no claim declared for this method"))
        verdict = fidelity_verdict(gap)
        run = group.iloc[0]
        rows.append({
            "dataset": dataset, "model": model, "workers": workers,
            "sync_period": math.nan if tau_key == -1.0 else tau_key, "method": method, "n": len(gap),
            "exact_pct_mean": _mean(exact_scores), "method_pct_mean": _mean(method_scores),
            "gap_pts_mean": _mean(gap), "gap_pts_std": _std(gap), "verdict": verdict,
            "cost_on": "" if verdict == "holds" else _cost_on(decomposition, run),
            "claim": claim, "source": source,
        })
    return pd.DataFrame(rows)
