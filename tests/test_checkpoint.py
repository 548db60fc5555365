"""Long jobs survive (``--checkpoint-every``): every method's state goes into a checkpoint and comes back, and a run
resumed from one yields the record an uninterrupted run yields: the same losses, scores and staleness to the bit, and
the same bytes in every epoch. Workers as threads here (``fakecomm``); killed and restarted processes in
test_resume.py."""

import collections
import dataclasses
import io

import pytest
import torch

from fakecomm import run_local
from runs import TINY_GRAPH, without_timings
from satbench.config import RunConfig
from satbench.errors import ConfigError
from satbench.methods import Method, discover_methods, get_method, register_method
from satbench.partition import load_part
from satbench.runtime.launch import prepare
from satbench.train import Trainer

EPOCHS, EVERY, RESUME = 7, 2, 4  # checkpoints after epochs 2, 4 and 6; the resumed run continues after epoch 4
METHODS = sorted(discover_methods())


class MemoryStore:
    """Checkpoints in memory, through torch.save and torch.load(weights_only=True), as a file holds them."""

    def __init__(self, resume_from: dict[int, bytes] | None = None, epoch: int | None = None):
        self.saved: dict[int, bytes] = {}
        self.resume = resume_from[epoch] if resume_from is not None else None

    def load(self):
        return None if self.resume is None else torch.load(io.BytesIO(self.resume), weights_only=True)

    def save(self, epoch, state):
        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.saved[epoch] = buffer.getvalue()


def settings(method: str) -> dict:
    options = {"sync_period": 3} if "sync_period" in get_method(method).options else {}  # a resume mid-period
    first_layer = get_method(method).exact_first_layer  # needs dropout 0
    return dict(method=method, epochs=EPOCHS, hidden=8, layers=3, dropout=0.0 if first_layer else 0.3,
                staleness_every=2, checkpoint_every=EVERY, method_options=options)


def _train(rank, world_size, meta, config_settings, stores):
    config = RunConfig(dataset=TINY_GRAPH, workers=world_size, progress=False, **config_settings).validate()
    trainer = Trainer(config, meta, load_part(meta.partition_dir, rank), torch.device("cpu"))
    rows = trainer.fit(checkpoints=stores[rank] if stores is not None else None)
    return rows, {name: value.clone() for name, value in trainer.model.state_dict().items()}


@pytest.fixture(scope="module")
def meta(tmp_path_factory):
    return prepare(RunConfig(dataset=TINY_GRAPH, workers=3, cache_dir=str(tmp_path_factory.mktemp("cache"))))


@pytest.mark.parametrize("method", METHODS)
def test_a_run_resumed_from_a_checkpoint_is_the_uninterrupted_run(meta, method):
    """Three runs, 3 workers: without checkpoints; with them; and resumed from the second's checkpoint of epoch 4."""
    plain = run_local(_train, 3, meta, dict(settings(method), checkpoint_every=0), None)
    stores = [MemoryStore() for _ in range(3)]
    checkpointed = run_local(_train, 3, meta, settings(method), stores)
    assert all(sorted(store.saved) == [2, 4, 6] for store in stores)  # not after the last epoch
    resumed = run_local(_train, 3, meta, settings(method), [MemoryStore(store.saved, RESUME) for store in stores])
    for rank in range(3):
        (rows, weights), (rows_checkpointed, _), (rows_resumed, weights_resumed) = \
            plain[rank], checkpointed[rank], resumed[rank]
        assert len(rows_resumed) == EPOCHS
        assert without_timings(rows_checkpointed) == without_timings(rows)  # writing checkpoints changes nothing
        assert without_timings(rows_resumed) == without_timings(rows), (method, rank)  # exactly, bytes included
        for name, value in weights.items():
            assert torch.equal(weights_resumed[name], value), (method, rank, name)
    assert any(row["comm_bytes"] > 0 for row in plain[0][0])


