"""How long a study's workflow jobs took, from the benchmark files Snakemake leaves beside the records.

Every training rule of the Snakefile has a ``benchmark:`` directive: one TSV file per job under
``results/benchmarks`` (``{dataset}/{model}/w{W}.tsv`` for a group of the main grid run in-process,
``{dataset}/{model}/{method}/w{W}.tsv`` for a setting run alone, ``controls/...``, ``sweep/...``, ``options/...``,
``bandwidth/...``, ``timing/...``, ``regime/screen/...``, ``regime/confirm/...``; satbench.workflow.job_name). Its header is
``s  h:m:s  max_rss  max_vms  max_uss  max_pss  io_in  io_out  mean_load  cpu_time`` (tab-separated; Snakemake's
extended format adds columns after them), then one row per repetition: ``s`` the job's wall seconds, ``max_rss`` its
peak resident memory in MB, ``cpu_time`` its CPU seconds (``NA`` or ``-`` where Snakemake sampled nothing: a job
shorter than its sampling interval). Snakemake writes the file when the job ends, so its modification time is the
job's end and that minus ``s`` its start: a copy that does not keep modification times (``cp`` without ``-p``, a git
checkout) loses them.

:func:`read_jobs` reads them, one row per job, or those of a config's jobs only (``results/`` usually holds several
configs' runs; :func:`satbench.workflow.config_jobs` names them);
:func:`job_summary` gives what the evidence's manifest states of them (:func:`.evidence.export_evidence`): the number
of jobs, the sum of their wall times, and the time at least one of them ran (:func:`busy_time`), for the study and
per stage of the workflow (:func:`job_stage`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from ..errors import ConfigError

BENCHMARKS = Path("results") / "benchmarks"
JOB_COLUMNS = ("job", "wall_s", "cpu_s", "max_rss_mb", "started", "finished")
# The Snakefile's studies whose jobs it groups under a directory of their own; a job of the main grid lies directly
# under its dataset's name. The regime study's jobs lie one level deeper, under their stage (screen, confirm).
STAGES = ("controls", "sweep", "options", "timing", "bandwidth", "regime")
MAIN = "main"
MISSING = ("NA", "-", "")


def _number(text: str, path: Path, line: int, column: str) -> float:
    if text.strip() in MISSING:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{path}:{line}: benchmark column {column!r} is {text!r}, not a number") from None
    return value


def read_benchmark(path: str | os.PathLike) -> dict[str, Any]:
    """One benchmark file as (wall_s, cpu_s, max_rss_mb, finished): the wall and CPU seconds summed over its rows
    (a rule run with Snakemake's ``repeat()`` writes one row per repetition, run one after another), the largest peak
    memory of them, and the file's modification time as the job's end (UTC). A file that is not a benchmark file
    (no ``s`` column, no row, a row of another width, a wall time that is not a non-negative number) is a
    :class:`~satbench.errors.ConfigError` naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text()
        finished = pd.Timestamp(path.stat().st_mtime_ns, unit="ns", tz="UTC")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"benchmark file {path}: {error}") from None
    lines = [line.rstrip("\r") for line in text.splitlines() if line.strip()]
    if not lines:
        raise ConfigError(f"{path}: an empty benchmark file (Snakemake writes a header and one row per repetition)")
    header = lines[0].split("\t")
    if "s" not in header:
        raise ConfigError(f"{path}:1: not a Snakemake benchmark file: its header {lines[0]!r} has no 's' column "
                          "(s, h:m:s, max_rss, ..., cpu_time, tab-separated)")
    if len(lines) < 2:
        raise ConfigError(f"{path}: a benchmark header without a row (the job wrote no time)")
    wall, cpu, rss = [], [], []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise ConfigError(f"{path}:{number}: {len(cells)} tab-separated fields where the header has "
                              f"{len(header)}")
        row = dict(zip(header, cells))
        seconds = _number(row["s"], path, number, "s")
        if not math.isfinite(seconds) or seconds < 0:
            raise ConfigError(f"{path}:{number}: wall time s = {row['s']!r}: a job's seconds, a number of 0 or more")
        wall.append(seconds)
        cpu.append(_number(row.get("cpu_time", "NA"), path, number, "cpu_time"))
        rss.append(_number(row.get("max_rss", "NA"), path, number, "max_rss"))
    present_cpu, present_rss = [x for x in cpu if not math.isnan(x)], [x for x in rss if not math.isnan(x)]
    return {"wall_s": float(sum(wall)), "cpu_s": float(sum(present_cpu)) if present_cpu else math.nan,
            "max_rss_mb": float(max(present_rss)) if present_rss else math.nan, "finished": finished}


