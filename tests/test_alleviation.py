"""The methods that correct a base's stale halo rows (besides SAT, test_sat.py): LMC, REST and staleness weighting.

Each update rule against a hand computation on a tiny graph, each reduction to the method it must equal, their
traffic, and their fresh-halo controls. Workers are threads (``fakecomm.run_local``) unless marked otherwise.
"""

import math

import numpy as np
import pytest
import torch

from fakecomm import run_local
from runs import TINY_GRAPH, load_record, without_timings
from satbench.comm import Position
from satbench.config import RunConfig
from satbench.data import load_dataset
from satbench.errors import ConfigError
from satbench.prepared import PreparedRun
from satbench.runtime.launch import launch, prepare
from satbench.halo import HaloRows, HaloSeam
from satbench.partition import build_parts, load_part
from satbench.train import BYTE_FIELDS, Trainer, local_graph

# -- graphs with a partition chosen by hand ---------------------------------------------------------------------------

# Rank 0 holds 0, 1, 2; rank 1 holds 3, 4, 5, 6. Rank 0's halo is 3 (neighbours 2, 4: one of two held, f = 2/3),
# 4 (neighbours 1, 3, 6: f = 2/4) and 5 (neighbours 0, 1, both held: f = 1); rank 1's halo is 0 (neighbours 1, 5:
# f = 2/3), 1 (neighbours 0, 2, 4, 5: f = 3/5) and 2 (neighbours 1, 3: f = 2/3). f counts the node itself as an input.
HAND_EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (1, 4), (0, 5), (1, 5), (4, 6)]
HAND_OWNER = [0, 0, 0, 1, 1, 1, 1]
HAND_FRACTIONS = {0: [2 / 3, 2 / 4, 1.0], 1: [2 / 3, 3 / 5, 2 / 3]}


def bipartite_graph(num_left=12, num_right=10, degree=3, seed=0):
    """A random bipartite graph, each side one worker's part: every neighbour of a halo node is an inner node of the
    worker holding it, so every row recomputed in-partition is exact."""
    generator = torch.Generator().manual_seed(seed)
    edges = {(left, num_left + int(right)) for left in range(num_left)
             for right in torch.randperm(num_right, generator=generator)[:degree]}
    return sorted(edges), [0] * num_left + [1] * num_right


def hand_partition(tmp_path, edges, owner, features=6, seed=0):
    """An npz dataset of ``edges`` (undirected) and its parts split by ``owner``: (spec, meta, parts)."""
    num_nodes = len(owner)
    rng = np.random.default_rng(seed)
    nodes = np.arange(num_nodes)
    pairs = np.array(edges).T
    path = tmp_path / f"hand-{num_nodes}-{seed}.npz"
    np.savez(path, x=rng.standard_normal((num_nodes, features)).astype(np.float32), y=nodes % 2,
             edge_index=np.concatenate([pairs, pairs[::-1]], axis=1),
             train_mask=nodes % 3 != 2, val_mask=nodes % 3 == 2, test_mask=np.zeros(num_nodes, dtype=bool))
    spec = f"npz:{path}"
    graph = load_dataset(spec)
    meta = PreparedRun(num_features=graph.num_features, num_classes=graph.num_classes, task=graph.task,
                       metric=graph.metric)
    return spec, meta, build_parts(graph, torch.tensor(owner), max(owner) + 1)


def _trainer(rank, world_size, spec, meta, parts, settings):
    config = RunConfig(dataset=spec, workers=world_size, progress=False, **settings).validate()
    return Trainer(config, meta, parts[rank], torch.device("cpu"))


def _fit(rank, world_size, spec, meta, parts, settings):
    trainer = _trainer(rank, world_size, spec, meta, parts, settings)
    return trainer.fit(), {name: value.detach().clone() for name, value in trainer.model.state_dict().items()}


@pytest.fixture(scope="module")
def tiny_meta(tmp_path_factory):
    return prepare(RunConfig(dataset=TINY_GRAPH, workers=2, cache_dir=str(tmp_path_factory.mktemp("cache"))))


def _fit_tiny(rank, world_size, meta, settings):
    config = RunConfig(dataset=TINY_GRAPH, workers=world_size, progress=False, **settings).validate()
    return Trainer(config, meta, load_part(meta.partition_dir, rank), torch.device("cpu")).fit()


