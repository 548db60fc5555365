"""Dataset registry and loaders: real loaders offline from a mirror, generated graphs, user .npz files, clear errors."""

import builtins
import dataclasses
import json
import os
import re
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.utils import is_undirected

from satbench import data as satdata
from satbench.data import Graph, SBMParams, SplitParams, list_datasets, load_dataset, validate_dataset_name
from satbench.errors import ConfigError, DatasetUnavailable


def assert_normalised(graph: Graph) -> None:
    """The invariants every loader promises (see satbench.data)."""
    data, n = graph.data, graph.num_nodes
    assert data.x.dtype == torch.float32 and data.x.dim() == 2
    assert data.edge_index.dtype == torch.int64 and data.edge_index.size(0) == 2
    assert int(data.edge_index.min()) >= 0 and int(data.edge_index.max()) < n
    assert not (data.edge_index[0] == data.edge_index[1]).any(), "self loops"
    assert is_undirected(data.edge_index, num_nodes=n)
    assert torch.unique(data.edge_index, dim=1).size(1) == data.edge_index.size(1), "duplicate edges"
    for mask in (data.train_mask, data.val_mask, data.test_mask):
        assert mask.dtype == torch.bool and mask.shape == (n,)
    if graph.task == "multiclass":
        assert data.y.dtype == torch.int64 and data.y.shape == (n,) and graph.metric == "accuracy"
    else:
        assert data.y.dtype == torch.float32 and data.y.shape == (n, graph.num_classes) and graph.metric == "micro-f1"


# ---------------------------------------------------------------------------------------------------------------------
# Planetoid from the offline mirror


@pytest.mark.parametrize("name, nodes, features, classes, split", [
    ("cora", 2708, 1433, 7, (140, 500, 1000)),
    ("citeseer", 3327, 3703, 6, (120, 500, 1000)),
])
def test_planetoid_loads_offline_from_the_mirror(tmp_path, planetoid_mirror, name, nodes, features, classes, split):
    graph = load_dataset(name, root=tmp_path, mirror=planetoid_mirror, download=False)
    assert (graph.name, graph.num_nodes, graph.num_features, graph.num_classes) == (name, nodes, features, classes)
    masks = (graph.data.train_mask, graph.data.val_mask, graph.data.test_mask)
    assert tuple(int(mask.sum()) for mask in masks) == split
    assert (graph.ogb_name, graph.split, graph.split_seed) == (None, "public", None)
    assert_normalised(graph)
    if name == "cora":
        assert graph.data.edge_index.size(1) == 10556  # PyG's Cora: 5,278 undirected edges
    # the size the registry declares for planning is the size it loads at
    assert satdata.library_graph_size(name) == (nodes, graph.data.edge_index.size(1), features)


def test_mirror_and_offline_come_from_the_environment(tmp_path, planetoid_mirror, monkeypatch):
    monkeypatch.setenv("SATBENCH_DATA_MIRROR", str(planetoid_mirror))
    monkeypatch.setenv("SATBENCH_OFFLINE", "1")
    assert load_dataset("Cora", root=tmp_path).num_nodes == 2708
    assert (tmp_path / "Cora" / "raw" / "ind.cora.x").is_file()  # copied into root, so the mirror is needed once
    monkeypatch.delenv("SATBENCH_DATA_MIRROR")
    assert load_dataset("cora", root=tmp_path).num_nodes == 2708


# ---------------------------------------------------------------------------------------------------------------------
# Amazon Computers and Photo: from the offline mirror, with a split drawn from their name

MASKS = ("train_mask", "val_mask", "test_mask")


def split_sizes(graph: Graph) -> list[int]:
    return [int(graph.data[mask].sum()) for mask in MASKS]


def per_class_counts(graph: Graph, mask: str) -> list[int]:
    return torch.bincount(graph.data.y[graph.data[mask]], minlength=graph.num_classes).tolist()


def assert_disjoint_cover(graph: Graph) -> None:
    total = sum(graph.data[mask].int() for mask in MASKS)
    assert bool((total == 1).all()), "every node in exactly one of train, val and test"


