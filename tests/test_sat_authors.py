"""SAT in its authors' form (Ziyang-Yu/SAT-DIGEST), each difference from the paper's rule an option: what fills the
window (``window_push=forward``), the predictor's graph (``predictor_graph=authors``), its inner rows
(``predictor_input=lstm``) and its gradients (``predictor_grad=accumulate``). Each test states the authors' rule on its
own and holds the method to it; the defaults keep the paper's rule."""

import copy
import io

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv

from fakecomm import run_local
from runs import TINY_GRAPH, without_timings
from satbench.config import RunConfig
from satbench.halo import as_halo_rows
from satbench.methods import get_method
from satbench.partition import load_part
from satbench.runtime.launch import prepare
from satbench.sat import EmbeddingPredictor, PredictorGraph
from satbench.train import Trainer

AUTHORS = {"window_push": "forward", "predictor_graph": "authors", "predictor_input": "lstm",
           "predictor_grad": "accumulate"}
K = 4  # the authors' window: `while len(hist) > 3: pop(0)`, then push


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def meta(cache):  # two workers: one peer, every halo row from it
    return prepare(RunConfig(dataset=TINY_GRAPH, workers=2, cache_dir=cache))


@pytest.fixture(scope="module")
def meta3(cache):  # three workers: halo rows from two owners, so halo-to-halo edges cross owners too
    return prepare(RunConfig(dataset=TINY_GRAPH, workers=3, cache_dir=cache))


def _trainer(rank, world_size, meta, options, epochs, **settings):
    settings = {"hidden": 8, "dropout": 0.0, "staleness_every": 0, **settings}
    config = RunConfig(dataset=TINY_GRAPH, method="sat", workers=world_size, epochs=epochs, progress=False,
                       method_options=options, **settings)
    return Trainer(config.validate(), meta, load_part(meta.partition_dir, rank), torch.device("cpu"))


def _record(rank, world_size, meta, options, epochs):
    """Train, recording at every forward pass (one hidden layer: one supply per pass) the held halo copy the base
    supplied, the window after the pass, and, at each predictor step, its parameters and gradients."""
    trainer = _trainer(rank, world_size, meta, options, epochs)
    method, passes, steps = trainer.method, [], []
    base_supply, sat_supply = method.base.supply_halo, method.supply_halo

    def recording_base(layer, h_inner, partial):
        supplied = base_supply(layer, h_inner, partial)
        passes.append({"held": as_halo_rows(supplied).rows.detach().clone()})
        return supplied

    def recording_sat(layer, h_inner, partial):
        used = sat_supply(layer, h_inner, partial)
        window = [rows.clone() for rows in method.layers[layer].window]
        with torch.no_grad():  # what the predictor, as it is now, makes of that window (zero inner rows)
            inner = torch.zeros(method.graph.num_inner, window[-1].size(1))
            predicted = method.predictors["shared"][0](window, inner, method.graph)
        passes[-1].update(window=window, used=as_halo_rows(used).rows.detach().clone(), predicted=predicted)
        return used

    method.base.supply_halo, method.supply_halo = recording_base, recording_sat
    predictor, optimizer = method.predictors["shared"]
    optimizer_step = optimizer.step

    def recording_step(*args, **kwargs):
        steps.append({"pass": len(passes) - 1,
                      "parameters": [p.detach().clone() for p in predictor.parameters()],
                      "grads": [p.grad.clone() for p in predictor.parameters()]})
        return optimizer_step(*args, **kwargs)

    optimizer.step = recording_step
    trainer.fit()
    return {"passes": passes, "steps": steps, "predictor": predictor, "graph": method.graph}


# -- the window ------------------------------------------------------------------------------------------------------

