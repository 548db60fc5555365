"""One place decides each table and figure: the workflow (from a config) and the report (from records) agree."""

import copy
import json
from pathlib import Path

import pytest
import yaml

from satbench import methods, report, workflow
from satbench.report import artefacts
from satbench.report.families import ALLEVIATION, family_of
from satbench.report.published import load_published, published_file
from satbench.runtime.network import describe, parse_network
from satbench.record import summarize
from satbench.workflow import (
    bandwidth_runs, control_runs, facts_from_config, main_runs, measurement_schedule, option_runs, report_outputs,
    screen_runs, sweep_runs,
)

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "config").glob("*.yaml"))
SHIPPED = [path for path in SHIPPED if path.name != "schema.yaml"]


def fake_record(config: dict, run) -> dict:
    """A record shaped like `satbench run`'s for a planned run: scores rise where the job evaluates, staleness is
    measured where it measures (null without halo rows), SAT variants report the rows they replaced, and a bandwidth
    run states its link."""
    entry = methods.get_method(run.method)  # looked up on use: a test may stand in a method of its own
    evaluate, every = measurement_schedule(config, run)
    epochs = []
    for epoch in range(1, 5):
        scored = epoch % evaluate == 0 or epoch == 4
        row = {"epoch": epoch, "loss": 1 / epoch, "train": 0.5 if scored else None,
               "val": 0.1 * epoch + 0.01 * run.seed if scored else None, "test": 0.5 if scored else None,
               "epoch_time_s": 0.1, "comm_time_s": 0.05, "comm_bytes": 1000}
        if every > 0 and (epoch in (1, 4) or epoch % every == 0):
            error = None if run.workers == 1 else (0.0 if run.method == "exact" or run.halo == "fresh" else 0.3)
            layer = {"layer": 1, "local_step": 0, "rel_error": error, "drift_rel_error": error,
                     "mask_rel_error": None if error is None else 0.0, "cosine": None if error is None else 1 - error,
                     "age_epochs": None if error is None else 1.0, "age_steps": None if error is None else 1.0}
            if family_of(entry.family, run.method, entry.base) == ALLEVIATION and error is not None:
                layer["replaced_rel_error"] = 0.4
            row["staleness"] = [layer]
        epochs.append(row)
    options = {"sync_period": run.sync_period or config.get("sync_period")} if "sync_period" in entry.options else {}
    env = {"network": describe(parse_network(run.rate), run.workers)} if run.rate is not None else {}
    labels = {"dataset": run.dataset, **({"option": run.option} if run.option is not None else {})}
    return {"version": 2, "study": run.study, "labels": labels,
            "config": {"dataset": run.dataset, "model": run.model, "method": run.method, "workers": run.workers,
                       "seed": run.seed, "method_options": options, "halo": run.halo, "network": run.rate},
            "method": {"name": run.method, "family": entry.family, "base": entry.base,
                       "shares_base_control": entry.shares_base_control, "halo": run.halo},
            "env": env, "epochs": epochs, "summary": summarize(epochs)}


def planned_records(config: dict, tmp_path: Path) -> list[Path]:
    paths = []
    for run in (main_runs(config) + control_runs(config) + sweep_runs(config) + bandwidth_runs(config)
                + screen_runs(config) + option_runs(config)):
        path = tmp_path / run.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(fake_record(config, run)))
        paths.append(path)
    return paths


TINY = {
    "datasets": {"tiny": {"spec": "sbm:n=300,classes=3,degree=6,features=8,seed=2"}},
    "models": {"gcn": {"hidden": 8}},
    "methods": ["exact", "digest", "sat"],
    "workers": [1, 2],
    "seeds": [0, 1],
    "epochs": 4,
    "device": "cpu",
    "sync_period": 2,
    "staleness_every": 2,
    "sweep": {"datasets": ["tiny"], "model": "gcn", "methods": ["digest"], "sync_periods": [1, 2], "workers": [2],
              "seeds": [0]},
}
BANDWIDTH = {"datasets": ["tiny"], "model": "gcn", "methods": ["exact", "gas"], "rates": ["1gbit", "20mbit,1ms"],
             "workers": [2], "seeds": [0], "epochs": 3}
EDGES = {
    "tiny": {},
    "no staleness measured": {"staleness_every": 0},
    "one worker": {"workers": [1]},
    "sweep at one τ": {"sweep": {**TINY["sweep"], "sync_periods": [2]}},
    "exact only": {"methods": ["exact"], "sweep": None},
    "no exact": {"methods": ["digest", "sat-plus"]},
    "no controls": {"controls": False},
    "partition only": {"methods": ["partition"], "sweep": None},
    "bandwidth": {"bandwidth": BANDWIDTH},
    "bandwidth alone": {"bandwidth": BANDWIDTH, "methods": None, "workers": None, "seeds": None, "sweep": None},
    "bandwidth at one rate": {"bandwidth": {**BANDWIDTH, "rates": ["1gbit"]}},
    "bandwidth of exact alone": {"bandwidth": {**BANDWIDTH, "methods": ["exact"]}},
    "regime alone": {"regime": {"datasets": ["tiny"], "methods": ["gas", "digest"], "sync_periods": [1, 2],
                                "workers": [2], "seeds": [0, 1]},
                     "methods": None, "workers": None, "seeds": None, "sweep": None},
    "option study": {"option_study": {"sat": ["window_push=forward"]}},
}