def fit_tiny(meta, method, **settings):
    values = dict(method=method, epochs=6, hidden=8, layers=3, dropout=0.0, staleness_every=1)
    values.update(settings)
    return run_local(_fit_tiny, 2, meta, values)[0]


def scores(rows):
    return [(row["loss"], row["train"], row["val"], row["test"]) for row in rows]


# -- LMC ---------------------------------------------------------------------------------------------------------------


def _lmc_alphas(rank, world_size, spec, meta, parts, options):
    return _trainer(rank, world_size, spec, meta, parts, dict(method="lmc", method_options=options)).method.alpha


@pytest.mark.parametrize("options, rule", [
    ({}, lambda f: f),  # the authors' default: linear score, beta 1
    ({"score": "concave"}, lambda f: f * (2 - f)),
    ({"score": "convex"}, lambda f: f * f),
    ({"score": "const", "beta": 0.3}, lambda f: 0.3),
    ({"beta": 0.5}, lambda f: 0.5 * f),
])
def test_lmc_alpha_per_halo_row_is_the_authors_score_of_the_fraction_held(tmp_path, options, rule):
    spec, meta, parts = hand_partition(tmp_path, HAND_EDGES, HAND_OWNER)
    for rank, alpha in enumerate(run_local(_lmc_alphas, 2, spec, meta, parts, options)):
        expected = [1.0 if f == 1.0 else rule(f) for f in HAND_FRACTIONS[rank]]  # all inputs held: exact, α = 1
        assert alpha.flatten().tolist() == pytest.approx(expected, abs=1e-6), rank


def _lmc_supplies(rank, world_size, spec, meta, parts, settings):
    """Train LMC and record, at every supply: the in-partition rows, GAS's history rows, the rows used, the gradient
    history, and (filled in by the backward pass) the gradients of the rows used and of the in-partition rows; and at
    every step the gradient of this worker's inner rows, as an owner pushes it."""
    trainer = _trainer(rank, world_size, spec, meta, parts, settings)
    lmc, supplies, inner_grads = trainer.method, [], []
    supply = lmc.supply_halo

    def recording(layer, h_inner, partial_halo):
        rows = supply(layer, h_inner, partial_halo)
        call = {"layer": layer, "step": lmc.step, "partial": partial_halo.detach().clone(),
                "history": rows.replaced.clone(), "used": rows.rows.detach().clone(),
                "grad_history": lmc.grad_history[layer].clone(), "alpha": lmc.alpha.clone()}
        rows.rows.register_hook(lambda grad: call.__setitem__("grad_used", grad.clone()))
        partial_halo.register_hook(lambda grad: call.__setitem__("grad_partial", grad.clone()))
        h_inner.register_hook(lambda grad: inner_grads.append((lmc.step, layer, grad.clone())))
        supplies.append(call)
        return rows

    lmc.supply_halo = recording
    rows = trainer.fit()
    return {"supplies": supplies, "inner_grads": inner_grads, "send_index": trainer.comm.send_index.clone(),
            "rows": rows}


@pytest.fixture(scope="module")
def lmc_supplies(tmp_path_factory):
    spec, meta, parts = hand_partition(tmp_path_factory.mktemp("hand"), HAND_EDGES, HAND_OWNER)
    settings = dict(method="lmc", epochs=4, hidden=4, layers=3, dropout=0.0, staleness_every=0, lr=0.05)
    return run_local(_lmc_supplies, 2, spec, meta, parts, settings)


def test_lmc_uses_alpha_times_the_in_partition_row_plus_the_rest_of_the_history(lmc_supplies):
    for result in lmc_supplies:
        assert len(result["supplies"]) == 4 * 2  # every step, both hidden layers
        for call in result["supplies"]:
            alpha = call["alpha"]
            torch.testing.assert_close(call["used"], alpha * call["partial"] + (1 - alpha) * call["history"])
            assert not torch.equal(call["used"], call["history"])  # the blend moved the rows


