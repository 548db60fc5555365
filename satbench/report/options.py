"""The option study's table: what changing one of a method's options from its default moves, paired by seed.

The study (``option_study`` in a workflow config; planned by :func:`satbench.workflow.option_runs`) runs a main-grid
method with some of its options changed (``study`` ``option``, the changed options in the run's ``option`` column:
``KEY=VALUE``, several joined by ","), at every setting and seed where the method's default form runs in the main
grid. Its first use is fidelity: the options that remove a method's declared deviations from its authors' code
(docs/methods.md), so that each deviation states what it moves, measured rather than argued.

Per (dataset, model, W, sync period, method, option) the table states, over the seeds both forms ran:

- **accuracy**: option − default in test points at the best validation epoch (a paired t, two-sided; its 95 %
  interval; the p adjusted by Holm's method over the table's rows) and the smallest difference the seeds could have
  detected (80 % power);
- **drift** of the halo rows used (``drift_rel_error``: against exact rows of the same weights and dropout masks,
  per seed the mean over its measurements): the geometric mean ratio option / default (a paired t on the log ratio);
- for an alleviation method, **C1 with the option** (its rows against its base's in the base's own run: the claims
  table's C1 measure and rule, the interval of the ratio below 1 holds, above fails), so that what an option does to
  the method's claim is read beside what the default form does.
"""

from __future__ import annotations

import math

import pandas as pd

from .claims import _interval_verdict, _mean, _per_seed
from .keys import period_key, period_of_key
from .stats import ALPHA, error_ratio, holm, min_detectable_effect, paired, paired_difference

OPTION_STUDY = "option"
SETTING = ["dataset", "model", "workers", "tau_key"]
DRIFT = "drift_rel_error"


def _drift_per_seed(staleness: pd.DataFrame, records: pd.Series) -> pd.Series:
    """Per seed, the mean drift of the rows used over the runs' measurements (every hidden layer)."""
    return _per_seed(staleness[staleness["record"].isin(set(records))], DRIFT)


def _c1_verdict(comparison) -> str:
    """The claims table's C1 rule on a ratio of drifts (its interval below 1 holds, above fails)."""
    if comparison.n < 2 or math.isnan(comparison.ci_high):
        return "not testable"
    return _interval_verdict(comparison, 1.0)


def options_table(runs: pd.DataFrame, staleness: pd.DataFrame) -> pd.DataFrame:
    """One row per option setting of the option study beside its method's main runs (module docstring)."""
    if runs.empty or "option" not in runs.columns:
        return pd.DataFrame()
    runs = runs.assign(tau_key=period_key(runs["sync_period"]), score=runs["test_at_best_val"] * 100)
    studied = runs[(runs["study"] == OPTION_STUDY) & runs["option"].notna()]
    main = runs[runs["study"] == "main"]
    rows = []
    for (dataset, model, workers, tau_key, method, option), group in studied.groupby(
            SETTING + ["method", "option"], sort=False):
        at = ((main["dataset"] == dataset) & (main["model"] == model) & (main["workers"] == workers)
              & (main["tau_key"] == tau_key))
        default = main[at & (main["method"] == method)]
        if default.empty:
            continue
        option_scores, default_scores = _per_seed(group, "score"), _per_seed(default, "score")
        accuracy = paired_difference(option_scores, default_scores)
        first, second = paired(option_scores, default_scores)
        option_drift = _drift_per_seed(staleness, group["record"])
        default_drift = _drift_per_seed(staleness, default["record"])
        drift = error_ratio(option_drift, default_drift)
        row = {
            "dataset": dataset, "model": model, "workers": workers, "sync_period": period_of_key(tau_key),
            "method": method, "option": option, "options_changed": len(str(option).split(",")),
            "default_pct_mean": _mean(default_scores),
            "option_pct_mean": _mean(option_scores), **accuracy.columns(),
            "mde_pts": min_detectable_effect(first - second) if len(first) else math.nan,
            "default_drift": _mean(default_drift), "option_drift": _mean(option_drift),
            **drift.columns("drift_"),
        }
        base = group["base"].iloc[0]
        if isinstance(base, str):
            base_runs = main[at & (main["method"] == base)]
            c1 = error_ratio(option_drift, _drift_per_seed(staleness, base_runs["record"]))
            default_c1 = error_ratio(default_drift, _drift_per_seed(staleness, base_runs["record"]))
            row.update(base=base, c1_ratio=c1.estimate, c1_ci_low=c1.ci_low, c1_ci_high=c1.ci_high,
                       c1_verdict=_c1_verdict(c1), default_c1_ratio=default_c1.estimate,
                       default_c1_verdict=_c1_verdict(default_c1))
        else:
            row.update(base=None, c1_ratio=math.nan, c1_ci_low=math.nan, c1_ci_high=math.nan,
                       c1_verdict="not applicable", default_c1_ratio=math.nan, default_c1_verdict="not applicable")
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    table = pd.DataFrame(rows).rename(columns={"p_value": "p_raw"})
    table.insert(table.columns.get_loc("p_raw") + 1, "p_value", holm(table["p_raw"]))
    table.insert(table.columns.get_loc("p_value") + 1, "significant", table["p_value"] < ALPHA)
    return table.sort_values(["dataset", "model", "workers", "method", "option"], kind="stable").reset_index(
        drop=True)