def edge(name: str) -> dict:
    config = copy.deepcopy(TINY)
    config.update(copy.deepcopy(EDGES[name]))
    return {k: v for k, v in config.items() if v is not None}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_workflow_and_report_agree_on_every_shipped_config(path, tmp_path):
    config = yaml.safe_load(path.read_text())
    assert facts_from_records(planned_records(config, tmp_path)) == facts_from_config(config)


def facts_from_records(paths) -> set[str]:
    """The facts `satbench report` finds in these records, with the published figures it reads by default."""
    loaded = report.load_records(paths)
    return artefacts.facts_from_runs(report.load_runs(loaded), report.staleness_frame(loaded),
                                     load_published(published_file()))


def test_the_alleviation_fact_is_decided_by_the_registry_family_not_the_name(tmp_path, monkeypatch):
    """A method the registry declares an alleviation method on digest, named like nothing SAT, makes the claims
    table in the workflow's plan and in the report's records alike; declared historical, it does not."""
    real = methods.get_method

    def registry(family):
        corrector = type("Corrector", (), {"name": "corrector", "family": family, "base": "digest",
                                           "options": real("digest").options, "train_graph": "full",
                                           "shares_base_control": False})

        def get(name):
            return corrector if name == "corrector" else real(name)
        return get

    config = {**TINY, "methods": ["exact", "digest", "corrector"], "sweep": None}
    config = {key: value for key, value in config.items() if value is not None}
    for family, expected in (("alleviation", True), ("historical", False)):
        monkeypatch.setattr(methods, "get_method", registry(family))
        planned = facts_from_config(config)
        assert ("alleviation" in planned) is expected
        assert facts_from_records(planned_records(config, tmp_path / family)) == planned
        assert ("claims" in report_outputs(config)[0]) is expected


@pytest.mark.parametrize("name", list(EDGES))
def test_the_report_writes_exactly_what_the_workflow_expects(name, tmp_path):
    config = edge(name)
    written = report.build_all(planned_records(config, tmp_path / "runs"), tmp_path / "tables", tmp_path / "plots",
                               tmp_path / "data")
    tables, figures = report_outputs(config)
    assert {p.stem for p in written if p.suffix == ".csv" and p.stem != "runs"} == set(tables)
    assert {p.stem for p in written if p.suffix == ".png"} == set(figures)
    assert all(p.suffix != ".md" or p.stem in tables for p in written)
    assert {p.name for p in written if p.parent == tmp_path / "data"} == {"runs.parquet", "epochs.parquet",
                                                                         "staleness.parquet"}


def test_the_report_writes_only_what_is_asked(tmp_path):
    records = planned_records(edge("tiny"), tmp_path / "runs")
    only_data = report.build_all(records, data_dir=tmp_path / "data")
    assert sorted(p.name for p in only_data) == ["epochs.parquet", "runs.parquet", "staleness.parquet"]
    only_plots = report.build_all(records, plots_dir=tmp_path / "plots")
    assert only_plots and all(p.suffix in (".png", ".pdf") for p in only_plots)
    assert not (tmp_path / "tables").exists()


def test_edge_configs_plan_what_they_support():
    assert "staleness" not in report_outputs(edge("no staleness measured"))[0]
    assert "sync_period" not in report_outputs(edge("sweep at one τ"))[0]
    assert "decomposition" not in report_outputs(edge("no controls"))[0]
    assert "time_to_target" not in report_outputs(edge("no exact"))[0]
    assert "fidelity" in report_outputs(edge("tiny"))[0]  # digest beside exact
    for name in ("no exact", "exact only", "partition only"):  # no historical method beside exact
        assert "fidelity" not in report_outputs(edge(name))[0], name
    assert "claims" in report_outputs(edge("tiny"))[0] and "claims" not in report_outputs(edge("exact only"))[0]
    assert "reported_vs_measured" in report_outputs(edge("tiny"))[0]
    assert report_outputs(edge("tiny")) != report_outputs(edge("exact only"))
    assert report_outputs(edge("bandwidth alone")) == (["bandwidth"], ["bandwidth"])  # no runs to compare with
    assert set(report_outputs(edge("bandwidth"))[0]) == set(report_outputs(edge("tiny"))[0]) | {"bandwidth"}
    for name in ("bandwidth at one rate", "bandwidth of exact alone"):
        assert report_outputs(edge(name)) == report_outputs(edge("tiny"))


def test_every_artefact_has_a_caption_and_needs_known_facts():
    for artefact in artefacts.ARTEFACTS:
        assert artefact.needs <= set(artefacts.FACTS)
        assert len(artefact.caption) > 40, artefact
        assert "  " not in artefact.caption and "\n" not in artefact.caption
    names = [(a.kind, a.name) for a in artefacts.ARTEFACTS]
    assert len(names) == len(set(names))
    assert artefacts.supported(set(artefacts.FACTS)) == list(artefacts.ARTEFACTS)
    assert artefacts.supported(set()) == []
    with pytest.raises(ValueError):
        artefacts.supported({"no-such-fact"})


def test_captions_reach_the_snakemake_report_from_the_declarations(tmp_path, monkeypatch):
    """Snakemake's report reads captions from files: the workflow's caption file holds the declaration's text, and
    is written again when the declaration changes."""
    monkeypatch.chdir(tmp_path)
    path = Path(workflow.caption_file("table", "accuracy"))
    assert path.is_absolute() and path.read_text().strip() == artefacts.artefact("table", "accuracy").caption
    changed = artefacts.Artefact("accuracy", "table", frozenset({"main"}), "Another caption, long enough to read.",
                                 lambda frames: None)
    monkeypatch.setattr(artefacts, "ARTEFACTS", (changed,))
    assert Path(workflow.caption_file("table", "accuracy")).read_text().strip() == changed.caption