def test_lmc_compensates_the_halo_gradient_with_the_owners_last_gradient(lmc_supplies):
    """The in-partition rows receive α·g + (1 − α)·g_hist, with g the gradient of the rows used and g_hist the
    gradient the owner had for its inner row at the previous step (0 before the first push)."""
    compared = 0
    for rank, result in enumerate(lmc_supplies):
        owner = lmc_supplies[1 - rank]
        owner_grads = {(step, layer): grad for step, layer, grad in owner["inner_grads"]}
        for call in result["supplies"]:
            alpha, step, layer = call["alpha"], call["step"], call["layer"]
            expected_history = (owner_grads[(step - 1, layer)][owner["send_index"]] if step > 0
                                else torch.zeros_like(call["grad_history"]))
            torch.testing.assert_close(call["grad_history"], expected_history)
            torch.testing.assert_close(call["grad_partial"],
                                       alpha * call["grad_used"] + (1 - alpha) * call["grad_history"])
            compared += int(step > 0 and bool(call["grad_history"].abs().sum() > 0))
    assert compared > 0  # the owners' gradients did arrive and were used


def test_lmc_pushes_as_many_halo_gradient_bytes_as_exact_and_as_many_rows_as_gas(lmc_supplies):
    """GAS's rows and LMC's gradients are pushed at every step and booked when taken, one step later."""
    rows = lmc_supplies[0]["rows"]
    halo_rows = 3 + 3  # both ranks' halos
    per_step = halo_rows * 4 * 4 * 2  # width 4, float32, two hidden layers
    assert [row["halo_bytes"] for row in rows] == [0] + [per_step] * 3
    assert [row["halo_grad_bytes"] for row in rows] == [0] + [per_step] * 3


@pytest.mark.parametrize("model", ["gcn", "sage"])
def test_lmc_with_exact_in_partition_rows_uses_exact_rows(tmp_path, model):
    """On a bipartite graph split by side every input of every halo row is held where it is used, so α = 1 and the
    in-partition rows are exact: LMC's forward pass is exact's at every step (its first loss is exact's). Its weight
    gradient is not: the halo rows are computed with detached weights (the authors' ``MaskGCNConv``), so the terms
    of a peer's loss through a row this worker owns are missing, and the runs part after the first step."""
    edges, owner = bipartite_graph()
    spec, meta, parts = hand_partition(tmp_path, edges, owner, seed=1)
    settings = dict(model=model, epochs=5, hidden=8, layers=3, dropout=0.5, staleness_every=1)
    lmc_rows, _ = run_local(_fit, 2, spec, meta, parts, dict(settings, method="lmc"))[0]
    exact_rows, _ = run_local(_fit, 2, spec, meta, parts, dict(settings, method="exact"))[0]
    assert lmc_rows[0]["loss"] == pytest.approx(exact_rows[0]["loss"], abs=1e-5)
    assert all(layer["rel_error"] <= 1e-5 for row in lmc_rows for layer in row["staleness"])
    assert abs(lmc_rows[-1]["loss"] - exact_rows[-1]["loss"]) > 1e-5  # the weight gradients differ
    gas_rows, _ = run_local(_fit, 2, spec, meta, parts, dict(settings, method="gas"))[0]
    assert abs(gas_rows[-1]["loss"] - exact_rows[-1]["loss"]) > 1e-4  # the halo matters


def _lmc_weight_gradients(rank, world_size, spec, meta, parts, settings):
    """One LMC step; per layer and weight (biases apart), this worker's share of the gradient from its inner rows
    only and from every row its layers computed (inner and halo), by PyG's layer on the step's inputs with the
    step's weights, and the model's all-reduced gradient."""
    import copy

    trainer = _trainer(rank, world_size, spec, meta, parts, settings)
    before = copy.deepcopy(trainer.model)
    original, records = trainer.model.conv, []

    def recording(layer, h, graph):
        out = original(layer, h, graph)
        if graph is trainer.train_graph and torch.is_grad_enabled():
            record = {"layer": layer, "h": h.detach().clone()}
            out.register_hook(lambda grad: record.__setitem__("grad", grad.clone()))
            records.append(record)
        return out

    trainer.model.conv = recording
    trainer.train_epoch(1)
    graph, shares = trainer.train_graph, {}
    for record in records:
        conv = before.convs[record["layer"]]
        weights = {name: value for name, value in conv.named_parameters() if not name.endswith("bias")}
        args = (record["h"], graph.edge_index) + ((graph.edge_weight,) if settings["model"] == "gcn" else ())
        out = conv(*args)[: graph.num_targets]
        grad = record["grad"][: graph.num_targets]
        for rows, key in ((graph.num_inner, "inner"), (graph.num_targets, "all")):
            values = torch.autograd.grad(out[:rows], list(weights.values()), grad[:rows], retain_graph=True)
            for name, value in zip(weights, values):
                shares[(record["layer"], name, key)] = value
    actual = {(layer, name): value.grad.clone() for layer, conv in enumerate(trainer.model.convs)
              for name, value in conv.named_parameters() if not name.endswith("bias")}
    return shares, actual


