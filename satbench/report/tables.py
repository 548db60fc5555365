"""The tables, each a long numeric pandas frame built from the run frames (see the package docstring for the
conventions): one row per setting and method, ``<quantity>_mean``, ``<quantity>_std`` and ``n`` where something is
averaged over seeds, units in the column names. The writers (:mod:`.render`) show ``mean ± std`` in Markdown and
LaTeX; the CSV keeps the numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .claims import alleviation_runs, claims_frame, decomposition_frame, fidelity_frame, timed_runs
from .frames import main_study, reach_frame
from .keys import period_key, period_of_key
from .style import ordered_methods

SETTING = ["dataset", "model", "workers"]
# The partition regime beside every setting of the accuracy and decomposition tables.
REGIME = ["partitioner", "halo_ratio_mean", "label_skew_mean", "label_skew_max", "edge_cut"]


def _sort_rows(frame: pd.DataFrame, method_column: str = "method") -> pd.DataFrame:
    """Rows in (dataset, model, W, method-order, τ) order."""
    if frame.empty:
        return frame
    order = {name: rank for rank, name in enumerate(ordered_methods(frame[method_column]))}
    keys = [column for column in ("dataset", "model", "workers") if column in frame.columns]
    frame = frame.assign(_rank=frame[method_column].map(order))
    keys.append("_rank")
    keys += [column for column in ("sync_period", "rate_bit_s", "layer") if column in frame.columns]
    return frame.sort_values(keys, kind="stable").drop(columns="_rank").reset_index(drop=True)


def _syncs(epochs: pd.Series, period: pd.Series) -> pd.Series:
    """Synchronisations in a run of ``epochs`` epochs at sync period τ (one every τ epochs); NaN without a τ."""
    return np.floor(epochs / period)


def regime(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, W) of the main study: its partition regime (means over its runs, which share the
    partition; label skew NaN where the records do not state it)."""
    main = main_study(runs)
    return main.groupby(SETTING, as_index=False).agg(
        partitioner=("partitioner", "first"), halo_ratio_mean=("halo_ratio_mean", "mean"),
        label_skew_mean=("label_skew_mean", "mean"), label_skew_max=("label_skew_max", "max"),
        edge_cut=("edge_cut", "mean"))