def read_jobs(root: str | os.PathLike = ".", names: Iterable[str] | None = None) -> pd.DataFrame:
    """The workflow jobs whose benchmark files lie under ``root/results/benchmarks``, one row per job, sorted by
    job: ``job`` (the file's path under ``results/benchmarks`` without ``.tsv``, posix), ``wall_s`` (seconds),
    ``cpu_s`` (seconds; missing where Snakemake sampled none), ``max_rss_mb`` (MB), ``started`` and ``finished`` (UTC
    timestamps: the file's modification time, less ``wall_s``). Several rows of a file (repetitions) are one job:
    wall and CPU seconds summed, the largest peak memory (:func:`read_benchmark`). With ``names``, only the jobs of
    those names (a config's: :func:`satbench.workflow.config_jobs`; the other files are not read).
    No benchmark directory, or no file in it: an empty frame of those columns. A malformed file:
    :class:`~satbench.errors.ConfigError`."""
    root = Path(root)
    directory = root / BENCHMARKS
    wanted = None if names is None else set(names)
    rows = []
    if directory.is_dir():
        for path in sorted(directory.rglob("*.tsv")):
            job = path.relative_to(directory).with_suffix("").as_posix()
            if not path.is_file() or (wanted is not None and job not in wanted):
                continue
            row = read_benchmark(path)
            row["job"] = job
            row["started"] = row["finished"] - pd.Timedelta(seconds=row["wall_s"])
            rows.append(row)
    frame = pd.DataFrame(rows, columns=list(JOB_COLUMNS))
    if not rows:
        frame = frame.astype({"job": object, "wall_s": float, "cpu_s": float, "max_rss_mb": float,
                              "started": "datetime64[ns, UTC]", "finished": "datetime64[ns, UTC]"})
    return frame.sort_values("job", kind="stable").reset_index(drop=True)


def job_stage(job: str) -> str:
    """The workflow stage a job belongs to: ``regime/screen`` or ``regime/confirm`` for the regime study's, the
    study's directory for the other studies' (:data:`STAGES`: ``controls``, ``sweep``, ...), ``main`` for the main
    grid's (directly under a dataset's name)."""
    parts = job.split("/")
    if parts[0] == "regime" and len(parts) > 1:
        return "/".join(parts[:2])
    return parts[0] if parts[0] in STAGES else MAIN


def busy_time(started: Iterable[Any], finished: Iterable[Any]) -> float:
    """The seconds at least one of the intervals [started, finished] covers: the length of their union, so that jobs
    run side by side count each second once and the pause between two sittings counts not at all."""
    intervals = sorted((pd.Timestamp(a), pd.Timestamp(b)) for a, b in zip(started, finished))
    total, current = pd.Timedelta(0), None
    for start, end in intervals:
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = [start, end]
        elif end > current[1]:
            current[1] = end
    if current is not None:
        total += current[1] - current[0]
    return total.total_seconds()


def job_summary(jobs: pd.DataFrame) -> dict[str, Any]:
    """What the evidence's manifest states of a study's jobs (:func:`read_jobs`): ``jobs`` (their number),
    ``job_time_s`` (their wall seconds summed), ``busy_time_s`` (:func:`busy_time` of them all) and
    ``busy_time_s_per_stage`` (the same per :func:`job_stage`); seconds to 0.01."""
    stages = jobs["job"].map(job_stage)
    return {
        "jobs": int(len(jobs)),
        "job_time_s": round(float(jobs["wall_s"].sum()), 2),
        "busy_time_s": round(busy_time(jobs["started"], jobs["finished"]), 2),
        "busy_time_s_per_stage": {str(stage): round(busy_time(group["started"], group["finished"]), 2)
                                  for stage, group in jobs.groupby(stages, sort=True)},
    }
