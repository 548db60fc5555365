"""Run records into data frames: one row per run, per (run, epoch), per (run, measured epoch, layer), and per run's
time to target."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from ..errors import ConfigError
from ..links import parse_network
from ..record import Record, read_record
from .families import family_of

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


# rate: the emulated link (--network, tc's spelling) or None over loopback; rate_bit_s: its rate, for sorting.
# family: reference, historical or alleviation (satbench.report.families); base: the method an alleviation method
# corrects; halo: "method" (its own rows) or "fresh" (its fresh-halo control).
META_COLUMNS = ("dataset", "model", "method", "variant", "family", "base", "halo", "workers", "seed", "sync_period",
                "rate", "rate_bit_s", "study", "record")


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
        periods.setdefault(key, set()).add(-1.0 if math.isnan(run.meta["sync_period"]) else run.meta["sync_period"])
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


SUMMARY_COLUMNS = ("best_val", "test_at_best_val", "best_epoch", "final_val", "final_test", "final_loss",
                   "mean_epoch_time_s", "total_time_s", "mean_comm_bytes", "total_comm_bytes", "mean_staleness",
                   "peak_memory_bytes")
# The partition regime a run trained in (from the record's partition section; label skew where the record has it).
REGIME_COLUMNS = ("partitioner", "edge_cut", "halo_ratio_mean", "label_skew_mean", "label_skew_max")
# Settings that are where a run kept its files, not what it trained: left out of the data (no paths in it).
NOT_SETTINGS = {"data_root", "mirror", "cache_dir", "save_model", "progress", "log_every", "study", "labels",
                "method_options", "dataset", "model", "method", "workers", "seed", "halo", "network"}


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
        row.update(satbench=env.get("satbench"), git_commit=env.get("git_commit"), device=env.get("device"),
                   backend=env.get("backend"), created=record.get("created"))
        rows.append(row)
    leading = list(META_COLUMNS) + ["shares_base_control", *REGIME_COLUMNS]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=leading + ["epochs", *SUMMARY_COLUMNS])
    trailing = [*SUMMARY_COLUMNS, "satbench", "git_commit", "device", "backend", "created"]
    middle = [column for column in frame.columns if column not in leading and column not in trailing]
    frame = frame[leading + middle + trailing]
    # A method option the records hold as whole numbers stays one where other methods' runs lack it (counts and
    # sizes among the settings are integers by name when written: render.INTEGER_COLUMNS).
    whole = [key for key, seen in kinds.items() if seen == {int} and key.startswith("option_")]
    return frame.astype({key: "Int64" for key in whole})


EPOCH_COLUMNS = ("loss", "train", "val", "test", "epoch_time_s", "compute_time_s", "comm_time_s", "eval_time_s",
                 "measure_time_s", "comm_bytes", "halo_bytes", "halo_grad_bytes", "reduce_bytes", "protocol_bytes",
                 "control_bytes", "control_time_s", "predictor_time_s", "predictor_loss")


def epoch_frame(sources, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (run, epoch): loss, scores (NaN where not evaluated), times, cumulative training time, bytes."""
    frames = []
    for run in _loaded(sources, labels):
        epochs = run.record.get("epochs") or []
        frame = pd.DataFrame({"epoch": [int(row["epoch"]) for row in epochs],
                              **{key: [_float(row.get(key)) for row in epochs] for key in EPOCH_COLUMNS}})
        frame["wall_time_s"] = frame["epoch_time_s"].cumsum()
        for key in META_COLUMNS:
            frame[key] = run.meta[key]
        frames.append(frame)
    columns = list(META_COLUMNS) + ["epoch", *EPOCH_COLUMNS, "wall_time_s"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


# satbench.staleness says what each is: rel_error against exact rows with the step's own dropout masks, drift_rel_error
# against exact rows with each row's own masks (staleness alone), mask_rel_error the floor between the two.
STALENESS_COLUMNS = ("local_step", "rel_error", "drift_rel_error", "mask_rel_error", "unmasked_share", "cosine",
                     "age_epochs", "age_steps", "replaced_rel_error", "supplied_rel_error")


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


def epoch_data(runs: pd.DataFrame, epochs: pd.DataFrame, staleness: pd.DataFrame) -> pd.DataFrame:
    """``epochs.parquet``: one row per (run, epoch), and on a measured epoch one per (run, epoch, hidden layer) with
    its staleness columns (``layer`` missing on an epoch that measured none); beside them the run's settings, so a
    question about epochs needs no join. An epoch's own columns repeat on its layers' rows."""
    settings = runs.drop(columns=[c for c in (*SUMMARY_COLUMNS, "created") if c in runs.columns])
    layers = staleness[["record", "epoch", "layer", *STALENESS_COLUMNS]]
    table = epochs.drop(columns=[c for c in META_COLUMNS if c != "record"]).merge(layers, on=["record", "epoch"],
                                                                                   how="left")
    table = settings.merge(table, on="record", how="right")
    return table.sort_values(["record", "epoch", "layer"], kind="stable").reset_index(drop=True)


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
    control = control.assign(tau_key=control["sync_period"].fillna(-1.0))
    return TARGET_FRACTION * control.groupby(["dataset", "model", "workers", "tau_key", "method"])["best_val"].mean()


def _control_target(targets: pd.Series, run: pd.Series) -> float:
    """The control-relative target of a run: that of its base's control for an alleviation method (the control the
    claims compare it with), else of its own method's control; where the base has none, the method's own if it
    shares its base's control (see claims._base_control). NaN without a control."""
    tau_key = -1.0 if math.isnan(run["sync_period"]) else run["sync_period"]
    setting = (run["dataset"], run["model"], run["workers"], tau_key)
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
