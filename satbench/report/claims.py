"""Controls before conclusions: what staleness costs, what the protocol costs, and a verdict on each of SAT's claims.

A stale method's gap to ``exact`` has two causes: the stale halo rows, and the protocol around them (DIGEST and SAT:
local steps and model averaging; GAS: no halo gradient). The fresh-halo control (``satbench run --halo fresh``) runs
the method's whole protocol with exact halo rows, so, per (dataset, model, W, method, τ) and paired by seed:

* protocol cost = exact − control (what the protocol alone costs);
* staleness cost = control − method (what the stale rows cost on top of it);
* a SAT variant's recovered share = (SAT − base) / (control − base): the part of its base's staleness cost it wins
  back (1: all of it, 0: none, < 0: it made things worse), with ``control`` the base's control.

The same decomposition is given in epochs and seconds to the target validation score. A cost is *above seed noise*
when its mean exceeds :data:`NOISE_FACTOR` × its standard deviation over seeds.

Then a verdict on each claim of Bai et al. (2023), per setting and SAT variant, computed from the records by the
rules in :data:`RULES` (quoted in the README): exactly one of ``holds``, ``fails`` or ``not testable``.

Inputs are the report's frames (``satbench.report``): one row per run with ``study`` ``main`` or ``control``, and
per run the epochs and seconds to target; nothing here reads files.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

NOISE_FACTOR = 2.0  # a cost is above seed noise when |mean| > NOISE_FACTOR × its std over seeds ...
MIN_POINTS = 1.0  # ... and at least this many test points (or epochs): the resolution of a few hundred test nodes
IN_RUN_GAIN = 0.99  # C1: the rows used must be at least 1 % closer to exact than the copies they replaced
OVERHEAD_TIME = 1.25  # C4: SAT's epoch time at most this × its base's
OVERHEAD_BYTES = 1.05  # C4: SAT's traffic at most this × its base's

RULES = {
    "C1": f"holds if the rows SAT used were closer to the exact rows than the stale copies they replaced by at "
          f"least {1 - IN_RUN_GAIN:.0%} (in-run ratio < {IN_RUN_GAIN:g}, same rows and weights) and than its base's "
          "rows in the base's own run (across-run ratio < 1); else fails; not testable without staleness "
          "measurements",
    "C2": f"testable only where the base's staleness cost (control − base, paired by seed) exceeds "
          f"{NOISE_FACTOR:g}× its seed std and {MIN_POINTS:g} point; then holds if SAT's paired gain over the base "
          f"exceeds {NOISE_FACTOR:g}× its standard error and SAT does not beat the base's fresh-halo control by "
          "more than that (a gain beyond the control is not staleness alleviation), else fails",
    "C3": f"testable only where staleness slows the base: its epochs to target exceed its control's (paired by "
          f"seed) by more than {NOISE_FACTOR:g}× their seed std and {MIN_POINTS:g} epoch, or the control reaches "
          "the target in every seed where the base never does; then holds if SAT reaches the target in fewer "
          "epochs and no more seconds than the base (means over seeds, never reaching counts as infinite), else "
          "fails",
    "C4": f"holds if SAT's mean epoch time is at most {OVERHEAD_TIME:g}× its base's and its traffic at most "
          f"{OVERHEAD_BYTES:g}× its base's; else fails; not testable without a base run",
}
VERDICTS = ("holds", "fails", "not testable")

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


def decomposition_frame(runs: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, model, W, method, τ) of the main study: exact, control and method scores, protocol and
    staleness costs (points, epochs and seconds to target), and a SAT variant's recovered share."""
    runs = _with_reach(runs, reach)
    main, control = runs[runs["study"] == "main"], runs[runs["study"] == "control"]
    if main.empty or control.empty:
        return pd.DataFrame()
    exact_runs = main[main["method"] == "exact"]
    rows = []
    for (dataset, model, workers, tau_key, method, variant), group in main.groupby(
            SETTING + ["method", "variant"], sort=False):
        if method == "exact":
            continue
        exact = exact_runs[(exact_runs["dataset"] == dataset) & (exact_runs["model"] == model)]
        if (exact["workers"] == workers).any():
            exact = exact[exact["workers"] == workers]
        own_control = _control_of(runs, method, group["base"].iloc[0], dataset, model, workers, tau_key)
        method_scores, control_scores = _per_seed(group, "score"), _per_seed(own_control, "score")
        exact_scores = _per_seed(exact, "score")
        protocol = _paired(exact_scores, control_scores)
        staleness = _paired(control_scores, method_scores)
        row = {
            "dataset": dataset, "model": model, "W": workers, "τ": math.nan if tau_key == -1.0 else tau_key,
            "method": variant, "base": group["base"].iloc[0], "seeds": len(staleness),
            "exact (%)": _mean(exact_scores), "control (%)": _mean(control_scores), "method (%)": _mean(method_scores),
            "protocol cost (pts)": _mean(protocol), "protocol cost std": _std(protocol),
            "staleness cost (pts)": _mean(staleness), "staleness cost std": _std(staleness),
            "staleness cost above noise": above_noise(staleness),
        }
        for unit, column in (("epochs", "epochs_to_target"), ("s", "time_to_target_s")):
            exact_reach, control_reach = _reach_mean(exact, column), _reach_mean(own_control, column)
            method_reach = _reach_mean(group, column)
            row[f"exact to target ({unit})"] = exact_reach
            row[f"control to target ({unit})"] = control_reach
            row[f"method to target ({unit})"] = method_reach
            row[f"protocol cost ({unit})"] = _difference(control_reach, exact_reach)
            row[f"staleness cost ({unit})"] = _difference(method_reach, control_reach)
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


