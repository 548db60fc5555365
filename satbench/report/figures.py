"""The figures (PNG and PDF), each from the run frames or a table.

Every line figure is faceted by family (:func:`method_facets`): the references (``exact``, ``partition``) in every
facet, the historical methods in one, and each base's alleviation methods with that base in one of their own, so no
method's curve hides another's and no panel holds a dozen. Each method keeps its colour, dash pattern and marker in
every figure (:mod:`.style`); a figure uses one kind of y scale in all its panels; what a band or a thin line means
is said in the figure's own legend.
"""

from __future__ import annotations

import math
import os
import tempfile
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from .families import ALLEVIATION, HISTORICAL, REFERENCE
from .frames import main_study
from .style import (
    FIGURE_WIDTH_IN,
    PANEL_HEIGHT_IN,
    PAPER_RC,
    PNG_DPI,
    method_style,
    ordered_methods,
    rate_label,
)
from .tables import sweep_runs, throughput_table

# The decomposition's two costs, each in one colour wherever it is drawn (and so in its legend).
PROTOCOL_COLOR, STALENESS_COLOR = "#a6a6a6", "#d95f02"

# -- shared pieces ------------------------------------------------------------------------------------------------


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


def _title(text: str) -> str:
    """A panel title, wrapped: a dataset given by its full spec (``sbm:n=300,...``) would run over its neighbours."""
    return "\n".join(textwrap.wrap(text, 36)) or text


