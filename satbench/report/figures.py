"""The figures (PNG and PDF), each from the run frames or a table.

What every figure obeys, so that a reviewer reads it at a glance and can trust what it shows:

* **Intervals.** A mean over seeds carries its 95 % t-interval over seeds, computed as :mod:`.stats` computes every
  interval of the report (:func:`seed_intervals`), as a band (along a curve) or a whisker (at a point), never the
  seeds' min–max or std; the legend says what it spans and over how many seeds ("n = 5 seeds"), and a panel whose
  means rest on one seed says "1 seed: no interval".
* **Trends only where there are several points.** A line joins a method's values along an axis only where it has
  several; a quantity measured at one W is drawn as one point per method on a method axis.
* **No method hides another.** Every method keeps its colour, dash pattern and marker in every figure (:mod:`.style`:
  no two share a marker and a fill); where methods meet at one x they are set slightly apart (:func:`_dodge`; points
  that would cover each other in a scatter, :func:`_spread`), and markers along coinciding curves fall at different
  points. Line figures are faceted by family (:func:`method_facets`): the references (``exact``, ``partition``) in
  every facet, the historical methods in one, and each base's alleviation methods with that base in one of their
  own, so no panel holds a dozen.

A figure uses one kind of y scale in all its panels; what a band or a thin line means is said in its own legend.
Each figure has a builder that returns the matplotlib figure (``X_figure``, which tests inspect) and a writer,
``plot_X``, that writes it as PNG and PDF.
"""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from ..files import atomic_path
from .claims import timed_runs
from .families import ALLEVIATION, HISTORICAL, REFERENCE
from .frames import main_study
from .stats import ALPHA, ZERO_SPREAD, ratio_of_means
from .style import (
    FIGURE_WIDTH_IN,
    PANEL_HEIGHT_IN,
    PAPER_RC,
    PNG_DPI,
    method_style,
    ordered_methods,
    rate_label,
)
from .tables import sweep_runs

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
    """``out_stem.png`` (200 dpi) and ``out_stem.pdf``, each written atomically (:func:`~satbench.files.atomic_path`)."""
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for extension in ("png", "pdf"):
        path = out_stem.with_suffix(f".{extension}")
        with atomic_path(path) as staging:
            figure.savefig(staging, format=extension, dpi=PNG_DPI, bbox_inches="tight", pad_inches=0.03)
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


# -- seed intervals, notes, dodging -------------------------------------------------------------------------------


def seed_intervals(frame: pd.DataFrame, keys: Sequence[str], column: str) -> pd.DataFrame:
    """Per group of ``keys`` of ``frame`` (one value of ``column`` per seed in each group; NaN dropped): ``mean``, the
    ends ``low`` and ``high`` of its two-sided 95 % t-interval over seeds, and ``n``.

    The interval is the one :mod:`.stats` states everywhere (:func:`~.stats.difference_test`: mean ± t(0.975, n − 1)
    · sd / √n; NaN below 2 seeds; the point itself where the values are all equal, up to
    :data:`~.stats.ZERO_SPREAD`), computed here for all groups at once: a convergence figure needs thousands, about a
    millisecond each one by one. A test holds the two equal.
    """
    from scipy import stats as scipy_stats

    keys = list(keys)
    values = frame.dropna(subset=[column])
    if values.empty:
        return pd.DataFrame(columns=[*keys, "mean", "low", "high", "n"])
    summary = values.groupby(keys, dropna=False, sort=True)[column].agg(["mean", "std", "count", "min", "max"])
    n = summary["count"].to_numpy(dtype=float)
    mean = summary["mean"].to_numpy(dtype=float)
    critical = scipy_stats.t.ppf(1 - ALPHA / 2, np.maximum(n - 1, 1))
    half = critical * summary["std"].to_numpy(dtype=float) / np.sqrt(n)
    largest = np.maximum(summary["min"].abs().to_numpy(dtype=float), summary["max"].abs().to_numpy(dtype=float))
    equal = (summary["max"] - summary["min"]).to_numpy(dtype=float) <= ZERO_SPREAD * np.maximum(1.0, largest)
    half = np.where(n < 2, np.nan, np.where(equal, 0.0, half))
    result = summary.index.to_frame(index=False)
    result["mean"], result["low"], result["high"], result["n"] = mean, mean - half, mean + half, n.astype(int)
    return result


def _seeds_text(counts: Iterable[float], unit: str = "seed") -> str:
    """"n = 5 seeds", or "n = 3–5 seeds" where the means drawn rest on different numbers of seeds."""
    counts = sorted({int(count) for count in counts if pd.notna(count) and count > 0})
    if not counts:
        return ""
    number = f"{counts[0]}" if counts[0] == counts[-1] else f"{counts[0]}–{counts[-1]}"
    return f"n = {number} {unit}{'' if counts[-1] == 1 else 's'}"


