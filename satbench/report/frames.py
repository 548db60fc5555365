"""Run records into data frames: one row per run, per (run, epoch), per (run, measured epoch, layer), and per run's
time to target; and the tidy data files made of them (:func:`data_files`), one grain each, every column declared
(with its type, unit and meaning: :class:`~satbench.record.Column`) here or in the record (satbench.record), from which
docs/data.md is generated (:mod:`.dictionary`)."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from ..config import RunConfig
from ..errors import ConfigError
from ..links import parse_network
from ..record import (ENVIRONMENT, EPOCH_MEASUREMENT, EPOCH_ROW, STALENESS_ROW, SUMMARY, Column, Record,
                      read_record, unit_of_name)
from .families import family_of
from .keys import period_key

log = logging.getLogger("satbench.report")

RecordSource = str | os.PathLike | Mapping[str, Any]

STUDIES = ("main", "control", "sweep", "bandwidth", "timing")
# Records of version 1 did not say their study: the directory they lie in under results/ did (the workflow's layout
# then: results/runs|controls|sweep|bandwidth/{dataset label}/...).
LEGACY_STUDY_DIRECTORIES = {"runs": "main", "controls": "control", "sweep": "sweep", "bandwidth": "bandwidth"}

# The fraction of exact's best validation score that counts as "reached" for the time-to-target table.
TARGET_FRACTION = 0.95

# -- loading ------------------------------------------------------------------------------------------------------


@dataclass
class LoadedRun:
    """One run record and the identifying columns every frame carries."""

    meta: dict[str, Any]
    record: dict[str, Any]


# What run a row is of: the leading columns of every frame and data file.
META = (
    Column("dataset", "str", "", "the dataset's label: the record's labels.dataset, else its registry name"),
    Column("model", "str", "", "the GNN: gcn, sage or gat"),
    Column("method", "str", "", "the halo method, by registry name (docs/methods.md)"),
    Column("variant", "str", "", "the method, or `method (τ=N)` where one method ran with several sync periods in a "
                                 "study (main or control)"),
    Column("family", "str", "", "reference, historical or alleviation (satbench.report.families)"),
    Column("base", "str", "", "the method whose halo rows an alleviation method corrects; null for the others"),
    Column("halo", "str", "", "method: the method's own halo rows; fresh: its fresh-halo control"),
    Column("workers", "int", "count", "workers (W), one part of the graph each"),
    Column("seed", "int", "", "the model initialisation and dropout seed"),
    Column("sync_period", "int", "epochs", "the method's sync period τ (its option sync_period); null for a method "
                                             "without one"),
    Column("rate", "str", "", "the emulated link (--network) as tc spells it; null over the machine's loopback"),
    Column("rate_bit_s", "int", "bit/s", "the emulated link's rate (to sort by); null over loopback"),
    Column("study", "str", "", "the run's study: main, control, sweep, bandwidth, timing, option, or one of its own"),
    Column("option", "str", "", "in the option study, the options the run changed from its method's defaults "
                                "(KEY=VALUE, several joined by ','; the record's labels.option); null elsewhere"),
    Column("record", "str", "", "the run record's path, relative: the run's key, which the files share"),
)
META_COLUMNS = tuple(column.name for column in META)


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


def _shares_base_control(method: Mapping[str, Any]) -> bool:
    """Whether a method's fresh-halo control is its base's; records from before methods said so: SAT's variants'
    (family ``sat``) was, and nothing else's."""
    shares = method.get("shares_base_control")
    return bool(method.get("family") == "sat" if shares is None else shares)


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
        "option": record.labels.get("option"),
        "family": family_of(record.method.get("family"), str(config.get("method")), record.method.get("base")),
        "base": record.method.get("base"),
        "halo": record.method.get("halo") or config.get("halo") or "method",
        "shares_base_control": _shares_base_control(record.method),
        "record": name,
    }
    return LoadedRun(meta, record.to_json())


def _label_variants(runs: list[LoadedRun]) -> None:
    """``variant`` = the method, or ``method (τ=N)`` where one method has several τ values in the same study."""
    periods: dict[tuple[str, str], set] = {}
    for run in runs:
        key = (run.meta["study"], run.meta["method"])
        periods.setdefault(key, set()).add(period_key(run.meta["sync_period"]))
    for run in runs:
        meta = run.meta
        several = len(periods[(meta["study"], meta["method"])]) > 1
        if several and meta["study"] in ("main", "control") and not math.isnan(meta["sync_period"]):
            meta["variant"] = f"{meta['method']} (τ={meta['sync_period']:g})"
        else:
            meta["variant"] = meta["method"]


