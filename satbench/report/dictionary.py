"""The data dictionary, ``docs/data.md``: every column of the tidy data files (:func:`.frames.data_files`) and of the
record's rows, with its type, unit and meaning, generated from their declarations (satbench.record's rows,
:mod:`.frames`' own columns, :class:`~satbench.config.RunConfig`'s settings, and the built-in methods' options and
metrics). ``python -m satbench.docs render`` writes it (``--check``: says where it differs), and a test holds the
shipped file to what the declarations generate, so the two cannot drift.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable

from ..config import RunConfig
from ..files import write_text_atomic
from ..methods import discover_methods, is_builtin
from ..record import (ENVIRONMENT, EPOCH_MEASUREMENT, EPOCH_ROW, STALENESS_ROW, SUFFIXES, SUMMARY, UNITS, Column,
                      unit_of_name)
from .frames import (CREATED, EPOCHS_FILE, GRAINS, META, NOT_SETTINGS, REGIME, RUN_ENVIRONMENT, RUNS_FILE,
                     STALENESS_FILE, TRAINED, WALL_TIME)

DATA_DICTIONARY = Path("docs") / "data.md"
_TYPES = {"int": "int", "float": "float", "bool": "bool", "str": "str"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _table(columns: Iterable[Column]) -> list[str]:
    """A Markdown table of ``columns``: name, type, unit, meaning."""
    lines = ["| column | type | unit | meaning |", "|---|---|---|---|"]
    for column in columns:
        unit = f"`{column.unit}`" if column.unit else "—"
        lines.append(f"| `{column.name}` | {column.dtype} | {unit} | {_cell(column.meaning)} |")
    return lines


def setting_columns() -> list[Column]:
    """runs.parquet's setting columns: :class:`RunConfig`'s fields that are what a run trained (not where it kept its
    files: :data:`.frames.NOT_SETTINGS`) and not declared among the runs' own columns, each with its help."""
    declared = {column.name for column in (*META, *REGIME, *TRAINED, *RUN_ENVIRONMENT)}
    columns = []
    for field in dataclasses.fields(RunConfig):
        if field.name in NOT_SETTINGS or field.name in declared:
            continue
        dtype = _TYPES.get(str(field.type).replace(" | None", "").strip())
        if dtype is None:  # a mapping (method options, labels): columns of their own below
            continue
        setting = field.metadata["setting"]
        columns.append(Column(field.name, dtype, unit_of_name(field.name) or "",
                              f"the setting {RunConfig.flag_of(field.name)}: {setting.help}"))
    return columns


def _builtin_methods() -> list[tuple[str, object]]:
    return [(name, entry) for name, entry in sorted(discover_methods().items()) if is_builtin(entry)]


def option_lines() -> list[str]:
    """``option_<key>``: every built-in method's options, a row per option and meaning, with the methods that have
    it."""
    holders: dict[tuple[str, str, str], list[str]] = {}
    for name, entry in _builtin_methods():
        for key, option in entry.options.items():
            holders.setdefault((key, option.type.__name__, option.help), []).append(name)
    lines = ["| column | type | methods | meaning |", "|---|---|---|---|"]
    for (key, kind, meaning), names in sorted(holders.items()):
        lines.append(f"| `option_{key}` | {kind} | {', '.join(f'`{n}`' for n in names)} | {_cell(meaning)} |")
    return lines


def metric_lines() -> list[str]:
    """The built-in methods' metrics (``Method.metrics``), a row per metric, with the methods that report it."""
    holders: dict[Column, list[str]] = {}
    for name, entry in _builtin_methods():
        for metric in entry.metrics:
            holders.setdefault(metric, []).append(name)
    lines = ["| column | type | unit | methods | meaning |", "|---|---|---|---|---|"]
    for metric, names in holders.items():
        unit = f"`{metric.unit}`" if metric.unit else "—"
        lines.append(f"| `{metric.name}` | {metric.dtype} | {unit} | {', '.join(f'`{n}`' for n in names)} | "
                     f"{_cell(metric.meaning)} |")
    return lines


