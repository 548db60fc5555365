"""SAT: the predictor, its isolation from the GNN's gradients, and the variants' guarantees."""

import math

import pytest
import torch
import torch.nn.functional as F

from fakecomm import run_local
from runs import TINY_GRAPH
from satbench.config import RunConfig
from satbench.runtime.launch import prepare
from satbench.errors import ConfigError
from satbench.halo import as_halo_rows
from satbench.partition import load_part
from satbench.sat import EmbeddingPredictor, PredictorGraph, fit_damping
from satbench.train import Trainer

NUM_INNER, NUM_HALO, WIDTH, WINDOW = 30, 40, 16, 4


def trajectory(kind: str, base: torch.Tensor, drift: torch.Tensor, t: int) -> torch.Tensor:
    """Halo embeddings at time ``t``: a straight line, or a rotation in pairs of coordinates."""
    if kind == "linear":
        return base + t * drift
    angle = 0.05 * t
    first, second = base[:, : WIDTH // 2], base[:, WIDTH // 2:]
    return torch.cat([math.cos(angle) * first - math.sin(angle) * second,
                      math.sin(angle) * first + math.cos(angle) * second], dim=1)


def test_predictor_graph_equals_pyg_gcn_over_edge_index():
    """The predictor's sparse propagation (batched windows, halo rows only in its last layer) computes what PyG's
    GCNConv computes over the edge list, window by window."""
    generator = torch.Generator().manual_seed(3)
    cut = torch.stack([torch.randint(NUM_INNER, NUM_INNER + NUM_HALO, (80,), generator=generator),
                       torch.randint(0, NUM_INNER, (80,), generator=generator)])
    inside = torch.randint(0, NUM_INNER, (2, 60), generator=generator)
    inside = inside[:, inside[0] != inside[1]]
    edge_index = torch.cat([inside, inside.flip(0), cut, cut.flip(0)], dim=1)
    torch.manual_seed(2)
    predictor = EmbeddingPredictor(WIDTH, residual=False)
    windows = torch.randn(3, NUM_HALO, WINDOW, WIDTH, generator=generator)
    inner = torch.randn(NUM_INNER, WIDTH, generator=generator)
    got = predictor.forward_batch(windows, inner, PredictorGraph(edge_index, NUM_INNER, NUM_INNER + NUM_HALO))
    for b in range(3):
        _, (hidden, _) = predictor.lstm(windows[b])
        h = torch.cat([inner, hidden[-1]])
        h = F.relu(predictor.conv1(h, edge_index))
        expected = predictor.conv2(h, edge_index)[NUM_INNER:]
        torch.testing.assert_close(got[b], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["linear", "rotating"])
def test_residual_predictor_learns_smooth_drift_online(kind):
    """After online training (20 Adam steps at each sync), predicting each new snapshot from the window, before
    training on it, beats reusing the latest snapshot by a wide margin. (The faithful, non-residual predictor does not: its LSTM state is
    bounded, and with these settings its error stays ~10x the stale copy's; see the README's SAT section.)"""
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(NUM_HALO, WIDTH, generator=generator)
    drift = 0.05 * torch.randn(NUM_HALO, WIDTH, generator=generator)
    cut = torch.stack([torch.randint(NUM_INNER, NUM_INNER + NUM_HALO, (80,), generator=generator),
                       torch.randint(0, NUM_INNER, (80,), generator=generator)])
    graph = PredictorGraph(torch.cat([cut, cut.flip(0)], dim=1), NUM_INNER, NUM_INNER + NUM_HALO)
    inner = torch.zeros(NUM_INNER, WIDTH)
    torch.manual_seed(1)
    predictor = EmbeddingPredictor(WIDTH, residual=True)
    optimizer = torch.optim.Adam(predictor.parameters(), lr=0.01)
    snapshots = [trajectory(kind, base, drift, t) for t in range(40)]
    predicted, stale = [], []
    for t in range(WINDOW, 40):
        window = snapshots[t - WINDOW:t]
        if t >= 30:  # online evaluation: predict the new snapshot before training on it
            with torch.no_grad():
                predicted.append(float((predictor(window, inner, graph) - snapshots[t]).norm()))
            stale.append(float((window[-1] - snapshots[t]).norm()))
        for _ in range(20):
            optimizer.zero_grad()
            F.mse_loss(predictor(window, inner, graph), snapshots[t]).backward()
            optimizer.step()
    assert sum(predicted) < 0.6 * sum(stale), (predicted, stale)


def test_damping_measures_how_much_of_the_last_change_repeats():
    before = torch.randn(NUM_HALO, WIDTH, generator=torch.Generator().manual_seed(3))
    change = torch.randn(NUM_HALO, WIDTH, generator=torch.Generator().manual_seed(4))
    assert fit_damping(before, before + change, before + 2 * change) == pytest.approx(1.0)  # steady drift
    assert fit_damping(before, before + change, before + 1.6 * change) == pytest.approx(0.6)  # slowing down
    assert fit_damping(before, before + change, before + 3 * change) == 1.0  # never extrapolates beyond the trend
    assert fit_damping(before, before + change, before) == 0.0  # a reversal: keep the latest snapshot
    assert fit_damping(before, before, before + change) == 0.0  # no previous change


def _record_supplies(rank, world_size, meta, method, options, epochs):
    """Train with ``method`` and record, at every halo supply: the stale rows, the used rows, and the gate."""
    part = load_part(meta.partition_dir, rank)
    config = RunConfig(dataset=TINY_GRAPH, method=method, workers=world_size, epochs=epochs, hidden=8, dropout=0.0,
                       staleness_every=0, progress=False, method_options=options)
    trainer = Trainer(config, meta, part, torch.device("cpu"))
    method_object, calls = trainer.method, []
    base_supply = method_object.base.supply_halo

    def recording_base(layer, h_inner, partial):
        stale = base_supply(layer, h_inner, partial)
        calls.append({"stale": as_halo_rows(stale).rows.detach().clone()})
        return stale

    method_object.base.supply_halo = recording_base
    sat_supply = method_object.supply_halo

    def recording_sat(layer, h_inner, partial):
        used = sat_supply(layer, h_inner, partial)
        state = method_object.layers[layer]
        calls[-1].update(used=used.rows.detach().clone(), requires_grad=used.rows.requires_grad,
                         epoch=method_object.epoch,
                         gate=None if state.gate_errors is None else tuple(e.clone() for e in state.gate_errors),
                         owner=method_object.halo_owner.clone())
        return used

    method_object.supply_halo = recording_sat
    trainer.fit()
    grads = [p.grad for predictor, _ in method_object.predictors.values() for p in predictor.parameters()]
    return {"calls": calls, "predictor_grads_after_gnn_step": grads}


@pytest.fixture(scope="module")
def two_worker_meta(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return prepare(RunConfig(dataset=TINY_GRAPH, workers=2, cache_dir=str(cache)))


def test_predicted_rows_carry_no_gradient_into_the_predictor(two_worker_meta):
    results = run_local(_record_supplies, 2, two_worker_meta, "sat", {"sync_period": 2}, 5)
    for result in results:
        assert result["calls"] and not any(call["requires_grad"] for call in result["calls"])
        # The predictor's last Adam step cleared its gradients; the GNN's later backward passes added none.
        assert all(grad is None for grad in result["predictor_grads_after_gnn_step"])


def test_untrained_residual_predictor_reproduces_digest(two_worker_meta):
    """Before its first training (the second sync), a residual predictor hands back exactly DIGEST's rows."""
    results = run_local(_record_supplies, 2, two_worker_meta, "sat", {"sync_period": 3, "residual": True}, 3)
    for result in results:
        assert result["calls"]  # a supply at every step (no vacuous pass)
        for call in result["calls"]:
            assert torch.equal(call["used"], call["stale"])


def test_gated_sat_never_uses_a_prediction_that_lost_to_the_stale_copy(two_worker_meta):
    options = {"sync_period": 2, "gated": True, "predictor_steps": 2}
    results = run_local(_record_supplies, 2, two_worker_meta, "sat", options, 12)
    checked = 0
    for result in results:
        for call in result["calls"]:
            if call["gate"] is None:  # no evidence yet: the stale copy is used everywhere
                assert torch.equal(call["used"], call["stale"])
                continue
            predicted_error, stale_error = call["gate"]
            for peer in torch.nonzero(predicted_error >= stale_error).flatten().tolist():
                rows = call["owner"] == peer
                assert torch.equal(call["used"][rows], call["stale"][rows])
                checked += 1
    assert checked > 0  # the faithful predictor loses to the stale copy at least once here


def _rows(rank, world_size, meta, method, options, epochs):
    config = RunConfig(dataset=TINY_GRAPH, method=method, workers=world_size, epochs=epochs, hidden=8, dropout=0.0,
                       staleness_every=1, progress=False, method_options=options)
    return Trainer(config.validate(), meta, load_part(meta.partition_dir, rank), torch.device("cpu")).fit()


def test_sat_records_its_staleness_next_to_the_stale_copy_and_its_cost(two_worker_meta):
    """Every measured row holds the error of the rows SAT used and of the stale copy it replaced, and the
    predictor's loss. The stale copy is DIGEST's: at the first step (same initial weights) its error is DIGEST's own,
    zero, since the rows were pulled exactly then. The faithful predictor's rows differ from the stale copy, and it
    trains only at a sync with two snapshots in its window (τ = 2: syncs at epochs 1 and 3)."""
    options = {"sync_period": 2}
    sat = run_local(_rows, 2, two_worker_meta, "sat", options, 4)[0]
    digest = run_local(_rows, 2, two_worker_meta, "digest", options, 4)[0]
    assert sat[0]["staleness"][0]["replaced_rel_error"] == pytest.approx(digest[0]["staleness"][0]["rel_error"],
                                                                         abs=1e-6)
    assert digest[0]["staleness"][0]["rel_error"] <= 1e-6
    assert all(row["staleness"][0]["replaced_rel_error"] > 0 for row in sat[1:])  # stale from the second epoch
    for row in sat:
        layer = row["staleness"][0]
        assert abs(layer["rel_error"] - layer["replaced_rel_error"]) > 1e-3, row["epoch"]
    assert [row["predictor_loss"] > 0 for row in sat] == [False, False, True, False]


def _record_owner_evidence(rank, world_size, meta, options, epochs):
    """Train sat-plus and record, in order, what the owners sent at the first step of each epoch (with what the
    receiver would have computed itself against the owners' current rows, fetched by an exact exchange) and, at every
    supply, the rows used, the stale copy, and whether a sync happened."""
    part = load_part(meta.partition_dir, rank)
    config = RunConfig(dataset=TINY_GRAPH, method="sat-plus", workers=world_size, epochs=epochs, hidden=8,
                       dropout=0.0, staleness_every=0, progress=False, method_options=options)
    trainer = Trainer(config, meta, part, torch.device("cpu"))
    sat, comm = trainer.method, trainer.method.comm
    events = []

    base_evidence = sat._owners_evidence

    def recording_evidence(layer, mine):
        received = base_evidence(layer, mine)
        state = sat.layers[layer]
        # the owners' rows at the current weights, as an exact exchange would deliver them
        current = comm.exchange_rows(mine, comm.send_counts, comm.halo_counts, "measure")
        expected = torch.zeros(world_size, 3, dtype=torch.float64)
        if len(state.window) >= 2 and state.fresh_at[0] > 0:
            change = (state.window[-1] - state.window[-2]).double()
            fraction = sat._time_fraction(layer)
            gap = (current - state.window[-1]).double()
            expected.index_add_(0, sat.halo_owner, torch.stack([gap.pow(2).sum(1), fraction * (gap * change).sum(1),
                                                                fraction ** 2 * change.pow(2).sum(1)], dim=1))
        events.append({"kind": "evidence", "layer": layer, "received": received.double(), "expected": expected,
                       "damping": state.damping})
        return received

    sat._owners_evidence = recording_evidence
    base_supply = sat.supply_halo

    def recording_supply(layer, h_inner, partial):
        synced_before = sat.layers[layer].fresh_at
        position = len(events)
        used = base_supply(layer, h_inner, partial)
        state = sat.layers[layer]
        # the supply's own evidence (first step of an epoch) comes after its rows were chosen
        events.insert(position, {"kind": "supply", "layer": layer, "used": used.rows.detach().clone(),
                                 "stale": sat.base.history.read(layer).clone(), "owner": sat.halo_owner.clone(),
                                 "synced": state.fresh_at != synced_before, "damping": state.damping})
        return used

    sat.supply_halo = recording_supply
    trainer.fit()
    return events


def _trend_beats_stale(evidence, damping, margin):
    stale, cross, trend = evidence.unbind(1)
    return (stale > 0) & (stale - 2 * damping * cross + damping ** 2 * trend < margin * stale)


@pytest.fixture(scope="module")
def owner_check_events(two_worker_meta):
    return run_local(_record_owner_evidence, 2, two_worker_meta, {"sync_period": 3}, 16)


def test_owner_check_evidence_is_what_the_receiver_would_see_against_the_owners_current_rows(owner_check_events):
    """The three numbers an owner sends each epoch equal the sums a receiver would get if it could compare the rows
    it holds, and the trend from them, with the owner's rows at the current weights: so the owner's window of sent
    rows is the receiver's window, and both use the same time fraction."""
    compared = 0
    for events in owner_check_events:
        for event in events:
            if event["kind"] == "evidence":
                torch.testing.assert_close(event["received"], event["expected"], rtol=1e-4, atol=1e-5)
                compared += int(event["expected"][:, 0].gt(0).sum())
    assert compared > 0  # some epochs had evidence to compare


def test_owner_check_never_uses_a_prediction_its_owner_did_not_approve(owner_check_events):
    """Replays the rule from the recorded evidence: an owner's prediction may be used only after a sync whose period
    sums showed the trend beating the stale copy by the margin (squared error < 0.8 × the stale copy's), and not after
    an epoch whose evidence showed it losing by as much (squared error ≥ the stale copy's / 0.8)."""
    refused = vetoed = 0
    for events in owner_check_events:
        period, allowed = {}, {}
        for event in events:
            layer = event["layer"]
            period.setdefault(layer, torch.zeros(2, 3, dtype=torch.float64))
            allowed.setdefault(layer, torch.zeros(2, dtype=torch.bool))
            if event["kind"] == "evidence":
                period[layer] += event["received"]
                still = allowed[layer] & _trend_beats_stale(event["received"], event["damping"], 1 / 0.8)
                vetoed += int((allowed[layer] & ~still).sum())
                allowed[layer] = still
                continue
            if event["synced"]:
                allowed[layer] = _trend_beats_stale(period[layer], event["damping"], 0.8)
                period[layer] = torch.zeros(2, 3, dtype=torch.float64)
            for peer in torch.nonzero(~allowed[layer]).flatten().tolist():
                rows = event["owner"] == peer
                assert torch.equal(event["used"][rows], event["stale"][rows])
                refused += int(rows.any())
    assert refused > 0 and vetoed > 0  # both rules were exercised


def test_owner_check_needs_the_gate_and_the_trend():
    with pytest.raises(ConfigError, match="owner_check.*needs gated=true and extrapolate=true"):
        RunConfig(dataset=TINY_GRAPH, method="sat", method_options={"owner_check": True}).validate()


def test_predictor_lstm_in_recomputed_blocks_gives_the_same_rows_and_gradients():
    """Blocks (recomputed under autograd) are a memory layout only: outputs, with and without autograd, and parameter
    gradients equal the single-pass LSTM's."""
    generator = torch.Generator().manual_seed(5)
    cut = torch.stack([torch.randint(NUM_INNER, NUM_INNER + NUM_HALO, (80,), generator=generator),
                       torch.randint(0, NUM_INNER, (80,), generator=generator)])
    graph = PredictorGraph(torch.cat([cut, cut.flip(0)], dim=1), NUM_INNER, NUM_INNER + NUM_HALO)
    windows = torch.randn(2, NUM_HALO, WINDOW, WIDTH, generator=generator)
    inner = torch.randn(NUM_INNER, WIDTH, generator=generator)
    torch.manual_seed(4)
    predictor = EmbeddingPredictor(WIDTH, residual=False)
    results = []
    for block in (10**9, 7):  # one pass; blocks of 7 sequences (NUM_HALO x 2 windows is not a multiple of 7)
        predictor.LSTM_BLOCK = block
        predictor.zero_grad()
        out = predictor.forward_batch(windows, inner, graph)
        out.square().sum().backward()
        results.append((out.detach(), [p.grad.clone() for p in predictor.parameters()]))
    (out_one, grads_one), (out_blocks, grads_blocks) = results
    torch.testing.assert_close(out_blocks, out_one)
    with torch.no_grad():  # the prediction path: blocks without recomputation
        torch.testing.assert_close(predictor.forward_batch(windows, inner, graph), out_one)
    for one, blocks in zip(grads_one, grads_blocks):
        torch.testing.assert_close(blocks, one)
