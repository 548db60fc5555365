"""How long a study's workflow jobs took, in its shipped evidence (satbench.report.jobs, the export's jobs.parquet
and manifest keys) and in the documents (a value marker's ``fmt=duration``, a manifest key's entry): Snakemake's
benchmark files written by hand, with set modification times, beside the small records of tests/test_docs.py."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from runs import REPO
from satbench import docs as docs_cli
from satbench import workflow
from satbench.errors import ConfigError
from satbench.report import evidence, jobs
from test_docs import _document, exported, repository  # noqa: F401 - fixtures

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
T0 = 1_800_000_000  # the seconds since the epoch the fabricated jobs end around (2027-01-15)


def benchmark(root: Path, job: str, end: float, *rows: tuple[float, float | str, float | str]) -> Path:
    """The benchmark file Snakemake writes for ``job`` under ``root``: a row (wall s, max_rss MB, cpu_time s) per
    repetition, its modification time ``end`` (seconds since the epoch)."""
    path = root / "results" / "benchmarks" / f"{job}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(f"{s:.2f}\t0:00:00\t{rss}\t1.00\t1.00\t1.00\t0.00\t0.00\t50.00\t{cpu}\n"
                                     for s, rss, cpu in rows))
    os.utime(path, ns=(int(end * 1e9), int(end * 1e9)))
    return path


def utc(seconds: float) -> pd.Timestamp:
    return pd.Timestamp(int(seconds * 1e9), unit="ns", tz="UTC")


# -- reading the benchmark files --------------------------------------------------------------------------------------

def test_the_benchmark_files_are_read_one_row_per_job(tmp_path):
    benchmark(tmp_path, "cora/gcn/exact/w4", T0, (165.21, 766.0, 222.1))
    benchmark(tmp_path, "regime/screen/cora/gcn/base/w4/sync-10/method/digest", T0 + 500, (300.0, 800.5, 590.25))
    # Two repetitions (Snakemake's repeat()): one job, its seconds summed, its largest peak memory; a repetition too
    # short to sample writes NA.
    benchmark(tmp_path, "controls/cora/gcn/digest/w4", T0 + 1000, (10.5, "NA", "NA"), (20.0, 512.0, 30.5))
    frame = jobs.read_jobs(tmp_path)
    assert list(frame.columns) == ["job", "wall_s", "cpu_s", "max_rss_mb", "started", "finished"]
    assert list(frame["job"]) == ["controls/cora/gcn/digest/w4", "cora/gcn/exact/w4",
                                  "regime/screen/cora/gcn/base/w4/sync-10/method/digest"]
    assert list(frame["wall_s"]) == [30.5, 165.21, 300.0]
    assert list(frame["cpu_s"]) == [30.5, 222.1, 590.25]
    assert list(frame["max_rss_mb"]) == [512.0, 766.0, 800.5]
    assert list(frame["finished"]) == [utc(T0 + 1000), utc(T0), utc(T0 + 500)]
    assert list(frame["started"]) == [utc(T0 + 1000 - 30.5), utc(T0) - pd.Timedelta(seconds=165.21), utc(T0 + 200)]
    assert str(frame["finished"].dt.tz) == "UTC"
    # a config's job names pick its jobs (the other files are not read)
    assert list(jobs.read_jobs(tmp_path, ["cora/gcn/exact/w4", "timing/cora/gcn/w4"])["job"]) == ["cora/gcn/exact/w4"]
    empty = jobs.read_jobs(tmp_path / "elsewhere")
    assert empty.empty and list(empty.columns) == list(jobs.JOB_COLUMNS)


def test_a_setting_alone_is_benchmarked_where_the_snakefile_writes_it():
    """Run.benchmark_path, a job of one setting, is where the Snakefile's wildcard rules write its benchmark (their
    ``benchmark:`` paths); a grouped job's are its TrainingJob's (held by tests/test_workflow.py's dry runs)."""
    snakefile = (REPO / "Snakefile").read_text()
    # Each directive's expression (a string, an f-string, a name of satbench.workflow), evaluated as the Snakefile
    # evaluates it
    names = dict(vars(workflow))
    regime_job = re.search(r'^REGIME_JOB = "([^"]+)"$', snakefile, re.MULTILINE)
    if regime_job:
        names["REGIME_JOB"] = regime_job[1]
    expressions = [expression for expression in re.findall(r'^\s*benchmark:\s*\n\s*(.+?)\s*$', snakefile, re.MULTILINE)
                   if expression != "grouped.benchmark"]
    templates = [eval(expression, names) for expression in expressions]  # noqa: S307 - the repository's own file
    assert len(templates) >= 8 and all(t.startswith("results/benchmarks/") and t.endswith(".tsv") for t in templates)
    values = dict(dataset="cora", model="gcn", method="digest", workers=4, seed=2, rep=1, sync_period=10,
                  rate="1gbit", option="window_push=forward", variant="model", halo="fresh")
    benchmarked = {template.format(**values) for template in templates}
    run = workflow.Run("cora", "gcn", "digest", 4, 2)
    runs = [run, replace(run, halo="fresh"), replace(run, option="window_push=forward"), replace(run, sync_period=10),
            replace(run, rate="1gbit"), replace(run, seed=1, timed=True),
            *(replace(run, sync_period=10, halo="fresh", stage=stage) for stage in ("screen", "confirm"))]
    assert {run.benchmark_path for run in runs} == benchmarked


def test_a_config_names_the_jobs_that_write_its_records(tmp_path):
    """What the export reads: each planned run's job (grouped in-process: one per grid, dataset, model and W; the
    timing study's per dataset, model and W) and its setting's own, as a workflow that ran it alone named it."""
    names = workflow.config_jobs(REPO / "config" / "config.yaml", tmp_path)
    assert {"sbm-2k-h50/gcn/w4", "sbm-2k-h50/gcn/exact/w4", "controls/sbm-2k-noisy/sage/w4",
            "sweep/sbm-2k-noisy/sage/w4", "sweep/sbm-2k-noisy/sage/sat/sync-5/w4",
            "timing/sbm-2k-noisy/sage/w4"} <= names
    assert "sbm-2k-h50/sage/w4" not in names and not any(name.startswith("regime/") for name in names)


@pytest.mark.parametrize("text, message", [
    ("", "an empty benchmark file"),
    ("seconds\tcpu\n1\t2\n", ":1: not a Snakemake benchmark file: its header 'seconds\\tcpu' has no 's' column"),
    (HEADER, "a benchmark header without a row"),
    (HEADER + "12.5\t0:00:12\t1.0\n", ":2: 3 tab-separated fields where the header has 10"),
    (HEADER + "soon\t0:00:12\t1\t1\t1\t1\t1\t1\t1\t1\n", ":2: benchmark column 's' is 'soon', not a number"),
    (HEADER + "12\t0:00:12\tlots\t1\t1\t1\t1\t1\t1\t1\n", ":2: benchmark column 'max_rss' is 'lots'"),
    (HEADER + "-3\t0:00:12\t1\t1\t1\t1\t1\t1\t1\t1\n", ":2: wall time s = '-3'"),
])
def test_a_malformed_benchmark_file_is_one_readable_error(tmp_path, text, message):
    path = benchmark(tmp_path, "cora/gcn/exact/w4", T0)
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        jobs.read_jobs(tmp_path)
    assert str(path) in str(caught.value) and message in str(caught.value)


# -- busy time --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("intervals, busy", [
    ([], 0.0),
    ([(0, 100)], 100.0),
    ([(0, 100), (50, 130)], 130.0),  # side by side: the overlap once
    ([(0, 100), (20, 40)], 100.0),  # one within the other
    ([(0, 100), (1000, 1030)], 130.0),  # two sittings: the pause not at all
    ([(1000, 1030), (0, 60), (50, 100), (100, 110)], 140.0),  # in any order; touching intervals join
])
def test_busy_time_is_the_length_of_the_union_of_the_jobs_intervals(intervals, busy):
    started = [utc(T0 + a) for a, _ in intervals]
    finished = [utc(T0 + b) for _, b in intervals]
    assert jobs.busy_time(started, finished) == busy


