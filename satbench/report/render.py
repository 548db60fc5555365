"""Tables to CSV, Markdown and LaTeX files, through pandas' own writers.

Cells are formatted once, by :func:`format_cell` (3–4 significant digits, an em dash for a missing value); pandas
then writes them: ``DataFrame.to_markdown`` (tabulate) for Markdown, ``DataFrame.style.to_latex`` (a booktabs
``table`` environment; multi-level column headers become ``\\multicolumn`` rows) for LaTeX, ``to_csv`` for CSV.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..record import write_text_atomic

# Names left-aligned, numbers (and "mean ± std" cells) right-aligned so that digits line up.
TEXT_COLUMNS = {"dataset", "model", "method", "base", "reached"}


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


def _index_as_columns(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The table with its row index (unless a plain range) as leading column(s), named in the last header level;
    and each column's alignment, ``l`` or ``r``."""
    index_count = 0
    if not isinstance(table.index, pd.RangeIndex):
        index_count = table.index.nlevels
        table = table.rename_axis([name or "" for name in table.index.names])
        table = table.reset_index(col_level=table.columns.nlevels - 1)
    names = [column[-1] if isinstance(column, tuple) else column for column in table.columns]
    align = ["l" if position < index_count or str(name) in TEXT_COLUMNS else "r"
             for position, name in enumerate(names)]
    return table, align


def table_to_markdown(table: pd.DataFrame) -> str:
    """A pipe table: one header row (the levels of a multi-level column joined by " · "), then one row per row."""
    flat, align = _index_as_columns(table)
    escape = lambda text: text.replace("|", r"\|")  # noqa: E731
    cells = flat.apply(lambda column: column.map(lambda value: escape(format_cell(value))))
    cells.columns = [escape(" · ".join(str(part) for part in column if str(part)) if isinstance(column, tuple)
                            else str(column)) for column in flat.columns]
    return cells.to_markdown(index=False, tablefmt="pipe", disable_numparse=True,
                             colalign=["left" if a == "l" else "right" for a in align]) + "\n"


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "±": r"$\pm$", "—": "---", "τ": r"$\tau$", "×": r"$\times$", "·": r"$\cdot$", "≥": r"$\geq$"}


def latex_escape(text: str) -> str:
    """LaTeX's special characters escaped, and the few non-ASCII symbols the tables use as math (pandas' own
    ``escape="latex"`` leaves ±, τ, × to the font)."""
    # One pass per character, so the macros inserted for ± or τ are never escaped again.
    return "".join(LATEX_SPECIALS.get(char, char) for char in text)


def table_to_latex(table: pd.DataFrame, caption: str | None = None, label: str | None = None) -> str:
    """A booktabs ``table`` environment; multi-level column headers become \\multicolumn rows."""
    flat, align = _index_as_columns(table)
    styler = (flat.style.hide(axis="index")
              .format(lambda value: latex_escape(format_cell(value)))
              .format_index(lambda value: latex_escape(str(value)), axis="columns"))
    return styler.to_latex(environment="table", position="t", position_float="centering", hrules=True,
                           column_format="".join(align), multicol_align="c", label=label,
                           caption=latex_escape(caption) if caption else None)


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
