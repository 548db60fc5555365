"""One look for every figure and table: method order, a fixed colour, line style and marker per method, paper-sized
figures, link rates in words."""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from typing import Iterable

METHOD_ORDER = ("exact", "partition", "gas", "graphfm", "pipegcn", "pipegcn-gf", "digest", "sancus",
                "sat", "sat+gas", "sat+pipegcn", "sat-plus", "sat-layer1", "lmc", "rest", "staleness-weighted",
                "staleness-weighted+gas")


@dataclass(frozen=True)
class LineStyle:
    """How a method is drawn: colour, dash pattern and marker, all three fixed, so two methods whose curves
    coincide still show as two (different dashes and markers) and every figure draws a method alike."""

    color: str
    dashes: str  # matplotlib linestyle: "-", "--", ":", "-."
    marker: str  # matplotlib marker; (marker, hollow) is unique across METHOD_STYLES
    hollow: bool = False  # an open marker: one drawn over another method's at the same point leaves it visible


# References black and grey; historical methods blues, greens, orange, brown; alleviation methods reds, purples,
# pinks, navy, and the newer ones teal, olive, magenta, gold; alleviation methods' markers open (their curves often
# lie on their base's). Every method has a marker, no two the same shape and fill: a figure of points (one per
# method) tells them apart by the marker alone, also in greyscale print.
METHOD_STYLES = {
    "exact": LineStyle("#000000", "-", "p"),
    "partition": LineStyle("#7f7f7f", ":", "<"),
    "gas": LineStyle("#1f77b4", "-", "o"),
    "graphfm": LineStyle("#17becf", "--", "v"),
    "pipegcn": LineStyle("#2ca02c", "-", "s"),
    "pipegcn-gf": LineStyle("#bcbd22", "--", "D"),
    "digest": LineStyle("#ff7f0e", "-", "^"),
    "sancus": LineStyle("#8c564b", "-.", "P"),
    "sat": LineStyle("#d62728", "--", "x"),
    "sat+gas": LineStyle("#9467bd", "--", "+"),
    "sat+pipegcn": LineStyle("#e377c2", "--", "1"),
    "sat-plus": LineStyle("#08306b", ":", "o", hollow=True),
    "sat-layer1": LineStyle("#6a3d9a", "-.", "d", hollow=True),
    "lmc": LineStyle("#00796b", "-.", "s", hollow=True),
    "rest": LineStyle("#808000", "-.", "*", hollow=True),
    "staleness-weighted": LineStyle("#c51b7d", ":", "X", hollow=True),
    "staleness-weighted+gas": LineStyle("#b8860b", ":", "h", hollow=True),
}
METHOD_COLORS = {method: style.color for method, style in METHOD_STYLES.items()}
# Unknown methods draw from these by a stable hash of their name, so a new method keeps its look across figures and
# runs (Python's hash() is salted per process; crc32 is not).
FALLBACK_COLORS = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
                   "#756bb1", "#636363", "#6baed6", "#fd8d3c")
FALLBACK_DASHES = ("-", "--", "-.", ":")
FALLBACK_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")

PAPER_RC = {
    # ≥ 9 pt everywhere so that a figure scaled to a 7 in text width stays legible.
    "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "xtick.labelsize": 9, "ytick.labelsize": 9,
    "legend.fontsize": 8, "figure.titlesize": 10,
    "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.5,
    "lines.linewidth": 1.4, "lines.markersize": 4,
    "axes.spines.top": False, "axes.spines.right": False,
    # TrueType in PDFs: venues reject Type 3 fonts, and the text stays editable.
    "pdf.fonttype": 42, "ps.fonttype": 42,
}
FIGURE_WIDTH_IN = 7.0  # a two-column paper's text width
PANEL_HEIGHT_IN = 2.4
PNG_DPI = 200


def _method(name: str) -> str:
    return name.split(" (τ=")[0]


def ordered_methods(names: Iterable[str]) -> list[str]:
    names = set(names)

    def key(name: str):
        method, _, period = name.partition(" (τ=")
        rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
        return rank, method, float(period.rstrip(")")) if period else -1.0  # τ numerically: 5 before 20
    return sorted(names, key=key)


def method_style(name: str) -> LineStyle:
    """The fixed look of a method (``method (τ=N)`` variants share their method's)."""
    method = _method(name)
    if method in METHOD_STYLES:
        return METHOD_STYLES[method]
    code = zlib.crc32(method.encode())
    return LineStyle(FALLBACK_COLORS[code % len(FALLBACK_COLORS)],
                     FALLBACK_DASHES[(code // len(FALLBACK_COLORS)) % len(FALLBACK_DASHES)],
                     FALLBACK_MARKERS[(code // 7) % len(FALLBACK_MARKERS)])


def method_color(name: str) -> str:
    """The fixed colour of a method (``method (τ=N)`` variants share their method's colour)."""
    return method_style(name).color


_UNITS = ((1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s"), (1.0, "bit/s"))


def rate_label(rate: str | None, rate_bit_s: float) -> str:
    """A link rate in words, "20 Mbit/s" (with its delay, "100 Mbit/s, 1 ms", where the rate names one)."""
    if rate_bit_s is None or (isinstance(rate_bit_s, float) and math.isnan(rate_bit_s)):
        return str(rate)
    scale, unit = next((scale, unit) for scale, unit in _UNITS if rate_bit_s >= scale or scale == 1.0)
    text = f"{rate_bit_s / scale:g} {unit}"
    delay = str(rate or "").partition(",")[2]
    if delay:
        number, suffix = re.fullmatch(r"([0-9.]+)\s*([a-z]*)", delay).groups()
        text += f", {number} {suffix}"
    return text
