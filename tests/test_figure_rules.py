"""The rules every figure of the report obeys (satbench.report.figures), checked on the drawn matplotlib figures of
small frames with known numbers: intervals are the report's 95 % t-intervals over seeds and say over how many; an
axis with one point on it is no trend; methods at equal values are drawn apart; a one-seed panel says so."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from satbench.report import figures
from satbench.report.stats import difference_test, ratio_of_means
from satbench.report.style import METHOD_STYLES

SCORES = (0.70, 0.74, 0.72, 0.78, 0.75)  # per seed
STALENESS = (0.30, 0.32, 0.31, 0.35, 0.29)
TIMES = (0.050, 0.056, 0.049, 0.061, 0.052)
# DIGEST and the methods on it that share its stale rows: equal numbers, which the old figures drew on one spot.
PERIODIC = ("digest", "sat-plus", "staleness-weighted")
FAMILY = {"exact": ("reference", None), "gas": ("historical", None), "digest": ("historical", None),
          "sat-plus": ("alleviation", "digest"), "staleness-weighted": ("alleviation", "digest")}


def _run(method: str, seed: int, **values) -> dict:
    family, base = FAMILY[method]
    return dict(study="main", dataset="cora", model="gcn", workers=4, method=method, variant=method, family=family,
                base=base, seed=seed, sync_period=10.0 if method in PERIODIC else np.nan, **values)


def _runs(methods=("exact", *PERIODIC), seeds=SCORES) -> pd.DataFrame:
    """Main runs of ``methods``, seed i with SCORES[i], STALENESS[i] and TIMES[i] (exact: no staleness, its time
    0.8 ×): every method but exact has the same numbers."""
    rows = []
    for method, (seed, score) in itertools.product(methods, enumerate(seeds)):
        rows.append(_run(method, seed, test_at_best_val=score,
                         mean_staleness=0.0 if method == "exact" else STALENESS[seed],
                         mean_epoch_time_s=TIMES[seed] * (0.8 if method == "exact" else 1.0)))
    return pd.DataFrame(rows)


def _drawn(figure):
    figure.draw_without_rendering()  # limits and layout final: display positions are what a reader sees
    return figure


def _lines(figure, prefix: str, name: str | None = None) -> list:
    return [line for axis in figure.get_axes() for line in axis.get_lines()
            if (line.get_gid() or "").startswith(prefix) and (name is None or line.get_gid() == prefix + name)]


def _marker_positions(line) -> np.ndarray:
    """Where a line's markers are drawn, in display coordinates (its ``markevery`` applied)."""
    xy = line.get_xydata()
    every = line.get_markevery()
    if isinstance(every, tuple):
        xy = xy[every[0]::every[1]]
    return line.get_transform().transform(xy)


def _texts(figure) -> str:
    return "\n".join(text.get_text() for text in figure.findobj(Text))


def _assert_apart(figure, names) -> None:
    """No two of ``names`` have a marker at the same display position (within a pixel)."""
    positions = {name: np.vstack([_marker_positions(line) for line in _lines(figure, "point:", name)])
                 for name in names}
    for first, second in itertools.combinations(names, 2):
        distances = np.linalg.norm(positions[first][:, None, :] - positions[second][None, :, :], axis=-1)
        assert distances.min() > 1.0, (first, second)


# -- intervals --------------------------------------------------------------------------------------------------------

def test_seed_intervals_are_the_reports_t_intervals():
    """The figures' intervals are stats' 95 % t-interval of the mean (not min–max, not ± std): NaN for one seed,
    the point for equal values."""
    groups = {"five": [0.70, 0.74, 0.72, 0.78, 0.75], "two": [0.5, 0.9], "one": [0.4], "equal": [0.3, 0.3, 0.3],
              "with nan": [0.2, np.nan, 0.4, 0.5]}
    frame = pd.DataFrame([(name, value) for name, values in groups.items() for value in values],
                         columns=["group", "value"])
    table = figures.seed_intervals(frame, ["group"], "value").set_index("group")
    for name, values in groups.items():
        expected = difference_test(values)
        row = table.loc[name]
        assert row["mean"] == pytest.approx(expected.estimate) and row["n"] == expected.n, name
        for end, value in (("low", expected.ci_low), ("high", expected.ci_high)):
            assert (np.isnan(row[end]) and np.isnan(value)) or row[end] == pytest.approx(value), (name, end)
    assert (table.loc["two", "low"], table.loc["two", "high"]) != pytest.approx((0.5, 0.9))  # not the seeds' range


def test_whiskers_are_the_t_interval_and_the_legend_gives_the_seeds():
    figure = _drawn(figures.accuracy_vs_staleness_figure(_runs(methods=("exact", "gas"))))
    expected = difference_test(np.array(SCORES) * 100)
    vertical = [line.get_ydata() for line in _lines(figure, "interval:", "gas") if np.ptp(line.get_xdata()) == 0]
    assert len(vertical) == 1
    assert (min(vertical[0]), max(vertical[0])) == pytest.approx((expected.ci_low, expected.ci_high))
    horizontal = [line.get_xdata() for line in _lines(figure, "interval:", "gas") if np.ptp(line.get_ydata()) == 0]
    staleness = difference_test(STALENESS)
    assert (min(horizontal[0]), max(horizontal[0])) == pytest.approx((staleness.ci_low, staleness.ci_high))
    assert "95 % CI over n = 5 seeds" in _texts(figure)


