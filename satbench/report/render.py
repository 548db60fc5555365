"""Tables to CSV, Markdown and LaTeX files, and the tidy data files (Parquet).

A table is a long numeric frame (:mod:`.tables`). The CSV is that frame as it is: full precision, integers as
integers, one column per quantity (``test_pct_mean``, ``test_pct_std``, ``n``). Markdown and LaTeX show it to a
reader (:func:`present`): each ``X_mean`` with its ``X_std`` as one "mean ± std" column, each ``X_ci_low`` with its
``X_ci_high`` as one "[low, high]" column (a 95 % interval), headers in words with their units ("test (%)"), numbers
to 3–4 significant digits (or to fixed decimals where asked: ``decimals``, as the documents' evidence blocks ask,
:mod:`.evidence`), an em dash for a missing value; pandas then writes them: ``DataFrame.to_markdown`` (tabulate) for
Markdown, ``DataFrame.style.to_latex`` (a booktabs ``table`` environment) for LaTeX.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..config import RunConfig
from ..files import write_bytes_atomic, write_text_atomic
from ..record import EPOCH_MEASUREMENT, EPOCH_ROW, STALENESS_ROW, SUMMARY

# Columns that hold counts, sizes or identifiers: written as integers (pandas' nullable Int64 where one is missing).
# The run settings' and the record rows' integer columns come from their declarations; the rest are the report's own.
INTEGER_COLUMNS = {
    *RunConfig.integer_names(),
    *(column.name for column in (*EPOCH_ROW, *EPOCH_MEASUREMENT, *STALENESS_ROW, *SUMMARY) if column.dtype == "int"),
    "sync_period", "syncs", "n", "reached", "best_epoch", "edge_cut", "split_seed", "num_nodes", "num_classes",
    "rate_bit_s", "total_comm_bytes", "peak_memory_bytes", "W", "table", "method_reached", "base_reached",
    "options_changed",
}

# Headers for readers, where the column's own name does not say it well enough.
HEADERS = {
    "workers": "W", "sync_period": "τ", "n": "n", "halo_ratio_mean": "halo ratio", "label_skew_mean": "label skew",
    "label_skew_max": "label skew (max)", "edge_cut": "edge cut", "rel_error": "rel. error",
    "rel_error_used": "rel. error used", "rel_error_replaced": "rel. error replaced",
    "base_rel_error": "base run rel. error", "reduction": "reduction (×)", "speedup_vs_exact": "speedup vs exact (×)",
    "comm_MB_per_epoch": "comm (MB/epoch)", "comm_time_s_per_epoch": "comm time (s/epoch)",
    "peak_memory_MiB": "peak memory per worker (MiB)", "rate_bit_s": "rate (bit/s)",
    "staleness_cost_significant": "staleness cost significant",
    "protocol_cost_significant": "protocol cost significant", "cost_on": "cost on", "p_value": "p (Holm)",
    "p_raw": "p (raw)", "premise_p": "premise p (raw)",
    "faster_than_exact_at_and_below": "faster than exact at and below", "target_val_pct": "target val (%)",
    "drift_estimate": "drift ratio", "drift": "drift ratio", "c1_verdict": "C1 (option)",
    "default_c1_verdict": "C1 (default)", "default_pct_mean": "default (%)", "option_pct_mean": "option (%)",
}
UNITS = (("_p_holm", " p (Holm)"), ("_pct", " (%)"), ("_pts", " (pts)"), ("_epochs", " (epochs)"), ("_s", " (s)"),
         ("_MiB", " (MiB)"), ("_MB", " (MB)"), ("_x", " (×)"))


def header(name: str) -> str:
    """A column's header for readers: ``HEADERS``, else its words with the unit suffix spelled out."""
    if name in HEADERS:
        return HEADERS[name]
    if name.endswith("_mean"):  # a mean shown without a std beside it
        return header(name[: -len("_mean")])
    for suffix, unit in UNITS:
        if name.endswith(suffix):
            return name[: -len(suffix)].replace("_", " ") + unit
    return name.replace("_", " ")