@pytest.fixture(scope="module")
def amazon_root(tmp_path_factory):
    """One data root for the module, so PyG processes each Amazon file once."""
    return tmp_path_factory.mktemp("amazon-root")


# PyG's counts (its Amazon docstring); edges are directed pairs after its symmetrisation, which _normalise keeps as they
# are: the raw graphs have no self loops and, once symmetrised, no duplicate edges.
@pytest.mark.parametrize("name, nodes, features, classes, edges", [
    ("amazon-computers", 13752, 767, 10, 491722),
    ("amazon-photo", 7650, 745, 8, 238162),
])
def test_amazon_loads_offline_from_the_mirror_with_the_per_class_split(amazon_root, amazon_mirror, name, nodes,
                                                                       features, classes, edges):
    graph = load_dataset(name, root=amazon_root, mirror=amazon_mirror, download=False)
    assert graph.name == f"{name}:split=per-class,seed=0"
    assert (graph.num_nodes, graph.num_features, graph.num_classes) == (nodes, features, classes)
    assert graph.data.edge_index.size(1) == edges
    assert (graph.task, graph.split, graph.split_seed) == ("multiclass", "per-class", 0)
    assert per_class_counts(graph, "train_mask") == [20] * classes  # every class has at least 50 nodes
    assert per_class_counts(graph, "val_mask") == [30] * classes
    assert split_sizes(graph) == [20 * classes, 30 * classes, nodes - 50 * classes]
    assert_disjoint_cover(graph)
    assert_normalised(graph)


def test_amazon_random_split_is_60_20_20_and_every_split_is_fixed_by_its_seed(amazon_root, amazon_mirror):
    def load(name):
        return load_dataset(name, root=amazon_root, mirror=amazon_mirror, download=False)

    random = load("amazon-photo:split=random,seed=3")
    assert (random.name, random.split, random.split_seed) == ("amazon-photo:split=random,seed=3", "random", 3)
    assert split_sizes(random) == [4590, 1530, 1530]
    assert_disjoint_cover(random)
    for split in ("random", "per-class"):
        first, again, other = (load(f"amazon-photo:split={split},seed={seed}") for seed in (3, 3, 4))
        for mask in MASKS:
            assert torch.equal(first.data[mask], again.data[mask])
            assert not torch.equal(first.data[mask], other.data[mask])
        assert torch.equal(first.data.x, other.data.x)  # only the split differs


def write_fake_amazon(mirror, title, labels, num_features=3):
    """A graph in the raw npz layout PyG's Amazon loader reads: a path over the nodes, one-hot-ish features."""
    num_nodes = len(labels)
    raw = mirror / title / "raw"
    raw.mkdir(parents=True)
    adjacency = np.eye(num_nodes, k=1, dtype=np.float32)
    attributes = np.eye(num_nodes, num_features, dtype=np.float32)
    arrays = {}
    for prefix, matrix in (("adj", adjacency), ("attr", attributes)):
        rows, cols = np.nonzero(matrix)
        arrays.update({f"{prefix}_data": matrix[rows, cols], f"{prefix}_indices": cols.astype(np.int32),
                       f"{prefix}_indptr": np.r_[0, np.cumsum(np.bincount(rows, minlength=num_nodes))].astype(np.int32),
                       f"{prefix}_shape": np.array(matrix.shape)})
    np.savez(raw / f"amazon_electronics_{title.lower()}.npz", labels=np.asarray(labels, dtype=np.int64), **arrays)


