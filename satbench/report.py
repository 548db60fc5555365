"""Tables and figures from run records: accuracy, staleness, throughput, time to target, SAT vs its base, τ sweep.

Input is a list of run records (paths, or already-loaded record dicts). The dataset label of a run is, in order:
an explicit ``labels`` entry for its path; the ``{dataset}`` component of the workflow's record layout
(``results/runs/{dataset}/{model}/{method}/w{W}/seed{S}.json`` or the sweep layout
``results/sweep/{dataset}/{model}/{method}/tau{τ}/w{W}/seed{S}.json``); else ``config.dataset`` (which may be a long
spec such as ``sbm:n=3000,...``). Everything else (model, method, W, seed, τ) comes from the record's ``config``.

Runs in the sweep layout form the *sweep* study, all others the *main* study. The main tables and figures use main
runs only, because a sweep run repeats a main configuration with other epochs and τ; the sync-period table and
figure use the sweep runs when there are any, else every run.

Conventions (also stated in the tables' captions in :data:`TABLE_CAPTIONS`):

* the reported score is ``summary.test_at_best_val`` (test score at the first epoch with the best validation score),
  in %; "mean ± std" is over seeds with the sample standard deviation (ddof = 1), and just the mean for one seed;
* staleness is the measured relative error ``‖h_used − h_exact‖_F / ‖h_exact‖_F`` of the halo rows, averaged with
  equal weight per (measured epoch, layer) row;
* speedup is exact's mean epoch time over the method's at the same (dataset, model, W), each a mean over seeds;
* time to target: the target of a (dataset, model) is 0.95 × exact's best validation score there (mean of
  ``summary.best_val`` over exact's runs, all seeds and W, which agree up to seed because exact equals full-graph
  training); a run's epochs to target is the first epoch whose validation score reaches it, its time the cumulative
  ``epoch_time_s`` through that epoch; means are over the seeds that reached it ("reached" says how many did);
* SAT vs base: per SAT configuration, the mean error of the rows SAT used against the mean error of the stale copy it
  replaced (``replaced_rel_error``, same rows and weights) — reduction = replaced / used (> 1: SAT helped) — and its
  mean epoch time against its base method's at the same (dataset, model, W, τ).

If a method appears in the main runs with several τ values, its rows are split and labelled ``method (τ=N)`` so that
no table averages over different hyperparameters.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import claims
from .errors import ConfigError
from .record import write_text_atomic

log = logging.getLogger("satbench.report")

RecordSource = str | os.PathLike | Mapping[str, Any]

RUN_LAYOUT = re.compile(
    r"(?:^|/)(?:runs|controls)/(?P<dataset>[^/]+)/(?P<model>[^/]+)/(?P<method>[^/]+)/w(?P<workers>\d+)/seed(?P<seed>\d+)\.json$")
SWEEP_LAYOUT = re.compile(
    r"(?:^|/)sweep/(?P<dataset>[^/]+)/(?P<model>[^/]+)/(?P<method>[^/]+)/tau(?P<tau>\d+)/w(?P<workers>\d+)"
    r"/seed(?P<seed>\d+)\.json$")

# The fraction of exact's best validation score that counts as "reached" for the time-to-target table.
TARGET_FRACTION = 0.95

# Display order of the known methods (baselines first, then the SAT family); unknown names follow alphabetically.
METHOD_ORDER = ("exact", "partition", "gas", "graphfm", "pipegcn", "pipegcn-gf", "digest", "sancus",
                "sat", "sat+gas", "sat+pipegcn", "sat-plus")

# One fixed colour per method in every figure. The SAT family gets red/purple/pink/navy, its bases blues/greens/orange.
METHOD_COLORS = {
    "exact": "#000000",
    "partition": "#7f7f7f",
    "gas": "#1f77b4",
    "graphfm": "#17becf",
    "pipegcn": "#2ca02c",
    "pipegcn-gf": "#bcbd22",
    "digest": "#ff7f0e",
    "sancus": "#8c564b",
    "sat": "#d62728",
    "sat+gas": "#9467bd",
    "sat+pipegcn": "#e377c2",
    "sat-plus": "#08306b",
}
# Unknown methods draw from this palette by a stable hash of their name, so a new baseline keeps its colour across
# figures and runs (Python's hash() is salted per process; crc32 is not).
FALLBACK_COLORS = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
                   "#756bb1", "#636363", "#6baed6", "#fd8d3c")


TABLE_CAPTIONS = {
    "accuracy": "Test score (%) at the best validation epoch, mean ± std over seeds.",
    "staleness": "Mean relative error of the halo rows each method uses, per configuration and hidden layer.",
    "throughput": "Mean epoch time, speedup over exact at the same (dataset, model, W), and traffic per epoch.",
    "time_to_target": f"Epochs and wall time to first reach {TARGET_FRACTION:.0%} of exact's best validation score.",
    "sat_vs_base": "SAT: error of the rows it used vs the stale copy it replaced, and epoch-time overhead vs base.",
    "sync_period": "Staleness, test score and epoch time against the sync period τ.",
    "decomposition": "Each stale method's gap to exact, split by its fresh-halo control: protocol cost = exact − "
                     "control, staleness cost = control − method (test points, paired by seed, ± std; and in epochs "
                     "and seconds to target); a SAT variant's recovered share = (SAT − base) / (control − base).",
    "claims": "A computed verdict on each claim of SAT (C1 staleness, C2 accuracy, C3 convergence, C4 overhead) per "
              "setting and variant, with its numbers and rule.",
}

PAPER_RC = {
    # ≥ 9 pt everywhere so that a figure scaled to a 7 in text width stays legible.
    "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "xtick.labelsize": 9, "ytick.labelsize": 9,
    "legend.fontsize": 9, "figure.titlesize": 10,
    "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.5,
    "lines.linewidth": 1.4, "lines.markersize": 4,
    "axes.spines.top": False, "axes.spines.right": False,
    # TrueType in PDFs: venues reject Type 3 fonts, and the text stays editable.
    "pdf.fonttype": 42, "ps.fonttype": 42,
}
FIGURE_WIDTH_IN = 7.0  # a two-column paper's text width
PANEL_HEIGHT_IN = 2.4
PNG_DPI = 200


# -- loading ------------------------------------------------------------------------------------------------------


@dataclass
class LoadedRun:
    """One run record and the identifying columns every frame carries."""

    meta: dict[str, Any]
    record: dict[str, Any]


META_COLUMNS = ("dataset", "model", "method", "variant", "workers", "seed", "sync_period", "study", "record")


def read_record(path: str | os.PathLike) -> dict:
    """A run record from disk; a file that is not one is a one-line error, not a traceback."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"cannot read run record {path}: {error}") from None
    if not isinstance(record, dict) or not {"config", "summary", "epochs"} <= record.keys():
        raise ConfigError(f"{path} is not a satbench run record (no config/summary/epochs)")
    return record


