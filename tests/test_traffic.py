"""Typed traffic: every byte a method sends is booked under a declared category, and a method's own run books
all of it as its own (``comm_bytes``), nothing as the fresh-halo control's."""

import contextlib

import pytest
import torch

from fakecomm import run_local
from runs import TINY_GRAPH, readme_example_method
from satbench.comm import METHOD_TRAFFIC, CommMeter, Traffic
from satbench.config import RunConfig
from satbench.methods import discover_methods, get_method
from satbench.partition import load_part
from satbench.runtime.launch import prepare
from satbench.train import BYTE_FIELDS, Trainer


def test_categories_are_declared_once_with_their_role():
    assert {category.value for category in METHOD_TRAFFIC} == {"halo", "halo_grad", "reduce", "protocol"}
    assert [category.column for category in METHOD_TRAFFIC] == list(BYTE_FIELDS)
    assert not any(category.counted for category in (Traffic.CONTROL, Traffic.MEASURE, Traffic.EVAL, Traffic.SETUP,
                                                      Traffic.STATS))
    assert Traffic.HALO.gradient is Traffic.HALO_GRAD and Traffic.CONTROL.gradient is Traffic.CONTROL_GRAD
    meter = CommMeter(torch.device("cpu"))
    with meter.timed("halo", 8):
        pass
    assert meter.bytes["halo"] == meter.bytes[Traffic.HALO] == 8  # a str enum: the string is the category
    with pytest.raises(ValueError):  # an undeclared category would escape every column
        with meter.timed("other", 1):
            pass


class RecordingMeter(CommMeter):
    """Remembers, per epoch, the category of every collective booked while the trainer was in ``phase``."""

    def __init__(self, device):
        super().__init__(device)
        self.phase, self.log = "setup", []

    @contextlib.contextmanager
    def timed(self, category, num_bytes):
        with super().timed(category, num_bytes):
            yield
        self.log.append((self.phase, Traffic(self._booked_as or category), num_bytes))


def _phased(trainer, name, phase):
    original = getattr(trainer, name)

    def run(*args, **kwargs):
        before, trainer.comm.meter.phase = trainer.comm.meter.phase, phase
        try:
            return original(*args, **kwargs)
        finally:
            trainer.comm.meter.phase = before
    setattr(trainer, name, run)


def _own_traffic(rank, world_size, meta, method):
    entry = get_method(method)
    options = {"sync_period": 1} if "sync_period" in entry.options else {}
    config = RunConfig(dataset=TINY_GRAPH, method=method, workers=world_size, epochs=2, hidden=8, layers=3,
                       dropout=0.0, staleness_every=1, progress=False, method_options=options).validate()
    trainer = Trainer(config, meta, load_part(meta.partition_dir, rank), torch.device("cpu"))
    meter = RecordingMeter(trainer.comm.meter.device)
    trainer.comm.meter = meter
    meter.phase = "train"
    for name, phase in (("reference_trace", "measure"), ("measure_drift", "measure"), ("evaluate", "eval"),
                        ("epoch_row", "stats")):
        _phased(trainer, name, phase)
    rows = trainer.fit()
    return rows, meter.log


@pytest.fixture(scope="module")
def meta(tmp_path_factory):
    return prepare(RunConfig(dataset=TINY_GRAPH, workers=2, cache_dir=str(tmp_path_factory.mktemp("cache"))))


def test_every_method_books_its_own_traffic_as_its_own(meta, monkeypatch, tmp_path):
    # a plug-in from outside the package is checked as well: the README's example method
    plugin = tmp_path / "plugins"
    plugin.mkdir()
    (plugin / "halfstale.py").write_text(readme_example_method())
    monkeypatch.setenv("SATBENCH_METHOD_PATH", str(plugin))
    methods = discover_methods()
    assert "halfstale" in methods
    for method in sorted(methods):
        results = run_local(_own_traffic, 2, meta, method)
        for rows, log in results:
            trained = [(category, sent) for phase, category, sent in log if phase == "train"]
            assert all(category.counted for category, _ in trained), (method, sorted({c for c, _ in trained}))
        for epoch, row in enumerate(results[0][0]):
            assert row["control_bytes"] == 0, method
            assert row["comm_bytes"] == sum(row[column] for column in BYTE_FIELDS), method
        # every byte the workers sent in their own steps is in comm_bytes (summed over epochs and workers)
        sent = sum(sent for _, log in results for phase, _, sent in log if phase == "train")
        assert sent == sum(row["comm_bytes"] for row in results[0][0]), method