def format_cell(value: Any, decimals: int | None = None) -> str:
    """Numbers to 3–4 significant digits (a float to ``decimals`` fixed decimals where given), missing values as an
    em dash."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if decimals is not None and not math.isinf(value):
            return f"{value:.{decimals}f}"
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


def format_mean_std(mean: Any, std: Any, decimals: int | None = None) -> str:
    """"mean ± std", both to the mean's precision (3–4 significant digits, or ``decimals`` fixed decimals); the mean
    alone where std is missing (one seed)."""
    if mean is None or mean is pd.NA or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    mean = float(mean)
    if math.isinf(mean):
        return format_cell(mean)
    magnitude = math.floor(math.log10(abs(mean))) if mean else 0
    digits = min(6, max(0, 3 - magnitude)) if decimals is None else decimals
    if std is None or std is pd.NA or math.isnan(float(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {float(std):.{digits}f}"


def format_interval(low: Any, high: Any, decimals: int | None = None) -> str:
    """"[low, high]", each bound as :func:`format_cell` writes it; an em dash where both are missing."""
    missing = [value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
               for value in (low, high)]
    return "—" if all(missing) else f"[{format_cell(low, decimals)}, {format_cell(high, decimals)}]"


def interval_header(low_column: str) -> str:
    """The header of the interval whose lower bound is ``low_column`` (``X_ci_low``, or ``ci_low`` alone)."""
    stem = low_column[: -len("ci_low")].rstrip("_")
    return f"{header(stem)} 95% CI" if stem else "95% CI"


def tidy(table: pd.DataFrame) -> pd.DataFrame:
    """The frame as the data files hold it: counts and identifiers (``INTEGER_COLUMNS``) as integers, everything else
    as it is."""
    table = table.copy()
    for column in table.columns:
        if str(column) not in INTEGER_COLUMNS:
            continue
        values = pd.to_numeric(table[column], errors="coerce")
        present = values.dropna()
        if table[column].dtype == bool or len(present) != table[column].notna().sum():
            continue  # not every value is a number (an option given as a word, say)
        if (present == present.round()).all() and not table[column].map(lambda v: isinstance(v, bool)).any():
            table[column] = values.round().astype("Int64")
    return table


Decimals = int | Mapping[str, int] | None


def _decimals_of(decimals: Decimals, *names: str) -> int | None:
    """The fixed decimals asked for a column shown under one of ``names`` (its own name, then its stem): a mapping's
    entry for the first name it has, else its ``"*"`` entry; an integer for every column; None: significant digits.
    Counts and identifiers (``INTEGER_COLUMNS``) never take decimals."""
    if decimals is None or any(name in INTEGER_COLUMNS for name in names):
        return None
    if isinstance(decimals, int):
        return decimals
    return next((decimals[name] for name in names if name in decimals), decimals.get("*"))


def present(table: pd.DataFrame, decimals: Decimals = None) -> tuple[pd.DataFrame, list[str]]:
    """The table as a reader sees it: every cell as text, ``X_mean`` and ``X_std`` joined as "mean ± std" under X's
    header, ``X_ci_low`` and ``X_ci_high`` as "[low, high]" under "X 95% CI", other headers in words; and each
    column's alignment (numbers right, names left). ``decimals``: fixed decimals for the floats (an integer for
    all; or per column, by its name or its stem ``X``, ``"*"`` for the others), instead of 3–4 significant
    digits."""
    if not isinstance(table.index, pd.RangeIndex):
        table = table.reset_index()
    if table.columns.nlevels > 1:
        table = table.set_axis([" · ".join(str(part) for part in column if str(part)) for column in table.columns],
                               axis=1)
    cells, align = {}, []
    for column in table.columns:
        name = str(column)
        if name.endswith("_std") and f"{name[:-4]}_mean" in table.columns:
            continue  # shown with its mean
        if name.endswith("ci_high") and f"{name[:-4]}low" in table.columns:
            continue  # shown with its lower bound
        if name.endswith("ci_low") and f"{name[:-3]}high" in table.columns:
            high = table[f"{name[:-3]}high"]
            digits = _decimals_of(decimals, name, name[: -len("ci_low")].rstrip("_") or name)
            cells[interval_header(name)] = [format_interval(lo, hi, digits) for lo, hi in zip(table[column], high)]
            align.append("r")
            continue
        if name.endswith("_mean") and f"{name[:-5]}_std" in table.columns:
            std = table[f"{name[:-5]}_std"]
            digits = _decimals_of(decimals, name, name[:-5])
            cells[header(name[:-5])] = [format_mean_std(m, s, digits) for m, s in zip(table[column], std)]
            align.append("r")
            continue
        numeric = pd.api.types.is_numeric_dtype(table[column]) and table[column].dtype != bool
        digits = _decimals_of(decimals, name, name[:-5] if name.endswith("_mean") else name)
        cells[header(name)] = [format_cell(value, digits) for value in table[column]]
        align.append("r" if numeric else "l")
    return pd.DataFrame(cells, columns=list(cells)), align


def table_to_markdown(table: pd.DataFrame, decimals: Decimals = None) -> str:
    """A pipe table: one header row, then one row per row (``decimals``: as :func:`present` takes them)."""
    cells, align = present(table, decimals)
    escape = lambda text: text.replace("|", r"\|")  # noqa: E731
    cells = cells.apply(lambda column: column.map(escape))
    cells.columns = [escape(str(column)) for column in cells.columns]
    return cells.to_markdown(index=False, tablefmt="pipe", disable_numparse=True,
                             colalign=["left" if a == "l" else "right" for a in align]) + "\n"


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "±": r"$\pm$", "—": "---", "τ": r"$\tau$", "×": r"$\times$", "·": r"$\cdot$", "≥": r"$\geq$",
                  "≤": r"$\leq$", "−": "--"}


def latex_escape(text: str) -> str:
    """LaTeX's special characters escaped, and the few non-ASCII symbols the tables use as math (pandas' own
    ``escape="latex"`` leaves ±, τ, × to the font)."""
    # One pass per character, so the macros inserted for ± or τ are never escaped again.
    return "".join(LATEX_SPECIALS.get(char, char) for char in text)


def table_to_latex(table: pd.DataFrame, caption: str | None = None, label: str | None = None) -> str:
    """A booktabs ``table`` environment."""
    cells, align = present(table)
    styler = (cells.style.hide(axis="index")
              .format(latex_escape)
              .format_index(lambda value: latex_escape(str(value)), axis="columns"))
    return styler.to_latex(environment="table", position="t", position_float="centering", hrules=True,
                           column_format="".join(align), label=label,
                           caption=latex_escape(caption) if caption else None)


def table_to_csv(table: pd.DataFrame) -> str:
    """The long table at full precision, integers as integers."""
    return tidy(table).to_csv(index=not isinstance(table.index, pd.RangeIndex))


def write_table(table: pd.DataFrame, stem: str | os.PathLike, caption: str | None = None) -> list[Path]:
    """Write ``stem.csv``, ``stem.md`` and ``stem.tex`` (each atomically); returns the paths."""
    stem = Path(stem)
    outputs = {stem.with_suffix(".csv"): table_to_csv(table),
               stem.with_suffix(".md"): table_to_markdown(table),
               stem.with_suffix(".tex"): table_to_latex(table, caption=caption, label=f"tab:{stem.name}")}
    for path, text in outputs.items():
        write_text_atomic(path, text)
    return list(outputs)


def _parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns Parquet can type: an object column whose values are not all of one kind (a method option that is a
    number for one method and a word for another) as text."""
    frame = tidy(frame)
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        kinds = {type(value) for value in frame[column].dropna()}
        if len(kinds) > 1 or not kinds <= {str, bool}:
            frame[column] = frame[column].map(lambda value: None if value is None or value is pd.NA
                                              or (isinstance(value, float) and math.isnan(value)) else str(value))
    return frame


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """``frame`` as a Parquet file (pyarrow), written atomically."""
    buffer = io.BytesIO()
    _parquet_ready(frame).to_parquet(buffer, index=False, engine="pyarrow")
    return write_bytes_atomic(path, buffer.getvalue())
