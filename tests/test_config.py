"""One declaration per run setting: the command line, the workflow schema and the checks all come from
RunConfig's fields, and a configuration survives the trip through its own command line."""

import argparse
import dataclasses
import math
import subprocess
import sys

import pytest
import yaml

from runs import REPO, TINY_GRAPH, package_copy_with
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


# Run keys whose workflow default differs from satbench run's on purpose, and why.
WORKFLOW_OWN_DEFAULTS = {"launcher": "the workflow's grids run in-process (satbench.workflow.DEFAULT_LAUNCHER)"}


def test_the_workflow_schema_defaults_are_the_run_defaults():
    """A run setting's default is written once, in RunConfig: where the workflow schema gives one too (Snakemake
    fills it in), it is the same value, or it is named above with its reason."""
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    defaults = RunConfig.defaults()
    given = {key: value["default"] for key, value in schema["properties"].items()
             if key in defaults and "default" in value}
    assert {"eval_every", "staleness_every", "launcher"} <= set(given)
    for key, value in given.items():
        if key in WORKFLOW_OWN_DEFAULTS:
            assert value != defaults[key], f"{key}: the same default now; drop it from WORKFLOW_OWN_DEFAULTS"
        else:
            assert value == defaults[key], f"schema.yaml's default of {key} is {value!r}, RunConfig's {defaults[key]!r}"


def test_every_list_that_sorts_settings_is_derived_from_their_roles():
    """The checkpoint's identity, runs.parquet's setting columns and the integer columns follow each setting's role
    and type: a list kept by hand elsewhere would miss the next setting, and this would say so."""
    from satbench.config import ROLES
    from satbench.report.dictionary import setting_columns
    from satbench.report.frames import META, NOT_SETTINGS, REGIME, RUN_ENVIRONMENT, TRAINED
    from satbench.report.render import INTEGER_COLUMNS
    from satbench.runtime.checkpoint import INDIFFERENT

    settings = RunConfig.settings()
    assert {declared.role for declared in settings.values()} <= set(ROLES)
    result = set(RunConfig.names("result"))
    assert set(INDIFFERENT) == set(settings) - result
    # every result and runner setting of a plain type is a column of runs.parquet (a leading one, or its own)
    columns = {column.name for column in (*setting_columns(), *META, *REGIME, *TRAINED, *RUN_ENVIRONMENT)}
    plain = {name for name, f in RunConfig.__dataclass_fields__.items() if not str(f.type).startswith("dict")}
    shown = set(RunConfig.names("result", "runner")) & plain
    assert shown - {"network"} <= columns, shown - columns  # network: the leading column rate
    assert not (set(RunConfig.names("operation", "io")) & {column.name for column in setting_columns()})
    assert set(RunConfig.names("operation", "io")) <= NOT_SETTINGS
    assert {"checkpoint_every", "strict", "timeout_s"} <= NOT_SETTINGS  # indifferent, so not settings of a result
    assert set(RunConfig.integer_names()) <= INTEGER_COLUMNS


def test_method_options_and_run_settings_share_one_bounds_check():
    from satbench.bounds import check_bounds
    from satbench.methods import get_method, resolve_options

    with pytest.raises(ConfigError, match="^hidden must be at least 1, got 0$"):
        check_bounds("hidden", 0, minimum=1)
    with pytest.raises(ConfigError, match="^option 'sync_period' of method 'digest' must be at least 1, got 0$"):
        resolve_options(get_method("digest"), {"sync_period": 0})


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


@pytest.mark.multiprocess
def test_the_documented_run_setting_is_one_declaration(tmp_path):
    """docs/development.md's example setting, applied to a copy of the package: the command line takes it and refuses
    a bad value in one line, it shapes the run (another loss), the record and runs.parquet hold it, and a checkpoint
    written under another value is not resumed (the identity holds it), with no list edited by hand."""
    env = package_copy_with("run-setting", tmp_path)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "satbench", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)

    assert "--grad-clip" in run("run", "--help").stdout
    refused = run("run", "--dataset", TINY_GRAPH, "--grad-clip", "0", "--out", "refused.json")
    assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1].endswith(
        "grad-clip must be greater than 0, got 0.0"), refused.stderr
    common = ("run", "--dataset", TINY_GRAPH, "--workers", "2", "--epochs", "3", "--launcher", "inprocess",
              "--no-progress", "--staleness-every", "0", "--data-root", str(tmp_path / "data"),
              "--cache-dir", str(tmp_path / "cache"))
    for out, extra in (("plain.json", ()), ("clipped.json", ("--grad-clip", "0.01"))):
        result = run(*common, *extra, "--out", out)
        assert result.returncode == 0, result.stderr[-3000:]
    probe = """
import json, sys
from satbench.config import RunConfig
from satbench.report.frames import load_runs
from satbench.runtime.checkpoint import INDIFFERENT, identity
from satbench.prepared import PreparedRun
plain, clipped = (json.load(open(name)) for name in ("plain.json", "clipped.json"))
assert clipped["config"]["grad_clip"] == 0.01 and plain["config"]["grad_clip"] is None
assert [row["loss"] for row in plain["epochs"]] != [row["loss"] for row in clipped["epochs"]]
runs = load_runs(["plain.json", "clipped.json"])
assert sorted(runs["grad_clip"].fillna(-1)) == [-1, 0.01], runs.columns
meta = PreparedRun(1, 2, "multiclass", "accuracy", dataset={"content_hash": "d"}, partition={"content_hash": "p"})
assert "grad_clip" not in INDIFFERENT
ids = [identity(RunConfig(dataset="x", grad_clip=value), meta) for value in (None, 0.5)]
assert ids[0] != ids[1]
print("ok")
"""
    checked = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=300)
    assert checked.stdout.strip() == "ok", checked.stderr[-3000:]