def _with_regime(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the regime columns after its setting columns."""
    merged = table.merge(regime(runs), on=SETTING, how="left")
    return merged[SETTING + REGIME + [c for c in table.columns if c not in SETTING]]


def _seed_groups(runs: pd.DataFrame) -> pd.core.groupby.DataFrameGroupBy:
    """Main runs grouped by setting, method and τ: the rows of the per-method tables."""
    return runs.assign(tau_key=period_key(runs["sync_period"])).groupby(SETTING + ["method", "tau_key"])


def accuracy_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, W, method, τ): test score at best validation in %, mean, std and n over seeds; the
    setting's regime, the run's epochs and, where a sync period applies, its syncs."""
    runs = main_study(runs)
    if runs.empty:
        return pd.DataFrame()
    scored = runs.assign(test_pct=runs["test_at_best_val"] * 100)
    table = _seed_groups(scored).agg(
        family=("family", "first"), base=("base", "first"), epochs=("epochs", "max"),
        test_pct_mean=("test_pct", "mean"), test_pct_std=("test_pct", "std"), n=("test_pct", "count")).reset_index()
    table["sync_period"] = period_of_key(table.pop("tau_key"))
    table["syncs"] = _syncs(table["epochs"], table["sync_period"])
    table = table[SETTING + ["method", "family", "base", "epochs", "sync_period", "syncs", "test_pct_mean",
                             "test_pct_std", "n"]]
    return _sort_rows(_with_regime(table, runs))


def staleness_table(staleness: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, W, method, τ, hidden layer): the time-averaged errors of the halo rows used (the
    measurements are drawn at seeded steps of every phase, :mod:`satbench.staleness`), each run's mean over its
    measurements, then mean, std and n over runs: ``drift_rel_error`` (staleness alone: exact rows with each row's own
    dropout masks), ``rel_error`` (against the step's own masks) and ``mask_rel_error`` (the floor between them), the
    mean row age in steps, the share of rows compared in eval mode, and the measurements per run. Runs without halo
    rows (W = 1) measure nothing and have no row; errors of different settings never average together."""
    staleness = main_study(staleness).dropna(subset=["rel_error"])
    if staleness.empty:
        return pd.DataFrame()
    staleness = staleness.assign(tau_key=period_key(staleness["sync_period"]))
    measured = ["rel_error", "drift_rel_error", "mask_rel_error", "age_steps", "unmasked_share", "cosine"]
    keys = SETTING + ["method", "tau_key", "layer"]
    per_run = staleness.groupby(keys + ["record"], as_index=False).agg(
        **{column: (column, "mean") for column in measured}, measurements=("epoch", "size"))
    table = per_run.groupby(keys).agg(
        drift_rel_error_mean=("drift_rel_error", "mean"), drift_rel_error_std=("drift_rel_error", "std"),
        rel_error_mean=("rel_error", "mean"), rel_error_std=("rel_error", "std"),
        mask_rel_error_mean=("mask_rel_error", "mean"), age_steps_mean=("age_steps", "mean"),
        unmasked_share_mean=("unmasked_share", "mean"), cosine_mean=("cosine", "mean"),
        measurements_per_run=("measurements", "mean"), n=("record", "nunique")).reset_index()
    table.insert(4, "sync_period", period_of_key(table.pop("tau_key")))
    return _sort_rows(table)


def staleness_by_age_table(staleness: pd.DataFrame) -> pd.DataFrame:
    """Error against row age: per (dataset, model, W, method, τ, hidden layer) and mean row age at the measured step
    (in optimiser steps, rounded to whole steps), the mean drift, total and mask errors over every measurement of
    every run at that age, and how many measurements that is. A periodic method's saw-tooth in numbers."""
    staleness = main_study(staleness).dropna(subset=["rel_error", "age_steps"])
    if staleness.empty:
        return pd.DataFrame()
    staleness = staleness.assign(tau_key=period_key(staleness["sync_period"]),
                                 age_steps_rounded=staleness["age_steps"].round().astype("int64"))
    keys = SETTING + ["method", "tau_key", "layer", "age_steps_rounded"]
    table = staleness.groupby(keys).agg(
        drift_rel_error_mean=("drift_rel_error", "mean"), rel_error_mean=("rel_error", "mean"),
        mask_rel_error_mean=("mask_rel_error", "mean"), measurements=("epoch", "size"),
        runs=("record", "nunique")).reset_index().rename(columns={"age_steps_rounded": "age_steps"})
    table.insert(4, "sync_period", period_of_key(table.pop("tau_key")))
    return _sort_rows(table)


def _launcher_names(values: pd.Series) -> str:
    names = sorted({str(value) for value in values.dropna()})
    return "/".join(names) if names else ""


def throughput_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, W, method, τ): epoch time (s, mean and std over seeds, or over the repetitions of the
    timing study), speedup over exact (exact's mean epoch time at the setting over the method's), traffic per epoch
    (MB, all workers), the largest worker's peak memory over the runs (MiB), and where the times come from: the
    timing study where it timed the setting, else the main runs (:func:`.claims.timed_runs`; ``study``), and the
    launcher that ran them (``launcher``: inprocess times are no deployment's)."""
    runs = timed_runs(runs)
    if runs.empty:
        return pd.DataFrame()
    if "launcher" not in runs.columns:
        runs = runs.assign(launcher=None)
    table = _seed_groups(runs).agg(
        epoch_time_s_mean=("mean_epoch_time_s", "mean"), epoch_time_s_std=("mean_epoch_time_s", "std"),
        comm_bytes=("mean_comm_bytes", "mean"), peak_memory_bytes=("peak_memory_bytes", "max"),
        n=("seed", "nunique"), study=("study", "first"), launcher=("launcher", _launcher_names)).reset_index()
    exact = table[table["method"] == "exact"].groupby(SETTING)["epoch_time_s_mean"].mean()
    reference = pd.MultiIndex.from_frame(table[SETTING]).map(lambda key: exact.get(key, math.nan))
    table.insert(4, "sync_period", period_of_key(table.pop("tau_key")))
    table.insert(7, "speedup_vs_exact", np.asarray(reference, dtype=float) / table["epoch_time_s_mean"])
    table["comm_MB_per_epoch"] = table.pop("comm_bytes") / 1e6
    table["peak_memory_MiB"] = table.pop("peak_memory_bytes") / 2**20
    for column in ("n", "study", "launcher"):
        table[column] = table.pop(column)
    return _sort_rows(table)


def time_to_target_table(epochs: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, W, method, τ): epochs and training seconds to first reach the target validation score,
    mean and std over the seeds that reached it (NaN where none did), how many did (``reached``) of ``n``."""
    per_run = main_study(reach_frame(epochs, runs)).dropna(subset=["target"])  # exact's target: where exact ran
    if per_run.empty:
        return pd.DataFrame()
    periods = runs.set_index("record")["sync_period"]
    per_run = per_run.assign(tau_key=period_key(per_run["record"].map(periods)))
    table = per_run.groupby(SETTING + ["method", "tau_key"]).agg(
        target_val_pct=("target", "first"), epochs_to_target_mean=("epochs_to_target", "mean"),
        epochs_to_target_std=("epochs_to_target", "std"), time_to_target_s_mean=("time_to_target_s", "mean"),
        time_to_target_s_std=("time_to_target_s", "std"), reached=("epochs_to_target", "count"),
        n=("epochs_to_target", "size")).reset_index()
    table["target_val_pct"] *= 100
    table.insert(4, "sync_period", period_of_key(table.pop("tau_key")))
    return _sort_rows(table)


def _per_config_means(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return runs.groupby(keys, dropna=False).agg(
        epoch_time_s=("mean_epoch_time_s", "mean"), comm_bytes=("mean_comm_bytes", "mean"),
        staleness=("mean_staleness", "mean"), n=("seed", "nunique")).reset_index()


def alleviation_vs_base_table(staleness: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per alleviation configuration: the error of the rows it used against that of the stale copies it replaced
    (same run) → reduction = replaced / used; its base's own error; its epoch time against its base's → overhead
    (times from the timing study where it timed the setting, as the throughput table's)."""
    judged = alleviation_runs(runs)
    if judged.empty:
        return pd.DataFrame()
    keys = SETTING + ["tau_key"]
    staleness = main_study(staleness).assign(tau_key=lambda f: period_key(f["sync_period"]))
    measured = staleness.dropna(subset=["rel_error"])
    errors = measured.groupby(keys + ["method"]).agg(used=("rel_error", "mean"),
                                                      replaced=("replaced_rel_error", "mean"))
    main = main_study(runs).assign(tau_key=lambda f: period_key(f["sync_period"]))
    means = _per_config_means(main, keys + ["method"]).set_index(keys + ["method"])
    # epoch times as the throughput table and C4 read them (the timing study where it timed the setting)
    timed = timed_runs(runs).assign(tau_key=lambda f: period_key(f["sync_period"]))
    times = _per_config_means(timed, keys + ["method"]).set_index(keys + ["method"])["epoch_time_s"]
    rows = []
    for (*config, method, base), group in judged.assign(tau_key=lambda f: period_key(f["sync_period"])).groupby(
            keys + ["method", "base"]):
        own, base_key = means.loc[(*config, method)], (*config, base)
        base_row = means.loc[base_key] if base_key in means.index else None
        error = errors.loc[(*config, method)] if (*config, method) in errors.index else None
        used = error["used"] if error is not None else math.nan
        replaced = error["replaced"] if error is not None else math.nan
        own_time = times.get((*config, method), math.nan)
        base_time = times.get(base_key, math.nan)
        rows.append({
            "dataset": config[0], "model": config[1], "workers": config[2],
            "sync_period": period_of_key(config[3]), "method": method, "base": base,
            "rel_error_used": used, "rel_error_replaced": replaced,
            "reduction": replaced / used if used > 0 else math.nan,
            "base_rel_error": base_row["staleness"] if base_row is not None else math.nan,
            "epoch_time_s": own_time, "base_epoch_time_s": base_time,
            "overhead_pct": 100 * (own_time / base_time - 1), "n": int(own["n"]),
        })
    return _sort_rows(pd.DataFrame(rows))


def _with_epochs(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The decomposition's rows with their settings' regime, the runs' epochs and their syncs."""
    main = main_study(runs).assign(tau_key=lambda f: period_key(f["sync_period"]))
    epochs = main.groupby(SETTING + ["method", "tau_key"], as_index=False)["epochs"].max()
    table = table.assign(tau_key=period_key(table["sync_period"])).merge(
        epochs, on=SETTING + ["method", "tau_key"], how="left").drop(columns="tau_key")
    table["syncs"] = _syncs(table["epochs"], table["sync_period"])
    first = SETTING + ["method", "family", "base", "epochs", "sync_period", "syncs"]
    return _with_regime(table[first + [c for c in table.columns if c not in first]], runs)


def decomposition_table(runs: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    """See :func:`satbench.report.claims.decomposition_frame`; with each setting's regime, epochs and syncs."""
    table = decomposition_frame(runs, reach)
    return table if table.empty else _sort_rows(_with_epochs(table, runs))


def claims_table(runs: pd.DataFrame, staleness: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    """See :func:`satbench.report.claims.claims_frame`."""
    table = claims_frame(runs, staleness, reach)
    if table.empty:
        return table
    return _sort_rows(table).sort_values(["claim", "method"], kind="stable").reset_index(drop=True)


def fidelity_table(runs: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    """See :func:`satbench.report.claims.fidelity_frame`."""
    table = fidelity_frame(runs, decomposition_frame(runs, reach))
    return table if table.empty else _sort_rows(table)


def sweep_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs of methods with ≥ 2 τ values in one (dataset, model, W); sweep-layout runs when there are any."""
    pool = runs[runs["study"] == "sweep"] if (runs["study"] == "sweep").any() else main_study(runs)
    pool = pool.dropna(subset=["sync_period"])
    counts = pool.groupby(SETTING + ["method"])["sync_period"].transform("nunique")
    return pool[counts >= 2]


def sync_period_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, W, method, τ): syncs, mean staleness, test score (%, mean, std, n over seeds), mean
    epoch time."""
    sweep = sweep_runs(runs)
    if sweep.empty:
        return pd.DataFrame()
    scored = sweep.assign(test_pct=sweep["test_at_best_val"] * 100)
    table = scored.groupby(SETTING + ["method", "sync_period"]).agg(
        epochs=("epochs", "max"), rel_error_mean=("mean_staleness", "mean"), test_pct_mean=("test_pct", "mean"),
        test_pct_std=("test_pct", "std"), epoch_time_s_mean=("mean_epoch_time_s", "mean"),
        n=("seed", "nunique")).reset_index()
    table.insert(6, "syncs", _syncs(table["epochs"], table["sync_period"]))
    return _sort_rows(table)


NEVER_IN_SWEEP = "never in the sweep"


def bandwidth_table(epochs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, W, method, rate) of the bandwidth study: mean epoch time, communication time and bytes per
    epoch over every epoch but each run's first (measured ``epoch_time_s`` and ``comm_time_s``, slowest worker; bytes
    summed over workers), each a mean over seeds (with the seeds' std of the epoch time); speedup over exact at that
    rate = exact's epoch time / the method's; and, for each method other than exact, the highest rate from which down
    it is faster than exact at every rate of the sweep ("never in the sweep" if not even at the lowest)."""
    study = epochs[epochs["study"] == "bandwidth"].dropna(subset=["rate"])
    if study.empty:
        return pd.DataFrame()
    first = study.groupby("record")["epoch"].transform("min")
    timed = study[study["epoch"] > first]  # the first epoch carries one-off costs (allocation, first contact)
    configs = SETTING + ["method", "rate", "rate_bit_s"]
    per_run = timed.groupby(configs + ["seed", "record"]).agg(
        epoch_time=("epoch_time_s", "mean"), comm_time=("comm_time_s", "mean"),
        comm_bytes=("comm_bytes", "mean")).reset_index()
    # Every run is kept, also one with a single epoch (no timed epoch: NaN cells rather than a missing row).
    runs = study.groupby(configs + ["seed", "record"]).size().reset_index()[configs + ["seed", "record"]]
    per_run = runs.merge(per_run, on=configs + ["seed", "record"], how="left")
    means = per_run.groupby(configs).agg(
        epoch_time=("epoch_time", "mean"), spread=("epoch_time", lambda values: values.std(ddof=1)),
        comm_time=("comm_time", "mean"), comm_bytes=("comm_bytes", "mean"), seeds=("seed", "nunique")).reset_index()
    exact = means[means["method"] == "exact"].set_index(SETTING + ["rate"])["epoch_time"]
    keys = pd.MultiIndex.from_frame(means[SETTING + ["rate"]])
    means["speedup"] = exact.reindex(keys).to_numpy() / means["epoch_time"].to_numpy()
    means["wins"] = None
    for _, group in means[means["method"] != "exact"].groupby(SETTING + ["method"]):
        means.loc[group.index, "wins"] = _faster_from(group.sort_values("rate_bit_s"))
    table = pd.DataFrame({
        "dataset": means["dataset"], "model": means["model"], "workers": means["workers"],
        "method": means["method"], "rate": means["rate"], "rate_bit_s": means["rate_bit_s"],
        "epoch_time_s_mean": means["epoch_time"], "epoch_time_s_std": means["spread"],
        "comm_time_s_per_epoch": means["comm_time"], "comm_MB_per_epoch": means["comm_bytes"] / 1e6,
        "speedup_vs_exact": means["speedup"], "faster_than_exact_at_and_below": means["wins"],
        "n": means["seeds"],
    })
    return _sort_rows(table.sort_values("rate_bit_s", kind="stable"))


def _faster_from(curve: pd.DataFrame) -> str:
    """The highest rate of ``curve`` (one method, rates ascending) up to which, from the lowest, the method is faster
    than exact at every rate; a rate without a speedup (no exact there) ends the run."""
    wins = NEVER_IN_SWEEP
    for rate, speedup in zip(curve["rate"], curve["speedup"]):
        if not speedup > 1:  # NaN too
            break
        wins = rate
    return wins