def test_convergence_bands_are_the_t_interval_not_the_seeds_range():
    rows = []
    for method, seed, epoch in itertools.product(("exact", "gas"), range(5), range(1, 4)):
        rows.append(_run(method, seed, epoch=epoch, val=SCORES[seed] + 0.01 * epoch, wall_time_s=0.1 * epoch))
    epochs = pd.DataFrame(rows)
    figure = _drawn(figures.val_vs_epoch_figure(epochs))
    expected = difference_test((np.array(SCORES) + 0.02) * 100)  # epoch 2
    band = next(collection for axis in figure.get_axes() for collection in axis.collections
                if collection.get_gid() == "interval:gas")
    vertices = band.get_paths()[0].vertices
    at_two = vertices[np.isclose(vertices[:, 0], 2.0), 1]
    assert (at_two.min(), at_two.max()) == pytest.approx((expected.ci_low, expected.ci_high))
    assert "band: 95 % CI over n = 5 seeds" in _texts(figure)
    assert "min–max" not in _texts(figure)


# -- no method hides another -----------------------------------------------------------------------------------------

def test_methods_at_equal_values_are_drawn_apart_in_the_scatter():
    """DIGEST, sat-plus and staleness-weighted at the same staleness and score: three markers, none on another; a
    method far from the others stays at its own value."""
    runs = _runs()
    figure = _drawn(figures.accuracy_vs_staleness_figure(runs))
    _assert_apart(figure, PERIODIC)
    exact = _lines(figure, "point:", "exact")[0]
    assert tuple(exact.get_xydata()[0]) == pytest.approx((0.0, np.mean(SCORES) * 100))
    assert "moved slightly right" in _texts(figure)


def test_methods_at_equal_values_are_drawn_apart_against_the_sync_period():
    runs = pd.concat([_runs(methods=PERIODIC).assign(study="sweep", sync_period=tau) for tau in (5.0, 20.0)],
                     ignore_index=True)
    figure = _drawn(figures.sync_period_figure(runs))
    _assert_apart(figure, PERIODIC)
    # each method's markers are its own: no two share a marker and a fill
    looks = {name: (_lines(figure, "point:", name)[0].get_marker(),
                    _lines(figure, "point:", name)[0].get_markerfacecolor()) for name in PERIODIC}
    assert len(set(looks.values())) == len(PERIODIC)


def test_coinciding_curves_show_each_methods_markers():
    """Staleness curves that coincide (the methods share their base's rows): markers at different positions."""
    rows = []
    for method, seed, epoch in itertools.product(("exact", *PERIODIC), range(3), range(1, 21)):
        drift = 0.0 if method == "exact" else 0.1 + 0.01 * (epoch % 10) + 0.005 * seed
        rows.append(dict(_run(method, seed), epoch=epoch, layer=1, local_step=0.0, rel_error=drift * 1.2,
                         drift_rel_error=drift, replaced_rel_error=np.nan, record=f"{method}-{seed}"))
    figure = _drawn(figures.staleness_figure(pd.DataFrame(rows)))
    _assert_apart(figure, PERIODIC)
    assert "band: 95 % CI over n = 3 seeds" in _texts(figure)


def test_every_method_has_a_marker_of_its_own():
    looks = [(style.marker, style.hollow) for style in METHOD_STYLES.values()]
    assert all(marker for marker, _ in looks)
    assert len(set(looks)) == len(looks)


# -- an axis is a trend only where it has several points ---------------------------------------------------------------

def test_a_single_w_is_drawn_as_points_per_method_not_a_trend():
    runs = _runs(methods=("exact", "gas", "digest"))
    figure = _drawn(figures.throughput_figure(runs))
    points = _lines(figure, "point:")
    assert points and all(line.get_linestyle() == "None" and len(line.get_xdata()) == 1 for line in points)
    assert "workers W" not in _texts(figure)
    # epoch time's whisker: the t-interval over seeds; speedup's: Fieller's interval of exact's mean over its own
    time = next(line for line in _lines(figure, "interval:", "gas") if np.ptp(line.get_ydata()) == 0)
    expected = difference_test(TIMES)
    assert sorted(time.get_xdata()) == pytest.approx([expected.ci_low, expected.ci_high])
    fieller = ratio_of_means(pd.Series(np.array(TIMES) * 0.8), pd.Series(TIMES))
    speedups = [sorted(line.get_xdata()) for line in _lines(figure, "interval:", "gas")]
    assert any(ends == pytest.approx([fieller.ci_low, fieller.ci_high]) for ends in speedups)
    assert "n = 5 seeds" in _texts(figure)


def test_several_w_are_a_trend_with_methods_apart():
    runs = pd.concat([_runs(methods=("exact", "gas", "digest")).assign(workers=workers) for workers in (2, 4, 8)],
                     ignore_index=True)
    figure = _drawn(figures.throughput_figure(runs))
    lines = _lines(figure, "point:", "gas")
    assert lines and all(line.get_linestyle() == "-" and len(line.get_xdata()) == 3 for line in lines)
    assert "workers W" in _texts(figure)
    _assert_apart(figure, ("exact", "gas", "digest"))


# -- one seed -------------------------------------------------------------------------------------------------------

def test_a_one_seed_panel_says_it_has_no_interval():
    runs = pd.concat([_runs(methods=PERIODIC, seeds=SCORES[:1]).assign(study="sweep", sync_period=tau)
                      for tau in (5.0, 20.0)], ignore_index=True)
    figure = _drawn(figures.sync_period_figure(runs))
    assert not _lines(figure, "interval:")
    assert _texts(figure).count("1 seed: no interval") >= 3  # each panel, and the legend
    one = _drawn(figures.accuracy_vs_staleness_figure(_runs(seeds=SCORES[:1])))
    assert not _lines(one, "interval:") and "1 seed: no interval" in _texts(one)