def _as_number(value: Any) -> float:
    """Method options may be stored as strings ("10") when given as ``-o KEY=VALUE``."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _load_one(source: RecordSource, index: int, labels: Mapping[str, str] | None) -> LoadedRun:
    if isinstance(source, Mapping):
        record, name = dict(source), f"record[{index}]"
    else:
        record, name = read_record(source), str(source)
    config = record["config"]
    posix = Path(name).as_posix() if not isinstance(source, Mapping) else ""
    layout = SWEEP_LAYOUT.search(posix) or RUN_LAYOUT.search(posix)
    dataset = str(config.get("dataset"))
    if labels and name in labels:
        dataset = labels[name]
    elif layout:
        dataset = layout["dataset"]
    sync_period = _as_number((config.get("method_options") or {}).get("sync_period"))
    if math.isnan(sync_period) and layout and "tau" in layout.groupdict():
        sync_period = float(layout["tau"])
    method = record.get("method") or {}  # what ran, as the registry knew it (family, base, halo)
    halo = method.get("halo", config.get("halo", "method"))
    if halo == "fresh":
        study = "control"
    else:
        study = "sweep" if layout is not None and layout.re is SWEEP_LAYOUT else "main"
    meta = {
        "dataset": dataset,
        "model": str(config.get("model")),
        "method": str(config.get("method")),
        "workers": int(config.get("workers")),
        "seed": int(config.get("seed", 0)),
        "sync_period": sync_period,
        "study": study,
        "base": method.get("base"),
        "record": name,
    }
    return LoadedRun(meta, record)


def _label_variants(runs: list[LoadedRun]) -> None:
    """``variant`` = the method, or ``method (τ=N)`` where one method has several τ values in the same study."""
    periods: dict[tuple[str, str], set] = {}
    for run in runs:
        key = (run.meta["study"], run.meta["method"])
        periods.setdefault(key, set()).add(-1.0 if math.isnan(run.meta["sync_period"]) else run.meta["sync_period"])
    for run in runs:
        meta = run.meta
        several = len(periods[(meta["study"], meta["method"])]) > 1
        if several and meta["study"] in ("main", "control") and not math.isnan(meta["sync_period"]):
            meta["variant"] = f"{meta['method']} (τ={meta['sync_period']:g})"
        else:
            meta["variant"] = meta["method"]


def load_records(sources: Iterable[RecordSource], labels: Mapping[str, str] | None = None) -> list[LoadedRun]:
    """Read every record once (paths or dicts) with its identifying columns; frames below take this list too."""
    runs = [_load_one(source, index, labels) for index, source in enumerate(sources)]
    _label_variants(runs)
    seen: dict[tuple, str] = {}
    for run in runs:
        key = tuple(run.meta[k] for k in ("study", "dataset", "model", "variant", "workers", "seed"))
        key += (-1.0 if math.isnan(run.meta["sync_period"]) else run.meta["sync_period"],)
        if key in seen:  # e.g. two option settings of one method: the tables would average them as seeds
            log.warning("%s and %s are the same configuration and seed; both are counted", seen[key],
                        run.meta["record"])
        seen.setdefault(key, run.meta["record"])
    return runs


def _loaded(sources: Iterable[RecordSource] | list[LoadedRun], labels: Mapping[str, str] | None) -> list[LoadedRun]:
    sources = list(sources)
    if sources and all(isinstance(source, LoadedRun) for source in sources):
        return sources
    return load_records(sources, labels)


def _ordered_methods(names: Iterable[str]) -> list[str]:
    names = set(names)

    def key(name: str):
        method, _, period = name.partition(" (τ=")
        rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
        return rank, method, float(period.rstrip(")")) if period else -1.0  # τ numerically: 5 before 20
    return sorted(names, key=key)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def load_runs(sources, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per run: its identifying columns, the summary's scores, timing, traffic and staleness."""
    rows = []
    for run in _loaded(sources, labels):
        summary = run.record.get("summary") or {}
        row = {key: run.meta[key] for key in META_COLUMNS}
        row["base"] = run.meta["base"]
        row["epochs"] = len(run.record.get("epochs") or [])
        for key in ("best_val", "test_at_best_val", "best_epoch", "mean_epoch_time_s", "mean_comm_bytes",
                    "mean_staleness"):
            row[key] = _float(summary.get(key))
        rows.append(row)
    columns = list(META_COLUMNS) + ["base", "epochs", "best_val", "test_at_best_val", "best_epoch",
                                    "mean_epoch_time_s", "mean_comm_bytes", "mean_staleness"]
    return pd.DataFrame(rows, columns=columns)