@pytest.mark.parametrize("model", ["gcn", "sage", "gat"])
def test_lmcs_weight_gradient_comes_from_the_inner_rows_only(tmp_path, model):
    """The authors compute out-of-batch rows with detached weights (``MaskGCNConv``: ``out[batch_size:] @
    self.weight.detach()``), so the weight gradient is the in-batch rows' alone: summed over workers, the gradient of
    every layer's weights is what the inner rows' outputs give, not what the halo rows recomputed here add."""
    spec, meta, parts = hand_partition(tmp_path, HAND_EDGES, HAND_OWNER)
    settings = dict(method="lmc", model=model, epochs=1, hidden=4, heads=2, layers=3, dropout=0.0,
                    staleness_every=0)
    results = run_local(_lmc_weight_gradients, 2, spec, meta, parts, settings)
    actual = results[0][1]
    torch.testing.assert_close(results[1][1], actual)  # all-reduced: the same on every worker
    differs = 0
    for (layer, name), grad in actual.items():
        inner = sum(shares[(layer, name, "inner")] for shares, _ in results)
        every_row = sum(shares[(layer, name, "all")] for shares, _ in results)
        torch.testing.assert_close(grad, inner, rtol=1e-4, atol=1e-6, msg=f"layer {layer} {name}")
        differs += int(not torch.allclose(every_row, inner, rtol=1e-3, atol=1e-5))
    assert differs > 0  # the halo rows' share is not nothing: the old (live-weight) gradient fails this test


@pytest.mark.parametrize("model", ["gcn", "sage"])
def test_lmcs_live_halo_weights_give_the_weights_the_halo_rows_share_too(tmp_path, model):
    """-o halo_weights=live, the suite's form before it followed the authors (kept to measure what the difference
    moves): the halo rows recomputed with the live weights, so the weight gradient is every computed row's, inner and
    halo, summed over the workers that computed them."""
    spec, meta, parts = hand_partition(tmp_path, HAND_EDGES, HAND_OWNER)
    settings = dict(method="lmc", model=model, epochs=1, hidden=4, layers=3, dropout=0.0, staleness_every=0,
                    method_options={"halo_weights": "live"})
    results = run_local(_lmc_weight_gradients, 2, spec, meta, parts, settings)
    actual = results[0][1]
    for (layer, name), grad in actual.items():
        every_row = sum(shares[(layer, name, "all")] for shares, _ in results)
        torch.testing.assert_close(grad, every_row, rtol=1e-4, atol=1e-6, msg=f"layer {layer} {name}")


# -- REST -------------------------------------------------------------------------------------------------------------


def test_rest_refreshes_on_its_schedule_with_one_exact_forward_pass_of_traffic(tiny_meta):
    """τ = 5, refresh_every = 3, 10 epochs: DIGEST pulls at epochs 1 and 6; REST adds a refresh at 4, 7 and 10, each
    sending what one exact forward pass sends (every halo row of both hidden layers once), with its time in the
    epoch's; the rows used are exact at the first step of a refresh epoch."""
    settings = dict(epochs=10, method_options={"sync_period": 5})
    digest = fit_tiny(tiny_meta, "digest", **settings)
    rest = fit_tiny(tiny_meta, "rest", **dict(settings, method_options={"sync_period": 5, "refresh_every": 3}))
    exact_forward = 2 * sum(tiny_meta.partition["halo_sizes"]) * 8 * 4
    refreshes = [row["halo_bytes"] - base["halo_bytes"] for row, base in zip(rest, digest)]
    assert refreshes == [0, 0, 0, exact_forward, 0, 0, exact_forward, 0, 0, exact_forward]
    assert [row["halo_grad_bytes"] for row in rest] == [0] * 10
    assert [row["refresh_time_s"] > 0 for row in rest] == [bool(bytes_) for bytes_ in refreshes]
    assert all(row["epoch_time_s"] >= row["refresh_time_s"] for row in rest)
    for row in rest:
        layers = row["staleness"]
        if row["epoch"] in (4, 7, 10):
            assert all(layer["rel_error"] <= 1e-6 and layer["age_steps"] == 0 for layer in layers)
            assert all(layer["replaced_rel_error"] > 1e-3 for layer in layers)  # DIGEST's own rows were stale
        elif row["epoch"] in (1, 2, 3, 6):  # the base's own write is the latest: nothing replaced
            assert all(layer["rel_error"] == layer["replaced_rel_error"] for layer in layers)
    assert [row["loss"] for row in rest[:3]] == [row["loss"] for row in digest[:3]]  # same until the first refresh


