"""One declaration per run setting: the command line, the workflow schema and the checks all come from
RunConfig's fields, and a configuration survives the trip through its own command line."""

import argparse
import dataclasses
import math
import subprocess
import sys

import pytest
import yaml

from runs import REPO, TINY_GRAPH
from satbench.config import RunConfig, add_run_arguments, model_settings_schema, run_configs_from_args
from satbench.errors import ConfigError
from satbench.methods import option_shortcuts

GRID_KEYS = {"methods", "workers"}  # a model entry's keys that narrow the grid rather than set a run setting


def run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, method_shortcuts=option_shortcuts())
    return parser


def test_the_workflow_schema_states_the_declared_model_settings():
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    listed = schema["definitions"]["model_settings"]["properties"]
    assert {key: value for key, value in listed.items() if key not in GRID_KEYS} == model_settings_schema()


def test_the_command_line_is_the_declarations():
    parser = run_parser()
    actions = {action.dest: action for action in parser._actions}
    defaults = RunConfig()
    for name, declared in RunConfig.settings().items():
        if declared.flag is None:
            assert name not in actions
            continue
        action = actions[name]
        assert RunConfig.flag_of(name) in action.option_strings
        if declared.kind == "value":
            expected = [defaults.seed] if name == "seed" else getattr(defaults, name)
            assert action.default == expected, name
            assert action.choices == declared.choices, name
            assert action.required == declared.required, name
        # every default shown is the real one (or says where it comes from)
        shown = action.help or ""
        if declared.kind == "value" and not declared.required and getattr(defaults, name) is not None:
            assert f"(default: {getattr(defaults, name)})" in shown, name
    assert "(default: None)" not in parser.format_help() and "(default: True)" not in parser.format_help()


def test_a_configuration_survives_its_own_command_line():
    config = RunConfig(dataset=TINY_GRAPH, model="sage", method="sat-plus", workers=3, epochs=7, seed=5, hidden=12,
                       layers=3, lr=0.05, weight_decay=1e-4, dropout=0.0, norm="layer", partitioner="random",
                       partition_seed=2, weight_sync="allreduce", local_steps=2,
                       method_options={"sync_period": 4, "gate_margin": 0.5, "residual": False}, halo="fresh",
                       eval_every=2, staleness_every=3, timeout_s=12.5, progress=False, study="sweep",
                       labels={"dataset": "tiny"}, exact_first_layer=False)
    args = run_parser().parse_args(config.to_argv())
    (back,) = run_configs_from_args(args, [config.seed], [None])
    assert back.validate() == config.validate()


def test_method_option_shortcuts_come_from_the_options():
    shortcuts = {flag: key for flag, key, _, _ in option_shortcuts()}
    assert shortcuts["--sync-period"] == "sync_period" and shortcuts["--sat-window"] == "window"
    args = run_parser().parse_args(["--dataset", TINY_GRAPH, "--method", "digest", "--sync-period", "3"])
    (config,) = run_configs_from_args(args, [0], [None])
    assert config.validate().method_options["sync_period"] == 3


def test_resolving_fills_in_what_the_method_decides_and_checking_refuses():
    resolved = RunConfig(dataset="SBM-2K", method="digest").resolved()
    assert (resolved.dataset, resolved.weight_sync, resolved.local_steps) == ("sbm-2k", "average", 3)
    assert resolved.method_options == {"sync_period": 10}
    assert RunConfig(dataset=TINY_GRAPH, method="sat-layer1", layers=3, dropout=0.0).resolved().exact_first_layer
    for settings, message in [({"workers": 0}, "workers must be at least 1"),
                              ({"dropout": 1.0}, "dropout must be below 1"),
                              ({"lr": math.nan}, "lr must be a finite number"),
                              ({"staleness_every": -1}, "staleness-every must be non-negative"),
                              ({"norm": "group"}, "unknown norm 'group'"),
                              ({"seed": 2**64}, "seed must fit in a signed 64-bit integer")]:
        with pytest.raises(ConfigError, match=message):
            dataclasses.replace(RunConfig(dataset=TINY_GRAPH), **settings).check()


@pytest.mark.multiprocess
@pytest.mark.parametrize("command", [["--help"], ["methods"], ["methods", "--json"], ["datasets"]])
def test_the_command_line_imports_no_torch(command):
    """The CLI module, and the commands that only name things, start without torch, PyG, pandas or matplotlib."""
    code = ("import sys; import satbench.cli as cli\n"
            f"try:\n    cli.main({command!r})\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('torch', 'torch_geometric', 'pandas', 'matplotlib') if m in sys.modules)\n"
            "print('heavy:' + ','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "heavy:", result.stdout[-2000:]


@pytest.mark.multiprocess
def test_version():
    version = subprocess.run([sys.executable, "-m", "satbench", "--version"], capture_output=True, text=True,
                             cwd=REPO, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("satbench ")
