"""The fresh-halo control (``--halo fresh``), measured at the halo seam. (SAT hearing its base's snapshots:
test_local.py.)"""

import pytest

from runs import TINY_GRAPH, load_record, satbench, without_timings
from satbench.config import RunConfig
from satbench.runtime.launch import launch

# Every test here launches worker processes or the CLI.
pytestmark = pytest.mark.multiprocess


def run(tmp_path, method, halo="method", **settings):
    values = dict(dataset=TINY_GRAPH, method=method, workers=2, epochs=4, hidden=8, layers=3, dropout=0.3,
                  staleness_every=1, cache_dir=str(tmp_path / "cache"), progress=False, halo=halo)
    values.update(settings)
    out = tmp_path / f"{method}-{halo}.json"
    launch(RunConfig(**values).validate(), out)
    return load_record(out)


def test_the_control_trains_on_exact_rows_with_the_methods_protocol(tmp_path):
    own = run(tmp_path, "digest", method_options={"sync_period": 2})
    control = run(tmp_path, "digest", halo="fresh", method_options={"sync_period": 2})
    assert control["method"]["halo"] == "fresh" and own["method"]["halo"] == "method"
    for row, own_row in zip(control["epochs"], own["epochs"]):
        assert len(row["staleness"]) == 2  # both hidden layers of a 3-layer model
        for layer, own_layer in zip(row["staleness"], own_row["staleness"]):
            assert layer["rel_error"] <= 1e-6 and layer["age_epochs"] == 0
            assert layer["supplied_rel_error"] > 0  # what DIGEST supplied, and the control replaced, was stale
        assert row["control_bytes"] > 0 and own_row["control_bytes"] == 0
        # DIGEST's own protocol traffic is the same with and without the control: pulls, model averaging.
        assert (row["halo_bytes"], row["reduce_bytes"]) == (own_row["halo_bytes"], own_row["reduce_bytes"])
    assert [row["loss"] for row in control["epochs"]] != [row["loss"] for row in own["epochs"]]


def test_the_control_of_exact_is_exact(tmp_path):
    exact = run(tmp_path, "exact")
    control = run(tmp_path, "exact", halo="fresh")
    for row, exact_row in zip(control["epochs"], exact["epochs"]):
        for key in ("loss", "train", "val", "test"):
            assert row[key] == exact_row[key], key
        assert all(layer["rel_error"] <= 1e-6 for layer in row["staleness"] + exact_row["staleness"])
    assert without_timings(control["summary"]) == without_timings(exact["summary"])


def test_a_method_without_halo_rows_refuses_the_control(tmp_path):
    result = satbench("run", "--dataset", TINY_GRAPH, "--method", "partition", "--halo", "fresh",
                      "--out", str(tmp_path / "out.json"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "partition" in lines[0] and "no halo rows" in lines[0]
    assert not (tmp_path / "out.json").exists()


def test_a_sat_variants_control_trains_as_its_bases_control(tmp_path):
    """Why the workflow runs only the base's control for a SAT variant: with every row it supplies replaced by the
    exact one, SAT's predictor (trained on its own optimiser, seeded apart) never touches the GNN."""
    options = {"sync_period": 2}
    base = run(tmp_path, "digest", halo="fresh", method_options=options, epochs=6, staleness_every=0)
    for variant in ("sat", "sat-plus"):
        sat = run(tmp_path, variant, halo="fresh", method_options=options, epochs=6, staleness_every=0)
        assert any(row["predictor_loss"] > 0 for row in sat["epochs"])  # its predictor did train
        for key in ("loss", "val", "test"):
            assert [row[key] for row in sat["epochs"]] == [row[key] for row in base["epochs"]], (variant, key)