def test_rest_refreshing_every_epoch_has_exact_rows_at_every_epoch_start(tiny_meta):
    """Epoch 1 reads the fill before training (exact rows of the same weights, dated before the first step); every
    later epoch the rows of its own refresh, exact at the epoch's first step and as old as the local step after it
    (the schedule measures each epoch at a seeded local step: several phases over the run)."""
    rest = fit_tiny(tiny_meta, "rest", method_options={"sync_period": 4, "refresh_every": 1})
    for row in rest:
        for layer in row["staleness"]:
            step = layer["local_step"]
            assert layer["age_steps"] == (step + 1 if row["epoch"] == 1 else step), row["epoch"]
            if step == 0:
                assert layer["rel_error"] <= 1e-6, row["epoch"]
    assert len({layer["local_step"] for row in rest for layer in row["staleness"]}) > 1
    digest = fit_tiny(tiny_meta, "digest", method_options={"sync_period": 4})
    assert all(layer["rel_error"] > 1e-3 for row in digest[1:] for layer in row["staleness"])  # what REST removes


def test_rest_refreshing_every_step_trains_on_exact_rows_at_every_step(tiny_meta):
    """refresh_steps = 1: a forward-only exact pass before every step but the first (whose rows are the fill, of the
    same weights), between DIGEST's local steps, so at dropout 0 the rows used are exact wherever the seeded schedule
    measures (every local step of an epoch, over the run), each refresh costing one exact forward pass of traffic.
    The epoch schedule cannot express it: its rows are stale after the epoch's first step."""
    settings = dict(epochs=6, method_options={"sync_period": 4})
    digest = fit_tiny(tiny_meta, "digest", **settings)
    rest = fit_tiny(tiny_meta, "rest", **dict(settings, method_options={"sync_period": 4, "refresh_steps": 1}))
    for row in rest:
        for layer in row["staleness"]:
            assert layer["rel_error"] <= 1e-6, (row["epoch"], layer["local_step"])
            first = row["epoch"] == 1 and layer["local_step"] == 0
            assert layer["age_steps"] == (1 if first else 0), (row["epoch"], layer["local_step"])
    assert {layer["local_step"] for row in rest for layer in row["staleness"]} == {0, 1, 2}
    exact_forward = 2 * sum(tiny_meta.partition["halo_sizes"]) * 8 * 4
    refreshes = [row["halo_bytes"] - base["halo_bytes"] for row, base in zip(rest, digest)]
    assert refreshes == [2 * exact_forward] + [3 * exact_forward] * 5  # steps 1, 2, then every step
    by_epoch = fit_tiny(tiny_meta, "rest", **dict(settings, method_options={"sync_period": 4, "refresh_every": 1}))
    assert any(layer["rel_error"] > 1e-3 for row in by_epoch for layer in row["staleness"] if layer["local_step"])


def test_rest_takes_one_refresh_schedule():
    from satbench.methods import get_method, resolve_options

    with pytest.raises(ConfigError, match="refresh_steps replaces refresh_every"):
        resolve_options(get_method("rest"), {"refresh_steps": 2, "refresh_every": 3})
    assert resolve_options(get_method("rest"), {"refresh_steps": 2})["refresh_steps"] == 2


# -- staleness weighting --------------------------------------------------------------------------------------------


class _FixedRows:
    """A method stub handing the seam given rows with given weights."""

    def __init__(self, rows, weight):
        self.rows, self.weight = rows, weight

    def supply_halo(self, layer, h_inner, partial_halo):
        return HaloRows(self.rows, age_epochs=2.0, weight=self.weight)


class _ExactComm:
    def __init__(self, exact):
        self.exact = exact
        self.position = Position()  # where training is, as the seam tells the communicator

    def exchange(self, h_inner, category="halo"):
        assert category == "control"
        return self.exact


