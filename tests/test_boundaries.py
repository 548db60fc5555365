"""What a run's boundaries check, and that each check runs once: a configuration is validated once (the command line,
launch() and the trainer take a validated one as it is, and validate one that is not), and the output paths are
checked once (launch() takes the command line's checked outputs as checked, and checks a plain path itself)."""

import dataclasses
import pickle
from collections import Counter
from pathlib import Path

import pytest
import torch

import satbench.record
from fakecomm import run_local
from runs import TINY_GRAPH, load_record
from satbench.config import RunConfig
from satbench.errors import ConfigError

RUN = ["run", "--dataset", TINY_GRAPH, "--workers", "2", "--epochs", "2", "--hidden", "8", "--launcher",
       "inprocess", "--no-progress"]


@pytest.fixture
def checks(monkeypatch):
    """Counts of RunConfig.check calls ("check") and of the output checks, by the directory each asks about."""
    counted: Counter = Counter()
    check, cannot_create_in = RunConfig.check, satbench.record._cannot_create_in

    def counting_check(self):
        counted["check"] += 1
        return check(self)

    def counting_cannot_create_in(directory):
        counted[Path(directory)] += 1
        return cannot_create_in(directory)

    monkeypatch.setattr(RunConfig, "check", counting_check)
    monkeypatch.setattr(satbench.record, "_cannot_create_in", counting_cannot_create_in)
    return counted


def test_the_validated_marker_is_no_setting_and_goes_with_any_change():
    config = RunConfig(dataset=TINY_GRAPH, method="digest")
    assert not config.validated
    validated = config.validate()
    assert validated.validated and validated.validate() is validated
    assert set(validated.to_dict()) == {field.name for field in dataclasses.fields(RunConfig)}  # the record's config
    assert validated == RunConfig(dataset=TINY_GRAPH, method="digest").validate()  # not compared
    assert pickle.loads(pickle.dumps(validated)).validated  # a spawned worker gets it validated
    assert not dataclasses.replace(validated, seed=1).validated
    validated.method_options["sync_period"] = 0  # an edited mapping: validated again, and refused
    assert not validated.validated
    with pytest.raises(ConfigError, match="sync_period"):
        validated.validate()


@pytest.mark.multiprocess  # a record states the git commit (a program)
def test_the_command_line_validates_and_checks_outputs_once_per_seed(tmp_path, checks):
    from satbench.cli import main

    out = tmp_path / "runs" / "seed{seed}.json"
    rc = main([*RUN, "--cache-dir", str(tmp_path / "cache"), "--seed", "0", "1", "--checkpoint-every", "1",
               "--out", str(out)])
    assert rc == 0
    assert checks["check"] == 2  # the CLI's, per seed: not again in launch(), prepare() or the workers' trainers
    assert checks[tmp_path / "runs"] == 2  # --out, per seed
    for seed in (0, 1):
        assert checks[tmp_path / "runs" / f"seed{seed}.json.checkpoint"] == 1
        assert load_record(tmp_path / "runs" / f"seed{seed}.json")["config"]["seed"] == seed


@pytest.mark.multiprocess  # a record states the git commit (a program)
def test_launch_validates_and_checks_what_a_library_caller_hands_it(tmp_path, checks):
    from satbench.runtime.launch import launch

    config = RunConfig(dataset=TINY_GRAPH, method="digest", workers=2, epochs=2, hidden=8, launcher="inprocess",
                       progress=False, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match="is a directory"):
        launch(config, tmp_path)
    assert checks["check"] == 0  # the outputs first, before any work
    launch(config, tmp_path / "run.json")
    assert checks["check"] == 1 and checks[tmp_path] == 1  # once each
    record = load_record(tmp_path / "run.json")
    assert record["config"] == config.validate().to_dict()  # the workers trained the validated configuration
    assert record["config"]["method_options"]["sync_period"] == 10 and record["config"]["weight_sync"]


def test_launch_checks_outputs_again_that_were_checked_for_another_configuration(tmp_path):
    from satbench.runtime.launch import launch
    from satbench.runtime.outputs import CheckedOutputs, check_run_outputs

    checked = check_run_outputs(tmp_path / "run.json")
    assert isinstance(checked, CheckedOutputs) and Path(checked) == tmp_path / "run.json" and str(checked) == str(
        tmp_path / "run.json")
    config = RunConfig(dataset=TINY_GRAPH, workers=1, epochs=1, hidden=8, progress=False,
                       cache_dir=str(tmp_path / "cache"), save_model=str(tmp_path / "run.json"))
    assert checked.serves(dataclasses.replace(config, save_model=None)) and not checked.serves(config)
    with pytest.raises(ConfigError, match="same file"):  # its --save-model was not checked: it is, here
        launch(config, checked)
    assert not checked.serves(dataclasses.replace(config, save_model=None, checkpoint_every=1))


def _trainer_config(rank, world_size, meta, config):
    from satbench.partition import load_part
    from satbench.train import Trainer

    trainer = Trainer(config, meta, load_part(meta.partition_dir, rank), torch.device("cpu"))
    return trainer.config, trainer.weight_sync, trainer.local_steps


def test_the_trainer_takes_its_protocol_from_the_validated_configuration(tmp_path, checks):
    from satbench.runtime.launch import prepare

    meta = prepare(RunConfig(dataset=TINY_GRAPH, workers=2, cache_dir=str(tmp_path / "cache")))
    config = RunConfig(dataset=TINY_GRAPH, method="sat", workers=2, epochs=1, hidden=8, progress=False,
                       method_options={"window": "3"})
    validated = config.validate()
    for handed, checked in ((config, 2), (validated, 0)):  # an unvalidated one each trainer validates; else none
        checks.clear()
        for trained, weight_sync, local_steps in run_local(_trainer_config, 2, meta, handed):
            assert trained.validated and trained == validated and trained.method_options["window"] == 3
            assert (weight_sync, local_steps) == (trained.weight_sync, trained.local_steps) == ("average", 3)
        assert checks["check"] == checked