def epoch_frame(sources, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (run, epoch): loss, val, test (NaN where not evaluated), epoch time, cumulative time, bytes."""
    frames = []
    for run in _loaded(sources, labels):
        epochs = run.record.get("epochs") or []
        frame = pd.DataFrame({
            "epoch": [int(row["epoch"]) for row in epochs],
            "loss": [_float(row.get("loss")) for row in epochs],
            "val": [_float(row.get("val")) for row in epochs],
            "test": [_float(row.get("test")) for row in epochs],
            "epoch_time_s": [_float(row.get("epoch_time_s")) for row in epochs],
            "comm_bytes": [_float(row.get("comm_bytes")) for row in epochs],
        })
        frame["wall_time_s"] = frame["epoch_time_s"].cumsum()
        for key in META_COLUMNS:
            frame[key] = run.meta[key]
        frames.append(frame)
    columns = list(META_COLUMNS) + ["epoch", "loss", "val", "test", "epoch_time_s", "wall_time_s", "comm_bytes"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def staleness_frame(sources, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (run, measured epoch, hidden layer): rel_error, cosine, age_epochs, replaced_rel_error."""
    rows = []
    for run in _loaded(sources, labels):
        for epoch in run.record.get("epochs") or []:
            for layer in epoch.get("staleness") or []:
                row = {key: run.meta[key] for key in META_COLUMNS}
                row.update(epoch=int(epoch["epoch"]), layer=int(layer["layer"]),
                           rel_error=_float(layer.get("rel_error")), cosine=_float(layer.get("cosine")),
                           age_epochs=_float(layer.get("age_epochs")),
                           replaced_rel_error=_float(layer.get("replaced_rel_error")))
                rows.append(row)
    columns = list(META_COLUMNS) + ["epoch", "layer", "rel_error", "cosine", "age_epochs", "replaced_rel_error"]
    return pd.DataFrame(rows, columns=columns)


def _main_study(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["study"] == "main"]


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
    order = {name: rank for rank, name in enumerate(_ordered_methods(frame[method_column]))}
    keys = [column for column in ("dataset", "model", "W", "workers") if column in frame.columns]
    frame = frame.assign(_rank=frame[method_column].map(order))
    keys.append("_rank")
    keys += [column for column in ("τ", "sync_period") if column in frame.columns]
    return frame.sort_values(keys, kind="stable").drop(columns="_rank").reset_index(drop=True)


def accuracy_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Rows: method; columns: (dataset, model, W); cells: test score at best validation, "mean ± std" in %."""
    runs = _main_study(runs)
    if runs.empty:
        return pd.DataFrame()
    cells = (runs.assign(score=runs["test_at_best_val"] * 100)
             .groupby(["variant", "dataset", "model", "workers"])["score"].apply(_mean_pm_std))
    table = cells.unstack(["dataset", "model", "workers"]).sort_index(axis=1)
    table = table.reindex(_ordered_methods(table.index)).fillna("—")
    table.columns = pd.MultiIndex.from_tuples([(d, m, f"W={w}") for d, m, w in table.columns],
                                              names=["dataset", "model", "W"])
    table.index.name = "method"
    return table


def staleness_table(staleness: pd.DataFrame) -> pd.DataFrame:
    """Rows: method; columns: (dataset, model, W, hidden layer); cells: mean relative error over every measurement.

    One column per configuration, because errors of different graphs, models and worker counts do not average into
    anything meaningful; runs without halo rows (W = 1) measure nothing and have no column.
    """
    staleness = _main_study(staleness).dropna(subset=["rel_error"])
    if staleness.empty:
        return pd.DataFrame()
    table = staleness.pivot_table(index="variant", columns=["dataset", "model", "workers", "layer"],
                                  values="rel_error", aggfunc="mean").sort_index(axis=1)
    table = table.reindex(_ordered_methods(table.index))
    table.columns = pd.MultiIndex.from_tuples([(d, m, f"W={w}", f"layer {layer}") for d, m, w, layer in table.columns],
                                              names=["dataset", "model", "W", "layer"])
    table.index.name = "method"
    return table


def _per_config_means(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return runs.groupby(keys, dropna=False).agg(
        epoch_time_s=("mean_epoch_time_s", "mean"), comm_bytes=("mean_comm_bytes", "mean"),
        staleness=("mean_staleness", "mean"), seeds=("seed", "nunique")).reset_index()


def throughput_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, W, method): mean epoch time (s), speedup over exact, mean traffic per epoch (MB)."""
    runs = _main_study(runs)
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
        "seeds": means["seeds"],
    })
    return _sort_rows(table)


def target_scores(runs: pd.DataFrame) -> pd.Series:
    """Per (dataset, model): TARGET_FRACTION × exact's best validation score (mean over its runs)."""
    exact = _main_study(runs)
    exact = exact[exact["method"] == "exact"].dropna(subset=["best_val"])
    return TARGET_FRACTION * exact.groupby(["dataset", "model"])["best_val"].mean()