def test_the_seam_hands_the_model_weighted_rows_and_measures_them_unweighted():
    rows = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])
    weight = torch.tensor([1.0, 0.5, 0.25])
    exact = rows + 0.1
    seam = HaloSeam(_FixedRows(rows, weight), _ExactComm(exact))
    seam.arm([exact])
    used = seam(1, torch.zeros(2, 2), torch.empty(0))
    torch.testing.assert_close(used, torch.tensor([[1.0, 2.0], [1.5, -0.5], [0.125, 0.125]]))
    measured = seam.take_measurement()[0][0]  # (per-layer sums, rows used): layer 1's sums
    assert measured["error_sq"] == pytest.approx(6 * 0.01)  # the rows as supplied, not as weighted
    control = HaloSeam(_FixedRows(rows, weight), _ExactComm(exact), halo="fresh")
    assert torch.equal(control(1, torch.zeros(2, 2), torch.empty(0)), exact)  # exact rows, weights dropped


@pytest.mark.parametrize("model", ["gcn", "sage"])
def test_a_weighted_halo_row_scales_exactly_its_message(tiny_meta, model):
    """For GCN and SAGE, scaling a halo row by w gives the layer output of the graph whose edges from that row carry
    w times their weight: only its messages change, inner ones never."""
    from satbench.models import LocalGraph, SparseAggregation, build_model

    part = load_part(tiny_meta.partition_dir, 0)
    graph = local_graph(part, model, torch.device("cpu"))
    net = build_model(model, 8, 3, 8, 2, 0.0)
    generator = torch.Generator().manual_seed(0)
    h = torch.randn(part.num_inner + part.num_halo, 8, generator=generator)
    weight = torch.rand(part.num_halo, generator=generator)
    weighted = net.conv(0, torch.cat([h[: part.num_inner], h[part.num_inner:] * weight.unsqueeze(1)]), graph)
    source = graph.edge_index[0]
    scale = torch.ones(source.numel())
    halo_edge = source >= part.num_inner
    scale[halo_edge] = weight[source[halo_edge] - part.num_inner]
    if model == "gcn":
        edge_weight = graph.edge_weight * scale
    else:  # SAGE's mean over in-neighbours, each edge weighted by 1 / in-degree
        degree = torch.bincount(graph.edge_index[1], minlength=graph.num_targets).float()
        edge_weight = scale / degree[graph.edge_index[1]]
    scaled = LocalGraph(graph.edge_index, graph.num_inner, graph.node_ids, edge_weight, graph.num_targets,
                        SparseAggregation(graph.edge_index, graph.num_targets, graph.num_rows, edge_weight))
    torch.testing.assert_close(weighted[: part.num_inner], net.conv(0, h, scaled)[: part.num_inner])


def _weights_per_step(rank, world_size, meta, settings):
    config = RunConfig(dataset=TINY_GRAPH, workers=world_size, progress=False, **settings).validate()
    trainer = Trainer(config, meta, load_part(meta.partition_dir, rank), torch.device("cpu"))
    method, weights = trainer.method, []
    supply = method.supply_halo

    def recording(layer, h_inner, partial_halo):
        supplied = supply(layer, h_inner, partial_halo)
        weights.append((method.step, layer, supplied.weight.clone(), supplied.rows.size(0)))
        return supplied

    method.supply_halo = recording
    trainer.fit()
    return weights


def test_staleness_weights_are_exp_of_minus_the_rows_age_over_lambda(tiny_meta):
    """DIGEST, τ = 2, 3 local steps per epoch: epochs 1-2 (steps 0-5) read the fill before training (step −1),
    epoch 3 (steps 6-8) the rows pushed at epoch 2's last step (step 5). A row's age is steps since / 3."""
    settings = dict(method="staleness-weighted", epochs=3, hidden=8, layers=3, dropout=0.0, staleness_every=0,
                    method_options={"sync_period": 2, "lambda": 4.0})
    for weights in run_local(_weights_per_step, 2, tiny_meta, settings):
        assert [step for step, layer, _, _ in weights] == [step for step in range(9) for _ in (1, 2)]
        for step, layer, weight, rows in weights:
            age = (step + 1) / 3 if step <= 5 else (step - 5) / 3
            assert weight.tolist() == pytest.approx([math.exp(-age / 4.0)] * rows), (step, layer)