def test_per_class_split_takes_what_small_classes_have(tmp_path):
    # class 0: 100 nodes; class 1: 35 (fewer than 20 + 30); class 2: 10 (fewer than 20)
    labels = np.repeat([0, 1, 2], [100, 35, 10])
    write_fake_amazon(tmp_path / "mirror", "Photo", np.random.default_rng(0).permutation(labels))
    graph = load_dataset("amazon-photo:seed=7", root=tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    assert (graph.num_nodes, graph.data.edge_index.size(1), graph.split_seed) == (145, 288, 7)
    assert per_class_counts(graph, "train_mask") == [20, 20, 10]
    assert per_class_counts(graph, "val_mask") == [30, 15, 0]
    assert per_class_counts(graph, "test_mask") == [50, 0, 0]
    assert_disjoint_cover(graph)
    assert_normalised(graph)


def test_mirror_setting_takes_several_directories_searched_in_order(tmp_path, monkeypatch):
    write_fake_amazon(tmp_path / "small", "Photo", np.arange(60) % 2)
    write_fake_amazon(tmp_path / "large", "Photo", np.arange(120) % 2)
    write_fake_amazon(tmp_path / "large", "Computers", np.arange(80) % 2)
    mirror = os.pathsep.join(str(tmp_path / name) for name in ("missing", "small", "large"))
    photo = load_dataset("amazon-photo", root=tmp_path / "data", mirror=mirror, download=False)
    assert photo.num_nodes == 60  # the first directory holding the file provides it
    monkeypatch.setenv("SATBENCH_DATA_MIRROR", mirror)
    monkeypatch.setenv("SATBENCH_OFFLINE", "1")
    assert load_dataset("amazon-computers", root=tmp_path / "data").num_nodes == 80  # found in the last directory
    assert (tmp_path / "data" / "Computers" / "raw" / "amazon_electronics_computers.npz").is_file()


def test_shared_mirrors_together_serve_planetoid_and_amazon(tmp_path, planetoid_mirror, amazon_mirror):
    mirror = os.pathsep.join(map(str, (tmp_path / "missing", planetoid_mirror, amazon_mirror)))
    assert load_dataset("cora", root=tmp_path, mirror=mirror, download=False).num_nodes == 2708
    assert load_dataset("amazon-photo", root=tmp_path, mirror=mirror, download=False).num_nodes == 7650


def test_split_names_parse_to_one_canonical_form():
    canonical = "amazon-photo:split=per-class,seed=0"
    for name in ("amazon-photo", "amazon-photo:", "Amazon-Photo:SEED=0", " amazon-photo: seed = 0 , split=per-class ",
                 canonical):
        assert validate_dataset_name(name) == canonical
    assert validate_dataset_name("amazon-computers:seed=03,split=random") == "amazon-computers:split=random,seed=3"
    assert SplitParams().text == "split=per-class,seed=0"


@pytest.mark.parametrize("name, problem", [
    ("amazon-photo:split=nonsense", "unknown split 'nonsense'; choose one of per-class, random"),
    ("amazon-photo:split=", "unknown split ''"),
    ("amazon-photo:splits=random", "expected key=value with keys split, seed, got 'splits=random'"),
    ("amazon-photo:random", "expected key=value"),
    ("amazon-photo:seed=abc", "seed must be an integer, got 'abc'"),
    ("amazon-photo:seed=1.5", "seed must be an integer"),
    ("amazon-photo:seed=-1", "seed must be non-negative, got -1"),
    ("amazon-photo:seed=1,seed=2", "seed given twice"),
    ("cora:split=random", "cora has a standard split (public) and takes no options"),
])
def test_bad_split_options_are_one_line_config_errors(name, problem):
    with pytest.raises(ConfigError, match=re.escape(problem)) as caught:
        validate_dataset_name(name)
    assert "\n" not in str(caught.value) and f"'{name}'" in str(caught.value)


# ---------------------------------------------------------------------------------------------------------------------
# Library loaders on tiny fake raw files in their real layouts (no real files of these datasets are available)


def write_fake_ogbn_arxiv(directory, num_nodes=30, num_features=4, num_classes=5):
    rng = np.random.default_rng(0)
    edges = rng.integers(0, num_nodes, (40, 2))
    tables = {
        "raw/edge": edges,
        "raw/node-feat": rng.standard_normal((num_nodes, num_features)),
        "raw/node-label": np.arange(num_nodes).reshape(-1, 1) % num_classes,
        "raw/node_year": np.full((num_nodes, 1), 2020),
        "raw/num-node-list": [[num_nodes]],
        "raw/num-edge-list": [[len(edges)]],
        "split/time/train": np.arange(0, 18).reshape(-1, 1),
        "split/time/valid": np.arange(18, 24).reshape(-1, 1),
        "split/time/test": np.arange(24, 30).reshape(-1, 1),
    }
    for name, table in tables.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(table).to_csv(directory / f"{name}.csv.gz", compression="gzip", header=False, index=False)
    (directory / "RELEASE_v1.txt").write_text("fake\n")
    return edges


def test_ogbn_arxiv_loads_from_a_mirror_symmetrised_without_prompting(tmp_path, monkeypatch):
    def no_prompt(*_):
        raise AssertionError("the OGB loader asked on stdin")

    monkeypatch.setattr(builtins, "input", no_prompt)
    directed = write_fake_ogbn_arxiv(tmp_path / "mirror" / "ogbn_arxiv")
    graph = load_dataset("ogbn-arxiv", root=tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    assert (graph.ogb_name, graph.num_nodes, graph.num_features, graph.num_classes) == ("ogbn-arxiv", 30, 4, 5)
    assert [int(graph.data[mask].sum()) for mask in ("train_mask", "val_mask", "test_mask")] == [18, 6, 6]
    assert graph.data.train_mask[:18].all()
    source, target = directed[0]
    edges = set(map(tuple, graph.data.edge_index.t().tolist()))
    assert source == target or {(source, target), (target, source)} <= edges
    assert_normalised(graph)


def test_graphsaint_multilabel_dataset_loads_from_a_mirror(tmp_path):
    raw = tmp_path / "mirror" / "Yelp" / "raw"
    raw.mkdir(parents=True)
    num_nodes = 6
    np.savez(raw / "adj_full.npz", data=np.ones(3), indices=np.array([1, 2, 2]), indptr=np.array([0, 2, 3, 3, 3, 3, 3]),
             shape=np.array([num_nodes, num_nodes]))
    np.save(raw / "feats.npy", np.ones((num_nodes, 3), dtype=np.float32))
    (raw / "class_map.json").write_text(json.dumps({str(i): [i % 2, 1, 0, 0] for i in range(num_nodes)}))
    (raw / "role.json").write_text(json.dumps({"tr": [0, 1, 2], "va": [3], "te": [4, 5]}))
    graph = load_dataset("yelp", root=tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    assert (graph.task, graph.num_classes, graph.data.edge_index.size(1)) == ("multilabel", 4, 6)
    assert_normalised(graph)


# ---------------------------------------------------------------------------------------------------------------------
# Missing files


@pytest.mark.parametrize("name, directory, expected_files", [
    ("flickr", "Flickr", ["adj_full.npz", "feats.npy", "class_map.json", "role.json"]),
    ("ogbn-arxiv", "ogbn_arxiv", ["RELEASE_v1.txt", "raw/edge.csv.gz", "raw/node-feat.csv.gz", "raw/node-label.csv.gz",
                                  "raw/node_year.csv.gz", "split/time/train.csv.gz"]),
    ("cora", "Cora", [f"ind.cora.{part}" for part in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")]),
    ("amazon-photo", "Photo", ["raw/amazon_electronics_photo.npz"]),
    ("amazon-computers", "Computers", ["raw/amazon_electronics_computers.npz"]),
])
def test_missing_files_offline_say_what_to_put_where(tmp_path, name, directory, expected_files):
    (tmp_path / "empty-mirror").mkdir()
    mirror = os.pathsep.join([str(tmp_path / "empty-mirror"), str(tmp_path / "missing")])
    with pytest.raises(DatasetUnavailable) as caught:
        load_dataset(name, root=tmp_path / "data", mirror=mirror, download=False)
    message = str(caught.value)
    assert "\n" not in message and f"'{name}'" in message
    assert str(tmp_path / "data" / directory) in message
    assert "--mirror" in message and "SATBENCH_DATA_MIRROR" in message
    assert f"separate them with '{os.pathsep}'" in message
    for file in expected_files:
        assert file in message


def test_offline_env_turns_downloads_off(tmp_path, monkeypatch):
    monkeypatch.setenv("SATBENCH_OFFLINE", "1")
    monkeypatch.delenv("SATBENCH_DATA_MIRROR", raising=False)
    with pytest.raises(DatasetUnavailable, match="downloading is off"):
        load_dataset("reddit", root=tmp_path)


def test_failed_download_is_reported_as_unavailable(tmp_path, monkeypatch):
    timeouts = []

    def failing_read(_root):
        timeouts.append(socket.getdefaulttimeout())
        raise OSError("Name or service not known")

    spec = dataclasses.replace(satdata._LIBRARY_DATASETS["flickr"], read=failing_read)
    monkeypatch.setitem(satdata._LIBRARY_DATASETS, "flickr", spec)
    with pytest.raises(DatasetUnavailable) as caught:
        load_dataset("flickr", root=tmp_path, mirror=None, download=True)
    assert "Name or service not known" in str(caught.value) and "feats.npy" in str(caught.value)
    assert timeouts == [satdata.DOWNLOAD_SOCKET_TIMEOUT_S]  # the download could not hang
    assert socket.getdefaulttimeout() is None  # and the process-wide default is restored


# ---------------------------------------------------------------------------------------------------------------------
# Stochastic block model graphs


def test_sbm_preset_shape_and_split():
    graph = load_dataset("sbm-2k")
    assert (graph.name, graph.num_nodes, graph.num_features, graph.num_classes) == ("sbm-2k", 2000, 64, 10)
    assert [int(graph.data[mask].sum()) for mask in ("train_mask", "val_mask", "test_mask")] == [1200, 400, 400]
    assert not (graph.data.train_mask & graph.data.test_mask).any()
    assert (graph.split, graph.split_seed) == ("random", 0)
    assert load_dataset("sbm:n=300,classes=3,seed=5").split_seed == 5  # drawn from the graph's seed
    assert 9.0 < graph.data.edge_index.size(1) / graph.num_nodes <= 10.0  # average degree, less merged duplicates
    assert_normalised(graph)


def test_sbm_is_deterministic_from_its_seed():
    first, again = load_dataset("sbm:n=1000,seed=3"), load_dataset("sbm:n=1000,seed=3")
    other = load_dataset("sbm:n=1000,seed=4")
    for key in ("x", "y", "edge_index", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(first.data[key], again.data[key])
    assert not torch.equal(first.data.x, other.data.x)
    assert not torch.equal(first.data.edge_index, other.data.edge_index)


@pytest.mark.parametrize("homophily", [0.2, 0.5, 0.9])
def test_sbm_honours_homophily(homophily):
    data = load_dataset(f"sbm:n=5000,classes=5,homophily={homophily}").data
    source, target = data.edge_index
    assert float((data.y[source] == data.y[target]).float().mean()) == pytest.approx(homophily, abs=0.03)


def test_sbm_names_parse_to_one_canonical_form():
    canonical = "sbm:n=5000,classes=5,degree=8,homophily=0.6,features=32,noise=1.5,seed=3"
    shuffled = "sbm:seed=3, noise=1.5,features=32,homophily=0.6,degree=8,classes=5,n=5000"
    assert validate_dataset_name(shuffled) == canonical
    assert validate_dataset_name(canonical) == canonical
    assert validate_dataset_name("SBM:N=5000") == SBMParams(n=5000).name
    assert validate_dataset_name("sbm:") == SBMParams().name
    graph = load_dataset("sbm:n=300,classes=3,features=8")
    assert graph.name == "sbm:n=300,classes=3,degree=10,homophily=0.8,features=8,noise=1,seed=0"
    assert (graph.num_nodes, graph.num_classes, graph.num_features) == (300, 3, 8)


@pytest.mark.parametrize("name, problem", [
    ("sbm:size=100", "size=100"),
    ("sbm:n=abc", "n must be an integer"),
    ("sbm:n=1.5", "n must be an integer"),
    ("sbm:n", "key=value"),
    ("sbm:n=10,n=20", "n given twice"),
    ("sbm:homophily=1.5", "homophily"),
    ("sbm:degree=nan", "finite"),
    ("sbm:classes=1", "classes"),
    ("sbm:n=5,classes=10", "n must be at least"),
    ("sbm:noise=-1", "noise"),
    ("sbm:seed=-1", "seed"),
])
def test_bad_sbm_parameters_are_config_errors(name, problem):
    with pytest.raises(ConfigError, match=problem):
        validate_dataset_name(name)


# ---------------------------------------------------------------------------------------------------------------------
# User .npz graphs


def npz_arrays(num_nodes=10, **changes):
    arrays = {
        "x": np.arange(num_nodes * 3, dtype=np.float64).reshape(num_nodes, 3),
        "y": np.arange(num_nodes) % 3,
        # one self loop, one duplicate, one edge given in both directions
        "edge_index": np.array([[0, 1, 1, 2, 4, 5], [1, 2, 2, 2, 5, 4]]),
    }
    arrays.update(changes)
    return {key: value for key, value in arrays.items() if value is not None}


def write_npz(tmp_path, **arrays):
    path = tmp_path / "graph.npz"
    np.savez(path, **arrays)
    return path


def test_npz_round_trip_with_masks(tmp_path):
    train, val, test = (np.zeros(10, dtype=bool) for _ in range(3))
    train[:5], val[5:7], test[7:] = True, True, True
    path = write_npz(tmp_path, **npz_arrays(train_mask=train, val_mask=val, test_mask=test))
    graph = load_dataset(f"npz:{path}")
    assert graph.name == f"npz:{path}" and graph.task == "multiclass" and graph.num_classes == 3
    assert torch.equal(graph.data.x, torch.arange(30, dtype=torch.float32).reshape(10, 3))
    assert graph.data.edge_index.tolist() == [[0, 1, 1, 2, 4, 5], [1, 0, 2, 1, 5, 4]]
    assert torch.equal(graph.data.train_mask, torch.from_numpy(train))
    assert torch.equal(graph.data.test_mask, torch.from_numpy(test))
    assert (graph.split, graph.split_seed) == ("given", None)
    assert_normalised(graph)


def test_npz_without_masks_gets_a_seeded_60_20_20_split(tmp_path):
    path = write_npz(tmp_path, **npz_arrays(num_nodes=100, edge_index=np.array([[0], [1]])))
    first, again = load_dataset(f"npz:{path}"), load_dataset(f"npz:{path}")
    assert [int(first.data[mask].sum()) for mask in ("train_mask", "val_mask", "test_mask")] == [60, 20, 20]
    assert torch.equal(first.data.train_mask, again.data.train_mask)
    assert not (first.data.train_mask & (first.data.val_mask | first.data.test_mask)).any()
    assert (first.split, first.split_seed) == ("random", 0)


def test_npz_multilabel(tmp_path):
    labels = np.random.default_rng(0).integers(0, 2, (10, 4)).astype(np.int8)
    graph = load_dataset(f"npz:{write_npz(tmp_path, **npz_arrays(y=labels))}")
    assert (graph.task, graph.metric, graph.num_classes) == ("multilabel", "micro-f1", 4)
    assert torch.equal(graph.data.y, torch.from_numpy(labels).float())
    assert_normalised(graph)


MASK = np.ones(10, dtype=bool)


@pytest.mark.parametrize("changes, problem", [
    ({"x": None}, "missing array"),
    ({"edge_index": None, "y": None}, "missing array"),
    ({"x": np.zeros(10)}, "x must be"),
    ({"x": np.array([["a"]] * 10)}, "x must be"),
    ({"x": np.full((10, 3), np.nan)}, "NaN"),
    ({"x": np.zeros((0, 3)), "y": np.zeros(0, dtype=np.int64), "edge_index": np.zeros((2, 0), dtype=np.int64)},
     "no nodes"),
    ({"y": np.arange(9)}, "y must be"),
    ({"y": np.zeros(10, dtype=np.float32)}, "integers"),
    ({"y": -np.ones(10, dtype=np.int64)}, "negative"),
    ({"y": np.full((10, 2), 2)}, "only 0 and 1"),
    ({"edge_index": np.zeros((3, 4), dtype=np.int64)}, "edge_index must be"),
    ({"edge_index": np.zeros((2, 4), dtype=np.float32)}, "edge_index must be"),
    ({"edge_index": np.array([[0], [10]])}, "outside"),
    ({"edge_index": np.array([[-1], [0]])}, "outside"),
    ({"train_mask": MASK}, "all of"),
    ({"train_mask": MASK, "val_mask": MASK, "test_mask": np.ones(10, dtype=np.int64)}, "test_mask must be"),
    ({"train_mask": MASK, "val_mask": MASK, "test_mask": np.ones(9, dtype=bool)}, "test_mask must be"),
    ({"train_mask": MASK, "val_mask": ~MASK, "test_mask": MASK}, "overlap"),
])
def test_malformed_npz_is_one_config_error_naming_the_file(tmp_path, changes, problem):
    path = write_npz(tmp_path, **npz_arrays(**changes))
    with pytest.raises(ConfigError, match=problem) as caught:
        load_dataset(f"npz:{path}")
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("content", [None, b"not a zip archive"])
def test_unreadable_npz_is_a_config_error(tmp_path, content):
    path = tmp_path / "graph.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match="cannot read") as caught:
        load_dataset(f"npz:{path}")
    assert str(path) in str(caught.value)


# ---------------------------------------------------------------------------------------------------------------------
# Registry


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError) as caught:
        validate_dataset_name("imagenet")
    message = str(caught.value)
    assert message.startswith("unknown dataset 'imagenet'; known: ")
    for name in ("cora", "flickr", "ogbn-products", "amazon-products", "amazon-photo", "sbm-1m", "sbm:KEY=VALUE",
                 "npz:PATH", "split=NAME,seed=N"):
        assert name in message


SEEDED_SPLIT = {"amazon-computers", "amazon-photo"}  # named with their split in full


def test_every_listed_name_validates_without_touching_files():
    infos = list_datasets()
    assert {"flickr", "reddit", "ogbn-arxiv", "ogbn-products", "amazon-products", "yelp", "cora", "citeseer", "pubmed",
            "sbm-2k", "sbm-20k", "sbm-100k", "sbm-1m", *SEEDED_SPLIT} <= {info.name for info in infos}
    for info in infos:
        if ":" not in info.name:  # the rest are templates (sbm:KEY=VALUE,..., npz:PATH, ...:split=NAME,seed=N)
            canonical = f"{info.name}:split=per-class,seed=0" if info.name in SEEDED_SPLIT else info.name
            assert validate_dataset_name(info.name) == canonical
    assert validate_dataset_name("npz:relative/graph.npz").startswith("npz:/")
    with pytest.raises(ConfigError, match="npz:PATH"):
        validate_dataset_name("npz:")


@pytest.mark.multiprocess
def test_the_documented_dataset_is_one_registry_entry(tmp_path, amazon_mirror):
    """docs/development.md's example dataset (PyG's Coauthor CS), applied to a copy of the package: listed, refused
    offline in one line naming the file it lacks, loaded from a mirror that holds the file (Photo's graph in the same
    raw layout stands in for CS's here, offline), and planned by its declared size."""
    import shutil
    import subprocess
    import sys

    from runs import package_copy_with

    env = package_copy_with("dataset", tmp_path)
    env["SATBENCH_OFFLINE"] = "1"
    env.pop("SATBENCH_DATA_MIRROR", None)

    def satbench(*args):
        return subprocess.run([sys.executable, "-m", "satbench", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)

    listing = json.loads(satbench("datasets", "--json").stdout)
    assert "coauthor-cs" in [entry["name"] for entry in listing["datasets"]]
    missing = satbench("data", "fetch", "coauthor-cs", "--data-root", str(tmp_path / "data"))
    assert missing.returncode == 2 and "ms_academic_cs.npz" in missing.stderr, missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1, missing.stderr
    mirror = tmp_path / "mirror" / "CS" / "raw"
    mirror.mkdir(parents=True)
    shutil.copy(Path(amazon_mirror) / "Photo" / "raw" / "amazon_electronics_photo.npz", mirror / "ms_academic_cs.npz")
    fetched = satbench("data", "fetch", "coauthor-cs", "--data-root", str(tmp_path / "data"), "--mirror",
                       str(tmp_path / "mirror"))
    assert fetched.returncode == 0, fetched.stderr[-3000:]
    assert "7,650 nodes" in fetched.stdout or "7650" in fetched.stdout, fetched.stdout
    probe = ("from satbench.workflow import graph_size; "
             "print(graph_size('coauthor-cs:split=per-class,seed=0'))")
    planned = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert planned.stdout.strip() == "(18333, 163788, 6805)", planned.stderr[-3000:]
