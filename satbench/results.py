"""Reading run records back: one flat row per run, for tables and plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import pandas as pd

from .errors import ConfigError
from .record import write_text_atomic

RUN_COLUMNS = ("dataset", "model", "method", "workers", "seed", "epochs", "hidden", "layers", "lr", "dropout")


def read_record(path: str | Path) -> dict:
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"cannot read run record {path}: {error}") from None
    if not {"config", "summary", "epochs"} <= record.keys():
        raise ConfigError(f"{path} is not a satbench run record (no config/summary/epochs)")
    return record


def runs_table(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per run record: its configuration, then every summary field."""
    rows = []
    for path in paths:
        record = read_record(path)
        row = {key: record["config"].get(key) for key in RUN_COLUMNS}
        row.update(record["summary"])
        row["record"] = str(path)
        rows.append(row)
    return pd.DataFrame(rows)


def collect(paths: Iterable[str | Path], out: str | Path) -> pd.DataFrame:
    table = runs_table(paths)
    write_text_atomic(out, table.to_csv(index=False))
    return table