def test_the_summary_counts_each_stage_apart(tmp_path):
    benchmark(tmp_path, "cora/gcn/exact/w4", T0 + 100, (100.0, 1, 1))
    benchmark(tmp_path, "citeseer/gcn/exact/w4", T0 + 150, (100.0, 1, 1))
    benchmark(tmp_path, "sweep/cora/gcn/digest/sync-5/w4", T0 + 400, (60.0, 1, 1))
    benchmark(tmp_path, "regime/screen/cora/gcn/base/w4/sync-10/method/digest", T0 + 1000, (200.0, 1, 1))
    benchmark(tmp_path, "regime/screen/cora/gcn/base/w4/sync-10/fresh/digest", T0 + 1000, (100.0, 1, 1))
    benchmark(tmp_path, "regime/confirm/cora/gcn/base/w4/sync-10/method/digest", T0 + 9000, (50.0, 1, 1))
    summary = jobs.job_summary(jobs.read_jobs(tmp_path))
    assert summary == {"jobs": 6, "job_time_s": 610.0, "busy_time_s": 150.0 + 60.0 + 200.0 + 50.0,
                       "busy_time_s_per_stage": {"main": 150.0, "regime/confirm": 50.0, "regime/screen": 200.0,
                                                 "sweep": 60.0}}


