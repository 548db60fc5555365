"""Workers as threads of one process (``fakecomm.run_local``): the local group itself, ``exact`` against full-graph
training, what the meter counts, SAT's syncs; and, in the multiprocess tier, the local group against a real one."""

import math
import threading
import time

import pytest
import torch

from fakecomm import GroupAborted, LocalGroup, run_local
from reference import full_graph_training
from runs import TINY_GRAPH, run_in_process_group, without_timings
from satbench.config import RunConfig
from satbench.data import load_dataset
import satbench.comm as comm_module
from satbench.runtime.launch import prepare
from satbench.methods import discover_methods, get_method
from satbench.partition import load_part
from satbench.train import Trainer

# rows rank r sends to rank j (a rank sends itself nothing, as in a halo exchange)
SEND = [[0, 1, 2], [3, 0, 1], [2, 2, 0]]


def block(sender: int, receiver: int) -> torch.Tensor:
    return torch.tensor([[100.0 * sender + 10 * receiver + k] for k in range(SEND[sender][receiver])])


def _collectives(rank, world_size):
    peers = range(world_size)
    rows = torch.cat([block(rank, peer) for peer in peers])
    received = torch.empty(sum(SEND[peer][rank] for peer in peers), 1)
    dist = comm_module.dist  # the local group, while run_local runs
    work = dist.all_to_all_single(received, rows, output_split_sizes=[SEND[peer][rank] for peer in peers],
                                  input_split_sizes=SEND[rank], async_op=True)
    total = torch.full((2,), 2.0 ** rank)
    dist.all_reduce(total)  # called while the exchange is still in flight: matched by order, not by wait
    gathered = [torch.empty(2) for _ in peers]
    dist.all_gather(gathered, torch.tensor([rank, -rank], dtype=torch.float32))
    work.wait()
    dist.barrier()
    return received, total, torch.stack(gathered)


def test_local_group_collectives():
    results = run_local(_collectives, 3)
    for rank, (received, total, gathered) in enumerate(results):
        assert torch.equal(received, torch.cat([block(peer, rank) for peer in range(3)]))
        assert total.tolist() == [7.0, 7.0]  # 1 + 2 + 4
        assert gathered.tolist() == [[0, 0], [1, -1], [2, -2]]


def test_only_as_many_workers_run_at_once_as_there_are_turns():
    """A worker holds a turn between collectives and gives it up while it waits in one: with 2 turns, no more than
    two of 8 workers are ever between collectives at once, though each sleeps there (which frees the interpreter)."""
    lock, running, most = threading.Lock(), [0], [0]

    def work(rank, world_size):
        for _ in range(3):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.01)
            with lock:
                running[0] -= 1
            comm_module.dist.barrier()
        return rank

    assert run_local(work, 8, turns=2) == list(range(8))
    assert most[0] == 2
    most[0] = 0
    run_local(work, 8, turns=8)
    assert most[0] > 2  # the bound above is the turns', not the scheduler's


def _mismatched(rank, world_size):
    dist = comm_module.dist
    if rank == 0:
        dist.all_reduce(torch.ones(1))
    else:
        dist.barrier()


def _one_fails(rank, world_size):
    dist = comm_module.dist
    if rank == 1:
        raise ValueError("injected failure on rank 1")
    dist.barrier()


def _one_never_comes(rank, world_size):
    dist = comm_module.dist
    if rank == 0:
        dist.barrier()


def _one_leaves_early(rank, world_size):
    dist = comm_module.dist
    if rank == 0:  # started, never waited, and no peer joins it
        dist.all_to_all_single(torch.empty(0, 1), torch.empty(0, 1), [0, 0], [0, 0], async_op=True)


def test_local_group_fails_where_a_real_group_would_hang():
    with pytest.raises(RuntimeError, match="collective #0: rank . called") as mismatch:
        run_local(_mismatched, 2)
    assert "all_reduce" in str(mismatch.value) and "barrier" in str(mismatch.value)
    with pytest.raises(ValueError, match="injected failure"):  # the cause, not its peers' GroupAborted
        run_local(_one_fails, 3)
    with pytest.raises(TimeoutError, match="ranks \\[0\\] waited"):
        run_local(_one_never_comes, 2, timeout=0.2)
    with pytest.raises(RuntimeError, match="not every worker called"):
        run_local(_one_leaves_early, 2)
    assert issubclass(GroupAborted, RuntimeError)
    with pytest.raises(RuntimeError, match="not a worker"):  # outside run_local, the real torch.distributed
        LocalGroup(2).barrier()


