"""One look for every figure and table: method order, a fixed colour per method, paper-sized figures."""

from __future__ import annotations

import zlib
from typing import Iterable

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


def ordered_methods(names: Iterable[str]) -> list[str]:
    names = set(names)

    def key(name: str):
        method, _, period = name.partition(" (τ=")
        rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
        return rank, method, float(period.rstrip(")")) if period else -1.0  # τ numerically: 5 before 20
    return sorted(names, key=key)


def method_color(name: str) -> str:
    """The fixed colour of a method (``method (τ=N)`` variants share their method's colour)."""
    method = name.split(" (τ=")[0]
    if method in METHOD_COLORS:
        return METHOD_COLORS[method]
    return FALLBACK_COLORS[zlib.crc32(method.encode()) % len(FALLBACK_COLORS)]
