"""Run records into data frames: one row per run, per (run, epoch), per (run, measured epoch, layer), and per run's
time to target."""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from ..errors import ConfigError
from ..links import parse_network
from ..record import Record, read_record

log = logging.getLogger("satbench.report")

RecordSource = str | os.PathLike | Mapping[str, Any]

STUDIES = ("main", "control", "sweep", "bandwidth")
# Records of version 1 did not say their study: the directory they lie in under results/ did (the workflow's layout
# then: results/runs|controls|sweep|bandwidth/{dataset label}/...).
LEGACY_STUDY_DIRECTORIES = {"runs": "main", "controls": "control", "sweep": "sweep", "bandwidth": "bandwidth"}

# The fraction of exact's best validation score that counts as "reached" for the time-to-target table.
TARGET_FRACTION = 0.95

# Display order of the known methods (baselines first, then the SAT family); unknown names follow alphabetically.
# -- loading ------------------------------------------------------------------------------------------------------


@dataclass
class LoadedRun:
    """One run record and the identifying columns every frame carries."""

    meta: dict[str, Any]
    record: dict[str, Any]


# rate: the emulated link (--network, tc's spelling) or None over loopback; rate_bit_s: its rate, for sorting.
META_COLUMNS = ("dataset", "model", "method", "variant", "workers", "seed", "sync_period", "rate", "rate_bit_s",
                "study", "record")