class HoldsAGenerator(Method):
    name = "test-holds-a-generator"

    def __init__(self, context, **options):
        super().__init__(context, **options)
        self.rows_seen = (n for n in range(3))  # nothing a checkpoint can hold

    def supply_halo(self, layer, h_inner, partial_halo):
        return self.comm.exchange(h_inner)


@pytest.fixture
def holds_a_generator():
    import satbench.methods

    register_method(HoldsAGenerator)
    yield HoldsAGenerator.name
    satbench.methods._REGISTRY.pop(HoldsAGenerator.name)


def test_a_method_state_no_checkpoint_can_hold_is_refused_before_the_first_epoch(tmp_path, holds_a_generator):
    store = MemoryStore()
    with pytest.raises(ConfigError, match="method 'test-holds-a-generator': attribute rows_seen holds a generator"):
        run_local(_train, 1, prepare(RunConfig(dataset=TINY_GRAPH, workers=1, cache_dir=str(tmp_path))),
                  dict(method=holds_a_generator, epochs=3, checkpoint_every=1), [store])
    assert store.saved == {}


@dataclasses.dataclass
class Entry:
    rows: torch.Tensor
    ages: collections.deque


def test_the_default_state_restores_containers_dataclasses_and_objects_in_place():
    """What the default Method.state_dict saves comes back as it was: tuples stay tuples, deques keep their bound,
    dataclasses their class, modules and optimisers are loaded into the objects the method built."""
    class Holder(Method):
        name = "test-holder"

        def __init__(self, context, **options):
            super().__init__(context, **options)
            self.net = torch.nn.Linear(2, 2)
            self.optimizer = torch.optim.Adam(self.net.parameters())
            self.entries = {1: Entry(torch.zeros(2), collections.deque([1], maxlen=2))}
            self.pairs = [(0, "a")]

    class Context:
        comm = num_layers = steps_per_epoch = lr = graph = first_layer = None

    saved = Holder(Context())
    saved.net.weight.data.fill_(3.0)
    saved.entries[1].ages.append(2)
    saved.entries[2] = Entry(torch.ones(3), collections.deque([7], maxlen=3))
    saved.pairs.append((1, "b"))
    buffer = io.BytesIO()
    torch.save(saved.state_dict(), buffer)
    fresh = Holder(Context())
    net, entry = fresh.net, fresh.entries[1]
    fresh.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    assert fresh.net is net and torch.equal(net.weight, torch.full((2, 2), 3.0))
    assert fresh.entries[1] is entry and list(entry.ages) == [1, 2] and entry.ages.maxlen == 2
    assert isinstance(fresh.entries[2], Entry) and fresh.entries[2].ages.maxlen == 3
    assert fresh.pairs == [(0, "a"), (1, "b")] and isinstance(fresh.pairs[1], tuple)


def test_cleaning_an_old_checkpoint_that_another_worker_removed_meanwhile_is_no_failure(tmp_path, monkeypatch):
    """Every worker cleans the old epoch directories at once after a commit: a directory another worker emptied and
    removed while this one listed it (listing then raises FileNotFoundError) is gone, not a failed run. Seen once
    when a resumed run cleaned its killed predecessor's epoch directory."""
    from pathlib import Path
    from types import SimpleNamespace

    from satbench.runtime.checkpoint import FileCheckpoints

    old = tmp_path / "epoch20"
    old.mkdir()
    (old / "rank1.pt").write_bytes(b"stale")
    real_glob = Path.glob

    def glob(self, pattern):
        if self == old:  # the other worker empties and removes it while this one lists it
            for path in real_glob(self, "*"):
                path.unlink()
            self.rmdir()
            raise FileNotFoundError(2, "No such file or directory", str(self))
        return real_glob(self, pattern)

    monkeypatch.setattr(Path, "glob", glob)
    FileCheckpoints(tmp_path, {}, SimpleNamespace(rank=1)).remove(keep=40)
    assert not old.exists()
