"""The tables, each a pandas frame built from the run frames (see the package docstring for the conventions)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .claims import claims_frame, decomposition_frame
from .frames import main_study, reach_frame
from .style import ordered_methods

# -- tables -------------------------------------------------------------------------------------------------------


def _mean_pm_std(values: pd.Series, digits: int = 2) -> str:
    values = values.dropna()
    if values.empty:
        return "—"
    if len(values) == 1:
        return f"{values.iloc[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def _sort_rows(frame: pd.DataFrame, method_column: str = "method") -> pd.DataFrame:
    """Rows in (dataset, model, W, method-order, τ) order."""
    order = {name: rank for rank, name in enumerate(ordered_methods(frame[method_column]))}
    keys = [column for column in ("dataset", "model", "W", "workers") if column in frame.columns]
    frame = frame.assign(_rank=frame[method_column].map(order))
    keys.append("_rank")
    keys += [column for column in ("τ", "sync_period") if column in frame.columns]
    return frame.sort_values(keys, kind="stable").drop(columns="_rank").reset_index(drop=True)


def accuracy_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Rows: method; columns: (dataset, model, W); cells: test score at best validation, "mean ± std" in %."""
    runs = main_study(runs)
    if runs.empty:
        return pd.DataFrame()
    cells = (runs.assign(score=runs["test_at_best_val"] * 100)
             .groupby(["variant", "dataset", "model", "workers"])["score"].apply(_mean_pm_std))
    table = cells.unstack(["dataset", "model", "workers"]).sort_index(axis=1)
    table = table.reindex(ordered_methods(table.index)).fillna("—")
    table.columns = pd.MultiIndex.from_tuples([(d, m, f"W={w}") for d, m, w in table.columns],
                                              names=["dataset", "model", "W"])
    table.index.name = "method"
    return table


def staleness_table(staleness: pd.DataFrame) -> pd.DataFrame:
    """Rows: method; columns: (dataset, model, W, hidden layer); cells: mean relative error over every measurement.

    One column per configuration, because errors of different graphs, models and worker counts do not average into
    anything meaningful; runs without halo rows (W = 1) measure nothing and have no column.
    """
    staleness = main_study(staleness).dropna(subset=["rel_error"])
    if staleness.empty:
        return pd.DataFrame()
    table = staleness.pivot_table(index="variant", columns=["dataset", "model", "workers", "layer"],
                                  values="rel_error", aggfunc="mean").sort_index(axis=1)
    table = table.reindex(ordered_methods(table.index))
    table.columns = pd.MultiIndex.from_tuples([(d, m, f"W={w}", f"layer {layer}") for d, m, w, layer in table.columns],
                                              names=["dataset", "model", "W", "layer"])
    table.index.name = "method"
    return table


def _per_config_means(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return runs.groupby(keys, dropna=False).agg(
        epoch_time_s=("mean_epoch_time_s", "mean"), comm_bytes=("mean_comm_bytes", "mean"),
        staleness=("mean_staleness", "mean"), peak_memory_bytes=("peak_memory_bytes", "max"),
        seeds=("seed", "nunique")).reset_index()


def throughput_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, W, method): mean epoch time (s), speedup over exact, mean traffic per epoch (MB), and the
    largest worker's peak memory over the seeds (MiB)."""
    runs = main_study(runs)
    if runs.empty:
        return pd.DataFrame()
    means = _per_config_means(runs, ["dataset", "model", "workers", "variant", "method"])
    exact = (means[means["method"] == "exact"].set_index(["dataset", "model", "workers"])["epoch_time_s"]
             .groupby(level=[0, 1, 2]).mean())
    reference = means.set_index(["dataset", "model", "workers"]).index.map(lambda key: exact.get(key, math.nan))
    table = pd.DataFrame({
        "dataset": means["dataset"], "model": means["model"], "W": means["workers"], "method": means["variant"],
        "epoch time (s)": means["epoch_time_s"],
        "speedup vs exact": np.asarray(reference, dtype=float) / means["epoch_time_s"],
        "comm (MB/epoch)": means["comm_bytes"] / 1e6,
        "peak memory per worker (MiB)": means["peak_memory_bytes"] / 2**20,
        "seeds": means["seeds"],
    })
    return _sort_rows(table)


