"""Files are written whole and readable by those the umask allows (satbench.files); records are read only in a version
this code knows; a checkpoint directory that cannot be written is refused before any work; a checkpoint file is
resumed only by the worker and the run that wrote it. Every test here runs in this process (workers as threads)."""

import json
import logging
import os
import stat
from pathlib import Path

import pytest
import torch

from fakecomm import run_local
from runs import TINY_GRAPH
from satbench import report
from satbench.cli import main
from satbench.comm import Communicator
from satbench.config import RunConfig
from satbench.errors import ConfigError
from satbench.files import atomic_path, write_bytes_atomic, write_json_atomic, write_text_atomic
from satbench.partition import load_part
from satbench.record import RECORD_VERSION, check_checkpoint_dir, checkpoint_dir
from satbench.report.figures import _new_figure, _save_figure
from satbench.runtime.checkpoint import MARKER, FileCheckpoints, identity
from satbench.runtime.launch import Outputs, prepare, save_state_atomic
from test_report import make_record


@pytest.fixture
def umask():
    """Sets the umask for the test (``umask(value)``) and restores the old one after it."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- one atomic write, with the umask's mode ----------------------------------------------------------------------


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640)])
def test_figures_records_and_data_files_get_the_umasks_mode(tmp_path, umask, mask, expected):
    umask(mask)
    figure, axes = _new_figure(1, 1)
    axes[0][0].plot([0, 1], [1, 0])
    written = _save_figure(figure, tmp_path / "plots" / "figure")
    assert sorted(path.name for path in written) == ["figure.pdf", "figure.png"]
    # the record as a run writes it: rank 0 to its staging file, renamed into place once every worker is done
    outputs = Outputs(tmp_path / "runs" / "run.json")
    write_json_atomic(outputs.record_staging, {"version": RECORD_VERSION})
    outputs.commit()
    model = torch.nn.Linear(2, 2)
    save_state_atomic(model, tmp_path / "model.pt")
    report.write_parquet(report.load_runs([make_record("sbm-a", "exact", 2, 0, test=0.8, epoch_time=0.1,
                                                       val_slope=0.1, val_cap=0.9)]), tmp_path / "runs.parquet")
    files = [*written, outputs.out, tmp_path / "model.pt", tmp_path / "runs.parquet",
             write_text_atomic(tmp_path / "table.md", "| τ |\n"), write_bytes_atomic(tmp_path / "a.bin", b"\0")]
    assert {path.name: oct(mode(path)) for path in files} == {path.name: oct(expected) for path in files}
    assert (tmp_path / "table.md").read_text(encoding="utf-8") == "| τ |\n"
    leftovers = [path for path in tmp_path.rglob("*") if path.name.startswith(".")]
    assert not leftovers


@pytest.mark.parametrize("failure", [RuntimeError("the writer failed"), KeyboardInterrupt()])
def test_a_failing_writer_leaves_neither_target_nor_staging_file(tmp_path, failure):
    target = tmp_path / "out" / "record.json"
    with pytest.raises(type(failure)):
        with atomic_path(target) as staging:
            staging.write_text('{"half": ')
            raise failure
    assert list(tmp_path.rglob("*")) == [tmp_path / "out"]  # the directory it needed; no file
    target.write_text("old\n")
    with pytest.raises(type(failure)):
        with atomic_path(target) as staging:
            staging.write_text("new, half")
            raise failure
    assert target.read_text() == "old\n" and list(target.parent.iterdir()) == [target]  # left as it was


def test_a_figure_that_fails_to_draw_leaves_no_file(tmp_path, monkeypatch):
    figure, _ = _new_figure(1, 1)

    def fails_half_way(path, **kwargs):
        Path(path).write_bytes(b"\x89PNG half")
        raise RuntimeError("the renderer failed")

    monkeypatch.setattr(figure, "savefig", fails_half_way)
    with pytest.raises(RuntimeError, match="the renderer failed"):
        _save_figure(figure, tmp_path / "figure")
    assert list(tmp_path.iterdir()) == []


# -- a record's version is checked where it is read ---------------------------------------------------------------


def record_file(tmp_path: Path, name: str, **changes) -> Path:
    record = make_record("sbm-a", "exact", 2, 0, test=0.8, epoch_time=0.1, val_slope=0.1, val_cap=0.9)
    record.update(study="main", labels={"dataset": "sbm-a"})
    record.update(changes)
    record = {key: value for key, value in record.items() if value is not None}
    path = tmp_path / name
    path.write_text(json.dumps(record))
    return path


@pytest.mark.parametrize("version, words", [
    (99, f"is a record of version 99, newer than this satbench reads (up to {RECORD_VERSION})"),
    (None, "says no record version"),
    ("2", "has record version '2'"),
])
def test_a_record_of_a_newer_version_or_of_none_is_refused_with_one_line(tmp_path, capsys, version, words):
    path = record_file(tmp_path, "run.json", version=version)
    with pytest.raises(ConfigError, match=f"^{path}") as refused:
        report.load_records([path])
    assert words in str(refused.value) and "\n" not in str(refused.value)
    rc = main(["report", str(path), "--tables", str(tmp_path / "tables")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and lines[-1] == f"satbench: error: {refused.value}"
    assert not (tmp_path / "tables").exists()


def test_records_of_every_version_up_to_this_one_are_read(tmp_path):
    paths = [record_file(tmp_path, f"v{version}.json", version=version) for version in range(1, RECORD_VERSION + 1)]
    assert [run.record["version"] for run in report.load_records(paths)] == list(range(1, RECORD_VERSION + 1))


# -- the checkpoint directory is checked before any work ----------------------------------------------------------


def run_args(tmp_path: Path, out: Path) -> list[str]:
    return ["run", "--dataset", TINY_GRAPH, "--workers", "2", "--epochs", "4", "--checkpoint-every", "2",
            "--no-progress", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]


def test_a_file_in_the_checkpoint_directorys_place_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "run.json"
    checkpoint_dir(out).write_text("not a directory\n")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        check_checkpoint_dir(out)
    rc = main(run_args(tmp_path, out))
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 2 and last == (f"satbench: error: --checkpoint-every cannot keep checkpoints in {checkpoint_dir(out)}"
                                ": it exists and is not a directory")
    assert not out.exists() and not (tmp_path / "cache").exists()  # refused before the graph was partitioned


def test_a_read_only_checkpoint_directory_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    out = tmp_path / "results" / "run.json"
    out.parent.mkdir()
    checkpoints = checkpoint_dir(out)
    checkpoints.mkdir()
    checkpoints.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere but on a read-only file system: let access() say what it would
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, how: Path(path) != checkpoints and real_access(path, how))
    try:
        rc = main(run_args(tmp_path, out))
    finally:
        checkpoints.chmod(0o755)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 2 and last == (f"satbench: error: --checkpoint-every cannot keep checkpoints in {checkpoints}: "
                                f"{checkpoints} is not writable")
    assert not out.exists() and not (tmp_path / "cache").exists()
    # a directory that does not exist yet is fine where it can be created
    assert check_checkpoint_dir(tmp_path / "new" / "run.json") == tmp_path / "new" / "run.json.checkpoint"


# -- a checkpoint file is resumed only by the worker and the run that wrote it ------------------------------------


@pytest.fixture(scope="module")
def meta(tmp_path_factory):
    return prepare(RunConfig(dataset=TINY_GRAPH, workers=2, cache_dir=str(tmp_path_factory.mktemp("cache"))))


def _checkpoints(rank, world_size, meta, directory, config, action):
    comm = Communicator(load_part(meta.partition_dir, rank), torch.device("cpu"))
    store = FileCheckpoints(directory, identity(config.validate(), meta), comm)
    if action == "save":
        store.save(2, {"rank": torch.tensor([rank])})
        return None
    state = store.load()
    return None if state is None else int(state["rank"].item())


def save(meta, directory, config) -> None:
    run_local(_checkpoints, 2, meta, directory, config, "save")


def load(meta, directory, config) -> list:
    return run_local(_checkpoints, 2, meta, directory, config, "load")


CONFIG = RunConfig(dataset=TINY_GRAPH, workers=2, epochs=4, checkpoint_every=2)


def refusals(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if "refuses the checkpoint file" in record.getMessage()]


def test_a_checkpoint_file_says_its_rank_and_run_and_resumes_its_own_worker(tmp_path, meta):
    save(meta, tmp_path, CONFIG)
    saved = torch.load(tmp_path / "epoch2" / "rank1.pt", weights_only=True)
    assert saved["rank"] == 1 and saved["epoch"] == 2 and saved["identity"] == identity(CONFIG.validate(), meta)
    assert load(meta, tmp_path, CONFIG) == [0, 1]


def test_swapped_rank_files_are_refused_with_one_line_each(tmp_path, meta, caplog):
    save(meta, tmp_path, CONFIG)
    first, second = tmp_path / "epoch2" / "rank0.pt", tmp_path / "epoch2" / "rank1.pt"
    first.rename(tmp_path / "swap")
    second.rename(first)
    (tmp_path / "swap").rename(second)
    with caplog.at_level(logging.WARNING, logger="satbench"):
        assert load(meta, tmp_path, CONFIG) == [None, None]  # no worker resumes: the run trains from epoch 1
    assert sorted(refusals(caplog)) == [
        f"worker 0 refuses the checkpoint file {first}: it holds worker 1's state, not worker 0's (moved or swapped)",
        f"worker 1 refuses the checkpoint file {second}: it holds worker 0's state, not worker 1's (moved or swapped)"]


def test_a_rank_file_of_another_run_is_refused_naming_what_differs(tmp_path, meta, caplog):
    other = RunConfig(dataset=TINY_GRAPH, workers=2, epochs=4, checkpoint_every=2, lr=0.02)
    save(meta, tmp_path / "other", other)
    save(meta, tmp_path / "mine", CONFIG)
    (tmp_path / "other" / "epoch2" / "rank1.pt").replace(tmp_path / "mine" / "epoch2" / "rank1.pt")
    assert json.loads((tmp_path / "mine" / MARKER).read_text())["epoch"] == 2  # the commit point is this run's
    with caplog.at_level(logging.WARNING, logger="satbench"):
        assert load(meta, tmp_path / "mine", CONFIG) == [None, None]
    assert refusals(caplog) == [f"worker 1 refuses the checkpoint file {tmp_path / 'mine' / 'epoch2' / 'rank1.pt'}: "
                                "it was written by a run of another configuration (differs in: lr)"]


def test_a_rank_file_that_says_no_rank_is_refused(tmp_path, meta, caplog):
    save(meta, tmp_path, CONFIG)
    path = tmp_path / "epoch2" / "rank0.pt"
    saved = torch.load(path, weights_only=True)
    del saved["rank"]  # as written before checkpoints said their rank
    torch.save(saved, path)
    with caplog.at_level(logging.WARNING, logger="satbench"):
        assert load(meta, tmp_path, CONFIG) == [None, None]
    assert refusals(caplog) == [f"worker 0 refuses the checkpoint file {path}: it does not say whose state it holds"]
