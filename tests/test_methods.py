"""Every method under real multi-process training, and the staleness each one reports."""

import json
import textwrap
from pathlib import Path

import pytest
import torch

from fakecomm import run_local
from runs import TINY_GRAPH, load_record, readme_example_method, satbench
from satbench.config import RunConfig
from satbench.errors import ConfigError
from satbench.runtime.launch import launch, prepare
from satbench.methods import discover_methods, get_method
from satbench.partition import load_part
from satbench.train import Trainer

ALL_METHODS = sorted(discover_methods())
MODELS = ("gcn", "sage", "gat")


def _train_every_combination(rank, world_size, meta):
    """One worker's share: every (model, method) for two epochs in turn."""
    part = load_part(meta.partition_dir, rank)
    results = {}
    for model in MODELS:
        for method in ALL_METHODS:
            options = {"sync_period": 2} if "sync_period" in get_method(method).options else {}
            # A method built on --exact-first-layer corrects layer 2 from layer 1: it needs a third layer.
            layers = 3 if get_method(method).exact_first_layer else 2
            config = RunConfig(dataset=TINY_GRAPH, model=model, method=method, workers=world_size, epochs=2,
                               hidden=8, heads=2, layers=layers, dropout=0.0, staleness_every=1, progress=False,
                               method_options=options)
            try:
                config = config.validate()
            except ConfigError as error:
                results[(model, method)] = str(error)
                continue
            results[(model, method)] = Trainer(config, meta, part, torch.device("cpu")).fit()
    return results


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_every_method_trains_every_model(tmp_path, workers):
    meta = prepare(RunConfig(dataset=TINY_GRAPH, workers=workers, cache_dir=str(tmp_path / "cache")))
    results = run_local(_train_every_combination, workers, meta)[0]
    assert set(results) == {(model, method) for model in MODELS for method in ALL_METHODS}
    for (model, method), rows in results.items():
        if isinstance(rows, str):  # refused before training, with the reason
            assert (get_method(method).exact_first_layer and model != "gcn"
                    or method.startswith("staleness-weighted") and model == "gat"), (model, method, rows)
            continue
        assert len(rows) == 2, (model, method)
        json.dumps(rows, allow_nan=False)  # every number finite: records are strict JSON
        for row in rows:
            assert torch.isfinite(torch.tensor(row["loss"])), (model, method)
            assert len(row["staleness"]) == (2 if get_method(method).exact_first_layer else 1)  # hidden layers
        measured = [layer["rel_error"] for row in rows for layer in row["staleness"]]
        if workers == 1:  # no halo rows: nothing to measure, recorded as null rather than a fake 0
            assert set(measured) == {None}
        elif method == "exact":
            assert all(error <= 1e-6 for error in measured)
        if method == "partition":
            assert all(row["halo_bytes"] == 0 and row["halo_grad_bytes"] == 0 for row in rows)


def test_every_method_has_a_family_and_an_alleviation_names_its_base_and_control():
    from satbench.methods import ALLEVIATION, FAMILIES, HISTORICAL, REFERENCE
    from satbench.workflow import control_method

    methods = discover_methods()
    families = {name: entry.family for name, entry in methods.items()}
    assert set(families.values()) <= set(FAMILIES)
    assert {name for name, family in families.items() if family == REFERENCE} == {"exact", "partition"}
    assert {name for name, family in families.items() if family == HISTORICAL} == {
        "gas", "pipegcn", "pipegcn-gf", "digest", "sancus", "graphfm"}
    alleviation = {name: (entry.base, control_method(name)) for name, entry in methods.items()
                   if entry.family == ALLEVIATION}
    assert alleviation == {
        "sat": ("digest", "digest"), "sat-plus": ("digest", "digest"), "sat-layer1": ("digest", "digest"),
        "sat+gas": ("gas", "gas"), "sat+pipegcn": ("pipegcn", "pipegcn"),
        "lmc": ("gas", "lmc"),  # its gradient path through h_partial is its own, so is its control
        "rest": ("digest", "digest"), "staleness-weighted": ("digest", "digest"),
        "staleness-weighted+gas": ("gas", "gas"),
    }
    assert control_method("exact") is None and control_method("partition") is None
    assert control_method("gas") == "gas" and control_method("graphfm") == "graphfm"
    for name, entry in methods.items():  # what a method takes from its base
        if entry.base is not None:
            base = methods[entry.base]
            assert (entry.weight_sync, entry.local_steps) == (base.weight_sync, base.local_steps), name
            assert set(base.options) <= set(entry.options), name
    assert methods["lmc"].train_graph == "partial_halo" and methods["rest"].train_graph == "full"


