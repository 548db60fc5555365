"""Partition statistics: each part's label skew and halo ratio, in stats.json and in what a run records."""

import json

import pytest
import torch
from torch_geometric.data import Data

from satbench.config import RunConfig
from satbench.data import MULTICLASS, MULTILABEL, _normalise, load_dataset
from satbench.runtime.launch import prepare
from satbench.partition import assign_nodes, build_parts, label_skew, partition_graph, partition_stats


def hand_made(labels, train, task=MULTICLASS):
    """A graph of ``len(labels)`` nodes on a ring, with the given labels and training nodes (the rest validate)."""
    labels = torch.as_tensor(labels)
    num_nodes = labels.size(0)
    ring = torch.stack([torch.arange(num_nodes), (torch.arange(num_nodes) + 1) % num_nodes])
    train = torch.as_tensor(train, dtype=torch.bool)
    data = Data(x=torch.ones(num_nodes, 2), y=labels, edge_index=ring, train_mask=train, val_mask=~train,
                test_mask=torch.zeros(num_nodes, dtype=torch.bool))
    return _normalise("hand-made", data, task, "given")


def test_class_pure_parts_have_the_skew_of_their_class():
    # Four classes of 10 nodes; 2, 4, 6 and 8 of them train, so p_global = (0.1, 0.2, 0.3, 0.4). Part c holds class c
    # alone: its training labels are all c, so TV = ½ (1 − p_c + Σ_{c'≠c} p_c') = 1 − p_c.
    labels = torch.arange(4).repeat_interleave(10)
    train = torch.cat([torch.arange(10) < count for count in (2, 4, 6, 8)])
    graph = hand_made(labels, train)
    assert label_skew(graph, labels, 4) == pytest.approx([0.9, 0.8, 0.7, 0.6])
    two_classes_each = labels // 2  # part 0: classes 0 and 1 (p = 1/3, 2/3); part 1: classes 2 and 3 (3/7, 4/7)
    assert label_skew(graph, two_classes_each, 2) == pytest.approx([0.7, 0.3])


def test_representative_parts_have_no_skew_and_a_part_without_training_nodes_has_the_most():
    labels = torch.arange(40) % 4
    graph = hand_made(labels, torch.ones(40, dtype=torch.bool))
    dealt = (torch.arange(40) // 4) % 2  # every part gets the same share of every class
    assert label_skew(graph, dealt, 2) == [0.0, 0.0]
    no_training_in_part_1 = hand_made(labels, torch.arange(40) < 20)
    assert label_skew(no_training_in_part_1, (torch.arange(40) >= 20).long(), 2) == [0.0, 1.0]


def test_multilabel_skew_is_over_the_positive_labels():
    # Part 0 trains on positives of label 0 only (2 of them); part 1 on 1 of label 0 and 3 of label 1 and 2 of label 2.
    # Global positives: (3, 3, 2) of 8. Part 0: (1, 0, 0) -> ½ (5/8 + 3/8 + 2/8) = 5/8. Part 1: (1/6, 3/6, 2/6).
    y = torch.tensor([[1, 0, 0], [1, 0, 0], [1, 1, 1], [0, 1, 1], [0, 1, 0], [0, 0, 0]], dtype=torch.float)
    graph = hand_made(y, torch.ones(6, dtype=torch.bool), MULTILABEL)
    owner = torch.tensor([0, 0, 1, 1, 1, 1])
    expected_part_1 = 0.5 * (abs(1 / 6 - 3 / 8) + abs(3 / 6 - 3 / 8) + abs(2 / 6 - 2 / 8))
    assert label_skew(graph, owner, 2) == pytest.approx([5 / 8, expected_part_1])


HOMOPHILOUS = "sbm:n=2000,classes=6,degree=8,homophily=0.9,features=32,noise=2.0,seed=0"


def test_metis_parts_of_a_homophilous_graph_are_skewed_and_a_random_cut_is_not():
    graph = load_dataset(HOMOPHILOUS)
    skews = {}
    for partitioner in ("metis", "random"):
        owner = assign_nodes(graph, 4, partitioner, seed=0)
        stats = partition_stats(graph, owner, build_parts(graph, owner, 4))
        assert len(stats["label_skew"]) == 4
        assert stats["label_skew_mean"] == pytest.approx(sum(stats["label_skew"]) / 4)
        assert stats["label_skew_max"] == max(stats["label_skew"])
        assert stats["halo_ratio_mean"] == pytest.approx(sum(stats["halo_ratio"]) / 4)
        skews[partitioner] = stats["label_skew_mean"]
    assert skews["metis"] > 0.5 and skews["random"] < 0.1


def test_label_skew_is_in_the_cached_stats_and_in_what_a_run_records(tmp_path):
    graph = load_dataset(HOMOPHILOUS)
    built = partition_graph(graph, 4, "metis", cache_dir=tmp_path)
    on_disk = json.loads((built.directory / "stats.json").read_text())
    reused = partition_graph(graph, 4, "metis", cache_dir=tmp_path)
    assert reused.stats == on_disk == built.stats
    for key in ("label_skew", "label_skew_mean", "label_skew_max", "halo_ratio", "halo_ratio_mean"):
        assert key in on_disk

    meta = prepare(RunConfig(dataset=HOMOPHILOUS, workers=4, cache_dir=str(tmp_path)))
    assert meta.partition["label_skew"] == on_disk["label_skew"]
    assert (meta.dataset["split"], meta.dataset["split_seed"]) == ("random", 0)