@pytest.mark.parametrize("method, base", [("staleness-weighted", "digest"), ("staleness-weighted+gas", "gas")])
def test_staleness_weighting_with_a_huge_lambda_is_its_base(tiny_meta, method, base):
    options = {"sync_period": 2} if base == "digest" else {}
    weighted = fit_tiny(tiny_meta, method, dropout=0.3, method_options={**options, "lambda": 1e30})
    own = fit_tiny(tiny_meta, base, dropout=0.3, method_options=options)
    assert without_timings(weighted) == without_timings(own)
    lighter = fit_tiny(tiny_meta, method, dropout=0.3, method_options={**options, "lambda": 1.0})
    assert scores(lighter) != scores(own)  # a finite λ does change training


@pytest.mark.parametrize("method, base", [("staleness-weighted", "digest"), ("staleness-weighted+gas", "gas"),
                                          ("rest", "digest")])
def test_a_control_that_is_its_bases_trains_as_the_bases_control(tiny_meta, method, base):
    """Weights are dropped, and refreshed rows replaced, under the control: it trains as the base's control does,
    while the method's own traffic (REST's refreshes) is still sent and counted."""
    options = {"sync_period": 2} if base == "digest" else {}
    control = fit_tiny(tiny_meta, method, halo="fresh", method_options=options)
    base_control = fit_tiny(tiny_meta, base, halo="fresh", method_options=options)
    own = fit_tiny(tiny_meta, method, method_options=options)
    assert scores(control) == scores(base_control)
    for row, own_row in zip(control, own):
        assert row["control_bytes"] > 0 and own_row["control_bytes"] == 0
        assert (row["halo_bytes"], row["halo_grad_bytes"], row["reduce_bytes"]) == \
            (own_row["halo_bytes"], own_row["halo_grad_bytes"], own_row["reduce_bytes"])
        assert all(layer["rel_error"] <= 1e-6 for layer in row["staleness"])


def test_lmcs_control_keeps_its_own_traffic_and_is_not_gas_control(tiny_meta):
    control = fit_tiny(tiny_meta, "lmc", halo="fresh")
    own = fit_tiny(tiny_meta, "lmc")
    gas_control = fit_tiny(tiny_meta, "gas", halo="fresh")
    for row, own_row in zip(control, own):
        assert row["control_bytes"] > 0 and own_row["control_bytes"] == 0
        assert (row["halo_bytes"], row["halo_grad_bytes"]) == (own_row["halo_bytes"], own_row["halo_grad_bytes"])
        assert all(layer["rel_error"] <= 1e-6 for layer in row["staleness"])
    assert sum(row["halo_grad_bytes"] for row in own) > 0
    assert scores(control) != scores(gas_control)  # its gradient path is its own: it needs its own control


def test_staleness_weighting_refuses_gat():
    from satbench.errors import ConfigError

    with pytest.raises(ConfigError, match="staleness-weighted\\+gas.*gcn or sage"):
        RunConfig(dataset=TINY_GRAPH, method="staleness-weighted+gas", model="gat").validate()


# -- real worker processes ------------------------------------------------------------------------------------------


@pytest.mark.multiprocess
@pytest.mark.parametrize("method", ["lmc", "rest", "staleness-weighted", "staleness-weighted+gas"])
def test_each_method_runs_in_worker_processes_with_staleness_and_traffic_in_its_record(tmp_path, method):
    options = {"sync_period": 2} if method in ("rest", "staleness-weighted") else {}
    config = RunConfig(dataset=TINY_GRAPH, method=method, workers=2, epochs=4, hidden=8, dropout=0.0,
                       staleness_every=1, cache_dir=str(tmp_path / "cache"), progress=False, method_options=options)
    launch(config.validate(), tmp_path / "run.json")
    record = load_record(tmp_path / "run.json")
    base = {"lmc": "gas", "staleness-weighted+gas": "gas"}.get(method, "digest")
    described = {key: record["method"][key] for key in ("name", "family", "base", "shares_base_control", "halo")}
    assert described == {"name": method, "family": "alleviation", "base": base,
                         "shares_base_control": method != "lmc", "halo": "method"}
    for row in record["epochs"]:
        assert all(layer["rel_error"] is not None for layer in row["staleness"])
        # A method that replaces rows reports the stale copy it replaced; weighting replaces none.
        assert ("replaced_rel_error" in row["staleness"][0]) == (not method.startswith("staleness-weighted"))
        assert row["comm_bytes"] == sum(row[key] for key in BYTE_FIELDS)
    assert sum(row["halo_bytes"] for row in record["epochs"]) > 0
    assert (sum(row["halo_grad_bytes"] for row in record["epochs"]) > 0) == (method == "lmc")
    assert record["summary"]["mean_staleness"] is not None