def test_a_plain_and_an_on_base_method_are_one_entry_type():
    """Every registered method is a MethodEntry: a plain one derives what it is from its class, one on a base
    composes it with its base's entry."""
    from satbench.methods import MethodEntry

    methods = discover_methods()
    assert {type(entry) for entry in methods.values()} == {MethodEntry}
    digest, sat = methods["digest"], methods["sat"]
    assert digest.base is None and digest.method.__name__ == "DIGEST" and digest.summary() == digest.method.summary()
    assert sat.base == "digest" and sat.base_entry is digest
    assert (sat.weight_sync, sat.local_steps) == (digest.weight_sync, digest.local_steps)
    assert set(digest.options) < set(sat.options) and sat.metrics[:len(digest.metrics)] == digest.metrics
    assert sat.halo_copies_with({"window": 8}) > sat.halo_copies  # the run's options, over the defaults


def test_register_method_takes_a_method_subclass_and_nothing_else():
    """No duck-typed factory: a Method subclass (its check hooks taking the registered name), or an Alleviation with
    its base, which is then composed with it as register_on_base would."""
    from satbench.methods import _REGISTRY, ALLEVIATION, Alleviation, Method, register_method

    class Factory:  # the attributes of a method, but not a Method
        name, family, base, shares_base_control = "duck", "historical", None, False
        weight_sync, local_steps, train_graph, options, metrics = "allreduce", 1, "full", {}, ()

        def __call__(self, context, **options):
            return None

    for entry in (Factory(), Factory, "digest"):
        with pytest.raises(TypeError, match="takes a satbench.methods.Method subclass"):
            register_method(entry)

    class OldSignature(Method):
        name = "old-signature"

        @classmethod
        def check_options(cls, options):
            pass

    with pytest.raises(TypeError, match="check_options must take `name`"):
        register_method(OldSignature)

    class Held(Alleviation):
        name, family, base = "held-by-itself", ALLEVIATION, "digest"

    class NotHeld(Method):
        name, family, base = "not-held", ALLEVIATION, "digest"

    with pytest.raises(TypeError, match="is an Alleviation subclass"):
        register_method(NotHeld)
    try:
        assert register_method(Held) is Held  # a class decorator returns its class
        assert discover_methods()["held-by-itself"].base_entry is discover_methods()["digest"]
    finally:
        _REGISTRY.pop("held-by-itself", None)
    assert not {"duck", "old-signature", "not-held"} & set(discover_methods())


def test_method_and_alleviation_check_options_and_run_with_one_signature():
    """check_options and check_run take the registered method's name on Method and Alleviation alike; the entry
    passes it."""
    import inspect

    from satbench.baselines.rest import REST
    from satbench.methods import Alleviation, Method, get_method

    def parameters(function):
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]

    for hook in ("check_options", "check_run"):
        assert parameters(getattr(Method, hook)) == parameters(getattr(Alleviation, hook))
        assert parameters(getattr(Method, hook)) == parameters(getattr(REST, hook))
        assert [name for name, _, _ in parameters(getattr(Method, hook))][-1] == "name"
    with pytest.raises(ConfigError, match="method 'rest': refresh_steps replaces refresh_every"):
        get_method("rest").check_options({"sync_period": 10, "refresh_every": 2, "refresh_steps": 1})


def test_a_method_declares_a_valid_family_and_base():
    from satbench.methods import ALLEVIATION, Method, register_method

    class Unknown(Method):
        name, family = "unknown-family", "sat"

    class Orphan(Method):
        name, family = "orphan", ALLEVIATION

    class Adopted(Method):
        name, base = "adopted", "gas"

    for entry, message in ((Unknown, "family must be one of"), (Orphan, "names its base"),
                           (Adopted, "names its base")):
        with pytest.raises(TypeError, match=message):
            register_method(entry)
    assert not {"unknown-family", "orphan", "adopted"} & set(discover_methods())