def _control_of(runs: pd.DataFrame, method: str, base, dataset, model, workers, tau_key) -> pd.DataFrame:
    """A method's control runs; for a SAT variant without its own, its base's (the same GNN training: with every
    row replaced, SAT's predictor never touches the GNN, so the workflow runs only the base's)."""
    control = _runs_of(runs, "control", method, dataset, model, workers, tau_key)
    if control.empty and isinstance(base, str):
        control = _runs_of(runs, "control", base, dataset, model, workers, tau_key)
    return control


def _recovered_share(runs, group, dataset, model, workers, tau_key) -> dict[str, float]:
    """(SAT − base) / (control − base), paired by seed: the mean gain over the mean base staleness cost, and the
    spread of the per-seed shares."""
    base = group["base"].iloc[0]
    empty = {"recovered share": math.nan, "recovered share std": math.nan}
    if not isinstance(base, str):
        return empty
    base_runs = _runs_of(runs, "main", base, dataset, model, workers, tau_key)
    base_control = _control_of(runs, base, None, dataset, model, workers, tau_key)
    if base_control.empty:  # the variant's own control runs the same GNN training
        base_control = _runs_of(runs, "control", group["method"].iloc[0], dataset, model, workers, tau_key)
    sat, base_scores, control = (_per_seed(frame, "score") for frame in (group, base_runs, base_control))
    gain, cost = _paired(sat, base_scores), _paired(control, base_scores)
    seeds = gain.index.intersection(cost.index)
    if len(seeds) == 0 or cost[seeds].mean() == 0:
        return empty
    shares = gain[seeds] / cost[seeds].replace(0.0, np.nan)
    return {"recovered share": float(gain[seeds].mean() / cost[seeds].mean()),
            "recovered share std": _std(shares.dropna())}