def _style_kwargs(name: str, points: int | None = None, index: int = 0, count: int = 1) -> dict[str, Any]:
    """The plot keywords of a method's line. With ``points``, markers on about 6 of them, the ``index``-th of
    ``count`` lines of a panel starting further along, so lines that coincide still show each one's markers."""
    style = method_style(name)
    kwargs = dict(color=style.color, ls=style.dashes, marker=style.marker or None, label=name)
    if style.hollow:
        kwargs.update(markerfacecolor="white", markeredgewidth=1.1)
    if points is not None:
        step = max(1, min(points, max(points // 6, count)))  # at least one point apart per line of the panel
        kwargs["markevery"] = ((index * step) // max(1, count), step)
    return kwargs


def _legend(owner, axes, extra: Sequence = (), loc: str = "outside lower center", ncols: int = 6,
            fontsize: float | None = None) -> None:
    """One legend for ``owner`` (a figure or a facet's subfigure), below its panels: its methods in display order,
    then ``extra`` handles (what a band or a thin line means)."""
    handles: dict[str, Any] = {}
    for axis in np.ravel(axes):
        for handle, label in zip(*axis.get_legend_handles_labels()):
            if not label.startswith("_"):
                handles.setdefault(label, handle)
    ordered = [(handles[label], label) for label in ordered_methods(handles)]
    ordered += [(handle, handle.get_label()) for handle in extra]
    if ordered:
        owner.legend([h for h, _ in ordered], [label for _, label in ordered], loc=loc,
                     ncols=min(ncols, len(ordered)), frameon=False, fontsize=fontsize, columnspacing=1.0,
                     handlelength=2.4)


def figure_scale(values: Iterable[float]) -> tuple[str, float | None]:
    """The one y-scale kind of a figure, from every value it draws: "log" when the positive values span more than
    1.5 decades ("symlog" if zeros are among them too), else linear.

    Staleness spans decades between methods (GAS ~1e-2, partition 1), which a linear axis flattens to zero.
    """
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    positive = values[values > 0]
    if positive.size < 2 or positive.max() / positive.min() < 10 ** 1.5:
        return "linear", None
    if (values <= 0).any():
        return "symlog", 10 ** math.floor(math.log10(positive.min()))
    return "log", None


def _apply_scale(axis, scale: tuple[str, float | None], which: str = "y") -> None:
    """Set the figure's scale on one axis; on a log axis, ticks read as plain numbers (0.02, 0.05, 0.1), minor
    ones labelled at 2 and 5 only."""
    from matplotlib.ticker import FuncFormatter

    kind, linthresh = scale
    setter = axis.set_yscale if which == "y" else axis.set_xscale
    if kind == "symlog":
        setter("symlog", linthresh=linthresh, linscale=0.5)
    else:
        setter(kind)
    if kind == "log":
        target = axis.yaxis if which == "y" else axis.xaxis
        target.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        target.set_minor_formatter(FuncFormatter(
            lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "25" else ""))


def _ticks_at(axis, values: Iterable[float]) -> None:
    """x ticks at the values that were run (W, τ), as plain numbers rather than 10⁰, 10¹ on a log axis."""
    from matplotlib.ticker import FixedLocator, NullLocator

    axis.xaxis.set_major_locator(FixedLocator(sorted(set(values))))
    axis.xaxis.set_major_formatter(lambda value, _: f"{value:g}")
    axis.xaxis.set_minor_locator(NullLocator())


def _panel_configs(frame: pd.DataFrame, workers: int | None) -> list[tuple[str, str, int]]:
    """(dataset, model, W) per panel row: the given W, else each (dataset, model)'s largest W."""
    if workers is not None:
        present = frame[frame["workers"] == workers][["dataset", "model"]].drop_duplicates()
        return [(d, m, workers) for d, m in sorted(present.itertuples(index=False))]
    largest = frame.groupby(["dataset", "model"])["workers"].max().to_dict()
    return [(d, m, w) for (d, m), w in sorted(largest.items())]


# -- facets -------------------------------------------------------------------------------------------------------


def method_facets(methods: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """The facets of a figure: (title, the names drawn there), from the methods it draws (a frame with ``variant``
    (the name drawn), ``method``, ``family`` and ``base``). The references are in every facet; the historical
    methods in one ("historical"); each base's alleviation methods, with that base, in one ("on <base>"). A figure
    of references alone has one facet, "reference"."""
    methods = methods.drop_duplicates("variant")
    family = dict(zip(methods["variant"], methods["family"]))
    references = ordered_methods(v for v, f in family.items() if f == REFERENCE)
    historical = ordered_methods(v for v, f in family.items() if f == HISTORICAL)
    alleviating = methods[methods["family"] == ALLEVIATION]
    facets = [("historical", references + historical)] if historical else []
    by_base = dict(alleviating.groupby(alleviating["base"].fillna("?"))["variant"].agg(list).items())
    for base in ordered_methods(by_base):
        base_names = list(methods.loc[methods["method"] == base, "variant"])
        facets.append((f"on {base}", references + ordered_methods(base_names) + ordered_methods(by_base[base])))
    return facets or [("reference", references)]


def _faceted(frame: pd.DataFrame, rows: list[Any], select: Callable[[Any], pd.DataFrame], draw: Callable,
             out_stem, row_title: Callable, extra: Callable[[str], Sequence] = lambda facet: (),
             scale: tuple[str, float | None] | None = None, panel_height: float = 2.0) -> list[Path]:
    """A grid of panels: one column per facet (:func:`method_facets` of ``frame``'s methods), each a subfigure with
    its title and its own legend; one row per entry of ``rows``, whose data ``select(row)`` gives.
    ``draw(axis, row, panel)`` draws a panel's data (its facet's methods only); a row where none of a facet's own
    methods ran stays empty and hidden. ``scale``: the figure's one kind of y scale."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    facets = method_facets(frame[["variant", "method", "family", "base"]])
    references = set(frame.loc[frame["family"] == REFERENCE, "variant"])
    with rc_context(PAPER_RC):
        width = max(FIGURE_WIDTH_IN, 2.8 * len(facets))
        figure = Figure(figsize=(width, panel_height * len(rows) + 1.4), layout="constrained")
        columns = np.atleast_1d(figure.subfigures(1, len(facets), wspace=0.02))
        for subfigure, (title, names) in zip(columns, facets):
            own = set(names) - references
            axes = subfigure.subplots(len(rows), 1, squeeze=False)[:, 0]
            for axis, row in zip(axes, rows):
                data = select(row)
                panel = data[data["variant"].isin(names)]
                if panel.empty or (own and not panel["variant"].isin(own).any()):
                    axis.set_visible(False)
                    continue
                draw(axis, row, panel)
                axis.set_title(_title(row_title(row)))
                if scale is not None:
                    _apply_scale(axis, scale)
            subfigure.suptitle(title, fontweight="bold")
            _legend(subfigure, axes, extra=extra(title), ncols=2, fontsize=7)
        return _save_figure(figure, out_stem)


# -- convergence --------------------------------------------------------------------------------------------------


def _convergence(epochs: pd.DataFrame, out_stem, x: str, workers: int | None) -> list[Path]:
    epochs = main_study(epochs).dropna(subset=["val"])
    if epochs.empty:
        return []
    from matplotlib.patches import Patch

    configs = _panel_configs(epochs, workers)

    def select(config) -> pd.DataFrame:
        dataset, model, count = config
        return epochs[(epochs["dataset"] == dataset) & (epochs["model"] == model) & (epochs["workers"] == count)]

    def draw(axis, config, panel) -> None:
        names = ordered_methods(panel["variant"])
        for index, variant in enumerate(names):
            curve = (panel[panel["variant"] == variant].groupby("epoch")
                     .agg(val=("val", "mean"), low=("val", "min"), high=("val", "max"), wall=("wall_time_s", "mean")))
            xs = curve.index.to_numpy() if x == "epoch" else curve["wall"].to_numpy()
            style = _style_kwargs(variant, len(xs), index, len(names))
            axis.plot(xs, curve["val"] * 100, **style)
            axis.fill_between(xs, curve["low"] * 100, curve["high"] * 100, color=style["color"], alpha=0.12, lw=0)
        # Sum of epoch times: training only, evaluation and staleness measurement excluded.
        axis.set_xlabel("epoch" if x == "epoch" else "cumulative training time (s)")
        axis.set_ylabel("validation score (%)")

    band = Patch(color="0.5", alpha=0.3, label="band: seeds' min–max")
    return _faceted(epochs, configs, select, draw, out_stem, lambda c: f"{c[0]} · {c[1]} · W={c[2]}",
                    extra=lambda facet: [band], scale=("linear", None))


def plot_val_vs_epoch(epochs: pd.DataFrame, out_stem, workers: int | None = None) -> list[Path]:
    """Validation score vs epoch, one row per (dataset, model) at its largest W, one column per facet; mean over
    seeds, min–max band."""
    return _convergence(epochs, out_stem, "epoch", workers)


def plot_val_vs_time(epochs: pd.DataFrame, out_stem, workers: int | None = None) -> list[Path]:
    """Validation score vs cumulative epoch time (training only: evaluation and measurement are excluded)."""
    return _convergence(epochs, out_stem, "wall", workers)


# -- staleness ----------------------------------------------------------------------------------------------------


def plot_staleness(staleness: pd.DataFrame, out_stem, workers: int | None = None) -> list[Path]:
    """Drift (relative error against exact rows with each row's own dropout masks) against the training position
    of each measurement, epoch + local step / local steps, pooled over seeds (each seed measures other steps of its
    own seeded schedule, so together they trace the saw-tooth of a periodic method); one row per (dataset, model at its
    largest W, hidden layer), one column per facet. The total error (against the step's own masks) is the dashed line
    in the same colour. exact's error is 0 by construction (its line lies on the axis); an alleviation method's
    ``replaced_rel_error`` (the stale copy it replaced, same rows and weights) is the dotted line in its colour."""
    staleness = main_study(staleness).dropna(subset=["rel_error"])
    if "drift_rel_error" not in staleness:
        staleness = staleness.assign(drift_rel_error=np.nan, local_step=0.0)
    staleness = staleness.assign(drift_rel_error=staleness["drift_rel_error"].fillna(staleness["rel_error"]),
                                 local_step=staleness["local_step"].fillna(0.0))
    if not (staleness["method"] != "exact").any():
        return []
    from matplotlib.lines import Line2D

    layers = sorted(staleness["layer"].unique())
    rows = [(*config, layer) for config in _panel_configs(staleness, workers) for layer in layers]
    values = np.concatenate([staleness["rel_error"].to_numpy(), staleness["replaced_rel_error"].to_numpy()])
    scale = figure_scale(values)

    def select(row) -> pd.DataFrame:
        dataset, model, count, layer = row
        return staleness[(staleness["dataset"] == dataset) & (staleness["model"] == model)
                         & (staleness["workers"] == count) & (staleness["layer"] == layer)]

    def draw(axis, row, panel) -> None:
        names = ordered_methods(panel["variant"])
        for index, variant in enumerate(names):
            points = panel[panel["variant"] == variant]
            steps = points["local_step"].max() + 1
            position = points["epoch"] - 1 + points["local_step"] / steps
            curve = points.assign(position=position).groupby("position")[
                ["drift_rel_error", "rel_error", "replaced_rel_error"]].mean()
            style = _style_kwargs(variant, len(curve), index, len(names))
            axis.plot(curve.index, curve["drift_rel_error"], **style)
            axis.plot(curve.index, curve["rel_error"], color=style["color"], lw=0.7, alpha=0.6, ls="--",
                      label="_total")
            if curve["replaced_rel_error"].notna().any():
                axis.plot(curve.index, curve["replaced_rel_error"], color=style["color"], lw=0.7, alpha=0.6,
                          ls=(0, (1, 1)), label="_replaced")
        axis.set_xlabel("training position (epochs)")
        axis.set_ylabel("drift of halo rows")

    total = Line2D([], [], color="0.3", lw=0.7, alpha=0.6, ls="--", label="dashed: total (with mask noise)")
    replaced = Line2D([], [], color="0.3", lw=0.7, alpha=0.6, ls=(0, (1, 1)),
                      label="dotted: stale copy replaced")
    has_replaced = staleness["replaced_rel_error"].notna().any()
    return _faceted(staleness, rows, select, draw, out_stem, lambda r: f"{r[0]} · {r[1]} · W={r[2]} · layer {r[3]}",
                    extra=lambda facet: [total] + ([replaced] if has_replaced and facet.startswith("on ") else []),
                    scale=scale)


# -- throughput, accuracy against staleness -----------------------------------------------------------------------


def plot_throughput(runs: pd.DataFrame, out_stem) -> list[Path]:
    """Mean epoch time vs W and speedup over exact vs W; one row per (dataset, model); methods set slightly apart
    at each W."""
    table = throughput_table(runs)
    if table.empty:
        return []
    configs = sorted(table[["dataset", "model"]].drop_duplicates().itertuples(index=False))
    has_speedup = table["speedup_vs_exact"].notna().any()
    scale = figure_scale(pd.concat([table["epoch_time_s_mean"], table["speedup_vs_exact"]]))
    from matplotlib import rc_context
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(len(configs), 2 if has_speedup else 1)
        for row, (dataset, model) in enumerate(configs):
            panel = table[(table["dataset"] == dataset) & (table["model"] == model)]
            counts = sorted(panel["workers"].unique())
            doubling = len(counts) > 1 and counts[-1] / counts[0] >= 4  # W doubles (1, 2, 4, 8): even spacing
            names = ordered_methods(panel["method"])
            for index, method in enumerate(names):
                curve = panel[panel["method"] == method].sort_values("workers")
                # each method a little apart from the others at the same W, so equal values do not hide each other
                dodge = (index - (len(names) - 1) / 2) * min(0.05, 0.5 / len(names))
                xs = curve["workers"] * 2 ** dodge if doubling else curve["workers"] + 2 * dodge
                style = _style_kwargs(method)
                style["marker"] = style["marker"] or "o"
                axes[row, 0].plot(xs, curve["epoch_time_s_mean"], **style)
                if has_speedup:
                    axes[row, 1].plot(xs, curve["speedup_vs_exact"], **style)
            axes[row, 0].set_ylabel("epoch time (s)")
            axes[row, 0].set_title(_title(f"{dataset} · {model}: epoch time"))
            if has_speedup:
                axes[row, 1].axhline(1.0, color="0.5", lw=0.8, ls=":")
                axes[row, 1].set_ylabel("speedup over exact (×)")
                axes[row, 1].set_title(_title(f"{dataset} · {model}: speedup over exact"))
            for axis in axes[row]:
                _apply_scale(axis, scale)
                axis.set_xlabel("workers W")
                if doubling:
                    axis.set_xscale("log", base=2)
                else:
                    axis.set_xlim(counts[0] - 0.5, counts[-1] + 0.5)
                _ticks_at(axis, counts)
        _legend(figure, axes)
        return _save_figure(figure, out_stem)


def plot_accuracy_vs_staleness(runs: pd.DataFrame, out_stem) -> list[Path]:
    """Test score vs mean staleness, one panel per (dataset, model, W), one point per method (mean over seeds)."""
    runs = main_study(runs).dropna(subset=["mean_staleness", "test_at_best_val"])
    if runs.empty:
        return []
    points = runs.groupby(["dataset", "model", "workers", "variant"]).agg(
        staleness=("mean_staleness", "mean"), score=("test_at_best_val", "mean")).reset_index()
    settings = list(dict.fromkeys(zip(points["dataset"], points["model"], points["workers"])))
    columns = min(3, len(settings))
    rows = math.ceil(len(settings) / columns)
    scale = figure_scale(points["staleness"])
    from matplotlib import rc_context
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(rows, columns, panel_height=2.6)
        for axis, (dataset, model, workers) in zip(axes.ravel(), settings):
            panel = points[(points["dataset"] == dataset) & (points["model"] == model)
                           & (points["workers"] == workers)]
            for point in panel.itertuples(index=False):
                style = method_style(point.variant)
                colours = dict(color="white", edgecolors=style.color) if style.hollow else dict(color=style.color)
                axis.scatter(point.staleness, point.score * 100, marker=style.marker or "o", s=30,
                             label=point.variant, zorder=3, linewidths=1.1, **colours)
            _apply_scale(axis, scale, which="x")
            axis.set_title(_title(f"{dataset} · {model} · W={workers}"))
            axis.set_xlabel("mean relative error of halo rows")
            axis.set_ylabel("test score at best val. (%)")
        for axis in axes.ravel()[len(settings):]:
            axis.set_visible(False)
        _legend(figure, axes)
        return _save_figure(figure, out_stem)


# -- decomposition ------------------------------------------------------------------------------------------------


def _interval_whiskers(frame: pd.DataFrame, name: str) -> np.ndarray:
    """``xerr`` for bars at ``{name}_pts_mean``: the distances to the 95 % interval's ends (0 where there is none)."""
    estimate = frame[f"{name}_pts_mean"].astype(float).to_numpy()
    low = frame[f"{name}_ci_low"].astype(float).to_numpy()
    high = frame[f"{name}_ci_high"].astype(float).to_numpy()
    return np.nan_to_num(np.vstack([estimate - low, high - estimate]).clip(min=0))


def plot_decomposition(table: pd.DataFrame, out_stem) -> list[Path]:
    """Per setting (dataset · model · W), one pair of bars per stale method: its protocol cost (exact − control) and
    its staleness cost (control − method), each in its own colour, in test points with whiskers spanning the 95 %
    interval of the paired t over seeds (``X_ci_low``, ``X_ci_high``; none with fewer than 2 seeds). The panels
    share one method axis, named once on the left (a row stays empty where a setting lacks that method), so long
    method names do not squeeze the bars. A staleness bar is hatched where it is not a significant loss (the
    decomposition's ``staleness_cost_significant``: one-sided paired t, Holm-adjusted); an alleviation method's
    recovered share is printed beside it where the decomposition reports one (its base's staleness cost a
    significant loss)."""
    if table.empty or table["control_pct_mean"].isna().all():
        return []
    table = table.dropna(subset=["control_pct_mean"])
    several = table.groupby(["dataset", "model", "workers", "method"])["sync_period"].transform("nunique") > 1
    table = table.assign(label=[f"{m} (τ={t:g})" if apart else m  # τ named only to tell rows apart
                                for m, t, apart in zip(table["method"], table["sync_period"], several)])
    labels = list(dict.fromkeys(table["label"]))
    position = {label: len(labels) - 1 - index for index, label in enumerate(labels)}  # first method on top
    settings = list(dict.fromkeys(zip(table["dataset"], table["model"], table["workers"])))
    columns = min(3, len(settings))
    rows = math.ceil(len(settings) / columns)
    height = max(2.0, 0.32 * len(labels) + 0.8)
    from matplotlib import rc_context
    from matplotlib.patches import Patch
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(rows, columns, panel_height=height)
        for index, (dataset, model, workers) in enumerate(settings):
            axis = axes[index // columns, index % columns]
            panel = table[(table["dataset"] == dataset) & (table["model"] == model) & (table["workers"] == workers)]
            y = np.array([position[label] for label in panel["label"]], dtype=float)
            axis.barh(y + 0.2, panel["protocol_cost_pts_mean"], height=0.38, color=PROTOCOL_COLOR,
                      xerr=_interval_whiskers(panel, "protocol_cost"), error_kw={"lw": 0.8})
            for row_y, (_, row) in zip(y, panel.iterrows()):
                noisy = not row["staleness_cost_significant"]
                axis.barh(row_y - 0.2, row["staleness_cost_pts_mean"], height=0.38, color=STALENESS_COLOR,
                          hatch="///" if noisy else None, edgecolor="white" if noisy else None,
                          xerr=_interval_whiskers(row.to_frame().T, "staleness_cost"), error_kw={"lw": 0.8})
                share = row["recovered_share"]
                # The table reports a share only where its base's staleness cost is a significant loss (C2's premise).
                if not pd.isna(share):
                    end = max(0.0, row["staleness_cost_pts_mean"], np.nan_to_num(row["staleness_cost_ci_high"]))
                    axis.annotate(f"recovers {share:.0%}", (end, row_y - 0.2), xytext=(3, -3),
                                  textcoords="offset points", fontsize=7, color="0.2")
            axis.axvline(0, color="0.2", lw=0.8)
            axis.set_ylim(-0.6, len(labels) - 0.4)
            if index % columns == 0:
                axis.set_yticks(list(position.values()), list(position))
            else:
                axis.set_yticks(list(position.values()), [""] * len(position))
            axis.set_xlabel("test points lost")
            axis.set_title(f"{_title(dataset)}\n{model} · W={workers}")  # two lines: the panels are narrow
        for index in range(len(settings), rows * columns):
            axes[index // columns, index % columns].set_visible(False)
        legend = [Patch(color=PROTOCOL_COLOR, label="protocol cost (exact − control)"),
                  Patch(color=STALENESS_COLOR, label="staleness cost (control − method)"),
                  Patch(facecolor=STALENESS_COLOR, hatch="///", edgecolor="white",
                        label="staleness cost not significant"),
                  Patch(color="none", label="whiskers: 95 % interval over seeds")]
        figure.legend(handles=legend, loc="outside lower center", ncols=2, frameon=False)
        return _save_figure(figure, out_stem)


# -- sync period, bandwidth ---------------------------------------------------------------------------------------


def plot_sync_period(runs: pd.DataFrame, out_stem) -> list[Path]:
    """Staleness, test score and epoch time vs τ (log x, linear y); one row per (dataset, model, W)."""
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
                style = _style_kwargs(method)
                style["marker"] = style["marker"] or "o"
                axes[row, 0].plot(curve.index, curve["staleness"], **style)
                axes[row, 1].plot(curve.index, curve["score"] * 100, **style)
                axes[row, 2].plot(curve.index, curve["time"], **style)
            for axis, ylabel in zip(axes[row], ("mean relative error", "test score at best val. (%)",
                                                "epoch time (s)")):
                axis.set_xscale("log")
                _ticks_at(axis, panel["sync_period"])
                axis.set_xlabel("sync period τ (epochs)")
                axis.set_ylabel(ylabel)
            axes[row, 1].set_title(_title(f"{dataset} · {model} · W={count}"))
        _legend(figure, axes)
        return _save_figure(figure, out_stem)


def plot_bandwidth(table: pd.DataFrame, out_stem) -> list[Path]:
    """Epoch time and speedup over exact against the link rate (log x, ticks at the rates run, "20 Mbit/s"), log y
    in both, one line per method; one row per (dataset, model, W). ``table``: :func:`~.tables.bandwidth_table`'s."""
    if table.empty or table["epoch_time_s_mean"].isna().all():
        return []
    configs = list(dict.fromkeys(zip(table["dataset"], table["model"], table["workers"])))
    scale = figure_scale(pd.concat([table["epoch_time_s_mean"], table["speedup_vs_exact"]]))
    from matplotlib import rc_context
    from matplotlib.ticker import NullLocator
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(len(configs), 2)
        for row, (dataset, model, workers) in enumerate(configs):
            panel = table[(table["dataset"] == dataset) & (table["model"] == model) & (table["workers"] == workers)]
            for method in ordered_methods(panel["method"]):
                curve = panel[panel["method"] == method].sort_values("rate_bit_s")
                style = _style_kwargs(method)
                style["marker"] = style["marker"] or "o"
                axes[row, 0].plot(curve["rate_bit_s"], curve["epoch_time_s_mean"], **style)
                if method != "exact":  # exact's speedup over itself is 1 by definition
                    axes[row, 1].plot(curve["rate_bit_s"], curve["speedup_vs_exact"], **style)
            axes[row, 0].set_ylabel("epoch time (s)")
            axes[row, 0].set_title(_title(f"{dataset} · {model} · W={workers}: epoch time"))
            axes[row, 1].axhline(1.0, color="0.5", lw=0.8, ls="--")
            axes[row, 1].set_ylabel("speedup over exact (×)")
            axes[row, 1].set_title(_title(f"{dataset} · {model} · W={workers}: speedup over exact"))
            ticks = panel.drop_duplicates("rate_bit_s").sort_values("rate_bit_s")
            # number over unit (over delay): neighbouring rates a factor 5 apart stay legible
            labels = [rate_label(rate, bits).replace(" ", "\n", 1).replace(", ", "\n")
                      for rate, bits in zip(ticks["rate"], ticks["rate_bit_s"])]
            for axis in axes[row]:
                _apply_scale(axis, scale)
                axis.set_xscale("log")
                axis.set_xticks(ticks["rate_bit_s"].to_numpy(), labels)
                axis.xaxis.set_minor_locator(NullLocator())
                axis.set_xlabel("link rate per worker")
        _legend(figure, axes)
        return _save_figure(figure, out_stem)