def staleness_run(tmp_path, method, epochs=20, **options):
    out = tmp_path / f"{method}.json"
    config = RunConfig(dataset="sbm:n=1200,classes=4,degree=8,features=16,homophily=0.7,seed=3", method=method,
                       workers=4, epochs=epochs, hidden=32, layers=3, dropout=0.0, lr=0.02, staleness_every=1,
                       cache_dir=str(tmp_path / "cache"), progress=False, method_options=options)
    launch(config.validate(), out)
    return load_record(out)


@pytest.fixture(scope="module")
def staleness_records(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("staleness")
    return {method: staleness_run(tmp_path, method) for method in ("exact", "gas", "pipegcn", "digest")}


def mean_staleness(record, first_epoch=2):
    values = [layer["rel_error"] for row in record["epochs"] if row["epoch"] >= first_epoch
              for layer in row["staleness"]]
    return sum(values) / len(values)


@pytest.mark.multiprocess
def test_staleness_is_ordered_as_theory_says(staleness_records):
    exact, gas, pipegcn, digest = (mean_staleness(staleness_records[m]) for m in ("exact", "gas", "pipegcn",
                                                                                   "digest"))
    print(f"mean staleness: exact {exact:.2e} gas {gas:.4f} pipegcn {pipegcn:.4f} digest {digest:.4f}")
    assert exact <= 1e-6
    assert 0 < gas < digest and 0 < pipegcn < digest


@pytest.mark.multiprocess
def test_exact_is_fresh_and_pipegcn_is_one_epoch_old(staleness_records):
    for row in staleness_records["exact"]["epochs"]:
        assert all(layer["rel_error"] <= 1e-6 and layer["age_epochs"] == 0 for layer in row["staleness"])
    for row in staleness_records["pipegcn"]["epochs"]:
        assert row["staleness_age"] == [1.0, 1.0]


@pytest.mark.multiprocess
def test_digest_error_grows_with_age_within_a_sync_period(staleness_records):
    rows = {row["epoch"]: row for row in staleness_records["digest"]["epochs"]}
    for period_start in (11,):  # epochs 11..20 use the rows pushed at epoch 10
        ages = [rows[e]["staleness_age"][0] for e in range(period_start, period_start + 10)]
        assert ages == list(range(1, 11))
        errors = [rows[e]["staleness"][0]["rel_error"] for e in range(period_start, period_start + 10)]
        assert errors[-1] > errors[0] and errors[-1] > errors[4] > errors[0], errors


@pytest.mark.multiprocess
def test_digest_sends_exact_embedding_bytes_over_tau(staleness_records):
    def embedding_bytes(record):
        return sum(row["halo_bytes"] for row in record["epochs"]) / len(record["epochs"])

    ratio = embedding_bytes(staleness_records["digest"]) / embedding_bytes(staleness_records["exact"])
    assert ratio == pytest.approx(1 / 10, rel=0.1)


@pytest.mark.multiprocess
def test_measuring_staleness_does_not_change_training(tmp_path):
    base = dict(dataset=TINY_GRAPH, method="digest", workers=2, epochs=4, hidden=8, cache_dir=str(tmp_path / "c"),
                progress=False, method_options={"sync_period": 2})
    losses = []
    for every in (0, 1):
        launch(RunConfig(**base, staleness_every=every).validate(), tmp_path / f"m{every}.json")
        losses.append([row["loss"] for row in load_record(tmp_path / f"m{every}.json")["epochs"]])
    assert losses[0] == losses[1]


PLUGIN = textwrap.dedent('''
    """``halfway``: halo rows halfway between zero and exact (a test plug-in)."""
    from satbench.methods import Method, Option, register_method

    @register_method
    class Halfway(Method):
        """Scale fresh halo rows by a factor."""
        name = "halfway"
        options = {"factor": Option(0.5, "scale of the fresh rows")}

        def supply_halo(self, layer, h_inner, partial_halo):
            return self.config["factor"] * self.comm.exchange(h_inner)
''')


@pytest.mark.multiprocess
def test_a_method_module_in_a_directory_is_discovered_and_runs(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "halfway.py").write_text(PLUGIN)
    env = {"SATBENCH_METHOD_PATH": str(plugins)}
    listing = satbench("methods", env=env)
    assert "halfway" in listing.stdout and "factor=0.5" in listing.stdout
    out = tmp_path / "halfway.json"
    result = satbench("run", "--dataset", TINY_GRAPH, "--method", "halfway", "-o", "factor=0.25", "--workers", "2",
                      "--epochs", "2", "--dropout", "0", "--staleness-every", "1", "--cache-dir",
                      str(tmp_path / "cache"), "--no-progress", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    record = load_record(out)
    assert record["config"]["method_options"] == {"factor": 0.25}
    assert record["epochs"][0]["staleness"][0]["rel_error"] == pytest.approx(0.75, abs=1e-5)
    # ... and it has its fresh-halo control without a line of its own: the rows used are exact, the rows it
    # supplied (and the control replaced) are still a quarter of them, and the control's exchange is counted apart.
    control = tmp_path / "halfway-control.json"
    result = satbench("run", "--dataset", TINY_GRAPH, "--method", "halfway", "-o", "factor=0.25", "--workers", "2",
                      "--epochs", "2", "--dropout", "0", "--staleness-every", "1", "--cache-dir",
                      str(tmp_path / "cache"), "--no-progress", "--halo", "fresh", "--out", str(control), env=env)
    assert result.returncode == 0, result.stderr
    controlled = load_record(control)
    assert controlled["method"] == {"name": "halfway", "family": "historical", "base": None,
                                    "shares_base_control": False, "halo": "fresh", "weight_sync": "allreduce",
                                    "local_steps": 1, "train_graph": "full", "metrics": []}
    assert controlled["study"] == "control" and record["study"] == "main"
    assert controlled["command"][:3] == ["satbench", "run", "--dataset"] and controlled["created"].endswith("Z")
    for row, own in zip(controlled["epochs"], record["epochs"]):
        layer = row["staleness"][0]
        assert layer["rel_error"] <= 1e-6 and layer["supplied_rel_error"] == pytest.approx(0.75, abs=1e-5)
        assert row["control_bytes"] > 0 and own["control_bytes"] == 0
        assert row["comm_bytes"] == own["comm_bytes"]  # the method's own traffic, unchanged


@pytest.mark.multiprocess
def test_methods_lists_every_method_with_its_options():
    listing = satbench("methods").stdout
    for name in ("exact", "partition", "gas", "pipegcn", "pipegcn-gf", "digest", "sancus", "graphfm", "sat", "lmc",
                 "rest", "staleness-weighted", "staleness-weighted+gas"):
        assert f"\n{name}:" in f"\n{listing}"
    assert "-o sync_period=10" in listing and "smoothing=0.95" in listing
    # SAT's options are explained once for all its variants, not once per variant
    assert listing.count("K: halo snapshots the LSTM reads") == 1
    for option in ("-o score='linear'", "-o beta=1.0", "-o refresh_every=1", "-o lambda=10.0"):
        assert option in listing


@pytest.mark.multiprocess
def test_the_readme_example_method_runs_as_written_with_its_control(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "halfstale.py").write_text(readme_example_method())
    env = {"SATBENCH_METHOD_PATH": str(plugins)}
    records = {}
    for halo in ("method", "fresh"):
        out = tmp_path / f"{halo}.json"
        result = satbench("run", "--dataset", TINY_GRAPH, "--method", "halfstale", "-o", "period=3", "--workers", "2",
                          "--epochs", "5", "--dropout", "0", "--staleness-every", "1", "--halo", halo, "--cache-dir",
                          str(tmp_path / "cache"), "--no-progress", "--out", str(out), env=env)
        assert result.returncode == 0, result.stderr
        records[halo] = load_record(out)["epochs"]
    ages = [row["staleness"][0]["age_epochs"] for row in records["method"]]
    assert ages == [0.0, 1.0, 2.0, 0.0, 1.0]  # fetched at epochs 1 and 4
    errors = [row["staleness"][0]["rel_error"] for row in records["method"]]
    assert errors[0] <= 1e-6 and errors[3] <= 1e-6 and min(errors[1], errors[2], errors[4]) > 0
    assert all(row["staleness"][0]["rel_error"] <= 1e-6 for row in records["fresh"])


# -- SANCUS's halo gradients ------------------------------------------------------------------------------------------


def _fit_with_weights(rank, world_size, meta, settings):
    config = RunConfig(dataset=TINY_GRAPH, workers=world_size, progress=False, **settings).validate()
    trainer = Trainer(config, meta, load_part(meta.partition_dir, rank), torch.device("cpu"))
    return trainer.fit(), {name: value.detach().clone() for name, value in trainer.model.state_dict().items()}


@pytest.fixture(scope="module")
def tiny_meta(tmp_path_factory):
    return prepare(RunConfig(dataset=TINY_GRAPH, workers=2, cache_dir=str(tmp_path_factory.mktemp("cache"))))


def test_sancus_sends_the_halo_gradients_to_their_owners(tiny_meta):
    """As the authors' backward broadcasts every partition's gradient: with threshold 0 (every changed row is
    re-broadcast, so the rows used are the current ones) the owners receive their rows' gradients and SANCUS trains
    exactly as ``exact`` does, with exact's halo_grad bytes; without them (halo_grad=none, the old behaviour) it
    does not."""
    settings = dict(epochs=4, hidden=8, layers=3, dropout=0.0, staleness_every=1)
    exact_rows, exact_weights = run_local(_fit_with_weights, 2, tiny_meta, dict(settings, method="exact"))[0]
    for mode in ("always", "none"):
        options = {"threshold": 0.0, "halo_grad": mode}
        rows, weights = run_local(_fit_with_weights, 2, tiny_meta, dict(settings, method="sancus",
                                                                         method_options=options))[0]
        same = all(torch.allclose(weights[name], value, atol=1e-5, rtol=0) for name, value in exact_weights.items())
        assert same == (mode == "always"), mode
        assert [row["loss"] == pytest.approx(exact["loss"], abs=1e-5) for row, exact in zip(rows, exact_rows)] == [
            True] + [mode == "always"] * 3
        grad_bytes = [row["halo_grad_bytes"] for row in rows]
        assert grad_bytes == ([row["halo_grad_bytes"] for row in exact_rows] if mode == "always" else [0] * 4)
        assert all(layer["rel_error"] <= 1e-5 for row in rows for layer in row["staleness"])


def test_sancus_sends_gradients_of_the_rows_broadcast_this_step_only_when_asked(tiny_meta):
    """halo_grad=broadcast: the gradients go back exactly for the rows broadcast at the step (a huge threshold, so
    only the staleness bound of 2 epochs re-broadcasts: epochs 2 and 4), as many bytes as the rows."""
    options = {"threshold": 1e9, "staleness_bound": 2, "halo_grad": "broadcast"}
    rows = run_local(_fit_with_weights, 2, tiny_meta, dict(method="sancus", epochs=4, hidden=8, layers=3,
                                                             dropout=0.0, staleness_every=1,
                                                             method_options=options))[0][0]
    assert [row["halo_grad_bytes"] for row in rows] == [row["halo_bytes"] for row in rows]
    assert [row["halo_bytes"] > 0 for row in rows] == [False, True, False, True]


# -- fidelity: each method's paper, its authors' code and its deviations, as data --------------------------------------


def test_every_builtin_method_declares_its_paper_code_and_deviations():
    """A built-in method names its paper, its authors' code (or why there is none) and its deviations from that
    code (an empty tuple claims fidelity), each a Deviation whose option, if any, is one of its -o KEY=VALUE that
    resolves and differs from the default."""
    from satbench.methods import fidelity_problems, is_builtin

    methods = discover_methods()
    builtin = {name: entry for name, entry in methods.items() if is_builtin(entry)}
    assert set(builtin) >= {"exact", "partition", "gas", "digest", "pipegcn", "pipegcn-gf", "sancus", "graphfm",
                            "lmc", "rest", "sat", "sat+gas", "sat+pipegcn", "sat-plus", "sat-layer1",
                            "staleness-weighted", "staleness-weighted+gas"}
    problems = [problem for name, entry in sorted(builtin.items()) for problem in fidelity_problems(name, entry)]
    assert not problems, "\n".join(problems)
    assert builtin["exact"].deviations == ()  # an explicit claim of fidelity
    assert builtin["sancus"].code == "chenzhao/light-dist-gnn" and builtin["staleness-weighted"].code is None
    assert "VISAGNN" in builtin["staleness-weighted"].paper and builtin["staleness-weighted"].paper.startswith("ours")
    options = {deviation.option for entry in builtin.values() for deviation in entry.deviations}
    assert {"start=zeros", "refresh_steps=1"} <= options


def test_a_method_without_paper_or_deviations_fails_the_fidelity_check_and_a_plugin_may_leave_them():
    from satbench.methods import Deviation, Method, MethodEntry, fidelity_problems, is_builtin

    class Undeclared(Method):
        name = "undeclared"

    class Declared(Method):
        name = "declared"
        paper, code, deviations = "Someone. A paper. 2024", "someone/code", (Deviation("what", "why"),)

    assert any("no paper" in problem for problem in fidelity_problems("undeclared", Undeclared))
    assert any("no deviations attribute" in problem for problem in fidelity_problems("undeclared", Undeclared))
    assert fidelity_problems("declared", Declared) == []
    bad = type("Bad", (Declared,), {"code": None, "deviations": (Deviation("w", "y", "nope=1"), "a string")})
    found = fidelity_problems("bad", bad)
    assert any("without a reason" in p for p in found) and any("not KEY=VALUE" in p for p in found)
    assert any("not a Deviation" in p for p in found)
    assert not is_builtin(Undeclared)  # a plug-in (here: this test module) may leave them undeclared
    held = MethodEntry("held", get_method("rest").method, "digest", "REST again", deviations=())
    assert held.paper == get_method("rest").paper and held.deviations == ()  # the held class's unless given


def test_the_listing_and_the_json_show_each_methods_fidelity():
    from satbench.methods import describe_methods, registry_as_json

    listed = json.loads(registry_as_json())
    assert listed["lmc"]["code"] == "MIRALab-USTC/GNN-LMC" and listed["exact"]["deviations"] == []
    pipegcn = listed["pipegcn"]["deviations"][0]
    assert set(pipegcn) == {"what", "why", "option"} and pipegcn["option"] == "start=zeros"
    assert all(entry["paper"] for entry in listed.values())
    text = describe_methods()
    assert "    authors' code: GATECH-EIC/PipeGCN (helper/feature_buffer.py)" in text
    assert "[-o start=zeros]" in text and "    deviations: none (faithful)" in text


def test_docs_methods_md_is_what_the_registry_renders():
    """docs/methods.md, the fidelity table, is rendered from the registry: `satbench methods --markdown >
    docs/methods.md` after changing a declaration."""
    from satbench.methods import render_fidelity_table

    rendered = render_fidelity_table()
    shipped = (Path(__file__).resolve().parents[1] / "docs" / "methods.md").read_text()
    assert shipped == rendered, "docs/methods.md differs from the registry: run satbench methods --markdown > " \
                                "docs/methods.md"
    for name in ("exact", "lmc", "sat-plus", "staleness-weighted+gas"):
        assert f"| `{name}` |" in rendered


def test_pipegcn_can_start_from_zero_buffers_as_the_authors_do(tiny_meta):
    """start=zeros: epoch 1 trains on zero halo rows (a relative error of 1), the exact fill's epoch 1 on exact
    ones; from epoch 2 on both read the rows their owners pushed."""
    settings = dict(method="pipegcn", epochs=2, hidden=8, layers=3, dropout=0.0, staleness_every=1)
    exact_fill = run_local(_fit_with_weights, 2, tiny_meta, settings)[0][0]
    zeros = run_local(_fit_with_weights, 2, tiny_meta, dict(settings, method_options={"start": "zeros"}))[0][0]
    assert all(layer["rel_error"] <= 1e-6 for layer in exact_fill[0]["staleness"])
    assert all(layer["rel_error"] == pytest.approx(1.0) for layer in zeros[0]["staleness"])
    assert all(layer["rel_error"] < 0.9 for layer in zeros[1]["staleness"])