def claims_frame(runs: pd.DataFrame, staleness: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    """One row per (claim, SAT variant, setting) with its numbers, rule and computed verdict."""
    runs = _with_reach(runs, reach)
    main = runs[runs["study"] == "main"]
    sat_runs = main[main["base"].notna()]
    if sat_runs.empty:
        return pd.DataFrame()
    staleness = staleness[staleness["study"] == "main"].assign(tau_key=lambda f: _tau_key(f["sync_period"]))
    rows = []
    for (dataset, model, workers, tau_key, method, variant, base), group in sat_runs.groupby(
            SETTING + ["method", "variant", "base"], sort=False):
        base_runs = _runs_of(runs, "main", base, dataset, model, workers, tau_key)
        control = _control_of(runs, base, None, dataset, model, workers, tau_key)
        if control.empty:
            control = _runs_of(runs, "control", method, dataset, model, workers, tau_key)
        setting = {"method": variant, "base": base, "dataset": dataset, "model": model, "W": workers,
                   "τ": math.nan if tau_key == -1.0 else tau_key}
        at = (staleness["dataset"] == dataset) & (staleness["model"] == model) & (staleness["workers"] == workers) & (
            staleness["tau_key"] == tau_key)
        for claim, judged in (("C1", _c1(staleness[at & (staleness["method"] == method)],
                                         staleness[at & (staleness["method"] == base)])),
                              ("C2", _c2(group, base_runs, control)),
                              ("C3", _c3(group, base_runs, control)),
                              ("C4", _c4(group, base_runs))):
            rows.append({"claim": claim, **setting, **judged, "rule": RULES[claim]})
    return pd.DataFrame(rows)


def _verdict(measure: str, value: float, base_value: float, verdict: str, control_value: float = math.nan,
             ratio: float = math.nan) -> dict:
    assert verdict in VERDICTS
    return {"measure": measure, "value": value, "base value": base_value, "control value": control_value,
            "ratio": ratio, "verdict": verdict}


def _ratio(value: float, reference: float) -> float:
    return value / reference if reference and not math.isnan(reference) else math.nan


def _c1(sat: pd.DataFrame, base: pd.DataFrame) -> dict:
    """Staleness: rows used vs the stale copies replaced (same run), and vs the base's own run."""
    measured = sat.dropna(subset=["rel_error"])
    if measured.empty:
        return _verdict("mean rel. error of rows used (base: stale copy replaced)", math.nan, math.nan,
                        "not testable")
    used = float(measured["rel_error"].mean())
    replaced = float(measured["replaced_rel_error"].mean())
    base_error = float(base["rel_error"].mean()) if base["rel_error"].notna().any() else math.nan
    in_run, across = _ratio(used, replaced), _ratio(used, base_error)
    holds = in_run < IN_RUN_GAIN and (math.isnan(across) or across < 1)
    return _verdict(f"mean rel. error of rows used (base: stale copy replaced); base run's {base_error:.4g}, "
                    f"across-run ratio {across:.3g}", used, replaced, "holds" if holds else "fails", ratio=in_run)


def _c2(sat: pd.DataFrame, base: pd.DataFrame, control: pd.DataFrame) -> dict:
    """Accuracy: SAT against its base, paired over seeds, where staleness costs the base accuracy at all."""
    sat_scores, base_scores, control_scores = (_per_seed(f, "score") for f in (sat, base, control))
    cost, gain = _paired(control_scores, base_scores), _paired(sat_scores, base_scores)
    measure = (f"test at best val (%), paired over {len(gain)} seeds; SAT gain {_mean(gain):+.2f} ± "
               f"{_std(gain):.2f}, base staleness cost {_mean(cost):+.2f} ± {_std(cost):.2f}")
    numbers = dict(value=_mean(sat_scores), base_value=_mean(base_scores), control_value=_mean(control_scores))
    if len(cost) < 2 or len(gain) < 2 or not (cost.mean() > 0 and above_noise(cost)):
        return _verdict(measure, verdict="not testable", **numbers)
    error = gain.std(ddof=1) / math.sqrt(len(gain))
    beyond_control = _paired(sat_scores, control_scores)
    beyond_error = beyond_control.std(ddof=1) / math.sqrt(len(beyond_control)) if len(beyond_control) >= 2 else 0.0
    explained = beyond_control.mean() <= NOISE_FACTOR * beyond_error
    holds = gain.mean() > NOISE_FACTOR * error and explained
    if not explained:
        measure += f"; SAT beats the control by {beyond_control.mean():+.2f}"
    return _verdict(measure, verdict="holds" if holds else "fails", **numbers)


def _c3(sat: pd.DataFrame, base: pd.DataFrame, control: pd.DataFrame) -> dict:
    """Convergence: epochs and seconds to the target validation score."""
    epochs = {name: _reach_mean(frame, "epochs_to_target") for name, frame in
              (("sat", sat), ("base", base), ("control", control))}
    seconds = {name: _reach_mean(frame, "time_to_target_s") for name, frame in (("sat", sat), ("base", base))}
    measure = f"epochs to target (seconds: SAT {seconds['sat']:.3g}, base {seconds['base']:.3g})"
    numbers = dict(value=epochs["sat"], base_value=epochs["base"], control_value=epochs["control"])
    if any(math.isnan(value) for value in epochs.values()) or not _slows(base, control):
        return _verdict(measure, verdict="not testable", **numbers)
    holds = epochs["sat"] < epochs["base"] and seconds["sat"] <= seconds["base"]
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


def _c4(sat: pd.DataFrame, base: pd.DataFrame) -> dict:
    """Overhead: epoch time and traffic against the base."""
    if base.empty:
        return _verdict("mean epoch time (s)", math.nan, math.nan, "not testable")
    time, base_time = float(sat["mean_epoch_time_s"].mean()), float(base["mean_epoch_time_s"].mean())
    traffic, base_traffic = float(sat["mean_comm_bytes"].mean()), float(base["mean_comm_bytes"].mean())
    time_ratio, bytes_ratio = _ratio(time, base_time), _ratio(traffic, base_traffic)
    holds = time_ratio <= OVERHEAD_TIME and (math.isnan(bytes_ratio) or bytes_ratio <= OVERHEAD_BYTES)
    return _verdict(f"mean epoch time (s); traffic {traffic / 1e6:.3g} vs {base_traffic / 1e6:.3g} MB/epoch "
                    f"({bytes_ratio:.3g}×)", time, base_time, "holds" if holds else "fails", ratio=time_ratio)