# -- training -------------------------------------------------------------------------------------------------------


def _fit(rank, world_size, meta, settings):
    config = RunConfig(dataset=TINY_GRAPH, workers=world_size, progress=False, **settings).validate()
    trainer = Trainer(config, meta, load_part(meta.partition_dir, rank), torch.device("cpu"))
    rows = trainer.fit()
    return rows, {name: value.detach().clone() for name, value in trainer.model.state_dict().items()}


@pytest.fixture(scope="module")
def tiny_graph():
    return load_dataset(TINY_GRAPH)


@pytest.fixture(scope="module")
def metas(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return {workers: prepare(RunConfig(dataset=TINY_GRAPH, workers=workers, cache_dir=str(cache)))
            for workers in (1, 2, 3, 4)}


EPOCHS, HIDDEN = 4, 16


@pytest.mark.parametrize("model", ["gcn", "sage", "gat"])
def test_exact_in_one_process_equals_full_graph_training(tiny_graph, metas, model):
    ref_losses, ref_weights = full_graph_training(tiny_graph, model=model, epochs=EPOCHS, hidden=HIDDEN, dropout=0.5)
    assert ref_losses[-1] < ref_losses[0]  # the oracle itself trains
    for workers in (2, 4):
        settings = dict(model=model, epochs=EPOCHS, hidden=HIDDEN, dropout=0.5, staleness_every=1)
        results = run_local(_fit, workers, metas[workers], settings)
        rows, weights = results[0]
        assert [row["loss"] for row in rows] == pytest.approx(ref_losses, abs=1e-4), f"W={workers}"
        for rank, (other_rows, other_weights) in enumerate(results):  # every worker holds the same model and rows
            assert without_timings(other_rows) == without_timings(rows), rank
            for name, value in other_weights.items():
                assert torch.equal(value, weights[name]), (rank, name)
        assert weights.keys() == ref_weights.keys()
        for name, value in weights.items():
            torch.testing.assert_close(value, ref_weights[name], atol=1e-4, rtol=0, msg=f"{name} at W={workers}")
        # Every step sends each halo row of the hidden layer to the worker that holds it, and its gradient back.
        halo_rows = sum(metas[workers].partition["halo_sizes"])
        assert halo_rows > 0
        for row in rows:
            assert row["halo_bytes"] == row["halo_grad_bytes"] == halo_rows * HIDDEN * 4  # float32 rows
            assert row["staleness"][0]["rel_error"] <= 1e-6 and row["staleness"][0]["age_steps"] == 0


def test_digest_sends_its_halo_rows_at_pull_epochs_only(metas):
    """τ = 2: pulls at epochs 1, 3, 5 move every halo row of both hidden layers once, as one step of exact does;
    nothing else crosses for embeddings, no gradient is sent, and the one model average per epoch costs what one
    gradient all-reduce of exact costs."""
    settings = dict(epochs=5, hidden=8, layers=3, dropout=0.0, staleness_every=0)
    digest = run_local(_fit, 4, metas[4], dict(settings, method="digest", method_options={"sync_period": 2}))[0][0]
    exact = run_local(_fit, 4, metas[4], dict(settings, method="exact"))[0][0]
    pull = 2 * sum(metas[4].partition["halo_sizes"]) * 8 * 4
    assert [row["halo_bytes"] for row in digest] == [pull, 0, pull, 0, pull]
    assert all(row["halo_bytes"] == pull for row in exact)
    assert all(row["halo_grad_bytes"] == 0 for row in digest)
    assert [row["reduce_bytes"] for row in digest] == [row["reduce_bytes"] for row in exact]
    assert all(row["reduce_bytes"] > 0 for row in digest)


def _syncs_and_snapshots(rank, world_size, meta, method, options, epochs):
    config = RunConfig(dataset=TINY_GRAPH, method=method, workers=world_size, epochs=epochs, hidden=8, layers=3,
                       dropout=0.0, staleness_every=0, progress=False, method_options=options)
    trainer = Trainer(config, meta, load_part(meta.partition_dir, rank), torch.device("cpu"))
    trainer.fit()
    sat = trainer.method
    return {layer: (sat.syncs[layer], sat.base.history.version[layer]) for layer in sat.syncs}


@pytest.mark.parametrize("method, options", [("sat", {"sync_period": 3}), ("sat+gas", {})])
def test_sat_syncs_once_per_snapshot_its_base_announces(metas, method, options):
    epochs = 30
    for counts in run_local(_syncs_and_snapshots, 2, metas[2], method, options, epochs):
        assert set(counts) == {1, 2}
        for syncs, version in counts.values():
            assert syncs == version - 1 > 0  # every snapshot after the fill before training, none twice
        syncs = counts[1][0]
        # DIGEST pulls new rows at epochs 4, 7, ... (τ = 3); GAS delivers the previous step's rows at every step.
        assert syncs == ((epochs - 1) // 3 if method == "sat" else epochs - 1)


# -- the local group against a real process group -------------------------------------------------------------------

PARITY_METHODS = sorted(discover_methods())


def _every_method(rank, world_size, meta):
    """Three epochs of every method (GCN, 3 layers: what every method accepts), staleness measured each epoch."""
    rows = {}
    for method in PARITY_METHODS:
        options = {"sync_period": 2} if "sync_period" in get_method(method).options else {}
        config = RunConfig(dataset=TINY_GRAPH, method=method, workers=world_size, epochs=3, hidden=8, layers=3,
                           dropout=0.0, staleness_every=1, progress=False, method_options=options).validate()
        trainer = Trainer(config, meta, load_part(meta.partition_dir, rank), torch.device("cpu"))
        rows[method] = {"epochs": trainer.fit(), "setup_bytes": trainer.setup_bytes,
                        "first_layer_bytes": trainer.first_layer_bytes}
    return rows


def assert_same_run(local, real, path=""):
    """Equal structure; integers (bytes, counts) equal; floats equal up to the order of a sum."""
    if isinstance(real, dict):
        assert local.keys() == real.keys(), path
        for key in real:
            assert_same_run(local[key], real[key], f"{path}.{key}")
    elif isinstance(real, (list, tuple)):
        assert len(local) == len(real), path
        for index, (mine, theirs) in enumerate(zip(local, real)):
            assert_same_run(mine, theirs, f"{path}[{index}]")
    elif isinstance(real, float) and not isinstance(local, bool):
        assert isinstance(local, float) and (math.isclose(local, real, rel_tol=1e-4, abs_tol=1e-6)), \
            (path, local, real)
    else:
        assert type(local) is type(real) and local == real, (path, local, real)


@pytest.mark.multiprocess
def test_the_local_group_trains_every_method_as_a_real_group_does(metas):
    """Three gloo worker processes and three threads of one process, every method: the same losses, scores and
    staleness, and the same bytes, per category and per worker, in every epoch."""
    real = run_in_process_group(_every_method, 3, metas[3])
    local = run_local(_every_method, 3, metas[3])
    assert set(local[0]) == set(PARITY_METHODS)
    for rank in range(3):
        assert_same_run(without_timings(local[rank]), without_timings(real[rank]), f"rank {rank}")
    assert any(row["halo_bytes"] > 0 for run in real[0].values() for row in run["epochs"])


# -- the tiers (tests/conftest.py) ------------------------------------------------------------------------------------


def test_a_unit_test_can_start_no_process(request):
    """The fast tier stays in this process: a unit test that starts a program, a process or a process group fails,
    saying which marker it needs."""
    import multiprocessing
    import subprocess
    import sys

    assert request.node.get_closest_marker("unit") is not None
    with pytest.raises(AssertionError, match="mark it @pytest.mark.multiprocess"):
        subprocess.run([sys.executable, "-c", "pass"])
    with pytest.raises(AssertionError, match="mark it @pytest.mark.multiprocess"):
        multiprocessing.get_context("spawn").Process(target=print).start()
    with pytest.raises(AssertionError, match="mark it @pytest.mark.multiprocess"):
        torch.distributed.init_process_group("gloo", rank=0, world_size=1, init_method="tcp://127.0.0.1:1")