# -- export -----------------------------------------------------------------------------------------------------------

def _demo_jobs(root: Path) -> None:
    """Benchmark files of the jobs that wrote tests/test_docs.py's demo records (main grid and controls), and one of
    a job that is not the config's (another dataset's, malformed: not even read)."""
    benchmark(root, "sbm-a/gcn/exact/w2", T0 + 100, (60.0, 300.0, 100.0))      # [40, 100]
    benchmark(root, "sbm-a/gcn/digest/w2", T0 + 130, (50.0, 310.0, 90.0))      # [80, 130]: beside exact
    benchmark(root, "sbm-a/gcn/sat/w2", T0 + 1000, (30.0, 320.0, 55.0))        # [970, 1000]: a second sitting
    benchmark(root, "controls/sbm-a/gcn/digest/w2", T0 + 1100, (20.0, 290.0, 35.0), (25.0, 295.0, 40.0))  # 45 s
    benchmark(root, "other/gcn/exact/w2", T0 + 2000, (5.0, 1.0, 1.0)).write_text("not a benchmark file")


def test_the_export_ships_the_jobs_of_its_records_and_verify_takes_them(exported):
    directory = exported / "docs" / "evidence" / "demo"
    _demo_jobs(exported)
    assert docs_cli.main(["export", "demo", "--config", "config/demo.yaml"]) == 0
    shipped = pd.read_parquet(directory / "jobs.parquet")
    assert list(shipped["job"]) == ["controls/sbm-a/gcn/digest/w2", "sbm-a/gcn/digest/w2", "sbm-a/gcn/exact/w2",
                                    "sbm-a/gcn/sat/w2"]
    pd.testing.assert_frame_equal(shipped, jobs.read_jobs(".", workflow.config_jobs("config/demo.yaml")))
    assert list(shipped["wall_s"]) == [45.0, 50.0, 60.0, 30.0] and shipped["finished"].iloc[0] == utc(T0 + 1100)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert (manifest["jobs"], manifest["job_time_s"], manifest["busy_time_s"]) == (4, 185.0, 90.0 + 30.0 + 45.0)
    assert manifest["busy_time_s_per_stage"] == {"controls": 45.0, "main": 120.0}
    assert manifest["files"]["jobs.parquet"]["rows"] == 4
    assert evidence.verify_evidence(directory) == []
    # verify --fix rewrites a table and the files list, jobs.parquet kept in both the directory and the list
    (directory / "tables" / "claims.csv").write_text("claim\nstale\n")
    assert evidence.verify_evidence(directory, fix=True) != []
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["files"]["jobs.parquet"]["rows"] == 4 and manifest["busy_time_s"] == 165.0
    assert evidence.verify_evidence(directory) == []
    assert evidence.load_evidence(directory).runs.shape[0] == manifest["runs"]

    # The documents state the study's times from it.
    _document(exported, "Took <!-- value: demo/manifest.busy_time_s fmt=duration -->?<!-- /value --> in "
                        "<!-- value: demo/manifest.jobs -->?<!-- /value --> jobs, the controls "
                        "<!-- value: demo/manifest.busy_time_s_per_stage.controls fmt=duration -->?<!-- /value -->.\n")
    assert evidence.render_documents(exported)[0] == []
    text = re.sub(r"<!--.*?-->", "", (exported / "docs" / "results.md").read_text())
    assert text == "Took 2 min 45 s in 4 jobs, the controls 45 s.\n"