def reach_frame(epochs: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per run of any study: the target of its (dataset, model), and the first epoch whose validation score reaches
    it with the cumulative epoch time through that epoch (NaN when it never does)."""
    targets = target_scores(runs)
    columns = ["record", "dataset", "model", "workers", "variant", "study", "target", "epochs_to_target",
               "time_to_target_s"]
    per_run = []
    for (dataset, model, record), frame in epochs.groupby(["dataset", "model", "record"], sort=False):
        if (dataset, model) not in targets.index:
            continue
        target = targets[(dataset, model)]
        reached = frame[frame["val"] >= target].sort_values("epoch")
        first = reached.iloc[0] if not reached.empty else None
        per_run.append({"record": record, "dataset": dataset, "model": model, "workers": frame["workers"].iloc[0],
                        "variant": frame["variant"].iloc[0], "study": frame["study"].iloc[0], "target": target,
                        "epochs_to_target": first["epoch"] if first is not None else math.nan,
                        "time_to_target_s": first["wall_time_s"] if first is not None else math.nan})
    return pd.DataFrame(per_run, columns=columns)


def time_to_target_table(epochs: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, W, method): epochs and wall time (s) to first reach the target validation score."""
    per_run = _main_study(reach_frame(epochs, runs))
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
    runs = _main_study(runs)
    sat_runs = runs[runs["base"].notna()]
    if sat_runs.empty:
        return pd.DataFrame()
    keys = ["dataset", "model", "workers", "tau_key"]
    staleness = _main_study(staleness).assign(tau_key=lambda f: _period_key(f["sync_period"]))
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
    """See :func:`satbench.claims.decomposition_frame`."""
    table = claims.decomposition_frame(runs, reach)
    return table if table.empty else _sort_rows(table)


def claims_table(runs: pd.DataFrame, staleness: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    """See :func:`satbench.claims.claims_frame`."""
    table = claims.claims_frame(runs, staleness, reach)
    if table.empty:
        return table
    return _sort_rows(table).sort_values(["claim", "method"], kind="stable").reset_index(drop=True)


def _sweep_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs of methods with ≥ 2 τ values in one (dataset, model, W); sweep-layout runs when there are any."""
    pool = runs[runs["study"] == "sweep"] if (runs["study"] == "sweep").any() else _main_study(runs)
    pool = pool.dropna(subset=["sync_period"])
    counts = pool.groupby(["dataset", "model", "workers", "method"])["sync_period"].transform("nunique")
    return pool[counts >= 2]


def sync_period_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, W, method, τ): mean staleness, test score (mean ± std, %), mean epoch time."""
    sweep = _sweep_runs(runs)
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


# -- table writers (no tabulate/jinja2: neither is a satbench dependency) ----------------------------------------


def format_cell(value: Any) -> str:
    """Numbers to 3–4 significant digits, missing values as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if value == 0:
            return "0"
        if math.isinf(value):  # a time to target that was never reached
            return "never" if value > 0 else "-inf"
        if value.is_integer() and abs(value) < 1e6:
            return str(int(value))
        magnitude = math.floor(math.log10(abs(value)))
        if magnitude < -3 or magnitude >= 6:
            return f"{value:.2e}"
        return f"{value:.{max(0, 3 - magnitude)}f}"
    return str(value)


def _with_index_columns(table: pd.DataFrame) -> tuple[list[tuple[str, ...]], list[list[str]]]:
    """Header tuples (one entry per column level) and formatted body rows, the row index as leading column(s)."""
    levels = table.columns.nlevels
    has_index = not isinstance(table.index, pd.RangeIndex)
    index_names = [name or "" for name in table.index.names] if has_index else []
    headers = [("",) * (levels - 1) + (name,) for name in index_names]
    for column in table.columns:
        headers.append(tuple(str(part) for part in column) if levels > 1 else (str(column),))
    body = []
    for index, row in table.iterrows():
        keys = (index if isinstance(index, tuple) else (index,)) if has_index else ()
        body.append([format_cell(key) for key in keys] + [format_cell(value) for value in row])
    return headers, body


def table_to_markdown(table: pd.DataFrame) -> str:
    headers, body = _with_index_columns(table)
    escape = lambda text: text.replace("|", r"\|")  # noqa: E731
    names = [escape(" · ".join(part for part in header if part)) for header in headers]
    lines = ["| " + " | ".join(names) + " |", "|" + "|".join("---" for _ in names) + "|"]
    lines += ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "±": r"$\pm$", "—": "---", "τ": r"$\tau$", "×": r"$\times$", "·": r"$\cdot$", "≥": r"$\geq$"}


def latex_escape(text: str) -> str:
    # One pass per character, so the macros inserted for ± or τ are never escaped again.
    return "".join(LATEX_SPECIALS.get(char, char) for char in text)


def table_to_latex(table: pd.DataFrame, caption: str | None = None, label: str | None = None) -> str:
    """A booktabs ``table`` environment; multi-level column headers become \\multicolumn rows with \\cmidrule."""
    headers, body = _with_index_columns(table)
    index_count = 0 if isinstance(table.index, pd.RangeIndex) else table.index.nlevels
    # Names left-aligned, numbers (and "mean ± std" cells) right-aligned so that digits line up.
    text_columns = {"dataset", "model", "method", "base", "reached"}
    align = "l" * index_count + "".join("l" if str(column) in text_columns else "r" for column in table.columns)
    lines = [r"\begin{table}[t]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines += [rf"\begin{{tabular}}{{{align}}}", r"\toprule"]
    levels = len(headers[0]) if headers else 1
    for level in range(levels - 1):
        # Group neighbouring columns that share this level and every level above it.
        cells, rules, position = [], [], 0
        while position < len(headers):
            end = position + 1
            while end < len(headers) and headers[end][:level + 1] == headers[position][:level + 1]:
                end += 1
            text = latex_escape(headers[position][level])
            span = end - position
            cells.append(rf"\multicolumn{{{span}}}{{c}}{{{text}}}" if span > 1 else text)
            if text and position >= index_count:
                rules.append(rf"\cmidrule(lr){{{position + 1}-{end}}}")
            position = end
        lines.append(" & ".join(cells) + r" \\")
        if rules:
            lines.append(" ".join(rules))
    lines.append(" & ".join(latex_escape(header[-1]) for header in headers) + r" \\")
    lines.append(r"\midrule")
    lines += [" & ".join(latex_escape(cell) for cell in row) + r" \\" for row in body]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def table_to_csv(table: pd.DataFrame) -> str:
    """Full-precision values; multi-level column headers flattened to "dataset / model / W"."""
    flat = table.copy()
    if flat.columns.nlevels > 1:
        flat.columns = [" / ".join(str(part) for part in column) for column in flat.columns]
    return flat.to_csv(index=not isinstance(flat.index, pd.RangeIndex))


def write_table(table: pd.DataFrame, stem: str | os.PathLike, caption: str | None = None) -> list[Path]:
    """Write ``stem.csv``, ``stem.md`` and ``stem.tex`` (each atomically); returns the paths."""
    stem = Path(stem)
    outputs = {stem.with_suffix(".csv"): table_to_csv(table),
               stem.with_suffix(".md"): table_to_markdown(table),
               stem.with_suffix(".tex"): table_to_latex(table, caption=caption, label=f"tab:{stem.name}")}
    for path, text in outputs.items():
        write_text_atomic(path, text)
    return list(outputs)


# -- plots --------------------------------------------------------------------------------------------------------


def method_color(name: str) -> str:
    """The fixed colour of a method (``method (τ=N)`` variants share their method's colour)."""
    method = name.split(" (τ=")[0]
    if method in METHOD_COLORS:
        return METHOD_COLORS[method]
    return FALLBACK_COLORS[zlib.crc32(method.encode()) % len(FALLBACK_COLORS)]


def _new_figure(rows: int, columns: int, width: float = FIGURE_WIDTH_IN, panel_height: float = PANEL_HEIGHT_IN,
                sharex: bool = False):
    # Figure without pyplot: no global state and no interactive backend needed on a headless node.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, panel_height * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False, sharex=sharex)
    return figure, axes


def _save_figure(figure, out_stem: str | os.PathLike) -> list[Path]:
    """``out_stem.png`` (200 dpi) and ``out_stem.pdf``, each written to a temporary file and renamed into place."""
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for extension in ("png", "pdf"):
        path = out_stem.with_suffix(f".{extension}")
        handle, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(handle)
        try:
            figure.savefig(staging, format=extension, dpi=PNG_DPI, bbox_inches="tight", pad_inches=0.03)
            os.replace(staging, path)
        except BaseException:
            Path(staging).unlink(missing_ok=True)
            raise
        written.append(path)
    return written


def _shared_legend(figure, axes, extra: Sequence = (), loc: str = "outside lower center", ncols: int = 6) -> None:
    """One legend for the whole figure (below the panels by default), methods in display order."""
    handles: dict[str, Any] = {}
    for axis in np.ravel(axes):
        for handle, label in zip(*axis.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    ordered = [(handles[label], label) for label in _ordered_methods(handles)]
    ordered += [(handle, handle.get_label()) for handle in extra]
    if ordered:
        figure.legend([h for h, _ in ordered], [label for _, label in ordered], loc=loc,
                      ncols=min(ncols, len(ordered)), frameon=False)


def _scale_for(values: Iterable[float]) -> tuple[str, float | None]:
    """"log" when the positive values span more than 1.5 decades ("symlog" if zeros are present too), else linear.

    Staleness spans decades between methods (GAS ~1e-2, partition 1), which a linear axis flattens to zero.
    """
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    positive = values[values > 0]
    if positive.size < 2 or positive.max() / positive.min() < 10 ** 1.5:
        return "linear", None
    if (values <= 0).any():
        return "symlog", 10 ** math.floor(math.log10(positive.min()))
    return "log", None


def _apply_scale(axis, values: Iterable[float], which: str = "y") -> None:
    scale, linthresh = _scale_for(values)
    setter = axis.set_yscale if which == "y" else axis.set_xscale
    if scale == "symlog":
        setter("symlog", linthresh=linthresh, linscale=0.5)
    else:
        setter(scale)


def _ticks_at(axis, values: Iterable[float]) -> None:
    """x ticks at the values that were run (W, τ), as plain numbers rather than 10⁰, 10¹ on a log axis."""
    from matplotlib.ticker import FixedLocator, NullLocator

    axis.xaxis.set_major_locator(FixedLocator(sorted(set(values))))
    axis.xaxis.set_major_formatter(lambda value, _: f"{value:g}")
    axis.xaxis.set_minor_locator(NullLocator())


def _largest_workers(frame: pd.DataFrame) -> dict[tuple[str, str], int]:
    return frame.groupby(["dataset", "model"])["workers"].max().to_dict()


def _panel_configs(frame: pd.DataFrame, workers: int | None) -> list[tuple[str, str, int]]:
    """(dataset, model, W) per panel: the given W, else each (dataset, model)'s largest W."""
    if workers is not None:
        present = frame[frame["workers"] == workers][["dataset", "model"]].drop_duplicates()
        return [(d, m, workers) for d, m in sorted(present.itertuples(index=False))]
    return [(d, m, w) for (d, m), w in sorted(_largest_workers(frame).items())]


def _convergence(epochs: pd.DataFrame, out_stem, x: str, workers: int | None) -> list[Path]:
    epochs = _main_study(epochs).dropna(subset=["val"])
    if epochs.empty:
        return []
    configs = _panel_configs(epochs, workers)
    columns = min(3, len(configs))
    rows = math.ceil(len(configs) / columns)
    from matplotlib import rc_context
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(rows, columns)
        for axis, (dataset, model, count) in zip(axes.ravel(), configs):
            panel = epochs[(epochs["dataset"] == dataset) & (epochs["model"] == model) & (epochs["workers"] == count)]
            for variant in _ordered_methods(panel["variant"]):
                curve = (panel[panel["variant"] == variant].groupby("epoch")
                         .agg(val=("val", "mean"), low=("val", "min"), high=("val", "max"),
                              wall=("wall_time_s", "mean")))
                xs = curve.index.to_numpy() if x == "epoch" else curve["wall"].to_numpy()
                color = method_color(variant)
                axis.plot(xs, curve["val"] * 100, color=color, label=variant)
                axis.fill_between(xs, curve["low"] * 100, curve["high"] * 100, color=color, alpha=0.15, lw=0)
            axis.set_title(f"{dataset} · {model} · W={count}")
            # Sum of epoch times: training only, evaluation and staleness measurement excluded.
            axis.set_xlabel("epoch" if x == "epoch" else "cumulative training time (s)")
            axis.set_ylabel("validation score (%)")
        for axis in axes.ravel()[len(configs):]:
            axis.set_visible(False)
        _shared_legend(figure, axes)
        return _save_figure(figure, out_stem)


def plot_val_vs_epoch(epochs: pd.DataFrame, out_stem, workers: int | None = None) -> list[Path]:
    """Validation score vs epoch, one panel per (dataset, model) at its largest W; mean over seeds, min–max band."""
    return _convergence(epochs, out_stem, "epoch", workers)


def plot_val_vs_time(epochs: pd.DataFrame, out_stem, workers: int | None = None) -> list[Path]:
    """Validation score vs cumulative epoch time (training only: evaluation and measurement are excluded)."""
    return _convergence(epochs, out_stem, "wall", workers)


def plot_staleness(staleness: pd.DataFrame, out_stem, workers: int | None = None) -> list[Path]:
    """Relative error vs epoch; rows: (dataset, model) at its largest W, columns: hidden layer.

    Exact's error is 0 and is left out (it would sit on the axis); SAT's ``replaced_rel_error`` (the stale copy it
    replaced) is drawn dashed in SAT's colour.
    """
    staleness = _main_study(staleness).dropna(subset=["rel_error"])
    staleness = staleness[staleness["method"] != "exact"]
    if staleness.empty:
        return []
    configs = _panel_configs(staleness, workers)
    layers = sorted(staleness["layer"].unique())
    from matplotlib import rc_context
    from matplotlib.lines import Line2D
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(len(configs), len(layers))
        for row, (dataset, model, count) in enumerate(configs):
            config = staleness[(staleness["dataset"] == dataset) & (staleness["model"] == model)
                               & (staleness["workers"] == count)]
            for column, layer in enumerate(layers):
                axis = axes[row, column]
                panel = config[config["layer"] == layer]
                for variant in _ordered_methods(panel["variant"]):
                    curve = panel[panel["variant"] == variant].groupby("epoch")[
                        ["rel_error", "replaced_rel_error"]].mean()
                    color = method_color(variant)
                    axis.plot(curve.index, curve["rel_error"], color=color, marker="o", label=variant)
                    if curve["replaced_rel_error"].notna().any():
                        axis.plot(curve.index, curve["replaced_rel_error"], color=color, ls="--", marker="x",
                                  lw=1.0)
                values = np.concatenate([panel["rel_error"].to_numpy(), panel["replaced_rel_error"].to_numpy()])
                _apply_scale(axis, values)
                axis.set_title(f"{dataset} · {model} · W={count} · layer {layer}")
                axis.set_xlabel("epoch")
                axis.set_ylabel("relative error of halo rows")
        stale_copy = Line2D([], [], color="0.3", ls="--", marker="x", lw=1.0,
                            label="stale copy SAT replaced")
        has_replaced = staleness["replaced_rel_error"].notna().any()
        _shared_legend(figure, axes, extra=[stale_copy] if has_replaced else [])
        return _save_figure(figure, out_stem)


def plot_throughput(runs: pd.DataFrame, out_stem) -> list[Path]:
    """Mean epoch time vs W and speedup over exact vs W; one row per (dataset, model)."""
    table = throughput_table(runs)
    if table.empty:
        return []
    configs = sorted(table[["dataset", "model"]].drop_duplicates().itertuples(index=False))
    has_speedup = table["speedup vs exact"].notna().any()
    from matplotlib import rc_context
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(len(configs), 2 if has_speedup else 1)
        for row, (dataset, model) in enumerate(configs):
            panel = table[(table["dataset"] == dataset) & (table["model"] == model)]
            for variant in _ordered_methods(panel["method"]):
                curve = panel[panel["method"] == variant].sort_values("W")
                style = dict(color=method_color(variant), marker="o", label=variant)
                axes[row, 0].plot(curve["W"], curve["epoch time (s)"], **style)
                if has_speedup:
                    axes[row, 1].plot(curve["W"], curve["speedup vs exact"], **style)
            _apply_scale(axes[row, 0], panel["epoch time (s)"])
            axes[row, 0].set_ylabel("epoch time (s)")
            axes[row, 0].set_title(f"{dataset} · {model}: epoch time")
            if has_speedup:
                axes[row, 1].axhline(1.0, color="0.5", lw=0.8, ls=":")
                axes[row, 1].set_ylabel("speedup over exact (×)")
                axes[row, 1].set_title(f"{dataset} · {model}: speedup over exact")
            counts = sorted(panel["W"].unique())
            for axis in axes[row]:
                axis.set_xlabel("workers W")
                if len(counts) > 1 and counts[-1] / counts[0] >= 4:  # W doubles (1, 2, 4, 8): even spacing
                    axis.set_xscale("log", base=2)
                else:
                    axis.set_xlim(counts[0] - 0.5, counts[-1] + 0.5)
                _ticks_at(axis, counts)
        _shared_legend(figure, axes)
        return _save_figure(figure, out_stem)


def plot_accuracy_vs_staleness(runs: pd.DataFrame, out_stem) -> list[Path]:
    """Test score vs mean staleness, one point per (method, dataset·model, W), mean over seeds."""
    runs = _main_study(runs).dropna(subset=["mean_staleness", "test_at_best_val"])
    if runs.empty:
        return []
    points = runs.groupby(["dataset", "model", "workers", "variant"]).agg(
        staleness=("mean_staleness", "mean"), score=("test_at_best_val", "mean")).reset_index()
    markers = "osD^v<>PX*"
    configs = sorted(points[["dataset", "model"]].drop_duplicates().itertuples(index=False))
    marker_of = {config: markers[i % len(markers)] for i, config in enumerate(configs)}
    from matplotlib import rc_context
    from matplotlib.lines import Line2D
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(1, 1, width=FIGURE_WIDTH_IN * 0.75, panel_height=3.0)
        axis = axes[0, 0]
        for point in points.itertuples(index=False):
            axis.scatter(point.staleness, point.score * 100, color=method_color(point.variant),
                         marker=marker_of[(point.dataset, point.model)], s=28, label=point.variant,
                         edgecolors="white", linewidths=0.4, zorder=3)
        _apply_scale(axis, points["staleness"], which="x")
        axis.set_xlabel("mean relative error of halo rows")
        axis.set_ylabel("test score at best val. (%)")
        shapes = [Line2D([], [], ls="", marker=marker_of[c], color="0.3", label=f"{c[0]} · {c[1]}")
                  for c in configs] if len(configs) > 1 else []
        # Beside the panel: a one-panel figure is too narrow for a legend row of six methods.
        _shared_legend(figure, axes, extra=shapes, loc="outside right upper", ncols=1)
        return _save_figure(figure, out_stem)


def plot_decomposition(table: pd.DataFrame, out_stem) -> list[Path]:
    """Per setting (dataset · model · W), one row of bars per stale method: its protocol cost (grey, exact −
    control) and its staleness cost (its colour, control − method), in test points with seed-std whiskers. A
    staleness bar is hatched where it is within seed noise; a SAT variant's recovered share is printed beside it."""
    if table.empty or table["control (%)"].isna().all():
        return []
    table = table.dropna(subset=["control (%)"])
    settings = list(dict.fromkeys(zip(table["dataset"], table["model"], table["W"])))
    columns = min(3, len(settings))
    rows = math.ceil(len(settings) / columns)
    height = max(2.0, 0.32 * table.groupby(["dataset", "model", "W"]).size().max() + 0.8)
    from matplotlib import rc_context
    from matplotlib.patches import Patch
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(rows, columns, panel_height=height)
        for index, (dataset, model, workers) in enumerate(settings):
            axis = axes[index // columns, index % columns]
            panel = table[(table["dataset"] == dataset) & (table["model"] == model) & (table["W"] == workers)]
            panel = panel.iloc[::-1]  # first method on top
            y = np.arange(len(panel))
            axis.barh(y + 0.2, panel["protocol cost (pts)"], height=0.38, color="0.7",
                      xerr=panel["protocol cost std"].fillna(0), error_kw={"lw": 0.8})
            for position, (_, row) in zip(y, panel.iterrows()):
                noisy = not row["staleness cost above noise"]
                axis.barh(position - 0.2, row["staleness cost (pts)"], height=0.38, color=method_color(row["method"]),
                          hatch="///" if noisy else None, edgecolor="white" if noisy else None,
                          xerr=np.nan_to_num(row["staleness cost std"]), error_kw={"lw": 0.8})
                share = row["recovered share"]
                if not pd.isna(share):
                    axis.annotate(f"recovers {share:.0%}", (0, position - 0.2), xytext=(3, -3),
                                  textcoords="offset points", fontsize=7, color="0.2")
            axis.axvline(0, color="0.2", lw=0.8)
            axis.set_yticks(y, panel["method"])
            axis.set_xlabel("test points lost")
            axis.set_title(f"{dataset} · {model} · W={workers}")
        for index in range(len(settings), rows * columns):
            axes[index // columns, index % columns].set_visible(False)
        legend = [Patch(color="0.7", label="protocol cost (exact − control)"),
                  Patch(color="0.35", label="staleness cost (control − method)"),
                  Patch(facecolor="0.35", hatch="///", edgecolor="white", label="within seed noise")]
        figure.legend(handles=legend, loc="outside lower center", ncols=3, frameon=False)
        return _save_figure(figure, out_stem)


def plot_sync_period(runs: pd.DataFrame, out_stem) -> list[Path]:
    """Staleness, test score and epoch time vs τ (log x); one row per (dataset, model, W)."""
    sweep = _sweep_runs(runs)
    if sweep.empty:
        return []
    configs = sorted(sweep[["dataset", "model", "workers"]].drop_duplicates().itertuples(index=False))
    from matplotlib import rc_context
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(len(configs), 3)
        for row, (dataset, model, count) in enumerate(configs):
            panel = sweep[(sweep["dataset"] == dataset) & (sweep["model"] == model) & (sweep["workers"] == count)]
            for method in _ordered_methods(panel["method"]):
                curve = panel[panel["method"] == method].groupby("sync_period").agg(
                    staleness=("mean_staleness", "mean"), score=("test_at_best_val", "mean"),
                    time=("mean_epoch_time_s", "mean"))
                style = dict(color=method_color(method), marker="o", label=method)
                axes[row, 0].plot(curve.index, curve["staleness"], **style)
                axes[row, 1].plot(curve.index, curve["score"] * 100, **style)
                axes[row, 2].plot(curve.index, curve["time"], **style)
            _apply_scale(axes[row, 0], panel["mean_staleness"])
            for axis, ylabel in zip(axes[row], ("mean relative error", "test score at best val. (%)",
                                                "epoch time (s)")):
                axis.set_xscale("log")
                _ticks_at(axis, panel["sync_period"])
                axis.set_xlabel("sync period τ (epochs)")
                axis.set_ylabel(ylabel)
            axes[row, 1].set_title(f"{dataset} · {model} · W={count}")
        _shared_legend(figure, axes)
        return _save_figure(figure, out_stem)


# -- everything ---------------------------------------------------------------------------------------------------


def build_all(sources, tables_dir: str | os.PathLike, plots_dir: str | os.PathLike,
              labels: Mapping[str, str] | None = None) -> list[Path]:
    """Write every table and figure the runs support; skip (with a logged note) those they do not."""
    loaded = load_records(sources, labels)
    if not loaded:
        log.warning("no run records given: nothing to report")
        return []
    runs, epochs, staleness = load_runs(loaded), epoch_frame(loaded), staleness_frame(loaded)
    reach = reach_frame(epochs, runs)
    tables_dir, plots_dir = Path(tables_dir), Path(plots_dir)
    written: list[Path] = []

    write_text_atomic(tables_dir / "runs.csv", runs.to_csv(index=False))
    written.append(tables_dir / "runs.csv")

    reasons = {
        "accuracy": "no main-study runs",
        "staleness": "no staleness measurements",
        "throughput": "no main-study runs",
        "time_to_target": "no exact run to set the target (or no validation scores)",
        "sat_vs_base": "no SAT run",
        "sync_period": "no method run at two or more sync periods",
        "decomposition": "no fresh-halo control run (satbench run --halo fresh) beside a main run",
        "claims": "no SAT run",
    }
    tables = {
        "accuracy": lambda: accuracy_table(runs),
        "staleness": lambda: staleness_table(staleness),
        "throughput": lambda: throughput_table(runs),
        "time_to_target": lambda: time_to_target_table(epochs, runs),
        "sat_vs_base": lambda: sat_vs_base_table(staleness, runs),
        "sync_period": lambda: sync_period_table(runs),
        "decomposition": lambda: decomposition_table(runs, reach),
        "claims": lambda: claims_table(runs, staleness, reach),
    }
    built = {}
    for name, build in tables.items():
        table = built[name] = build()
        if table.empty:
            log.info("table %s skipped: %s", name, reasons[name])
            continue
        if name == "throughput" and table["speedup vs exact"].isna().all():
            log.info("table throughput: no exact run, so no speedups")
        written += write_table(table, tables_dir / name, caption=TABLE_CAPTIONS[name])

    plots = {
        "val_vs_epoch": (lambda stem: plot_val_vs_epoch(epochs, stem), "no validation scores in main-study runs"),
        "val_vs_time": (lambda stem: plot_val_vs_time(epochs, stem), "no validation scores in main-study runs"),
        "staleness": (lambda stem: plot_staleness(staleness, stem), "no staleness measurements of a stale method"),
        "throughput": (lambda stem: plot_throughput(runs, stem), "no main-study runs"),
        "accuracy_vs_staleness": (lambda stem: plot_accuracy_vs_staleness(runs, stem),
                                  "no run with both a test score and a staleness measurement"),
        "sync_period": (lambda stem: plot_sync_period(runs, stem), "no method run at two or more sync periods"),
        "decomposition": (lambda stem: plot_decomposition(built["decomposition"], stem),
                          "no fresh-halo control run beside a main run"),
    }
    for name, (draw, reason) in plots.items():
        files = draw(plots_dir / name)
        if not files:
            log.info("plot %s skipped: %s", name, reason)
        written += files
    return written


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``satbench report`` arguments, for the CLI to reuse."""
    parser.add_argument("--tables", required=True, type=Path, help="directory for the tables (CSV, Markdown, LaTeX)")
    parser.add_argument("--plots", required=True, type=Path, help="directory for the figures (PNG and PDF)")
    parser.add_argument("records", nargs="+", type=Path, help="run records (JSON) written by `satbench run`")
    return parser


def run_from_args(args: argparse.Namespace) -> list[Path]:
    written = build_all(args.records, args.tables, args.plots)
    for path in written:
        print(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(
        prog="satbench report", description="Tables and figures from run records; skips what the runs cannot support."))
    args = parser.parse_args(argv)
    # Our notes at INFO (what was skipped and why); other libraries (fontTools subsetting PDFs) only at WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    log.setLevel(logging.INFO)
    run_from_args(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