def _relative_names(runs: list[LoadedRun]) -> None:
    """Every record's name relative: to the working directory when all lie under it, else to the deepest directory
    they share (the tables and data files carry no absolute path, which would name a machine's layout)."""
    files = [Path(run.meta["record"]).absolute() for run in runs if not run.meta["record"].startswith("record[")]
    if not files:
        return
    cwd = Path.cwd()
    root = cwd if all(path.is_relative_to(cwd) for path in files) else Path(os.path.commonpath(
        [path.parent for path in files]))
    for run in runs:
        if not run.meta["record"].startswith("record["):
            run.meta["record"] = Path(run.meta["record"]).absolute().relative_to(root).as_posix()


def load_records(sources: Iterable[RecordSource], labels: Mapping[str, str] | None = None) -> list[LoadedRun]:
    """Read every record once (paths or dicts) with its identifying columns; frames below take this list too."""
    runs = [_load_one(source, index, labels) for index, source in enumerate(sources)]
    _label_variants(runs)
    _relative_names(runs)
    seen: dict[tuple, str] = {}
    for run in runs:
        key = tuple(run.meta[k] for k in ("study", "dataset", "model", "variant", "workers", "seed", "rate", "halo"))
        key += (period_key(run.meta["sync_period"]),)
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


SUMMARY_COLUMNS = tuple(column.name for column in SUMMARY)
# The partition regime a run trained in (from the record's partition section; label skew where the record has it).
REGIME = (
    Column("partitioner", "str", "", "how the graph was cut into W parts"),
    Column("edge_cut", "int", "count", "edges between parts"),
    Column("halo_ratio_mean", "float", "ratio", "halo rows per inner row, the mean over parts"),
    Column("label_skew_mean", "float", "fraction", "the total-variation distance between a part's training labels and "
                                                   "the whole graph's, the mean over parts; null where not recorded"),
    Column("label_skew_max", "float", "fraction", "that distance, the largest over parts"),
)
REGIME_COLUMNS = tuple(column.name for column in REGIME)
# What a run trained on and the protocol it ran, beside its settings (those are RunConfig's fields: _settings).
TRAINED = (
    Column("shares_base_control", "bool", "", "whether an alleviation method's fresh-halo control is its base's"),
    Column("dataset_spec", "str", "", "the dataset as given to satbench run (its registry name with any split "
                                      "options)"),
    Column("split", "str", "", "the split trained on: public, standard, OGB's, given, random or per-class"),
    Column("split_seed", "int", "", "the seed of a drawn split; null for a split not drawn"),
    Column("num_nodes", "int", "count", "the graph's nodes"),
    Column("num_classes", "int", "count", "the dataset's classes (labels, for a multi-label task)"),
    Column("metric", "str", "", "the dataset's score: accuracy or ROC-AUC (the scores' unit is a fraction either way)"),
    Column("weight_sync", "str", "", "the weight sync it ran: allreduce (every step) or average (every epoch)"),
    Column("local_steps", "int", "count", "the optimiser steps per epoch it ran"),
    Column("train_graph", "str", "", "the graph its layers aggregated over: full, inner or partial_halo"),
    Column("launcher", "str", "", "how its workers ran: spawn, inprocess, inline or torchrun (the record's env)"),
)
# Where a run ran, from the record's env (satbench.record.ENVIRONMENT), and when: the trailing columns of runs.parquet.
RUN_ENVIRONMENT = tuple(column for column in ENVIRONMENT if column.name in (
    "satbench", "git_commit", "device", "backend", "cpu_model", "cpu_cores", "accelerator"))
CREATED = Column("created", "timestamp", "", "when the run finished (UTC)")
# Config fields that are not setting columns of runs.parquet: those that are not what a run trained or how its
# workers ran (roles "operation" and "io", satbench.config.ROLES: no paths in the data), those among the leading
# columns already (network as rate), and the method's options (a column each, option_<key>).
NOT_SETTINGS = {*RunConfig.names("operation", "io"), *META_COLUMNS, "network", "method_options"}