def time_to_target_table(epochs: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, W, method): epochs and wall time (s) to first reach the target validation score."""
    per_run = main_study(reach_frame(epochs, runs))
    if per_run.empty:
        return pd.DataFrame()
    per_run = per_run.rename(columns={"epochs_to_target": "epoch", "time_to_target_s": "wall_time_s"})
    grouped = per_run.groupby(["dataset", "model", "workers", "variant"])
    table = grouped.agg(target=("target", "first"), epochs=("epoch", "mean"), wall=("wall_time_s", "mean"),
                        hits=("epoch", "count"), runs=("epoch", "size")).reset_index()
    return _sort_rows(pd.DataFrame({
        "dataset": table["dataset"], "model": table["model"], "W": table["workers"], "method": table["variant"],
        "target val (%)": table["target"] * 100,
        "epochs to target": table["epochs"],   # NaN (shown "—") when no seed reached it
        "time to target (s)": table["wall"],
        "reached": [f"{hits}/{count}" for hits, count in zip(table["hits"], table["runs"])],
    }))


def _period_key(series: pd.Series) -> pd.Series:
    """τ as a join key where NaN (method without a sync period) must match NaN."""
    return series.fillna(-1.0)


def sat_vs_base_table(staleness: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per SAT configuration: used vs replaced error → reduction factor; epoch time vs its base → overhead."""
    runs = main_study(runs)
    sat_runs = runs[runs["base"].notna()]
    if sat_runs.empty:
        return pd.DataFrame()
    keys = ["dataset", "model", "workers", "tau_key"]
    staleness = main_study(staleness).assign(tau_key=lambda f: _period_key(f["sync_period"]))
    measured = staleness.dropna(subset=["replaced_rel_error", "rel_error"])
    errors = measured.groupby(keys + ["variant"]).agg(used=("rel_error", "mean"),
                                                       replaced=("replaced_rel_error", "mean"))
    runs = runs.assign(tau_key=_period_key(runs["sync_period"]))
    means = _per_config_means(runs, keys + ["variant", "method", "base"]).set_index(keys + ["method"])
    base_means = _per_config_means(runs, keys + ["method"]).set_index(keys + ["method"])
    rows = []
    for index, sat in means[means["base"].notna()].iterrows():
        *config, _ = index
        base_key = (*config, sat["base"])
        base = base_means.loc[base_key] if base_key in base_means.index else None
        error = errors.loc[(*config, sat["variant"])] if (*config, sat["variant"]) in errors.index else None
        used = error["used"] if error is not None else math.nan
        replaced = error["replaced"] if error is not None else math.nan
        base_time = base["epoch_time_s"] if base is not None else math.nan
        rows.append({
            "dataset": config[0], "model": config[1], "W": config[2],
            "τ": math.nan if config[3] == -1.0 else config[3],
            "method": sat["variant"], "base": sat["base"],
            "rel. error used": used, "rel. error replaced": replaced,
            "reduction (×)": replaced / used if used > 0 else math.nan,
            "base run rel. error": base["staleness"] if base is not None else math.nan,
            "epoch time (s)": sat["epoch_time_s"], "base epoch time (s)": base_time,
            "overhead (%)": 100 * (sat["epoch_time_s"] / base_time - 1),
        })
    return _sort_rows(pd.DataFrame(rows))