def data_dictionary() -> str:
    """The text of docs/data.md, from the declarations."""
    suffix = {unit: f"`{end}`" for unit, end in SUFFIXES.items()}
    lines = [
        "# Data dictionary",
        "",
        "<!-- Generated from the declarations (satbench/record.py, satbench/report/frames.py, RunConfig's settings, "
        "the built-in methods' options and metrics) by `python -m satbench.docs render`; edit those, not this file "
        "(tests/test_docs.py holds it to them). -->",
        "",
        "Every column of the data files `satbench report --data DIR` writes (the workflow's `data` rule: `results/`), "
        "and of the run record's rows, with its type, unit and meaning. The record itself: [record.md](record.md).",
        "",
        "## Conventions",
        "",
        "* **One grain per file.** "
        + "; ".join(f"`{name}`: one row per {grain}" for name, grain in GRAINS.items())
        + ". The files share `record`, the run's key. Beside their own columns, the epochs' and measurements' rows "
          "carry their run's identifying columns and settings, so most questions need no join; a sum over "
          f"`{EPOCHS_FILE}` counts every epoch once.",
        "* **Units in the names, one way each.** " + ", ".join(f"{UNITS[unit]}: names end in {end}"
                                                             for unit, end in suffix.items())
        + "; no name ends so that holds another unit. Bytes are bytes, never MB or MiB (the report's tables convert,"
          " and their column names say which: `_MB` is 10^6 bytes, `_MiB` 2^20).",
        "* **Scores are fractions.** Scores (`train`, `val`, `test`, `best_val`, ...: the dataset's `metric`), shares"
        " and label skew are fractions from 0 to 1, never percentages; relative errors are ratios. Only the tables "
        "show percent and points, and say so in their column names (`_pct`, `_pts`).",
        "* **Types.** `int` (pandas' nullable `Int64` where a value is missing), `float`, `bool` (nullable "
        "`boolean` where a value is missing), `str`, `timestamp` (UTC). A missing value means the column does not "
        "apply to that row (its meaning says where).",
        "* **Evidence.** A study's shipped evidence (`docs/evidence/<study>/`) holds the same three files in compact "
        "form, as they were when it was exported: its epochs and measurements carry only the runs' identifying "
        "columns beside their own, its epochs only the columns the tables read (its `manifest.json` lists the "
        "others), and a column newer than the export reads back as missing (`satbench.report.evidence`).",
        "",
        "Units:",
        "",
        "| unit | meaning |",
        "|---|---|",
        *(f"| {f'`{unit}`' if unit else '—'} | {_cell(meaning)} |" for unit, meaning in UNITS.items()),
        "",
        f"## {RUNS_FILE}: one row per {GRAINS[RUNS_FILE]}",
        "",
        "What run it is, the partition regime it trained in, what it trained on and the protocol it ran:",
        "",
        *_table((*META, *REGIME, *TRAINED)),
        "",
        "Its settings (`satbench run`'s options; `satbench run --help` says more):",
        "",
        *_table(setting_columns()),
        "",
        "Its method's options, `option_<key>` (a method without the option: missing; `satbench methods`):",
        "",
        *option_lines(),
        "",
        "Its labels (`--label KEY=VALUE`, but `dataset`, which names the dataset above): `label_<key>`, text.",
        "",
        "Its summary (the record's `summary`), where it ran (the record's `env`) and when:",
        "",
        *_table((*SUMMARY, *RUN_ENVIRONMENT, CREATED)),
        "",
        f"## {EPOCHS_FILE}: one row per {GRAINS[EPOCHS_FILE]}",
        "",
        f"The run's columns of `{RUNS_FILE}` but its summary, environment and `created`; then the record's epoch "
        "row (its per-worker list aside) and the running time:",
        "",
        *_table((*(c for c in EPOCH_ROW if "list" not in c.dtype), WALL_TIME)),
        "",
        "Then every metric the runs' methods declare (`Method.metrics`; a run whose method has none: missing). The "
        "built-in methods':",
        "",
        *metric_lines(),
        "",
        f"## {STALENESS_FILE}: one row per {GRAINS[STALENESS_FILE]}",
        "",
        f"The run's columns of `{RUNS_FILE}` but its summary, environment and `created`; then `epoch` and the "
        "record's staleness row (satbench/staleness.py says how each is measured):",
        "",
        *_table(STALENESS_ROW),
        "",
        "## The record's rows",
        "",
        "An epoch row of the record (`epochs[i]`) holds the columns of the epoch table above but `wall_time_s`, its "
        "method's metrics, and:",
        "",
        *_table((*(c for c in EPOCH_ROW if "list" in c.dtype), *EPOCH_MEASUREMENT)),
        "",
        "Its `staleness` rows are those of the staleness table above; `summary` is the summary above. `env`:",
        "",
        *_table(ENVIRONMENT),
        "",
    ]
    return "\n".join(lines)


def write_data_dictionary(root: str | Path = ".", check: bool = False) -> bool:
    """Rewrite ``root``/docs/data.md from the declarations where it differs (``check``: write nothing); returns
    whether it differed. A tree without one (another project's documents rendered with these commands) has none to
    keep; this repository's is held to exist by its tests."""
    path = Path(root) / DATA_DICTIONARY
    if not path.is_file():
        return False
    text = data_dictionary()
    differs = path.read_text() != text
    if differs and not check:
        write_text_atomic(path, text)
    return differs
