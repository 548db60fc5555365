"""Tables to CSV, Markdown and LaTeX files."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..record import write_text_atomic

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