def _regime(partition: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """Halo ratio (halo rows per inner row) and label skew, each a mean over parts (skew also its largest); the
    mean halo ratio from the per-part list where the record has no mean; label skew missing where it has none."""
    ratios = partition.get("halo_ratio") or []
    halo_ratio = partition.get("halo_ratio_mean", sum(ratios) / len(ratios) if ratios else None)
    return {"partitioner": partition.get("partitioner", config.get("partitioner")),
            "edge_cut": partition.get("edge_cut"), "halo_ratio_mean": _float(halo_ratio),
            "label_skew_mean": _float(partition.get("label_skew_mean")),
            "label_skew_max": _float(partition.get("label_skew_max"))}


def _settings(run: LoadedRun) -> dict[str, Any]:
    """A run's settings as flat columns: its config fields, method options (``option_<key>``), labels other than
    the dataset's (``label_<key>``), what it trained on (the dataset's spec, size, split) and the protocol it ran."""
    record = run.record
    config, dataset, method = record["config"], record.get("dataset") or {}, record.get("method") or {}
    row: dict[str, Any] = {key: value for key, value in config.items()
                           if key not in NOT_SETTINGS and not isinstance(value, (dict, list))}
    row.update({f"option_{key}": value for key, value in (config.get("method_options") or {}).items()
                if not isinstance(value, (dict, list))})
    row.update({f"label_{key}": value for key, value in (record.get("labels") or {}).items() if key != "dataset"})
    row.update(dataset_spec=str(config.get("dataset")), split=dataset.get("split"),
               split_seed=dataset.get("split_seed"), num_nodes=dataset.get("num_nodes"),
               num_classes=dataset.get("num_classes"), metric=dataset.get("metric"),
               weight_sync=method.get("weight_sync", config.get("weight_sync")),
               local_steps=method.get("local_steps", config.get("local_steps")),
               train_graph=method.get("train_graph"))
    if row.get("epochs") is None:
        row["epochs"] = len(record.get("epochs") or [])
    return row


def load_runs(sources, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per run: its identifying columns, the partition regime, every setting, the summary's scores, timing,
    traffic and staleness, and where it ran (satbench version, commit, device) and how its workers did
    (``launcher``, from the record's env: spawn, inline, inprocess or torchrun)."""
    rows, kinds = [], {}
    for run in _loaded(sources, labels):
        record = run.record
        summary, env = record.get("summary") or {}, record.get("env") or {}
        row = {key: run.meta[key] for key in META_COLUMNS}
        row["shares_base_control"] = run.meta["shares_base_control"]
        row.update(_regime(record.get("partition") or {}, record["config"]))
        for key, value in _settings(run).items():
            row.setdefault(key, value)
            if value is not None:
                kinds.setdefault(key, set()).add(type(value))
        # How the workers ran, as the run says (spawn, inline, inprocess, torchrun): a config that asked for spawn
        # says so under torchrun too; records from before the env named it keep the config's.
        if env.get("launcher") is not None:
            row["launcher"] = env["launcher"]
        for key in SUMMARY_COLUMNS:
            row[key] = _float(summary.get(key))  # records from before a field existed: NaN
        row.update({column.name: env.get(column.name) for column in RUN_ENVIRONMENT})
        row["created"] = record.get("created")
        rows.append(row)
    leading = list(META_COLUMNS) + ["shares_base_control", *REGIME_COLUMNS]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=leading + ["epochs", *SUMMARY_COLUMNS])
    trailing = [*SUMMARY_COLUMNS, *(column.name for column in RUN_ENVIRONMENT), CREATED.name]
    middle = [column for column in frame.columns if column not in leading and column not in trailing]
    frame = frame[leading + middle + trailing]
    # A method option the records hold as whole numbers stays one where other methods' runs lack it (counts and
    # sizes among the settings are integers by name when written: render.INTEGER_COLUMNS).
    whole = [key for key, seen in kinds.items() if seen == {int} and key.startswith("option_")]
    return typed_runs(frame.astype({key: "Int64" for key in whole}))


def _timestamps(values: pd.Series) -> pd.Series:
    """ISO 8601 times (or times already) as UTC times in microseconds: one resolution whatever pandas infers from the
    text, and one Parquet keeps (it has none in seconds)."""
    return pd.to_datetime(values, utc=True, format="ISO8601").dt.as_unit("us")


def typed_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs frame with its columns typed as the data files hold them, whatever wrote it (the records, or evidence
    exported before these columns were typed or existed): ``created`` a UTC time stamp, a column of true and false
    (a method option that other methods lack) boolean, and the summary's and environment's columns there."""
    runs = runs.copy()
    for column in (*SUMMARY, *RUN_ENVIRONMENT, CREATED):  # evidence from before a column existed: missing values
        if column.name not in runs.columns:
            runs[column.name] = math.nan if column.dtype in ("int", "float") else None
    runs[CREATED.name] = _timestamps(runs[CREATED.name])
    for name in runs.columns:
        if runs[name].dtype == object:
            present = runs[name].dropna()
            if len(present) and all(pd.api.types.is_bool(value) for value in present):
                runs[name] = runs[name].astype("boolean")
    return runs


# The record's own epoch columns (satbench.record.EPOCH_ROW: scalars, the per-worker list left to the record); the
# method's metrics follow them, as each run's record declares them (run_metrics).
EPOCH_COLUMNS = tuple(column.name for column in EPOCH_ROW if column.name != "epoch" and "list" not in column.dtype)
WALL_TIME = Column("wall_time_s", "float", "s", "the running sum of epoch_time_s through this epoch")
# satbench.record.STALENESS_ROW; satbench.staleness says what each is.
STALENESS_COLUMNS = tuple(column.name for column in STALENESS_ROW if column.name != "layer")


def run_metrics(record: Mapping[str, Any]) -> list[Column]:
    """The metrics a run's method reported in its epoch rows: as its record declares them (``method.metrics``, from
    version 3), or in an older record the numbers its rows hold beyond the record's own columns (REST's
    ``refresh_time_s``, SAT's ``predictor_time_s`` and ``predictor_loss``), their unit read from their names."""
    declared = (record.get("method") or {}).get("metrics")
    if declared is not None:
        return [Column.from_json(item) for item in declared]
    own = {column.name for column in (*EPOCH_ROW, *EPOCH_MEASUREMENT)}
    found: dict[str, Column] = {}
    for row in record.get("epochs") or []:
        for key, value in row.items():
            if key not in own and key not in found and isinstance(value, (int, float)) and not isinstance(value, bool):
                found[key] = Column(key, "float", unit_of_name(key) or "", "a metric its method reported (a record "
                                                                           "of before version 3 did not declare it)")
    return list(found.values())


def epoch_frame(sources, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (run, epoch): loss, scores (NaN where not evaluated), times, cumulative training time, bytes, and
    every metric the runs' methods declare (NaN for a run whose method has no such metric)."""
    frames, metrics = [], {}
    for run in _loaded(sources, labels):
        epochs = run.record.get("epochs") or []
        own = [metric.name for metric in run_metrics(run.record)]
        metrics.update(dict.fromkeys(own))
        frame = pd.DataFrame({"epoch": [int(row["epoch"]) for row in epochs],
                              **{key: [_float(row.get(key)) for row in epochs] for key in (*EPOCH_COLUMNS, *own)}})
        frame[WALL_TIME.name] = frame["epoch_time_s"].cumsum()
        for key in META_COLUMNS:
            frame[key] = run.meta[key]
        frames.append(frame)
    columns = list(META_COLUMNS) + ["epoch", *EPOCH_COLUMNS, *metrics, WALL_TIME.name]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


def staleness_frame(sources, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (run, measured epoch, hidden layer): the local step measured, rel_error, drift_rel_error,
    mask_rel_error, unmasked_share, cosine, ages, replaced_rel_error (the stale copy an alleviation method replaced),
    supplied_rel_error (a fresh-halo control: the rows the method supplied before they were replaced)."""
    rows = []
    for run in _loaded(sources, labels):
        for epoch in run.record.get("epochs") or []:
            for layer in epoch.get("staleness") or []:
                row = {key: run.meta[key] for key in META_COLUMNS}
                row.update(epoch=int(epoch["epoch"]), layer=int(layer["layer"]),
                           **{key: _float(layer.get(key)) for key in STALENESS_COLUMNS})
                rows.append(row)
    columns = list(META_COLUMNS) + ["epoch", "layer", *STALENESS_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


# -- the tidy data files ----------------------------------------------------------------------------------------------

RUNS_FILE, EPOCHS_FILE, STALENESS_FILE = "runs.parquet", "epochs.parquet", "staleness.parquet"
# The grain of each: what one row is.
GRAINS = {RUNS_FILE: "run", EPOCHS_FILE: "run × epoch", STALENESS_FILE: "run × measured epoch × hidden layer"}


def _run_columns(runs: pd.DataFrame) -> pd.DataFrame:
    """A run's identifying columns and settings: what the epochs' and measurements' rows carry beside their own, so
    that a question about them needs no join (its scores, summary and environment stay in runs.parquet)."""
    return runs.drop(columns=[c for c in (*SUMMARY_COLUMNS, *(c.name for c in RUN_ENVIRONMENT), CREATED.name)
                              if c in runs.columns])


def epoch_data(runs: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """``epochs.parquet``: one row per (run, epoch), its run's identifying columns and settings beside the epoch's
    own columns and its method's metrics."""
    table = _run_columns(runs).merge(epochs.drop(columns=[c for c in META_COLUMNS if c != "record"]), on="record",
                                     how="right")
    return table.sort_values(["record", "epoch"], kind="stable").reset_index(drop=True)


def staleness_data(runs: pd.DataFrame, staleness: pd.DataFrame) -> pd.DataFrame:
    """``staleness.parquet``: one row per (run, measured epoch, hidden layer), its run's identifying columns and
    settings beside the measurement's columns."""
    table = _run_columns(runs).merge(staleness.drop(columns=[c for c in META_COLUMNS if c != "record"]),
                                     on="record", how="right")
    return table.sort_values(["record", "epoch", "layer"], kind="stable").reset_index(drop=True)


def declared_columns() -> dict[str, Column]:
    """The columns of the data files declared here and in the record, by name: the runs' identifying columns, regime,
    what they trained on, summary and environment, and the epochs' and measurements' own columns (settings and
    method metrics are typed as the records hold them)."""
    columns = [*META, *REGIME, *TRAINED, *SUMMARY, *RUN_ENVIRONMENT, CREATED, *EPOCH_ROW, WALL_TIME, *STALENESS_ROW]
    return {column.name: column for column in columns}


def typed_data(frame: pd.DataFrame, declared: Mapping[str, Column]) -> pd.DataFrame:
    """``frame`` with its declared columns in their declared types: whole numbers as integers (pandas' nullable Int64
    where one is missing), true and false as booleans, time stamps as UTC times; the others as they are."""
    frame = frame.copy()
    for name in frame.columns:
        column = declared.get(str(name))
        if column is None:
            continue
        values = frame[name]
        if column.dtype == "int":
            numbers = pd.to_numeric(values, errors="coerce")
            if numbers.notna().sum() == values.notna().sum() and (numbers.dropna() % 1 == 0).all():
                frame[name] = numbers.astype("Int64")
        elif column.dtype == "float":
            frame[name] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif column.dtype == "bool" and values.dtype != bool:
            frame[name] = values.astype("boolean")
        elif column.dtype == "timestamp":
            frame[name] = _timestamps(values)
    return frame


def data_files(frames: "Frames") -> dict[str, pd.DataFrame]:
    """The tidy data files (``satbench report --data``), one grain each (:data:`GRAINS`): ``runs.parquet``, one row
    per run; ``epochs.parquet``, one per (run, epoch); ``staleness.parquet``, one per (run, measured epoch, hidden
    layer). Every declared column is typed as declared (docs/data.md lists them)."""
    declared = declared_columns()
    return {RUNS_FILE: typed_data(frames.runs, declared),
            EPOCHS_FILE: typed_data(epoch_data(frames.runs, frames.epochs), declared),
            STALENESS_FILE: typed_data(staleness_data(frames.runs, frames.staleness), declared)}


def main_study(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["study"] == "main"]


def target_scores(runs: pd.DataFrame) -> pd.Series:
    """Per (dataset, model): TARGET_FRACTION × exact's best validation score (mean over its runs)."""
    exact = main_study(runs)
    exact = exact[exact["method"] == "exact"].dropna(subset=["best_val"])
    return TARGET_FRACTION * exact.groupby(["dataset", "model"])["best_val"].mean()


def control_targets(runs: pd.DataFrame) -> pd.Series:
    """Per (dataset, model, W, τ key, method) of the fresh-halo controls: TARGET_FRACTION × the control runs' best
    validation score (mean over their seeds); τ key: the sync period, −1 without one."""
    control = runs[runs["study"] == "control"].dropna(subset=["best_val"])
    control = control.assign(tau_key=period_key(control["sync_period"]))
    return TARGET_FRACTION * control.groupby(["dataset", "model", "workers", "tau_key", "method"])["best_val"].mean()


def _control_target(targets: pd.Series, run: pd.Series) -> float:
    """The control-relative target of a run: that of its base's control for an alleviation method (the control the
    claims compare it with), else of its own method's control; where the base has none, the method's own if it
    shares its base's control (see claims._base_control). NaN without a control."""
    setting = (run["dataset"], run["model"], run["workers"], period_key(run["sync_period"]))
    base = run["base"] if isinstance(run["base"], str) else None
    for method, allowed in ((base, base is not None), (run["method"], base is None or run["shares_base_control"])):
        if allowed and (*setting, method) in targets.index:
            return float(targets[(*setting, method)])
    return math.nan


def _first_reach(frame: pd.DataFrame, target: float) -> tuple[float, float]:
    """(epoch, cumulative epoch time) of the first epoch whose validation score reaches ``target``; NaN if none."""
    if math.isnan(target):
        return math.nan, math.nan
    reached = frame[frame["val"] >= target].sort_values("epoch")
    if reached.empty:
        return math.nan, math.nan
    return reached["epoch"].iloc[0], reached["wall_time_s"].iloc[0]


def reach_frame(epochs: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per run of any study: the target of its (dataset, model), and the first epoch whose validation score reaches
    it with the cumulative epoch time through that epoch (NaN when it never does).

    Also, per run, a target relative to the fresh-halo control it is judged against (``control_target``: the
    claims' convergence target, C3): TARGET_FRACTION × the best validation score of the control of the run's
    setting (dataset, model, W, τ) — its base's control for an alleviation method, its own method's control
    otherwise (see :func:`control_targets`) — with ``epochs_to_control_target`` and ``time_to_control_target_s``
    (NaN where there is no such control, or where the run never reaches it). A run appears where either target
    exists; ``target`` is NaN where exact did not run at its (dataset, model)."""
    targets, controls = target_scores(runs), control_targets(runs)
    columns = ["record", "dataset", "model", "workers", "method", "variant", "study", "target", "epochs_to_target",
               "time_to_target_s", "control_target", "epochs_to_control_target", "time_to_control_target_s"]
    shares = (runs.drop_duplicates("record").set_index("record")["shares_base_control"]
              if "shares_base_control" in runs.columns else pd.Series(dtype=bool))
    per_run = []
    for (dataset, model, record), frame in epochs.groupby(["dataset", "model", "record"], sort=False):
        head = frame.iloc[0]
        target = float(targets[(dataset, model)]) if (dataset, model) in targets.index else math.nan
        run = pd.Series({**head.to_dict(), "shares_base_control": bool(shares.get(record, False))})
        control_target = _control_target(controls, run)
        if math.isnan(target) and math.isnan(control_target):
            continue
        epoch, seconds = _first_reach(frame, target)
        control_epoch, control_seconds = _first_reach(frame, control_target)
        per_run.append({"record": record, "dataset": dataset, "model": model, "workers": head["workers"],
                        "method": head["method"], "variant": head["variant"], "study": head["study"],
                        "target": target, "epochs_to_target": epoch, "time_to_target_s": seconds,
                        "control_target": control_target, "epochs_to_control_target": control_epoch,
                        "time_to_control_target_s": control_seconds})
    return pd.DataFrame(per_run, columns=columns)


@dataclass
class Frames:
    """What the report's tables and figures are built from, each frame built once: the runs, their epochs, their
    staleness measurements, every run's time to target, the published figures (if any), and the tables by name
    (built on first use by ``builders``, so a figure drawn from a table does not build it again)."""

    runs: pd.DataFrame
    epochs: pd.DataFrame
    staleness: pd.DataFrame
    published: pd.DataFrame | None = None
    builders: Mapping[str, Any] = field(default_factory=dict)
    _tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    _reach: pd.DataFrame | None = field(default=None, repr=False)

    @classmethod
    def of(cls, loaded: list[LoadedRun], **kwargs) -> "Frames":
        return cls(load_runs(loaded), epoch_frame(loaded), staleness_frame(loaded), **kwargs)

    @property
    def reach(self) -> pd.DataFrame:
        if self._reach is None:
            self._reach = reach_frame(self.epochs, self.runs)
        return self._reach

    def table(self, name: str) -> pd.DataFrame:
        if name not in self._tables:
            self._tables[name] = self.builders[name](self)
        return self._tables[name]