def decomposition_table(runs: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    """See :func:`satbench.report.claims.decomposition_frame`."""
    table = decomposition_frame(runs, reach)
    return table if table.empty else _sort_rows(table)


def claims_table(runs: pd.DataFrame, staleness: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    """See :func:`satbench.report.claims.claims_frame`."""
    table = claims_frame(runs, staleness, reach)
    if table.empty:
        return table
    return _sort_rows(table).sort_values(["claim", "method"], kind="stable").reset_index(drop=True)


def sweep_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs of methods with ≥ 2 τ values in one (dataset, model, W); sweep-layout runs when there are any."""
    pool = runs[runs["study"] == "sweep"] if (runs["study"] == "sweep").any() else main_study(runs)
    pool = pool.dropna(subset=["sync_period"])
    counts = pool.groupby(["dataset", "model", "workers", "method"])["sync_period"].transform("nunique")
    return pool[counts >= 2]


def sync_period_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, W, method, τ): mean staleness, test score (mean ± std, %), mean epoch time."""
    sweep = sweep_runs(runs)
    if sweep.empty:
        return pd.DataFrame()
    grouped = sweep.groupby(["dataset", "model", "workers", "method", "sync_period"])
    table = grouped.agg(staleness=("mean_staleness", "mean"), epoch_time=("mean_epoch_time_s", "mean"),
                        seeds=("seed", "nunique")).reset_index()
    scores = grouped["test_at_best_val"].apply(lambda values: _mean_pm_std(values * 100)).reset_index(drop=True)
    return _sort_rows(pd.DataFrame({
        "dataset": table["dataset"], "model": table["model"], "W": table["workers"], "method": table["method"],
        "τ": table["sync_period"].astype(int), "rel. error": table["staleness"], "test (%)": scores,
        "epoch time (s)": table["epoch_time"], "seeds": table["seeds"],
    }))


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
    configs = ["dataset", "model", "workers", "method", "rate", "rate_bit_s"]
    per_run = timed.groupby(configs + ["seed", "record"]).agg(
        epoch_time=("epoch_time_s", "mean"), comm_time=("comm_time_s", "mean"),
        comm_bytes=("comm_bytes", "mean")).reset_index()
    # Every run is kept, also one with a single epoch (no timed epoch: NaN cells rather than a missing row).
    runs = study.groupby(configs + ["seed", "record"]).size().reset_index()[configs + ["seed", "record"]]
    per_run = runs.merge(per_run, on=configs + ["seed", "record"], how="left")
    means = per_run.groupby(configs).agg(
        epoch_time=("epoch_time", "mean"), spread=("epoch_time", lambda values: values.std(ddof=1)),
        comm_time=("comm_time", "mean"), comm_bytes=("comm_bytes", "mean"), seeds=("seed", "nunique")).reset_index()
    exact = means[means["method"] == "exact"].set_index(["dataset", "model", "workers", "rate"])["epoch_time"]
    keys = pd.MultiIndex.from_frame(means[["dataset", "model", "workers", "rate"]])
    means["speedup"] = exact.reindex(keys).to_numpy() / means["epoch_time"].to_numpy()
    means["wins"] = None
    for _, group in means[means["method"] != "exact"].groupby(["dataset", "model", "workers", "method"]):
        means.loc[group.index, "wins"] = _faster_from(group.sort_values("rate_bit_s"))
    table = pd.DataFrame({
        "dataset": means["dataset"], "model": means["model"], "W": means["workers"], "method": means["method"],
        "rate": means["rate"], "rate (bit/s)": means["rate_bit_s"],
        "epoch time (s)": means["epoch_time"], "epoch time std (s)": means["spread"],
        "comm time (s/epoch)": means["comm_time"], "comm (MB/epoch)": means["comm_bytes"] / 1e6,
        "speedup vs exact": means["speedup"], "faster than exact at and below": means["wins"],
        "seeds": means["seeds"],
    })
    return _sort_rows(table.sort_values("rate (bit/s)", kind="stable"))


def _faster_from(curve: pd.DataFrame) -> str:
    """The highest rate of ``curve`` (one method, rates ascending) up to which, from the lowest, the method is faster
    than exact at every rate; a rate without a speedup (no exact there) ends the run."""
    wins = NEVER_IN_SWEEP
    for rate, speedup in zip(curve["rate"], curve["speedup"]):
        if not speedup > 1:  # NaN too
            break
        wins = rate
    return wins