def _interval_handle(kind: str, counts: Iterable[float] | None, unit: str = "seed", what: str = "95 % CI"):
    """The legend entry saying what a band or a whisker spans (``kind``: "band" or "whiskers") and over how many seeds
    ("band: 95 % CI over n = 5 seeds"; without ``counts``, where the panels say it); "1 seed: no interval" where
    every mean drawn rests on one."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    counts = [count for count in counts if pd.notna(count) and count > 0] if counts is not None else []
    if counts and max(counts) <= 1:
        return Patch(color="none", label=f"1 {unit}: no interval")
    label = f"{kind}: {what}" + (f" over {_seeds_text(counts, unit)}" if counts else "")
    if kind == "band":
        return Patch(color="0.5", alpha=0.3, label=label)
    return Line2D([], [], color="0.3", lw=0.9, marker="|", markersize=6, label=label)


def _note_missing_intervals(axis, counts: Iterable[float], unit: str = "seed") -> None:
    """Say in a panel that it shows no interval where it does not: "1 seed: no interval" where every mean drawn rests on
    one seed, "no interval where 1 seed" where some do; placed where it covers the least data."""
    from matplotlib.patches import Patch

    counts = [count for count in counts if pd.notna(count) and count > 0]
    if not counts or min(counts) >= 2:
        return
    text = f"1 {unit}: no interval" if max(counts) <= 1 else f"no interval where 1 {unit}"
    axis.legend([Patch(visible=False)], [text], loc="best", handlelength=0, handletextpad=0, fontsize=7,
                framealpha=0.85, borderpad=0.3)


def _dodge(index: int, count: int, step: float) -> float:
    """The offset of the ``index``-th of ``count`` methods at one x: ``step`` apart, centred on the x."""
    return (index - (count - 1) / 2) * step


# Points nearer than this share of a panel's span in both directions would cover each other (a marker is about 4 % of
# a 2-inch panel): :func:`_spread` sets them this far apart.
SPREAD_GAP = 0.045


def _spread(x: np.ndarray, y: np.ndarray, gap: float) -> np.ndarray:
    """x offsets that set apart points lying within ``gap`` of each other in both coordinates (each normalised to its
    panel's span): in each cluster of such points, taken in order of x and then of the points' order (method order),
    the first stays where it is and each next one moves right to at least ``gap`` beyond the one before. Moving right
    only keeps every point at or beyond its own value: an error of 0 is never drawn below 0. Points apart from the
    others stay where they are."""
    count = len(x)
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(count):
        for j in range(i + 1, count):
            if abs(x[i] - x[j]) < gap and abs(y[i] - y[j]) < gap:
                parent[root(i)] = root(j)
    clusters: dict[int, list[int]] = {}
    for i in range(count):
        clusters.setdefault(root(i), []).append(i)
    offsets = np.zeros(count)
    for members in clusters.values():
        members = sorted(members, key=lambda i: (x[i], i))
        placed = x[members[0]]
        for i in members[1:]:
            placed = max(x[i], placed + gap)
            offsets[i] = placed - x[i]
    return offsets


def _whisker(axis, xs, ys, color: str, name: str) -> None:
    """One interval's whisker, from (xs[0], ys[0]) to (xs[1], ys[1]), in the method's colour; ``gid``
    ``interval:<name>`` (a test reads the interval drawn back from it). Nothing where an end is missing."""
    if not np.isfinite(np.asarray([*xs, *ys], dtype=float)).all():
        return
    axis.plot(xs, ys, color=color, lw=0.9, alpha=0.85, solid_capstyle="butt", label="_interval", gid=f"interval:{name}",
              zorder=2)


def _point_kwargs(name: str, size: float = 5.0) -> dict[str, Any]:
    """A method's marker alone (no line): its colour and marker, hollow where its style says."""
    style = method_style(name)
    kwargs = dict(ls="none", marker=style.marker or "o", markersize=size, color=style.color, label=name, zorder=3,
                  gid=f"point:{name}")
    if style.hollow:
        kwargs.update(markerfacecolor="white", markeredgewidth=1.1)
    return kwargs


def _series(axis, xs, ys, low, high, name: str) -> None:
    """A method's means against an axis with several points: a line with a marker at each point (the marker alone
    where it has one point: one value is no trend), and its interval as a whisker at each point."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    style = _style_kwargs(name)
    style["marker"] = style["marker"] or "o"
    if len(xs) < 2:
        style["ls"] = "none"
    axis.plot(xs, ys, gid=f"point:{name}", zorder=3, **style)
    for x, lo, hi in zip(xs, np.asarray(low, dtype=float), np.asarray(high, dtype=float)):
        _whisker(axis, [x, x], [lo, hi], style["color"], name)


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
             row_title: Callable, extra: Callable[[str], Sequence] = lambda facet: (),
             scale: tuple[str, float | None] | None = None, panel_height: float = 2.0):
    """A grid of panels: one column per facet (:func:`method_facets` of ``frame``'s methods), each a subfigure with
    its title and its own legend; one row per entry of ``rows``, whose data ``select(row)`` gives.
    ``draw(axis, row, panel)`` draws a panel's data (its facet's methods only); a row where none of a facet's own
    methods ran stays empty and hidden. ``scale``: the figure's one kind of y scale. Returns the figure."""
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
    return figure


def _written(figure, out_stem) -> list[Path]:
    """The figure's files (none where there is no figure)."""
    return [] if figure is None else _save_figure(figure, out_stem)


# -- convergence --------------------------------------------------------------------------------------------------

_RUN_KEYS = ["dataset", "model", "workers", "method", "variant", "family", "base", "seed"]


def _convergence_figure(epochs: pd.DataFrame, x: str, workers: int | None):
    epochs = main_study(epochs).dropna(subset=["val"])
    if epochs.empty:
        return None
    # One value per run and epoch (a frame with a row per measured layer would count a seed once per layer).
    per_run = (epochs.groupby(_RUN_KEYS + ["epoch"], dropna=False)
               .agg(val=("val", "mean"), wall=("wall_time_s", "mean")).reset_index())
    keys = ["dataset", "model", "workers", "variant", "epoch"]
    curves = seed_intervals(per_run.assign(val=per_run["val"] * 100), keys, "val")
    curves = curves.merge(per_run.groupby(keys, dropna=False)["wall"].mean().reset_index(), on=keys, how="left")
    configs = _panel_configs(per_run, workers)

    def select(config) -> pd.DataFrame:
        dataset, model, count = config
        return per_run[(per_run["dataset"] == dataset) & (per_run["model"] == model) & (per_run["workers"] == count)]

    def draw(axis, config, panel) -> None:
        dataset, model, count = config
        names = ordered_methods(panel["variant"])
        here = curves[(curves["dataset"] == dataset) & (curves["model"] == model) & (curves["workers"] == count)]
        for index, variant in enumerate(names):
            curve = here[here["variant"] == variant].sort_values("epoch")
            xs = curve["epoch"].to_numpy(dtype=float) if x == "epoch" else curve["wall"].to_numpy(dtype=float)
            # Markers on about 6 points, each line's further along: lines that coincide still show each one's.
            style = _style_kwargs(variant, len(xs), index, len(names))
            axis.plot(xs, curve["mean"], gid=f"point:{variant}", **style)
            axis.fill_between(xs, curve["low"], curve["high"], where=curve["low"].notna().to_numpy(),
                              color=style["color"], alpha=0.13, lw=0, gid=f"interval:{variant}")
        _note_missing_intervals(axis, panel.groupby("variant")["seed"].nunique())
        # Sum of epoch times: training only, evaluation and staleness measurement excluded.
        axis.set_xlabel("epoch" if x == "epoch" else "cumulative training time (s)")
        axis.set_ylabel("validation score (%)")

    band = _interval_handle("band", per_run.groupby(["dataset", "model", "workers", "variant"])["seed"].nunique())
    return _faceted(per_run, configs, select, draw, lambda c: f"{c[0]} · {c[1]} · W={c[2]}",
                    extra=lambda facet: [band], scale=("linear", None))


def val_vs_epoch_figure(epochs: pd.DataFrame, workers: int | None = None):
    """Validation score vs epoch, one row per (dataset, model) at its largest W, one column per facet: mean over
    seeds, band its 95 % t-interval over seeds; the number of seeds in the legend."""
    return _convergence_figure(epochs, "epoch", workers)


def val_vs_time_figure(epochs: pd.DataFrame, workers: int | None = None):
    """Validation score vs cumulative epoch time (training only: evaluation and measurement are excluded); as
    :func:`val_vs_epoch_figure`."""
    return _convergence_figure(epochs, "wall", workers)


def plot_val_vs_epoch(epochs: pd.DataFrame, out_stem, workers: int | None = None) -> list[Path]:
    """:func:`val_vs_epoch_figure`, written to ``out_stem``.png and .pdf."""
    return _written(val_vs_epoch_figure(epochs, workers), out_stem)


def plot_val_vs_time(epochs: pd.DataFrame, out_stem, workers: int | None = None) -> list[Path]:
    """:func:`val_vs_time_figure`, written to ``out_stem``.png and .pdf."""
    return _written(val_vs_time_figure(epochs, workers), out_stem)


# -- staleness ----------------------------------------------------------------------------------------------------


def staleness_window(staleness: pd.DataFrame) -> float:
    """Epochs per window of the staleness figure: about one measurement per seed and window (a run's epochs over its
    measurements per layer), rounded up to a divisor or a multiple of the sync period where the periodic methods
    share one, so that every window spans the same phases of every cycle (else windows would alias the saw-tooth)."""
    per_run = float(staleness.groupby(["record", "layer"]).size().median())
    epochs = float(staleness["epoch"].max())
    width = max(1.0, epochs / max(per_run, 1.0))
    periods = staleness["sync_period"].dropna().unique()
    if len(periods) == 1 and float(periods[0]).is_integer() and periods[0] >= 1:
        period = int(periods[0])
        candidates = [d for d in range(1, period + 1) if period % d == 0]
        candidates += [period * k for k in range(2, int(math.ceil(width / period)) + 2)]
        return float(min(c for c in candidates if c >= width))
    return float(math.ceil(width))


def staleness_figure(staleness: pd.DataFrame, workers: int | None = None):
    """Drift (relative error against exact rows with each row's own dropout masks) over training, in windows of the
    training position (epoch + local step / local steps; :func:`staleness_window` epochs each): each seed's mean in a
    window, then their mean over seeds with its 95 % t-interval as a band (each seed measures other steps of its own
    seeded schedule, so a window holds the seeds that measured in it; the legend gives how many); one row per
    (dataset, model at its largest W, hidden layer), one column per facet. The total error (against the step's own
    masks) is the dashed line in the same colour, mean over seeds. exact's error is 0 by construction (its line lies
    on the axis); an alleviation method's ``replaced_rel_error`` (the stale copy it replaced, same rows and weights)
    is the dotted line in its colour. Methods at one window are set slightly apart and carry their markers at
    different windows, so that equal curves show each one."""
    staleness = main_study(staleness).dropna(subset=["rel_error"])
    if "drift_rel_error" not in staleness:
        staleness = staleness.assign(drift_rel_error=np.nan, local_step=0.0)
    staleness = staleness.assign(drift_rel_error=staleness["drift_rel_error"].fillna(staleness["rel_error"]),
                                 local_step=staleness["local_step"].fillna(0.0))
    if not (staleness["method"] != "exact").any():
        return None
    from matplotlib.lines import Line2D

    width = staleness_window(staleness)
    steps = staleness.groupby("variant")["local_step"].transform("max") + 1
    position = staleness["epoch"] - 1 + staleness["local_step"] / steps
    staleness = staleness.assign(window=np.floor(position / width).astype(int))
    per_seed = (staleness.groupby(_RUN_KEYS + ["layer", "window"], dropna=False)
                [["drift_rel_error", "rel_error", "replaced_rel_error"]].mean().reset_index())
    keys = ["dataset", "model", "workers", "layer", "variant", "window"]
    curves = seed_intervals(per_seed, keys, "drift_rel_error").merge(
        per_seed.groupby(keys, dropna=False)[["rel_error", "replaced_rel_error"]].mean().reset_index(), on=keys)
    curves["position"] = (curves["window"] + 0.5) * width

    layers = sorted(staleness["layer"].unique())
    rows = [(*config, layer) for config in _panel_configs(staleness, workers) for layer in layers]
    values = np.concatenate([curves["mean"].to_numpy(), curves["rel_error"].to_numpy(),
                             curves["replaced_rel_error"].to_numpy()])
    scale = figure_scale(values)

    def select(row) -> pd.DataFrame:
        dataset, model, count, layer = row
        return per_seed[(per_seed["dataset"] == dataset) & (per_seed["model"] == model)
                        & (per_seed["workers"] == count) & (per_seed["layer"] == layer)]

    def draw(axis, row, panel) -> None:
        dataset, model, count, layer = row
        here = curves[(curves["dataset"] == dataset) & (curves["model"] == model) & (curves["workers"] == count)
                      & (curves["layer"] == layer)]
        names = ordered_methods(panel["variant"])
        for index, variant in enumerate(names):
            curve = here[here["variant"] == variant].sort_values("window")
            xs = curve["position"].to_numpy(dtype=float) + _dodge(index, len(names), 0.08 * width)
            style = _style_kwargs(variant, len(curve), index, len(names))
            axis.plot(xs, curve["mean"], gid=f"point:{variant}", **style)
            # An error is never negative: an interval reaching below 0 is drawn to 0 (it says "consistent with 0").
            axis.fill_between(xs, curve["low"].clip(lower=0), curve["high"], where=curve["low"].notna().to_numpy(),
                              color=style["color"], alpha=0.13, lw=0, gid=f"interval:{variant}")
            axis.plot(xs, curve["rel_error"], color=style["color"], lw=0.7, alpha=0.6, ls="--", label="_total")
            if curve["replaced_rel_error"].notna().any():
                axis.plot(xs, curve["replaced_rel_error"], color=style["color"], lw=0.7, alpha=0.6,
                          ls=(0, (1, 1)), label="_replaced")
        _note_missing_intervals(axis, here.loc[here["variant"].isin(names), "n"])
        axis.set_xlabel(f"training position (epochs; windows of {width:g})")
        axis.set_ylabel("drift of halo rows")

    band = _interval_handle("band", curves["n"])
    total = Line2D([], [], color="0.3", lw=0.7, alpha=0.6, ls="--", label="dashed: total (with mask noise)")
    replaced = Line2D([], [], color="0.3", lw=0.7, alpha=0.6, ls=(0, (1, 1)),
                      label="dotted: stale copy replaced")
    has_replaced = curves["replaced_rel_error"].notna().any()
    return _faceted(per_seed, rows, select, draw, lambda r: f"{r[0]} · {r[1]} · W={r[2]} · layer {r[3]}",
                    extra=lambda facet: [band, total] + ([replaced] if has_replaced and facet.startswith("on ")
                                                         else []),
                    scale=scale)


def plot_staleness(staleness: pd.DataFrame, out_stem, workers: int | None = None) -> list[Path]:
    """:func:`staleness_figure`, written to ``out_stem``.png and .pdf."""
    return _written(staleness_figure(staleness, workers), out_stem)


# -- throughput, accuracy against staleness -----------------------------------------------------------------------


def _timing_unit(studies: Iterable[str]) -> str:
    """What a throughput interval is over: the timing study's repetitions (a run's seed is its repetition there), or
    the main runs' seeds."""
    studies = set(studies)
    return "repetition" if studies == {"timing"} else "seed" if "timing" not in studies else "run"


def throughput_points(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, W, method as drawn): mean epoch time with its 95 % t-interval over seeds (over the
    repetitions of the timing study where it timed the setting, as the throughput table), and the speedup over exact
    (exact's mean epoch time over the method's, paired by seed) with Fieller's 95 % interval
    (:func:`~.stats.ratio_of_means`); ``study`` says where the times come from."""
    timed = timed_runs(runs).dropna(subset=["mean_epoch_time_s"])
    if timed.empty:
        return pd.DataFrame()
    keys = ["dataset", "model", "workers", "variant"]
    points = seed_intervals(timed, keys, "mean_epoch_time_s").merge(
        timed.groupby(keys, dropna=False)["study"].first().reset_index(), on=keys, how="left")
    speedups = []
    for dataset, model, workers, variant in points[keys].itertuples(index=False):
        setting = timed[(timed["dataset"] == dataset) & (timed["model"] == model) & (timed["workers"] == workers)]
        exact = setting[setting["method"] == "exact"].groupby("seed")["mean_epoch_time_s"].mean()
        own = setting[setting["variant"] == variant].groupby("seed")["mean_epoch_time_s"].mean()
        if exact.empty:
            speedups.append((math.nan, math.nan, math.nan))
        elif variant == "exact":
            speedups.append((1.0, math.nan, math.nan))  # 1 by definition: no interval to draw
        else:
            fieller = ratio_of_means(exact, own)
            speedups.append((fieller.estimate, fieller.ci_low, fieller.ci_high))
    points[["speedup", "speedup_low", "speedup_high"]] = pd.DataFrame(speedups, index=points.index)
    return points


def throughput_figure(runs: pd.DataFrame):
    """Mean epoch time and speedup over exact per method, with 95 % intervals over seeds (repetitions of the timing
    study where it timed the setting). A (dataset, model) run at several W: against W, one line per method, the
    methods set slightly apart at each W; at a single W, one point per method on a method axis (a single W is no
    trend), the methods in display order, the first on top."""
    points = throughput_points(runs)
    if points.empty:
        return None
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    configs = sorted(points[["dataset", "model"]].drop_duplicates().itertuples(index=False))
    several = [c for c in configs if points.loc[(points["dataset"] == c[0]) & (points["model"] == c[1]),
                                                "workers"].nunique() > 1]
    single = [c for c in configs if c not in several]
    has_speedup = points["speedup"].notna().any()
    scale = figure_scale(pd.concat([points["mean"], points["speedup"]]))
    labels = ordered_methods(points.loc[points[["dataset", "model"]].apply(tuple, axis=1).isin(single), "variant"])
    chunks = [single[i:i + 3] for i in range(0, len(single), 3)]
    row_height = max(1.6, 0.22 * len(labels) + 0.9)
    heights = [PANEL_HEIGHT_IN * len(several)] if several else []
    heights += [row_height * (2 if has_speedup else 1) * len(chunks)] if single else []
    with rc_context(PAPER_RC):
        figure = Figure(figsize=(FIGURE_WIDTH_IN, sum(heights) + 0.8), layout="constrained")
        parts = list(np.atleast_1d(figure.subfigures(len(heights), 1, height_ratios=heights)))
        axes_drawn = []
        if several:
            axes_drawn += list(_throughput_against_workers(parts.pop(0), points, several, has_speedup, scale).ravel())
        if single:
            axes_drawn += list(_throughput_per_method(parts.pop(0), points, chunks, labels, has_speedup, scale))
        # The number of seeds (or repetitions) is in each panel's title: the timing study's settings have their own.
        what = "95 % CI (t; speedup: Fieller)" if has_speedup else "95 % CI (t)"
        _legend(figure, axes_drawn, extra=[_interval_handle("whiskers", None, what=what)])
    return figure


def _throughput_against_workers(owner, points, configs, has_speedup, scale):
    axes = owner.subplots(len(configs), 2 if has_speedup else 1, squeeze=False)
    for row, (dataset, model) in enumerate(configs):
        panel = points[(points["dataset"] == dataset) & (points["model"] == model)]
        counts = sorted(panel["workers"].unique())
        doubling = counts[-1] / counts[0] >= 4  # W doubles (1, 2, 4, 8): even spacing on a log axis
        names = ordered_methods(panel["variant"])
        for index, variant in enumerate(names):
            curve = panel[panel["variant"] == variant].sort_values("workers")
            # each method a little apart from the others at the same W, so equal values do not hide each other
            dodge = _dodge(index, len(names), min(0.05, 0.5 / len(names)))
            xs = curve["workers"] * 2 ** dodge if doubling else curve["workers"] + 2 * dodge
            _series(axes[row, 0], xs, curve["mean"], curve["low"], curve["high"], variant)
            if has_speedup:
                _series(axes[row, 1], xs, curve["speedup"], curve["speedup_low"], curve["speedup_high"], variant)
        _note_missing_intervals(axes[row, 0], panel["n"])
        seeds = _seeds_text(panel["n"], _timing_unit(panel["study"]))
        axes[row, 0].set_ylabel("epoch time (s)")
        axes[row, 0].set_title(_title(f"{dataset} · {model}: epoch time ({seeds})"))
        if has_speedup:
            axes[row, 1].axhline(1.0, color="0.5", lw=0.8, ls=":")
            axes[row, 1].set_ylabel("speedup over exact (×)")
            axes[row, 1].set_title(_title(f"{dataset} · {model}: speedup over exact ({seeds})"))
        for axis in axes[row]:
            _apply_scale(axis, scale)
            axis.set_xlabel("workers W")
            if doubling:
                axis.set_xscale("log", base=2)
            else:
                axis.set_xlim(counts[0] - 0.5, counts[-1] + 0.5)
            _ticks_at(axis, counts)
    return axes


def _throughput_per_method(owner, points, chunks, labels, has_speedup, scale) -> list:
    """One panel per (dataset, model) at its single W and quantity: a point per method on a shared method axis (named
    in the first column), its interval a horizontal whisker."""
    from matplotlib.ticker import FuncFormatter

    position = {label: len(labels) - 1 - index for index, label in enumerate(labels)}  # first method on top
    quantities = [("mean", "low", "high", "epoch time (s)")]
    if has_speedup:
        quantities.append(("speedup", "speedup_low", "speedup_high", "speedup over exact (×)"))
    columns = max(len(chunk) for chunk in chunks)
    axes = owner.subplots(len(quantities) * len(chunks), columns, squeeze=False)
    drawn = []
    for block, chunk in enumerate(chunks):
        for q, (value, low, high, xlabel) in enumerate(quantities):
            row = block * len(quantities) + q
            for column in range(columns):
                axis = axes[row, column]
                if column >= len(chunk):
                    axis.set_visible(False)
                    continue
                dataset, model = chunk[column]
                panel = points[(points["dataset"] == dataset) & (points["model"] == model)]
                for point in panel.itertuples(index=False):
                    y = position[point.variant]
                    axis.plot([getattr(point, value)], [y], **_point_kwargs(point.variant))
                    _whisker(axis, [getattr(point, low), getattr(point, high)], [y, y],
                             method_style(point.variant).color, point.variant)
                if value == "speedup":
                    axis.axvline(1.0, color="0.5", lw=0.8, ls=":")
                _apply_scale(axis, scale, which="x")
                axis.set_ylim(-0.6, len(labels) - 0.4)
                axis.set_yticks(list(position.values()), list(position) if column == 0 else [""] * len(position))
                axis.grid(axis="y", visible=False)
                axis.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                axis.set_xlabel(xlabel)
                workers = int(panel["workers"].iloc[0])
                # two lines: the panels are narrow
                seeds = _seeds_text(panel["n"], _timing_unit(panel["study"]))
                axis.set_title(f"{_title(dataset)}\n{model} · W={workers} · {seeds}")
                _note_missing_intervals(axis, panel["n"])
                drawn.append(axis)
    return drawn


def plot_throughput(runs: pd.DataFrame, out_stem) -> list[Path]:
    """:func:`throughput_figure`, written to ``out_stem``.png and .pdf."""
    return _written(throughput_figure(runs), out_stem)


def accuracy_vs_staleness_figure(runs: pd.DataFrame):
    """Test score vs mean staleness, one panel per (dataset, model, W), one point per method: the means over seeds,
    each with its 95 % t-interval over seeds as a whisker in both directions. Points that would cover each other
    (within :data:`SPREAD_GAP` of the panel in both directions) are moved right along x (:func:`_spread`), the whisker
    of staleness staying where its interval lies."""
    runs = main_study(runs).dropna(subset=["mean_staleness", "test_at_best_val"])
    if runs.empty:
        return None
    keys = ["dataset", "model", "workers", "variant"]
    points = seed_intervals(runs, keys, "mean_staleness").merge(
        seed_intervals(runs.assign(score=runs["test_at_best_val"] * 100), keys, "score"), on=keys,
        suffixes=("_x", "_y"))
    settings = list(dict.fromkeys(zip(points["dataset"], points["model"], points["workers"])))
    columns = min(3, len(settings))
    rows = math.ceil(len(settings) / columns)
    scale = figure_scale(points["mean_x"])
    from matplotlib import rc_context
    from matplotlib.patches import Patch
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(rows, columns, panel_height=2.6)
        for axis, (dataset, model, workers) in zip(axes.ravel(), settings):
            panel = points[(points["dataset"] == dataset) & (points["model"] == model)
                           & (points["workers"] == workers)]
            order = {name: rank for rank, name in enumerate(ordered_methods(panel["variant"]))}
            panel = panel.assign(rank=panel["variant"].map(order)).sort_values("rank")
            _apply_scale(axis, scale, which="x")
            xs = _spread_along_x(axis, panel)
            for x, point in zip(xs, panel.itertuples(index=False)):
                color = method_style(point.variant).color
                _whisker(axis, [point.low_x, point.high_x], [point.mean_y, point.mean_y], color, point.variant)
                _whisker(axis, [x, x], [point.low_y, point.high_y], color, point.variant)
                axis.plot([x], [point.mean_y], **_point_kwargs(point.variant, 5.5))
            _note_missing_intervals(axis, panel["n_y"])
            axis.set_title(_title(f"{dataset} · {model} · W={workers}"))
            axis.set_xlabel("mean relative error of halo rows")
            axis.set_ylabel("test score at best val. (%)")
        for axis in axes.ravel()[len(settings):]:
            axis.set_visible(False)
        _legend(figure, axes, extra=[_interval_handle("whiskers", points["n_y"]),
                                     Patch(color="none", label="coinciding points moved slightly right")])
    return figure


def _spread_along_x(axis, panel: pd.DataFrame) -> np.ndarray:
    """The x at which each of ``panel``'s points is drawn: its mean staleness, moved along x where it would cover
    another point (:func:`_spread`, in the axis's own scale, so a log axis spreads by a ratio)."""
    transform = axis.xaxis.get_transform()
    x = np.asarray(transform.transform(panel["mean_x"].to_numpy(dtype=float)), dtype=float).ravel()
    y = panel["mean_y"].to_numpy(dtype=float)
    ends_x = np.asarray(transform.transform(np.concatenate([panel["mean_x"], panel["low_x"].dropna(),
                                                            panel["high_x"].dropna()]).clip(min=0)),
                        dtype=float).ravel()
    ends_y = np.concatenate([y, panel["low_y"].dropna(), panel["high_y"].dropna()])
    ends_x, ends_y = ends_x[np.isfinite(ends_x)], ends_y[np.isfinite(ends_y)]
    span_x = float(np.ptp(ends_x)) or 1.0
    span_y = float(np.ptp(ends_y)) or 1.0
    offsets = _spread((x - ends_x.min()) / span_x, (y - ends_y.min()) / span_y, gap=SPREAD_GAP)
    return np.asarray(transform.inverted().transform(x + offsets * span_x), dtype=float).ravel()


def plot_accuracy_vs_staleness(runs: pd.DataFrame, out_stem) -> list[Path]:
    """:func:`accuracy_vs_staleness_figure`, written to ``out_stem``.png and .pdf."""
    return _written(accuracy_vs_staleness_figure(runs), out_stem)


# -- decomposition ------------------------------------------------------------------------------------------------


def _interval_whiskers(frame: pd.DataFrame, name: str) -> np.ndarray:
    """``xerr`` for bars at ``{name}_pts_mean``: the distances to the 95 % interval's ends (0 where there is none)."""
    estimate = frame[f"{name}_pts_mean"].astype(float).to_numpy()
    low = frame[f"{name}_ci_low"].astype(float).to_numpy()
    high = frame[f"{name}_ci_high"].astype(float).to_numpy()
    return np.nan_to_num(np.vstack([estimate - low, high - estimate]).clip(min=0))


def decomposition_figure(table: pd.DataFrame):
    """Per setting (dataset · model · W), one pair of bars per stale method: its protocol cost (exact − control) and
    its staleness cost (control − method), each in its own colour, in test points with whiskers spanning the 95 %
    interval of the paired t over seeds (``X_ci_low``, ``X_ci_high``; none with fewer than 2 seeds, which the panel
    says); the legend gives the number of seeds (``n``). The panels share one method axis, named once on the left
    (a row stays empty where a setting lacks that method), so long method names do not squeeze the bars. A staleness
    bar is hatched where it is not a significant loss (the decomposition's ``staleness_cost_significant``: one-sided
    paired t, Holm-adjusted); an alleviation method's recovered share is printed beside it where the decomposition
    reports one (its base's staleness cost a significant loss)."""
    if table.empty or table["control_pct_mean"].isna().all():
        return None
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
                if all(row[f"{cost}_{end}"] == 0 for cost in ("protocol_cost", "staleness_cost")
                       for end in ("pts_mean", "ci_low", "ci_high")):
                    # Two bars of length 0 would leave the row blank, as if the method were missing.
                    axis.annotate("both 0 on every seed", (0, row_y), xytext=(4, -3), textcoords="offset points",
                                  fontsize=7, color="0.2")
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
            _note_missing_intervals(axis, panel["n"])
        for index in range(len(settings), rows * columns):
            axes[index // columns, index % columns].set_visible(False)
        whiskers = _interval_handle("whiskers", table["n"], what="95 % CI (paired t)")
        legend = [Patch(color=PROTOCOL_COLOR, label="protocol cost (exact − control)"),
                  Patch(color=STALENESS_COLOR, label="staleness cost (control − method)"),
                  Patch(facecolor=STALENESS_COLOR, hatch="///", edgecolor="white",
                        label="staleness cost not significant"),
                  Patch(color="none", label=whiskers.get_label())]
        figure.legend(handles=legend, loc="outside lower center", ncols=2, frameon=False)
    return figure


def plot_decomposition(table: pd.DataFrame, out_stem) -> list[Path]:
    """:func:`decomposition_figure`, written to ``out_stem``.png and .pdf."""
    return _written(decomposition_figure(table), out_stem)


# -- sync period, bandwidth ---------------------------------------------------------------------------------------


def sync_period_figure(runs: pd.DataFrame):
    """Staleness, test score and epoch time vs τ (log x, linear y), each a mean over seeds with its 95 % t-interval
    as a whisker; one row per (dataset, model, W). The methods are set slightly apart at each τ (a ratio on the log
    axis) and each keeps its marker, so equal values (DIGEST and the methods on it share its rows) show each method;
    a panel of one seed per τ says it has no interval."""
    sweep = sweep_runs(runs)
    if sweep.empty:
        return None
    keys = ["dataset", "model", "workers", "method", "sync_period"]
    quantities = (("mean_staleness", 1.0, "mean relative error"), ("test_at_best_val", 100.0,
                                                                   "test score at best val. (%)"),
                  ("mean_epoch_time_s", 1.0, "epoch time (s)"))
    curves = {column: seed_intervals(sweep.assign(value=sweep[column] * factor), keys, "value")
              for column, factor, _ in quantities}
    configs = sorted(sweep[["dataset", "model", "workers"]].drop_duplicates().itertuples(index=False))
    from matplotlib import rc_context
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(len(configs), 3)
        for row, (dataset, model, count) in enumerate(configs):
            panel = sweep[(sweep["dataset"] == dataset) & (sweep["model"] == model) & (sweep["workers"] == count)]
            names = ordered_methods(panel["method"])
            for column, (quantity, _, ylabel) in enumerate(quantities):
                axis = axes[row, column]
                data = curves[quantity]
                data = data[(data["dataset"] == dataset) & (data["model"] == model) & (data["workers"] == count)]
                for index, method in enumerate(names):
                    curve = data[data["method"] == method].sort_values("sync_period")
                    xs = curve["sync_period"] * 10 ** _dodge(index, len(names), min(0.015, 0.08 / len(names)))
                    _series(axis, xs, curve["mean"], curve["low"], curve["high"], method)
                _note_missing_intervals(axis, data["n"])
                axis.set_xscale("log")
                _ticks_at(axis, panel["sync_period"])
                axis.set_xlabel("sync period τ (epochs)")
                axis.set_ylabel(ylabel)
            axes[row, 1].set_title(_title(f"{dataset} · {model} · W={count}"))
        counts = pd.concat([data["n"] for data in curves.values()])
        _legend(figure, axes, extra=[_interval_handle("whiskers", counts)])
    return figure


def plot_sync_period(runs: pd.DataFrame, out_stem) -> list[Path]:
    """:func:`sync_period_figure`, written to ``out_stem``.png and .pdf."""
    return _written(sync_period_figure(runs), out_stem)


def bandwidth_figure(table: pd.DataFrame):
    """Epoch time and speedup over exact against the link rate (log x, ticks at the rates run, "20 Mbit/s"), log y
    in both, one line per method (markers alone for a method run at one rate), the methods set slightly apart at
    each rate; one row per (dataset, model, W). ``table``: :func:`~.tables.bandwidth_table`'s. Epoch time with its
    95 % t-interval over seeds (from the table's mean, sample std and n, as :func:`seed_intervals` computes it); the
    speedup is a ratio of the two means, which the table gives without an interval (the legend says so)."""
    if table.empty or table["epoch_time_s_mean"].isna().all():
        return None
    from scipy import stats as scipy_stats

    n = table["n"].to_numpy(dtype=float)
    half = (scipy_stats.t.ppf(1 - ALPHA / 2, np.maximum(n - 1, 1)) * table["epoch_time_s_std"].fillna(0.0)
            / np.sqrt(n)).where(n >= 2)
    table = table.assign(low=table["epoch_time_s_mean"] - half, high=table["epoch_time_s_mean"] + half)
    configs = list(dict.fromkeys(zip(table["dataset"], table["model"], table["workers"])))
    scale = figure_scale(pd.concat([table["epoch_time_s_mean"], table["speedup_vs_exact"]]))
    from matplotlib import rc_context
    from matplotlib.patches import Patch
    from matplotlib.ticker import NullLocator
    with rc_context(PAPER_RC):
        figure, axes = _new_figure(len(configs), 2)
        for row, (dataset, model, workers) in enumerate(configs):
            panel = table[(table["dataset"] == dataset) & (table["model"] == model) & (table["workers"] == workers)]
            names = ordered_methods(panel["method"])
            for index, method in enumerate(names):
                curve = panel[panel["method"] == method].sort_values("rate_bit_s")
                xs = curve["rate_bit_s"] * 10 ** _dodge(index, len(names), min(0.02, 0.12 / len(names)))
                _series(axes[row, 0], xs, curve["epoch_time_s_mean"], curve["low"], curve["high"], method)
                if method != "exact":  # exact's speedup over itself is 1 by definition
                    nothing = np.full(len(curve), np.nan)
                    _series(axes[row, 1], xs, curve["speedup_vs_exact"], nothing, nothing, method)
            _note_missing_intervals(axes[row, 0], panel["n"])
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
        _legend(figure, axes, extra=[_interval_handle("whiskers", table["n"]),
                                     Patch(color="none", label="speedup: ratio of means, no interval")])
    return figure


def plot_bandwidth(table: pd.DataFrame, out_stem) -> list[Path]:
    """:func:`bandwidth_figure`, written to ``out_stem``.png and .pdf."""
    return _written(bandwidth_figure(table), out_stem)
