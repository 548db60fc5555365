"""The figures (PNG and PDF), each from the run frames or a table."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .frames import main_study
from .style import (
    FIGURE_WIDTH_IN,
    PANEL_HEIGHT_IN,
    PAPER_RC,
    PNG_DPI,
    method_color,
    ordered_methods,
)
from .tables import sweep_runs, throughput_table

# -- plots --------------------------------------------------------------------------------------------------------


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
    ordered = [(handles[label], label) for label in ordered_methods(handles)]
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
    epochs = main_study(epochs).dropna(subset=["val"])
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
            for variant in ordered_methods(panel["variant"]):
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
    staleness = main_study(staleness).dropna(subset=["rel_error"])
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
                for variant in ordered_methods(panel["variant"]):
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
            for variant in ordered_methods(panel["method"]):
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
    runs = main_study(runs).dropna(subset=["mean_staleness", "test_at_best_val"])
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
    staleness bar is hatched where it is within seed noise; a SAT variant's recovered share is printed beside it
    where its base's staleness cost is above noise."""
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
                base = panel[panel["method"] == row["base"]]
                # A share of a cost within noise is noise: shown only where the base's staleness cost is a loss above it.
                if (not pd.isna(share) and not base.empty and bool(base["staleness cost above noise"].iloc[0])
                        and base["staleness cost (pts)"].iloc[0] > 0):
                    end = max(0.0, row["staleness cost (pts)"]) + np.nan_to_num(row["staleness cost std"])
                    axis.annotate(f"recovers {share:.0%}", (end, position - 0.2), xytext=(3, -3),
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
    sweep = sweep_runs(runs)
    if sweep.empty:
        return []
    configs = sorted(sweep[["dataset", "model", "workers"]].drop_duplicates().itertuples(index=False))
    from matplotlib import rc_context
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(len(configs), 3)
        for row, (dataset, model, count) in enumerate(configs):
            panel = sweep[(sweep["dataset"] == dataset) & (sweep["model"] == model) & (sweep["workers"] == count)]
            for method in ordered_methods(panel["method"]):
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


def plot_bandwidth(table: pd.DataFrame, out_stem) -> list[Path]:
    """Epoch time and speedup over exact against the link rate (log x, ticks at the rates run, in tc's units), one
    line per method; one row per (dataset, model, W). ``table``: :func:`~.tables.bandwidth_table`'s."""
    if table.empty or table["epoch time (s)"].isna().all():
        return []
    configs = list(dict.fromkeys(zip(table["dataset"], table["model"], table["W"])))
    from matplotlib import rc_context
    from matplotlib.ticker import NullLocator
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(len(configs), 2)
        for row, (dataset, model, workers) in enumerate(configs):
            panel = table[(table["dataset"] == dataset) & (table["model"] == model) & (table["W"] == workers)]
            for method in ordered_methods(panel["method"]):
                curve = panel[panel["method"] == method].sort_values("rate (bit/s)")
                style = dict(color=method_color(method), marker="o", label=method)
                axes[row, 0].plot(curve["rate (bit/s)"], curve["epoch time (s)"], **style)
                if method != "exact":  # exact's speedup over itself is 1 by definition
                    axes[row, 1].plot(curve["rate (bit/s)"], curve["speedup vs exact"], **style)
            _apply_scale(axes[row, 0], panel["epoch time (s)"])
            axes[row, 0].set_ylabel("epoch time (s)")
            axes[row, 0].set_title(f"{dataset} · {model} · W={workers}: epoch time")
            axes[row, 1].axhline(1.0, color="0.5", lw=0.8, ls="--")
            axes[row, 1].set_ylabel("speedup over exact (×)")
            axes[row, 1].set_title(f"{dataset} · {model} · W={workers}: speedup over exact")
            ticks = panel.drop_duplicates("rate (bit/s)").sort_values("rate (bit/s)")
            for axis in axes[row]:
                axis.set_xscale("log")
                axis.set_xticks(ticks["rate (bit/s)"].to_numpy(), ticks["rate"].tolist())
                axis.xaxis.set_minor_locator(NullLocator())
                axis.set_xlabel("link rate per worker")
        _shared_legend(figure, axes)
        return _save_figure(figure, out_stem)