def _as_number(value: Any) -> float:
    """A sync period as records hold it: a number (typed when resolved), or a string in version-1 records that
    were given it as ``-o KEY=VALUE``."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _link(record: Record, name: str) -> tuple[str | None, float]:
    """The run's emulated link, (rate as tc spells it, bit/s), from ``config.network`` and ``env.network``; (None,
    NaN) over loopback."""
    rate = record.config.get("network")
    if rate is None:
        return None, math.nan
    described = record.env.get("network") or {}
    if described.get("rate_bit_s") is not None:
        return str(rate), float(described["rate_bit_s"])
    try:
        return str(rate), parse_network(rate).rate_bit_s
    except ConfigError as error:
        raise ConfigError(f"run record {name}: {error}") from None


# Depth of a record below its study's directory in that layout: {dataset}/{model}/{method}/w{W}/seed{s}.json, with
# tau{τ} or {rate} before w{W} in the sweep and the bandwidth study.
_LEGACY_DEPTH = {"runs": 5, "controls": 5, "sweep": 6, "bandwidth": 6}


def _legacy_study_and_label(record: Record, posix: str) -> tuple[str, str | None]:
    """A version-1 record's study and dataset label, from where it lies in the workflow's layout of then (see
    :data:`LEGACY_STUDY_DIRECTORIES`); a fresh-halo control is one wherever it lies."""
    parts = posix.split("/")
    study, label = "main", None
    for directory, depth in _LEGACY_DEPTH.items():
        if len(parts) > depth and parts[-depth - 1] == directory:
            study, label = LEGACY_STUDY_DIRECTORIES[directory], parts[-depth]
    return ("control" if record.method.get("halo") == "fresh" else study), label


def _load_one(source: RecordSource, index: int, labels: Mapping[str, str] | None) -> LoadedRun:
    if isinstance(source, Mapping):
        record, name = Record.from_json(dict(source), f"record[{index}]"), f"record[{index}]"
        posix = ""
    else:
        record, name = read_record(source), str(source)
        posix = Path(name).as_posix()
    config = record.config
    study, dataset = record.study, record.labels.get("dataset")
    if study is None:  # a version-1 record
        study, dataset = _legacy_study_and_label(record, posix)
    if labels and name in labels:
        dataset = labels[name]
    rate, rate_bit_s = _link(record, name)
    meta = {
        "dataset": dataset or str(config.get("dataset")),
        "model": str(config.get("model")),
        "method": str(config.get("method")),
        "workers": int(config.get("workers")),
        "seed": int(config.get("seed", 0)),
        "sync_period": _as_number((config.get("method_options") or {}).get("sync_period")),
        "rate": rate,
        "rate_bit_s": rate_bit_s,
        "study": study,
        "base": record.method.get("base"),
        "record": name,
    }
    return LoadedRun(meta, record.to_json())


def _label_variants(runs: list[LoadedRun]) -> None:
    """``variant`` = the method, or ``method (τ=N)`` where one method has several τ values in the same study."""
    periods: dict[tuple[str, str], set] = {}
    for run in runs:
        key = (run.meta["study"], run.meta["method"])
        periods.setdefault(key, set()).add(-1.0 if math.isnan(run.meta["sync_period"]) else run.meta["sync_period"])
    for run in runs:
        meta = run.meta
        several = len(periods[(meta["study"], meta["method"])]) > 1
        if several and meta["study"] in ("main", "control") and not math.isnan(meta["sync_period"]):
            meta["variant"] = f"{meta['method']} (τ={meta['sync_period']:g})"
        else:
            meta["variant"] = meta["method"]


def load_records(sources: Iterable[RecordSource], labels: Mapping[str, str] | None = None) -> list[LoadedRun]:
    """Read every record once (paths or dicts) with its identifying columns; frames below take this list too."""
    runs = [_load_one(source, index, labels) for index, source in enumerate(sources)]
    _label_variants(runs)
    seen: dict[tuple, str] = {}
    for run in runs:
        key = tuple(run.meta[k] for k in ("study", "dataset", "model", "variant", "workers", "seed", "rate"))
        key += (-1.0 if math.isnan(run.meta["sync_period"]) else run.meta["sync_period"],)
        if key in seen:  # e.g. two option settings of one method: the tables would average them as seeds
            log.warning("%s and %s are the same configuration and seed; both are counted", seen[key],
                        run.meta["record"])
        seen.setdefault(key, run.meta["record"])
    return runs


def _loaded(sources: Iterable[RecordSource] | list[LoadedRun], labels: Mapping[str, str] | None) -> list[LoadedRun]:
    sources = list(sources)
    if sources and all(isinstance(source, LoadedRun) for source in sources):
        return sources
    return load_records(sources, labels)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


SUMMARY_COLUMNS = ("best_val", "test_at_best_val", "best_epoch", "mean_epoch_time_s", "mean_comm_bytes",
                   "mean_staleness", "peak_memory_bytes")


def load_runs(sources, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per run: its identifying columns, the summary's scores, timing, traffic and staleness."""
    rows = []
    for run in _loaded(sources, labels):
        summary = run.record.get("summary") or {}
        row = {key: run.meta[key] for key in META_COLUMNS}
        row["base"] = run.meta["base"]
        row["epochs"] = len(run.record.get("epochs") or [])
        for key in SUMMARY_COLUMNS:
            row[key] = _float(summary.get(key))  # records from before a field existed: NaN
        rows.append(row)
    columns = list(META_COLUMNS) + ["base", "epochs", *SUMMARY_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def epoch_frame(sources, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (run, epoch): loss, val, test (NaN where not evaluated), epoch time, cumulative time, bytes."""
    frames = []
    for run in _loaded(sources, labels):
        epochs = run.record.get("epochs") or []
        frame = pd.DataFrame({
            "epoch": [int(row["epoch"]) for row in epochs],
            "loss": [_float(row.get("loss")) for row in epochs],
            "val": [_float(row.get("val")) for row in epochs],
            "test": [_float(row.get("test")) for row in epochs],
            "epoch_time_s": [_float(row.get("epoch_time_s")) for row in epochs],
            "comm_time_s": [_float(row.get("comm_time_s")) for row in epochs],
            "comm_bytes": [_float(row.get("comm_bytes")) for row in epochs],
        })
        frame["wall_time_s"] = frame["epoch_time_s"].cumsum()
        for key in META_COLUMNS:
            frame[key] = run.meta[key]
        frames.append(frame)
    columns = list(META_COLUMNS) + ["epoch", "loss", "val", "test", "epoch_time_s", "wall_time_s", "comm_time_s",
                                    "comm_bytes"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def staleness_frame(sources, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (run, measured epoch, hidden layer): rel_error, cosine, age_epochs, replaced_rel_error."""
    rows = []
    for run in _loaded(sources, labels):
        for epoch in run.record.get("epochs") or []:
            for layer in epoch.get("staleness") or []:
                row = {key: run.meta[key] for key in META_COLUMNS}
                row.update(epoch=int(epoch["epoch"]), layer=int(layer["layer"]),
                           rel_error=_float(layer.get("rel_error")), cosine=_float(layer.get("cosine")),
                           age_epochs=_float(layer.get("age_epochs")),
                           replaced_rel_error=_float(layer.get("replaced_rel_error")))
                rows.append(row)
    columns = list(META_COLUMNS) + ["epoch", "layer", "rel_error", "cosine", "age_epochs", "replaced_rel_error"]
    return pd.DataFrame(rows, columns=columns)


def main_study(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["study"] == "main"]


def target_scores(runs: pd.DataFrame) -> pd.Series:
    """Per (dataset, model): TARGET_FRACTION × exact's best validation score (mean over its runs)."""
    exact = main_study(runs)
    exact = exact[exact["method"] == "exact"].dropna(subset=["best_val"])
    return TARGET_FRACTION * exact.groupby(["dataset", "model"])["best_val"].mean()


def reach_frame(epochs: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per run of any study: the target of its (dataset, model), and the first epoch whose validation score reaches
    it with the cumulative epoch time through that epoch (NaN when it never does)."""
    targets = target_scores(runs)
    columns = ["record", "dataset", "model", "workers", "variant", "study", "target", "epochs_to_target",
               "time_to_target_s"]
    per_run = []
    for (dataset, model, record), frame in epochs.groupby(["dataset", "model", "record"], sort=False):
        if (dataset, model) not in targets.index:
            continue
        target = targets[(dataset, model)]
        reached = frame[frame["val"] >= target].sort_values("epoch")
        first = reached.iloc[0] if not reached.empty else None
        per_run.append({"record": record, "dataset": dataset, "model": model, "workers": frame["workers"].iloc[0],
                        "variant": frame["variant"].iloc[0], "study": frame["study"].iloc[0], "target": target,
                        "epochs_to_target": first["epoch"] if first is not None else math.nan,
                        "time_to_target_s": first["wall_time_s"] if first is not None else math.nan})
    return pd.DataFrame(per_run, columns=columns)
