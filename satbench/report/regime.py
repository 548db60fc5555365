"""The regime study's tables and figures: where, on real graphs, stale halo rows start to cost accuracy.

The study (``config/regime.yaml``; planned by :mod:`satbench.workflow`, "the regime study") has two stages, told
apart by the records' ``study``:

- **screen** (:data:`SCREEN_STUDY`): the historical methods and their fresh-halo controls over a grid of worker
  counts, sync periods, graphs and models, with few seeds; exact once per graph and model, in one process (every W
  reproduces it: the exactness tests);
- **confirm** (:data:`CONFIRM_STUDY`): every setting whose screened staleness cost passed the threshold, rerun with
  enough seeds for the paired tests, with every alleviation method on that base, its control and exact at the same W.

Per setting (dataset, model, W, method, sync period) the regime table states the partition's regime (halo ratio,
label skew), the rows' mean age and drift, and the two costs the fresh-halo control separates (the decomposition's
definitions): protocol cost = exact − control and staleness cost = control − method, in test points at the best
validation epoch, each a paired t over seeds with its 95 % interval; the staleness cost's one-sided p (a loss) is
adjusted by Holm's method over the table. A setting the confirm stage reran is reported from the confirm stage's
seeds; the screen's estimate stays beside it.

A method's control does not depend on its sync period where the method's halo rows carry no gradient (DIGEST: its
control trains on exact rows whatever τ says; tests/test_regime.py holds this), so the screen runs one control per
(dataset, model, W, method) and every τ of the method is compared with it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd


from .frames import reach_frame
from .keys import period_key, period_of_key
from .stats import ALPHA, holm, min_detectable_effect, paired, paired_difference

SCREEN_STUDY, CONFIRM_STUDY = "regime-screen", "regime-confirm"
STAGES = {SCREEN_STUDY: "screen", CONFIRM_STUDY: "confirm"}
SETTING = ["dataset", "model", "workers", "method", "period_key"]

# What a user can measure on a graph before training to compare: the candidates the rule figure ranks by how much
# of the staleness cost's variation across settings each explains (R² of a straight line; Spearman's ρ beside it).
PREDICTORS = {
    "drift_x_halo": "drift × halo ratio",
    "drift_rel_error_mean": "drift (relative error)",
    "halo_ratio_mean": "halo ratio",
    "age_x_halo": "row age (steps) × halo ratio",
    "row_age_steps_mean": "row age (steps)",
}


def _scores(runs: pd.DataFrame) -> pd.DataFrame:
    return runs.assign(score=runs["test_at_best_val"] * 100, period_key=period_key(runs["sync_period"]))


def _control_of(method_runs: pd.DataFrame) -> str:
    """The method whose fresh-halo control stands for this method's (its base's where it shares it)."""
    head = method_runs.iloc[0]
    base = head.get("base")
    return str(base) if bool(head.get("shares_base_control")) and isinstance(base, str) else str(head["method"])


def _per_run_staleness(staleness: pd.DataFrame) -> pd.DataFrame:
    """Per record: the time-averaged drift and row age over its measurements and hidden layers."""
    if staleness.empty:
        return pd.DataFrame(columns=["record", "drift_rel_error", "age_steps"])
    return staleness.groupby("record", sort=False)[["drift_rel_error", "age_steps"]].mean().reset_index()


def _stage_rows(runs: pd.DataFrame, staleness: pd.DataFrame, study: str) -> list[dict]:
    stage = _scores(runs[runs["study"] == study])
    if stage.empty:
        return []
    per_run = _per_run_staleness(staleness[staleness["study"] == study])
    stage = stage.merge(per_run, on="record", how="left")
    fresh = stage["halo"] == "fresh"
    exact = stage[(stage["method"] == "exact") & ~fresh]
    controls, stale = stage[fresh], stage[~fresh & (stage["method"] != "exact")]
    rows = []
    for (dataset, model, workers, method, key), group in stale.groupby(SETTING, sort=True):
        control_name = _control_of(group)
        control = controls[(controls["dataset"] == dataset) & (controls["model"] == model)
                           & (controls["workers"] == workers) & (controls["method"] == control_name)]
        # exact: the same at every W (tested), so the stage's exact runs of this dataset and model, whatever their W
        reference = exact[(exact["dataset"] == dataset) & (exact["model"] == model)]
        method_scores = group.set_index("seed")["score"]
        control_scores = control.groupby("seed")["score"].mean()
        exact_scores = reference.groupby("seed")["score"].mean()
        staleness_cost = paired_difference(control_scores, method_scores, "greater")
        first, second = paired(control_scores, method_scores)
        smallest = min_detectable_effect(first - second)  # what this many seeds could have detected
        protocol_cost = paired_difference(exact_scores, control_scores, "greater")
        head = group.iloc[0]
        epochs = head.get("epochs")
        period = period_of_key(key)
        drift, halo = group["drift_rel_error"].mean(), group["halo_ratio_mean"].mean()
        age = group["age_steps"].mean()
        rows.append({
            "dataset": dataset, "model": model, "layers": head.get("layers"), "dropout": head.get("dropout"),
            "workers": int(workers), "method": method, "sync_period": period,
            "syncs": math.floor(epochs / period) if isinstance(period, (int, float)) and period > 0
            and not math.isnan(period) and epochs == epochs else math.nan,
            "stage": STAGES[study], "n": staleness_cost.n,
            "halo_ratio_mean": halo, "label_skew_mean": group["label_skew_mean"].mean(),
            "row_age_steps_mean": age, "drift_rel_error_mean": drift,
            "drift_x_halo": drift * halo, "age_x_halo": age * halo,
            "exact_pct_mean": exact_scores.mean(), "control_pct_mean": control_scores.mean(),
            "method_pct_mean": method_scores.mean(),
            **protocol_cost.columns("protocol_cost_"), **staleness_cost.columns("staleness_cost_"),
            "staleness_cost_mde_pts": smallest,
        })
    return rows


def regime_table(runs: pd.DataFrame, staleness: pd.DataFrame) -> pd.DataFrame:
    """One row per screened setting (see the module docstring): from the confirm stage's seeds where it reran the
    setting (``stage`` confirm), else the screen's; ``screen_staleness_cost_pts`` is the screen's estimate either
    way, the one the confirm stage was planned from. ``significant``: the staleness cost is a loss at Holm-adjusted
    p < 0.05 over the table."""
    screen = pd.DataFrame(_stage_rows(runs, staleness, SCREEN_STUDY))
    if screen.empty:
        return screen
    confirm = pd.DataFrame(_stage_rows(runs, staleness, CONFIRM_STUDY))
    keys = ["dataset", "model", "workers", "method", "sync_key"]
    screen = screen.assign(sync_key=period_key(screen["sync_period"]),
                           screen_staleness_cost_pts=screen["staleness_cost_estimate"])
    if not confirm.empty:
        confirm = confirm.assign(sync_key=period_key(confirm["sync_period"]))
        confirm = confirm.merge(screen[keys + ["screen_staleness_cost_pts"]], on=keys, how="inner")
        screen = screen[~screen.set_index(keys).index.isin(confirm.set_index(keys).index)]
        screen = pd.concat([screen, confirm], ignore_index=True)
    table = screen.drop(columns="sync_key").sort_values(
        ["dataset", "model", "method", "sync_period", "workers"], na_position="first").reset_index(drop=True)
    p = table["staleness_cost_p_value"]
    adjusted = pd.Series(np.nan, index=table.index)
    tested = p.notna()
    if tested.any():
        adjusted[tested] = holm(p[tested])
    table["staleness_cost_p_holm"] = adjusted
    table["significant"] = (adjusted < ALPHA).fillna(False).astype(bool)
    return table


def predictor_table(table: pd.DataFrame) -> pd.DataFrame:
    """How well each candidate of :data:`PREDICTORS` explains the staleness cost across the regime table's settings:
    R² and slope of a least-squares line, Spearman's ρ with its p (scipy.stats.spearmanr), over the settings with
    both values; best first."""
    from scipy import stats

    rows = []
    for column, label in PREDICTORS.items():
        data = table[[column, "staleness_cost_estimate"]].dropna() if column in table else pd.DataFrame()
        n = len(data)
        row = {"predictor": column, "label": label, "n": n, "r2": math.nan, "slope": math.nan,
               "intercept": math.nan, "spearman_rho": math.nan, "spearman_p": math.nan, "test": "Spearman ρ"}
        if n >= 3 and data[column].nunique() > 1:
            fit = stats.linregress(data[column], data["staleness_cost_estimate"])
            rho = stats.spearmanr(data[column], data["staleness_cost_estimate"])
            row.update(r2=fit.rvalue ** 2, slope=fit.slope, intercept=fit.intercept,
                       spearman_rho=float(rho.statistic), spearman_p=float(rho.pvalue))
        rows.append(row)
    return pd.DataFrame(rows).sort_values("r2", ascending=False, na_position="last").reset_index(drop=True)


def confirm_frames(runs: pd.DataFrame, epochs: pd.DataFrame, staleness: pd.DataFrame):
    """The confirm stage's runs, epochs and measurements as the main study and its controls (``study`` main or
    control), so that the claims table judges them by the rules it judges every study by."""
    def relabel(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[frame["study"] == CONFIRM_STUDY]
        return frame.assign(study=np.where(frame["halo"] == "fresh", "control", "main"))

    return relabel(runs), relabel(epochs), relabel(staleness)


def regime_claims_table(runs: pd.DataFrame, epochs: pd.DataFrame, staleness: pd.DataFrame) -> pd.DataFrame:
    """SAT's claims C1–C4 for every alleviation method in every setting the confirm stage reran (the claims table's
    rules); one row saying so where the confirm stage has no runs."""
    from .tables import claims_table

    main, epochs, measured = confirm_frames(runs, epochs, staleness)
    if main.empty:  # one row that says so: an empty table would read as a failure to build it
        return pd.DataFrame([{"claim": "C1–C4", "method": "every alleviation method", "verdict": "not testable",
                              "measure": "the confirm stage has no runs: no setting passed the threshold, those "
                                         "that did lay beyond the study's budget, or the planned ones have not run "
                                         "(results/regime/confirm-plan.json lists the settings planned and deferred; "
                                         "the regime table gives every setting's estimate)"}])
    return claims_table(main, measured, reach_frame(epochs, main))


# -- figures ----------------------------------------------------------------------------------------------------------


def _row_label(method: str, period) -> str:
    return method if period is None or (isinstance(period, float) and math.isnan(period)) else f"{method} τ={period:g}"


def regime_figure(table: pd.DataFrame):
    """One panel per graph × model: staleness cost (control − method, test points) as colour over W (columns) and
    method/τ (rows), the estimate written in each cell, a box round each significant loss; below each W its regime
    (halo ratio, label skew) and the seeds behind the cells."""
    if table.empty:
        return None
    from matplotlib import colors, rc_context
    from matplotlib.patches import Rectangle

    from .figures import _new_figure
    from .style import PAPER_RC, ordered_methods

    panels = sorted(table[["dataset", "model"]].drop_duplicates().itertuples(index=False))
    limit = max(1.0, float(np.nanmax(np.abs(table["staleness_cost_estimate"].to_numpy(dtype=float)))))
    norm = colors.TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    columns = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / columns)
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(rows, columns, panel_height=2.6)
        image = None
        for index, (dataset, model) in enumerate(panels):
            axis = axes[index // columns, index % columns]
            panel = table[(table["dataset"] == dataset) & (table["model"] == model)]
            workers = sorted(panel["workers"].unique())
            variants = []
            for method in ordered_methods(panel["method"].unique()):
                periods = panel.loc[panel["method"] == method, "sync_period"]
                variants += [(method, None)] if periods.isna().all() else [
                    (method, float(p)) for p in sorted(periods.dropna().unique())]
            grid = np.full((len(variants), len(workers)), np.nan)
            for _, row in panel.iterrows():
                period = None if pd.isna(row["sync_period"]) else float(row["sync_period"])
                y, x = variants.index((row["method"], period)), workers.index(row["workers"])
                grid[y, x] = row["staleness_cost_estimate"]
                cost = row["staleness_cost_estimate"]
                label = "—" if pd.isna(cost) else f"{cost:.1f}"
                dark = not pd.isna(cost) and abs(cost) > 0.6 * limit  # white on the saturated colours
                axis.text(x, y, label, ha="center", va="center", fontsize=6.5, color="white" if dark else "black")
                if row["significant"]:
                    axis.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, linewidth=1.6, edgecolor="black"))
            image = axis.imshow(grid, cmap="RdBu_r", norm=norm, aspect="auto")
            axis.grid(False)
            regime = panel.groupby("workers")[["halo_ratio_mean", "label_skew_mean"]].mean()
            seeds = panel.groupby("workers")["n"].min()
            axis.set_xticks(range(len(workers)), [
                f"W={w}\nhalo {regime.loc[w, 'halo_ratio_mean']:.2f}\nskew {regime.loc[w, 'label_skew_mean']:.2f}\n"
                f"n={seeds.loc[w]}" for w in workers], fontsize=6)
            axis.set_yticks(range(len(variants)), [_row_label(m, p) for m, p in variants], fontsize=6.5)
            axis.set_title(f"{dataset} · {model}", fontsize=8)
        for index in range(len(panels), rows * columns):
            axes[index // columns, index % columns].set_visible(False)
        bar = figure.colorbar(image, ax=axes, shrink=0.8)
        bar.set_label("staleness cost (control − method, test points)")
    return figure


def regime_rule_figure(table: pd.DataFrame, predictors: pd.DataFrame):
    """Staleness cost (whiskers: its 95 % interval over seeds) against the candidate that explains it best
    (:func:`predictor_table`), one marker per method, with the fitted line; every candidate's R² and ρ in the
    corner."""
    usable = predictors.dropna(subset=["r2"])
    if table.empty:
        return None
    from matplotlib import rc_context

    from .figures import _new_figure
    from .style import PAPER_RC, method_style, ordered_methods

    # with too few settings for a fit, the first candidate, unfitted
    best = usable.iloc[0] if not usable.empty else predictors.iloc[0]
    column = best["predictor"]
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(1, 1, panel_height=3.2)
        axis = axes[0, 0]
        for method in ordered_methods(table["method"].unique()):
            data = table[(table["method"] == method)].dropna(subset=[column, "staleness_cost_estimate"])
            if data.empty:
                continue
            style = method_style(method)
            low = data["staleness_cost_estimate"] - data["staleness_cost_ci_low"]
            high = data["staleness_cost_ci_high"] - data["staleness_cost_estimate"]
            axis.errorbar(data[column], data["staleness_cost_estimate"], yerr=[low.fillna(0), high.fillna(0)],
                          fmt=style.marker, color=style.color, markersize=4, linewidth=0.7, capsize=1.5,
                          label=method, alpha=0.85)
        if not usable.empty:
            xs = np.linspace(table[column].min(), table[column].max(), 50)
            axis.plot(xs, best["intercept"] + best["slope"] * xs, color="black", linewidth=0.8, linestyle="--")
        axis.axhline(0, color="grey", linewidth=0.5)
        axis.set_xlabel(best["label"])
        axis.set_ylabel("staleness cost (test points)")
        text = ("\n".join(f"{row.label}: R² {row.r2:.2f}, ρ {row.spearman_rho:.2f}" for row in usable.itertuples())
                or "too few settings for a fit (3 needed)")
        axis.text(0.02, 0.98, text, transform=axis.transAxes, va="top", fontsize=6)
        if axis.get_legend_handles_labels()[0]:  # no method with a measured cost: nothing to name
            axis.legend(fontsize=6, loc="lower right")
        seeds = sorted(table["n"].dropna().astype(int).unique())
        axis.set_title(f"one point per setting; seeds per point: {', '.join(map(str, seeds))}", fontsize=7)
    return figure


def plot_regime(table: pd.DataFrame, out_stem) -> list[Path]:
    from .figures import _written

    return _written(regime_figure(table), out_stem)


def plot_regime_rule(table: pd.DataFrame, predictors: pd.DataFrame, out_stem) -> list[Path]:
    from .figures import _written

    return _written(regime_rule_figure(table, predictors), out_stem)