def test_an_export_without_benchmark_files_writes_no_jobs(exported, tmp_path):
    directory = exported / "docs" / "evidence" / "demo"
    assert not (exported / "results" / "benchmarks").exists()
    manifest = json.loads((directory / "manifest.json").read_text())
    assert not (directory / "jobs.parquet").exists() and "jobs.parquet" not in manifest["files"]
    assert not {"jobs", "job_time_s", "busy_time_s", "busy_time_s_per_stage"} & set(manifest)
    # only another config's jobs: none of this one's
    benchmark(exported, "other/gcn/exact/w2", T0, (5.0, 1.0, 1.0))
    assert docs_cli.main(["export", "demo", "--config", "config/demo.yaml"]) == 0
    assert not (directory / "jobs.parquet").exists()
    # an empty frame, as read_jobs gives where there is none, is no jobs either
    records = sorted((exported / "results" / "runs").rglob("*.json"))[:2]
    evidence.export_evidence(records, tmp_path / "plain", jobs=jobs.read_jobs(tmp_path / "none"))
    assert not (tmp_path / "plain" / "jobs.parquet").exists()
    assert "jobs" not in json.loads((tmp_path / "plain" / "manifest.json").read_text())


def test_a_malformed_benchmark_file_of_the_study_stops_the_export_with_one_line(exported, capsys):
    benchmark(exported, "sbm-a/gcn/exact/w2", T0, (60.0, 300.0, 100.0)).write_text(HEADER + "1\t2\n")
    assert docs_cli.main(["export", "demo", "--config", "config/demo.yaml"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "results/benchmarks/sbm-a/gcn/exact/w2.tsv:2: 2 tab-separated fields" \
        in error and "\n" not in error and "Traceback" not in error


# -- rendering durations ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds, text", [
    (5266, "87 min 46 s"), (5266.4, "87 min 46 s"), (242, "4 min 2 s"), (45, "45 s"), (0, "0 s"), (59.6, "1 min 0 s"),
    (7199, "119 min 59 s"), (7200, "2 h 0 min"), (7500, "2 h 5 min"), (36_629, "10 h 10 min"),
])
def test_seconds_are_written_as_a_duration(seconds, text):
    assert evidence.format_duration(seconds) == text


def test_duration_markers_and_a_manifest_entry_render_from_the_evidence(repository):
    manifest = repository / "docs" / "evidence" / "demo" / "manifest.json"
    manifest.write_text(json.dumps({"study": "demo", "runs": 171, "busy_time_s": 5266.37,
                                    "busy_time_s_per_stage": {"regime/screen": 1325.2, "regime/confirm": 7500.0}}))
    path = _document(repository, "Took <!-- value: demo/manifest.busy_time_s fmt=duration -->87 min<!-- /value -->"
                                 ", the screen <!-- value: demo/manifest.busy_time_s_per_stage.regime/screen "
                                 "fmt=duration -->?<!-- /value -->, the confirm stage <!-- value: demo/manifest."
                                 "busy_time_s_per_stage.regime/confirm fmt=duration -->?<!-- /value --> (<!-- value: "
                                 "demo/manifest.busy_time_s_per_stage.regime/confirm fmt=.0f -->?<!-- /value --> s)."
                                 "\n")
    marker = evidence.parse_markers(path.read_text())[1]
    assert marker.reference == "demo/manifest.busy_time_s_per_stage.regime/screen"
    assert marker.options == {"fmt": "duration"}
    problems, changed = evidence.render_documents(repository)
    assert problems == [] and len(changed) == 4
    assert re.sub(r"<!--.*?-->", "", path.read_text()) == ("Took 87 min 46 s, the screen 22 min 5 s, the confirm "
                                                           "stage 2 h 5 min (7500 s).\n")
    assert evidence.render_documents(repository, check=True) == ([], [])


@pytest.mark.parametrize("marker, message", [
    ("demo/manifest.busy_time_s_per_stage.main fmt=duration",
     "the manifest's 'busy_time_s_per_stage' has no 'main' (it has: regime/screen)"),
    ("demo/manifest.study.x", "the manifest's 'study' is a str, not a mapping"),
    ("demo/manifest.nope.x", "the manifest has no 'nope.x'"),
    ("demo/manifest.study fmt=duration", "fmt=duration: 'demo' is not a number of seconds"),
])
def test_a_duration_or_entry_that_cannot_be_rendered_is_named(repository, marker, message):
    (repository / "docs" / "evidence" / "demo" / "manifest.json").write_text(json.dumps(
        {"study": "demo", "busy_time_s_per_stage": {"regime/screen": 1325.2}}))
    _document(repository, f"<!-- value: {marker} -->?<!-- /value -->\n")
    problems, _ = evidence.render_documents(repository, check=True)
    assert len(problems) == 1 and message in problems[0], problems
