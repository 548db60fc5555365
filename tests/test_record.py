"""The record's rows declared once (satbench.record): columns with a type, a unit their name says and a meaning; rows
built through the declarations; the byte columns derived from the traffic categories; each method's own metrics
declared by the method and carried by its record; older records read in today's shape."""

from __future__ import annotations

import pytest

from runs import TINY_GRAPH, load_record, satbench
from satbench import record
from satbench.methods import Method, _check_metrics
from satbench.record import (EPOCH_MEASUREMENT, EPOCH_ROW, STALENESS_ROW, SUMMARY, Column, Record, declared_row,
                             unit_of_name)
from satbench.report import frames
from satbench.traffic import METHOD_TRAFFIC


def test_a_columns_unit_is_what_its_name_says():
    assert unit_of_name("epoch_time_s") == "s" and unit_of_name("rate_bit_s") == "bit/s"
    assert unit_of_name("comm_bytes_per_worker") == "bytes" and unit_of_name("age_steps") is None
    for name, unit in (("epoch_time", "s"), ("halo_bytes", "count"), ("wait_s", "fraction"), ("rate_s", "bit/s")):
        with pytest.raises(ValueError, match="which its name must say"):
            Column(name, "float", unit, "a column whose name and unit disagree")
    with pytest.raises(ValueError, match="unit 'MB'"):
        Column("traffic", "float", "MB", "no such unit: bytes are bytes")
    with pytest.raises(ValueError, match="dtype 'double'"):
        Column("x", "double", "", "no such type")


def test_every_declared_column_keeps_the_conventions():
    """Every row's columns: declared once each, of a known type and unit, the unit said by the name where it has a
    suffix; scores fractions, never percentages."""
    for rows in (EPOCH_ROW + EPOCH_MEASUREMENT, STALENESS_ROW, SUMMARY, record.ENVIRONMENT,
                 tuple(frames.declared_columns().values())):
        names = [column.name for column in rows]
        assert len(names) == len(set(names)), names
        assert all(column.meaning for column in rows)
    units = {column.name: column.unit for column in (*EPOCH_ROW, *SUMMARY)}
    assert {units[name] for name in ("train", "val", "test", "best_val", "test_at_best_val")} == {"fraction"}
    assert not any("pct" in name or "_mb" in name.lower() or "mib" in name.lower()
                   for name in frames.declared_columns())


def test_the_byte_columns_are_the_traffic_categories():
    """The epoch row's (and the report's) byte columns are derived from satbench.traffic: one per counted category,
    in its order, with comm_bytes their sum; the report re-lists none of them."""
    columns = [column.name for column in EPOCH_ROW]
    traffic = [category.column for category in METHOD_TRAFFIC]
    start = columns.index("comm_bytes") + 1
    assert columns[start:start + len(traffic)] == traffic
    assert all(name in frames.EPOCH_COLUMNS for name in traffic)
    assert frames.STALENESS_COLUMNS == tuple(column.name for column in STALENESS_ROW if column.name != "layer")


def test_a_row_is_built_through_its_declaration():
    values = {column.name: 0 for column in SUMMARY}
    assert list(declared_row(SUMMARY, values, "summary")) == [column.name for column in SUMMARY]
    with pytest.raises(ValueError, match="summary: undeclared best_test; missing best_val"):
        declared_row(SUMMARY, {**{k: v for k, v in values.items() if k != "best_val"}, "best_test": 1}, "summary")
    layer = {column.name: 0.1 for column in STALENESS_ROW if not column.optional} | {"replaced_rel_error": None}
    assert "replaced_rel_error" not in declared_row(STALENESS_ROW, layer, "staleness row")  # optional, absent
    epoch = {column.name: 0 for column in EPOCH_ROW}
    row = record.epoch_row(epoch, {"refresh_time_s": 0.5}, [dict(layer, age_epochs=2.0)])
    assert list(row)[-3:] == ["refresh_time_s", "staleness", "staleness_age"] and row["staleness_age"] == [2.0]
    with pytest.raises(ValueError, match="the record's own columns"):
        record.epoch_row(epoch, {"loss": 1.0}, None)


def test_a_methods_metrics_are_declared_columns():
    _check_metrics("fine", (Column("refresh_time_s", "float", "s", "time refreshing"),))
    for metrics, message in [([Column("a", "float", "", "x")], "a tuple of"),
                             ((Column("a", "int", "count", "x"),), "must be a float"),
                             ((Column("val", "float", "fraction", "x"),), "record's own columns"),
                             ((Column("a", "float", "", "x"), Column("a", "float", "", "y")), "declared twice")]:
        with pytest.raises(TypeError, match=message):
            _check_metrics("broken", metrics)
    assert Method.metrics == ()


def test_a_version_2_record_reads_in_todays_shape():
    data = {"version": 2, "config": {"method": "exact"}, "summary": {}, "epochs": [],
            "env": {"device": "cuda", "gpu": "NVIDIA H100"}}
    read = Record.from_json(data)
    assert read.env == {"device": "cuda", "accelerator": "NVIDIA H100"} and read.version == 2
    assert Record.from_json(dict(data, version=3, env={"gpu": "kept"})).env == {"gpu": "kept"}  # only version 2's


@pytest.mark.multiprocess
def test_a_run_records_its_machine_its_model_size_and_its_methods_metrics(tmp_path):
    """A record of today: the CPU, its cores, no accelerator on the CPU, the model's parameter count; REST's declared
    metric in its record and in every epoch row; every row exactly its declaration."""
    out = tmp_path / "rest.json"
    result = satbench("run", "--dataset", TINY_GRAPH, "--method", "rest", "--workers", "2", "--epochs", "3",
                      "--launcher", "inprocess", "--staleness-every", "1", "--no-progress", "--cache-dir",
                      str(tmp_path / "cache"), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    run = load_record(out)
    assert run["version"] == record.RECORD_VERSION == 3
    env = run["env"]
    assert env["cpu_cores"] >= 1 and "cpu_model" in env and env["accelerator"] is None and "gpu" not in env
    # GCN, 16 features, 64 hidden, 4 classes: 16·64 + 64 + 64·4 + 4
    assert run["summary"]["model_parameters"] == 16 * 64 + 64 + 64 * 4 + 4
    assert [metric["name"] for metric in run["method"]["metrics"]] == ["refresh_time_s"]
    own = [column.name for column in EPOCH_ROW]
    for row in run["epochs"]:
        assert list(row)[:len(own)] == own and "refresh_time_s" in row
        for layer in row["staleness"]:
            assert set(layer) <= {column.name for column in STALENESS_ROW}
    assert list(run["summary"]) == [column.name for column in SUMMARY]