def _authors_window(held_copies: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """What the authors' History_Series holds after each forward pass (digest/models/gcn.py): before the predictor
    runs, `while len(hist) > 3: hist.pop(0)`, then `hist.push(his_data[i].clone())`."""
    window, after_each = [], []
    for held in held_copies:
        while len(window) > K - 1:
            window.pop(0)
        window.append(held)
        after_each.append(list(window))
    return after_each


def _same(window, expected) -> bool:
    return len(window) == len(expected) and all(torch.equal(a, b) for a, b in zip(window, expected))


def test_authors_window_holds_what_their_code_holds_after_every_forward_pass(meta):
    """DIGEST underneath (3 local steps per epoch, a pull every 2 epochs): after each pass the window is the
    authors' list after that many pushes. So a sync's first pass sees the previous copy three times and the new one
    once, and from the fourth pass after it on, four copies of the new one."""
    options = {"sync_period": 2, "window_push": "forward"}
    for result in run_local(_record, 2, meta, options, 8):
        passes = result["passes"]
        expected = _authors_window([call["held"] for call in passes])
        for index, (call, window) in enumerate(zip(passes, expected)):
            assert _same(call["window"], window), index
            # the pass's rows are predicted from the window with its own copy in it, as the authors push first
            torch.testing.assert_close(call["used"], call["predicted"], rtol=1e-5, atol=1e-6)
        syncs = [i for i in range(1, len(passes)) if not torch.equal(passes[i]["held"], passes[i - 1]["held"])]
        assert len(syncs) >= 2  # pulls at epochs 3, 5 and 7
        old, new = passes[syncs[0] - 1]["held"], passes[syncs[0]]["held"]
        for after in range(K):
            assert _same(passes[syncs[0] + after]["window"], [old] * (K - 1 - after) + [new] * (after + 1))
        assert all(_same(passes[i]["window"], [passes[i]["held"]] * K) for i in range(syncs[0] + K - 1, syncs[1]))


def test_default_window_holds_the_last_distinct_snapshots_one_per_sync(meta):
    """The paper's rule, the default: one entry per sync, so the window holds the last K distinct held copies (the
    fill before training, then each pulled snapshot), never a repeated one."""
    for result in run_local(_record, 2, meta, {"sync_period": 2}, 12):
        snapshots = []
        for call in result["passes"]:
            if not snapshots or not torch.equal(call["held"], snapshots[-1]):
                snapshots.append(call["held"])
            assert _same(call["window"], snapshots[-K:])
        assert len(snapshots) > K  # the window has slid


# -- the predictor's graph and its inner rows -----------------------------------------------------------------------

def _graphs(rank, world_size, meta, options):
    graph = _trainer(rank, world_size, meta, options, 1).method.graph
    return graph.all_rows.adjacency.to_dense(), graph.halo_rows.adjacency.to_dense()


def _induced_subgraph(meta, rank, world_size) -> tuple[torch.Tensor, int]:
    """The full graph's edges (each ends at an inner row of exactly one part) restricted to one worker's rows, as a
    dense [target, source] count matrix over its local rows, self loops left out; and its number of inner rows."""
    parts = [load_part(meta.partition_dir, r) for r in range(world_size)]
    edges = torch.cat([part.local_nodes[part.edge_index] for part in parts], dim=1)
    nodes = parts[rank].local_nodes
    local = torch.full((int(max(p.local_nodes.max() for p in parts)) + 1,), -1, dtype=torch.long)
    local[nodes] = torch.arange(nodes.numel())
    source, target = local[edges[0]], local[edges[1]]
    keep = (source >= 0) & (target >= 0) & (source != target)
    dense = torch.zeros(nodes.numel(), nodes.numel())
    dense.index_put_((target[keep], source[keep]), torch.ones(int(keep.sum())), accumulate=True)
    return dense, parts[rank].num_inner


def test_authors_graph_is_the_unnormalised_induced_subgraph_with_halo_to_halo_edges_and_self_loops(meta3):
    """predictor_graph=authors sums, with weight 1, over every edge of the full graph between two of the worker's
    rows, halo-to-halo edges included, plus a self loop on every row (the authors' GCN(normalize=False) over their
    loader's subgraph with self loops). The default holds no halo-to-halo edge and normalises."""
    authors = run_local(_graphs, 3, meta3, {"predictor_graph": "authors"})
    default = run_local(_graphs, 3, meta3, {})
    halo_to_halo = 0
    for rank in range(3):
        induced, num_inner = _induced_subgraph(meta3, rank, 3)
        expected = induced + torch.eye(induced.size(0))
        all_rows, halo_rows = authors[rank]
        assert torch.equal(all_rows, expected)
        assert torch.equal(halo_rows, expected[num_inner:])
        halo_to_halo += int(induced[num_inner:, num_inner:].sum())
        default_rows, _ = default[rank]
        halo_block = default_rows[num_inner:, num_inner:]
        assert not (halo_block - torch.diag(halo_block.diagonal())).any()  # the default: self loops only
        assert (default_rows[default_rows != 0] < 1).all()  # normalised: every weight below 1
    assert halo_to_halo > 0  # the partition has some


def test_authors_predictor_is_their_lstm_then_unnormalised_gcn_with_inner_zero_sequences():
    """predictor_input=lstm with the authors' graph computes their LSTM_GCN: every row's window (zero rows for the
    inner nodes) through the LSTM from a zero state, its last hidden state through PyG's 2-layer GCN with
    normalize=False and ReLU between."""
    num_inner, num_halo, width = 12, 9, 6
    generator = torch.Generator().manual_seed(5)
    edges = torch.randint(0, num_inner + num_halo, (2, 50), generator=generator)
    edges = edges[:, edges[0] != edges[1]]
    edges = torch.cat([edges, edges.flip(0)], dim=1)
    window = [torch.randn(num_halo, width, generator=generator) for _ in range(K)]
    torch.manual_seed(0)
    predictor = EmbeddingPredictor(width, residual=False)
    got = predictor(window, None, PredictorGraph(edges, num_inner, num_inner + num_halo, normalise=False))

    sequences = torch.cat([torch.zeros(num_inner, K, width), torch.stack(window, dim=1)])
    _, (hidden, _) = predictor.lstm(sequences)
    loops = torch.arange(num_inner + num_halo)
    with_loops = torch.cat([edges, torch.stack([loops, loops])], dim=1)
    convs = [GCNConv(width, width, normalize=False) for _ in range(2)]
    for conv, trained in zip(convs, (predictor.conv1, predictor.conv2)):
        conv.load_state_dict(trained.state_dict())
    expected = convs[1](F.relu(convs[0](hidden[-1], with_loops)), with_loops)[num_inner:]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


# -- the predictor's gradients --------------------------------------------------------------------------------------

def _sync_gradients(result) -> list[list[torch.Tensor]]:
    """Each predictor step's own loss gradient, recomputed at the parameters it was taken at: the MSE between the
    prediction from the window before the sync (zero inner rows) and the copy pulled at the sync."""
    passes, gradients = result["passes"], []
    for step in result["steps"]:
        predictor = copy.deepcopy(result["predictor"])
        with torch.no_grad():
            for parameter, value in zip(predictor.parameters(), step["parameters"]):
                parameter.copy_(value)
        predictor.zero_grad(set_to_none=True)
        window, target = passes[step["pass"] - 1]["window"], passes[step["pass"]]["held"]
        inner = torch.zeros(result["graph"].num_inner, target.size(1))
        F.mse_loss(predictor(window, inner, result["graph"]), target).backward()
        gradients.append([parameter.grad for parameter in predictor.parameters()])
    return gradients


@pytest.mark.parametrize("form", ["zero", "accumulate"])
def test_predictor_steps_follow_their_syncs_loss_or_the_sum_of_all_so_far(meta, form):
    """predictor_grad=zero (the default): each step follows the gradient of its own sync's loss. accumulate (the
    authors' code, which never zeroes the predictor's optimiser): the sum of the gradients of every sync's loss so
    far."""
    for result in run_local(_record, 2, meta, {"sync_period": 2, "predictor_grad": form}, 8):
        own = _sync_gradients(result)
        assert len(own) == 3  # syncs at epochs 3, 5 and 7
        for index, step in enumerate(result["steps"]):
            expected = [sum(grads[i] for grads in own[:index + 1]) if form == "accumulate" else own[index][i]
                        for i in range(len(own[index]))]
            for got, want in zip(step["grads"], expected):
                torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
        accumulated = all(p.grad is not None for p in result["predictor"].parameters())
        assert accumulated == (form == "accumulate")  # the default frees them after each sync


# -- the authors' form as one run ------------------------------------------------------------------------------------

class _MemoryStore:
    def __init__(self, saved: dict[int, bytes] | None = None, epoch: int | None = None):
        self.saved: dict[int, bytes] = {}
        self.resume = saved[epoch] if saved is not None else None

    def load(self):
        return None if self.resume is None else torch.load(io.BytesIO(self.resume), weights_only=True)

    def save(self, epoch, state):
        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.saved[epoch] = buffer.getvalue()


def _fit(rank, world_size, meta, stores):
    trainer = _trainer(rank, world_size, meta, {"sync_period": 3, **AUTHORS}, 7, layers=3, staleness_every=2,
                       checkpoint_every=2 if stores is not None else 0)
    return trainer.fit(checkpoints=stores[rank] if stores is not None else None)


def test_authors_form_resumes_from_a_checkpoint_as_the_uninterrupted_run(meta3):
    """With every option at the authors' form (3 layers: one predictor for two layers), a run resumed after epoch 4,
    mid-period, yields the uninterrupted run's record: the accumulated gradients and the repeated window entries
    come back from the checkpoint."""
    plain = run_local(_fit, 3, meta3, None)
    stores = [_MemoryStore() for _ in range(3)]
    run_local(_fit, 3, meta3, stores)
    resumed = run_local(_fit, 3, meta3, [_MemoryStore(store.saved, 4) for store in stores])
    for rank in range(3):
        assert without_timings(resumed[rank]) == without_timings(plain[rank]), rank
    assert any(row["predictor_loss"] > 0 for row in plain[0][4:])  # it trained after the resume point


def test_the_authors_form_is_selectable_and_each_deviation_names_its_option():
    sat = get_method("sat")
    named = {deviation.option for deviation in sat.deviations}
    assert {f"{key}={value}" for key, value in AUTHORS.items()} <= named
    assert all(sat.options[key].default != value for key, value in AUTHORS.items())


@pytest.mark.multiprocess
def test_authors_form_records_are_the_same_on_both_launchers(tmp_path, monkeypatch):
    """The owners' edges into halo rows travel once before training (an all-to-all of integers): over gloo between
    processes as over the in-process group, at W = 2 and 4, the records agree as every method's do
    (tests/test_launchers.py)."""
    import satbench.runtime.launch as launch_module
    from satbench.runtime.launch import launch
    from test_launchers import _comparable, _compare
    from runs import load_record

    # as tests/test_launchers.py: workers from the fork server, since this process has run worker threads
    monkeypatch.setattr(launch_module, "worker_start_method", lambda device, workers: "forkserver")
    for workers in (2, 4):
        records = {}
        for launcher in ("inprocess", "spawn"):
            config = RunConfig(dataset=TINY_GRAPH, method="sat", workers=workers, epochs=4, launcher=launcher,
                               dropout=0.5, staleness_every=1, progress=False, cache_dir=str(tmp_path / "cache"),
                               timeout_s=60, method_options={"sync_period": 2, **AUTHORS})
            out = tmp_path / f"{workers}-{launcher}.json"
            launch(config.validate(), out)
            records[launcher] = load_record(out)
        differences = _compare(_comparable(records["inprocess"]), _comparable(records["spawn"]))
        assert not differences, f"W = {workers}: {differences[:5]}"
        assert any(row["predictor_loss"] > 0 for row in records["spawn"]["epochs"])
