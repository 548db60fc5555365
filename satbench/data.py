"""Dataset registry and loaders: every dataset comes out as one normalised, undirected PyG ``Data`` in a `Graph`.

Three kinds of dataset:

- library datasets (Planetoid, Amazon Computers/Photo and the paper's PyG/OGB datasets), read by their PyG/OGB loaders
  from ``root``. Raw files found in a mirror directory (same layout as ``root``; several mirrors are searched in order)
  are copied into ``root`` first, so a loader never downloads a file that is already at hand; files found nowhere are
  downloaded, or, offline, reported with what to put where. Datasets without a standard split (Amazon) take a seeded
  one from their name (``amazon-photo:split=per-class,seed=0``, see `SplitParams`);
- synthetic stochastic block model graphs (``sbm-2k`` ... ``sbm-1m``, ``sbm:n=5000,homophily=0.6,...``), generated in
  memory and deterministic from their seed;
- a user's graph in an ``.npz`` file (``npz:PATH``).

All of them end in `_normalise`, so every consumer can rely on the same invariants: ``edge_index`` holds both
directions of every edge, sorted and without duplicates or self loops; ``x`` is float32; ``y`` is int64 ``[N]``
(multi-class) or float32 0/1 ``[N, C]`` (multi-label); the three split masks are bool ``[N]``. Every `Graph` also says
which split its masks are (``split``, ``split_seed``), for the run record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import importlib.util
import logging
import math
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from .errors import ConfigError, DatasetUnavailable

if TYPE_CHECKING:  # torch and PyG are imported where data is built, so naming datasets needs neither
    from torch_geometric.data import Data

log = logging.getLogger(__name__)

MULTICLASS, MULTILABEL = "multiclass", "multilabel"
_METRIC = {MULTICLASS: "accuracy", MULTILABEL: "micro-f1"}

MIRROR_ENV = "SATBENCH_DATA_MIRROR"
OFFLINE_ENV = "SATBENCH_OFFLINE"
# Without a socket timeout an unreachable server can stall a download, and with it a whole benchmark run, forever.
DOWNLOAD_SOCKET_TIMEOUT_S = 60.0


@dataclass(frozen=True, eq=False)  # eq=False: equality of graphs would mean comparing tensors; identity is meant
class Graph:
    """A normalised dataset (see the module docstring for the invariants of ``data``)."""

    name: str  # canonical registry name, e.g. "cora", "sbm-20k", "npz:/abs/path.npz"
    data: Data
    task: str  # MULTICLASS or MULTILABEL
    metric: str  # "accuracy" or "micro-f1"
    num_classes: int
    # Which split the masks are: "public" (Planetoid), "standard" (shipped with the dataset; OGB's own split name for
    # OGB), "given" (masks in a user's file), or a seeded "random" (60/20/20) or "per-class" one, drawn from split_seed
    split: str
    split_seed: int | None = None  # None for a split that is fixed or given rather than drawn
    ogb_name: str | None = None  # set for OGB datasets, so the evaluator can use ogb.nodeproppred.Evaluator

    @property
    def num_nodes(self) -> int:
        return int(self.data.x.size(0))

    @property
    def num_features(self) -> int:
        return int(self.data.x.size(1))


@dataclass(frozen=True)
class DatasetInfo:
    """One line of ``satbench datasets``."""

    name: str
    source: str
    description: str
    # A form to fill in (``npz:PATH``), not a name: listed apart, so that nobody takes its placeholder for a dataset.
    pattern: bool = False


def _normalise(name: str, data: Data, task: str, split: str, split_seed: int | None = None,
               ogb_name: str | None = None) -> Graph:
    """The single exit of every loader: keep only x, y, edges and masks, in the dtypes and shapes `Graph` promises."""
    from torch_geometric.data import Data
    from torch_geometric.utils import remove_self_loops, to_undirected

    num_nodes = data.x.size(0)
    edge_index, _ = remove_self_loops(data.edge_index.long())
    # to_undirected coalesces its result: edges sorted, both directions present, duplicates merged.
    edge_index = to_undirected(edge_index, num_nodes=num_nodes)
    if task == MULTICLASS:
        y = data.y.reshape(-1).long()  # OGB stores single labels as [N, 1]
        num_classes = int(y.max()) + 1
    else:
        y = data.y.float()
        num_classes = int(y.size(1))
    normalised = Data(
        x=data.x.float().contiguous(), y=y, edge_index=edge_index,
        train_mask=data.train_mask.bool(), val_mask=data.val_mask.bool(), test_mask=data.test_mask.bool(),
    )
    return Graph(name, normalised, task, _METRIC[task], num_classes, split, split_seed, ogb_name)


def _random_split(data: Data, rng: np.random.Generator) -> None:
    """Seeded 60/20/20 train/val/test masks: a fully supervised split like the paper's large datasets use."""
    import torch
    from torch_geometric.utils import index_to_mask

    num_nodes = data.x.size(0)
    order = torch.from_numpy(rng.permutation(num_nodes))
    num_train, num_val = int(0.6 * num_nodes), int(0.2 * num_nodes)
    data.train_mask = index_to_mask(order[:num_train], num_nodes)
    data.val_mask = index_to_mask(order[num_train:num_train + num_val], num_nodes)
    data.test_mask = index_to_mask(order[num_train + num_val:], num_nodes)


TRAIN_PER_CLASS, VAL_PER_CLASS = 20, 30


def _per_class_split(data: Data, rng: np.random.Generator) -> None:
    """Seeded masks with 20 training and 30 validation nodes of every class, the rest for test: the split of Shchur
    et al., "Pitfalls of Graph Neural Network Evaluation" (2018), for datasets without a standard one.

    One random permutation of all nodes is drawn; each class's first 20 nodes in it train and its next 30 validate.
    A class with fewer than 50 nodes gives what it has, training first: it has no test nodes, and with 20 or fewer
    none for validation either. Multi-class labels only.
    """
    import torch
    from torch_geometric.utils import index_to_mask

    num_nodes = data.x.size(0)
    order = rng.permutation(num_nodes)
    labels = data.y.reshape(-1).numpy()[order]
    train, val = [], []
    for label in np.unique(labels):
        members = order[labels == label]  # this class's nodes, in permutation order
        train.append(members[:TRAIN_PER_CLASS])
        val.append(members[TRAIN_PER_CLASS:TRAIN_PER_CLASS + VAL_PER_CLASS])
    data.train_mask = index_to_mask(torch.from_numpy(np.concatenate(train)), num_nodes)
    data.val_mask = index_to_mask(torch.from_numpy(np.concatenate(val)), num_nodes)
    data.test_mask = ~(data.train_mask | data.val_mask)


SPLITS = {"per-class": _per_class_split, "random": _random_split}


@dataclass(frozen=True)
class SplitParams:
    """The seeded split of a dataset that has none of its own; field names are the keys of ``NAME:key=value,...``.

    ``per-class``: 20 training and 30 validation nodes per class, the rest test (Shchur et al. 2018, see
    `_per_class_split`); ``random``: a fully supervised 60/20/20 split. Both are drawn from ``seed`` alone (a numpy
    Generator), so one name always means one split, whatever the run's training seed.
    """

    split: str = "per-class"
    seed: int = 0

    @property
    def text(self) -> str:
        """Canonical options: every key, in field order, so equal splits get equal names."""
        return ",".join(f"{field.name}={getattr(self, field.name)}" for field in fields(self))

    def check(self, spec: str) -> None:
        if self.split not in SPLITS:
            raise ConfigError(f"bad dataset '{spec}': unknown split '{self.split}'; choose one of {', '.join(SPLITS)}")
        if self.seed < 0:
            raise ConfigError(f"bad dataset '{spec}': seed must be non-negative, got {self.seed}")

    def apply(self, data: Data) -> None:
        SPLITS[self.split](data, np.random.default_rng(self.seed))


def parse_split(spec: str) -> SplitParams:
    """``amazon-photo:split=random,seed=3`` -> SplitParams; every key is optional, unknown keys and bad values raise."""
    params = SplitParams(**_parse_options(spec, SplitParams))
    params.check(spec)
    return params


# ---------------------------------------------------------------------------------------------------------------------
# Library datasets (PyG and OGB loaders)


@dataclass(frozen=True)
class _LibraryDataset:
    name: str
    source: str
    description: str
    task: str
    directory: str  # the dataset's folder under root and under the mirror, as its loader lays it out
    # what the loader reads, relative to ``directory`` (or a function that says, read only when it is needed: OGB's
    # list comes from its package's description of the dataset)
    declared_files: tuple[str, ...] | Callable[[], tuple[str, ...]]
    # root -> Data, with the standard split as masks where there is one; downloads missing files itself
    read: Callable[[Path], Data]
    # The standard split's name (Graph.split), or None: no standard split, the dataset's name chooses a seeded one
    # (or a function that says, as for the files)
    declared_split: str | None | Callable[[], str | None]
    # Fetches the files for loaders that cannot download unattended (OGB may ask on stdin); None if read downloads.
    fetch: Callable[[Path], None] | None = None
    ogb_name: str | None = None
    # (nodes, directed edges: both directions of every undirected edge, input features) as satbench loads it: what
    # the workflow plans jobs' worker counts, time and memory by, before any job has read the files
    size: tuple[int, int, int] | None = None

    @functools.cached_property
    def files(self) -> tuple[str, ...]:
        return self.declared_files() if callable(self.declared_files) else self.declared_files

    @functools.cached_property
    def split(self) -> str | None:
        return self.declared_split() if callable(self.declared_split) else self.declared_split

    @property
    def seeded_split(self) -> bool:
        """No standard split: the dataset's name chooses a seeded one (known without reading OGB's description)."""
        return self.declared_split is None


def _planetoid(name: str, title: str, description: str) -> _LibraryDataset:
    def read(root: Path) -> Data:
        from torch_geometric.datasets import Planetoid

        return Planetoid(str(root), title, split="public")[0]

    # as Planetoid.raw_file_names lists them
    files = tuple(f"raw/ind.{name}.{part}" for part in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"))
    return _LibraryDataset(name, "PyG", f"{description} (Planetoid)", MULTICLASS, title, files, read, "public")


def _amazon(name: str, title: str, description: str) -> _LibraryDataset:
    """Amazon Computers and Photo (Shchur et al. 2018): co-purchase graphs without a standard split."""

    def read(root: Path) -> Data:
        from torch_geometric.datasets import Amazon

        return Amazon(str(root), title)[0]

    files = (f"raw/amazon_electronics_{title.lower()}.npz",)  # as Amazon.raw_file_names names it
    return _LibraryDataset(name, "PyG", f"{description} (Amazon)", MULTICLASS, title, files, read, None)


def _graphsaint(name: str, class_name: str, task: str, description: str) -> _LibraryDataset:
    """The GraphSAINT datasets (Flickr, Reddit2, Yelp, AmazonProducts) share one raw layout and ship their split."""

    def read(root: Path) -> Data:
        import torch_geometric.datasets

        return getattr(torch_geometric.datasets, class_name)(str(root / class_name))[0]

    files = tuple(f"raw/{file}" for file in ("adj_full.npz", "feats.npy", "class_map.json", "role.json"))
    return _LibraryDataset(name, "PyG", f"{description} ({class_name})", task, class_name, files, read, "standard")


@functools.cache
def _ogb_meta(ogb_name: str) -> dict:
    """OGB's own description of a dataset (version, download URL, split name, ...) from its master.csv."""
    import pandas as pd

    # Located, not imported: importing ogb.nodeproppred pulls in scikit-learn, which would slow every satbench command.
    ogb_package = Path(importlib.util.find_spec("ogb").origin).parent
    master = pd.read_csv(ogb_package / "nodeproppred" / "master.csv", index_col=0, keep_default_na=False)
    return dict(master[ogb_name])


def _ogb(ogb_name: str, description: str) -> _LibraryDataset:
    directory = ogb_name.replace("-", "_")  # PygNodePropPredDataset's folder name

    def read(root: Path) -> Data:
        import torch
        from ogb.nodeproppred import PygNodePropPredDataset
        from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
        from torch_geometric.data.storage import GlobalStorage
        from torch_geometric.utils import index_to_mask

        # OGB reads its processed file with a bare torch.load, which since torch 2.6 only unpickles allow-listed types
        # (older torch has no safe_globals and needs none).
        allow_pyg_types = (torch.serialization.safe_globals([DataEdgeAttr, DataTensorAttr, GlobalStorage])
                           if hasattr(torch.serialization, "safe_globals") else contextlib.nullcontext())
        # meta_dict pins the folder (no guessing between "<dir>" and "<dir>_pyg"). Since `files` includes the release
        # file, the loader's "has been updated, re-download? (y/N)" prompt on stdin cannot trigger.
        with allow_pyg_types:
            dataset = PygNodePropPredDataset(ogb_name, meta_dict={**_ogb_meta(ogb_name),
                                                                  "dir_path": str(root / directory)})
        data, split = dataset[0], dataset.get_idx_split()
        for mask, key in (("train_mask", "train"), ("val_mask", "valid"), ("test_mask", "test")):
            data[mask] = index_to_mask(split[key], data.num_nodes)
        return data

    def fetch(target: Path) -> None:
        # PygNodePropPredDataset.download asks on stdin before fetching anything over 1 GB, so download it here.
        from ogb.utils.url import download_url, extract_zip

        meta, files = _ogb_meta(ogb_name), ogb_files()
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
            extract_zip(download_url(meta["url"], scratch), scratch)
            _copy_missing_files(Path(scratch) / meta["download_name"], target, files)
        # Reading an incomplete folder would make the loader prompt on stdin, so stop here instead.
        missing = _missing_files(target, files)
        if missing:
            raise FileNotFoundError(f"the downloaded archive lacks {', '.join(missing)}")

    def ogb_files() -> tuple[str, ...]:
        """The files PygNodePropPredDataset.process and get_idx_split read (raw_file_names lists only some)."""
        meta = _ogb_meta(ogb_name)
        raw = ["edge", "node-feat", "node-label", "num-node-list", "num-edge-list"]
        for extra in ("additional node files", "additional edge files"):  # e.g. node_year for ogbn-arxiv
            raw += [] if meta[extra] == "None" else meta[extra].split(",")
        return (f"RELEASE_v{meta['version']}.txt",
                *(f"raw/{file}.csv.gz" for file in raw),
                *(f"split/{meta['split']}/{part}.csv.gz" for part in ("train", "valid", "test")))

    return _LibraryDataset(ogb_name, "OGB", description, MULTICLASS, directory, ogb_files, read,
                           lambda: _ogb_meta(ogb_name)["split"], fetch, ogb_name)


_LIBRARY_DATASETS = {spec.name: dataclasses.replace(spec, size=size) for spec, size in (
    (_planetoid("cora", "Cora", "citation graph, 2.7k nodes, 7 classes, public split"), (2_708, 10_556, 1_433)),
    (_planetoid("citeseer", "CiteSeer", "citation graph, 3.3k nodes, 6 classes, public split"), (3_327, 9_104, 3_703)),
    (_planetoid("pubmed", "PubMed", "citation graph, 19.7k nodes, 3 classes, public split"), (19_717, 88_648, 500)),
    (_amazon("amazon-computers", "Computers", "co-purchase graph, 13.8k nodes, 10 classes, no standard split"),
     (13_752, 491_722, 767)),
    (_amazon("amazon-photo", "Photo", "co-purchase graph, 7.7k nodes, 8 classes, no standard split"),
     (7_650, 238_162, 745)),
    (_graphsaint("flickr", "Flickr", MULTICLASS, "image graph, 89k nodes, 7 classes"), (89_250, 899_756, 500)),
    (_graphsaint("reddit", "Reddit2", MULTICLASS, "Reddit posts, 233k nodes, 41 classes"),
     (232_965, 23_213_838, 602)),
    (_ogb("ogbn-arxiv", "citation graph (made undirected), 169k nodes, 40 classes"), (169_343, 2_315_598, 128)),
    (_ogb("ogbn-products", "co-purchase graph, 2.4M nodes, 47 classes"), (2_449_029, 123_718_280, 100)),
    (_graphsaint("amazon-products", "AmazonProducts", MULTILABEL, "co-purchase graph, 1.6M nodes, 107 labels"),
     (1_569_960, 264_339_468, 200)),
    (_graphsaint("yelp", "Yelp", MULTILABEL, "user graph, 717k nodes, 100 labels"), (716_847, 13_954_819, 300)),
)}


def library_graph_size(name: str) -> tuple[int, int, int] | None:
    """(nodes, directed edges, features) of a library dataset as satbench loads it, from the registry; None for a
    name that is not one (a name with split options, ``amazon-photo:split=...``, is its dataset's)."""
    spec = _LIBRARY_DATASETS.get(name.partition(":")[0])
    return None if spec is None else spec.size


def largest_library_graph_size() -> tuple[int, int, int]:
    """The registry's largest graph (by edges): how a graph of unknown size (a user's npz file, read only by its
    jobs) is estimated before any job has read it."""
    return max((spec.size for spec in _LIBRARY_DATASETS.values()), key=lambda size: size[1])


def _missing_files(directory: Path, files: tuple[str, ...]) -> list[str]:
    return [file for file in files if not (directory / file).is_file()]


def _copy_missing_files(source: Path, target: Path, files: tuple[str, ...]) -> None:
    for file in _missing_files(target, files):
        if (source / file).is_file():
            (target / file).parent.mkdir(parents=True, exist_ok=True)
            # copyfile, not copy: mirrors are often read-only, and copied permissions would make root read-only too.
            shutil.copyfile(source / file, target / file)
            log.info("copied %s from %s", file, source)


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _unavailable_message(spec: _LibraryDataset, target: Path, missing: list[str], reason: str,
                         mirrors: list[Path]) -> str:
    partly = "" if len(missing) == len(spec.files) else f" ({len(missing)} missing: {', '.join(missing)})"
    searched = (f"searched now: {', '.join(str(mirror / spec.directory) for mirror in mirrors)}" if mirrors
                else "none set")
    return (f"dataset '{spec.name}' is not on disk and {reason}: put {', '.join(spec.files)} in {target}{partly}, "
            f"or in {spec.directory}/ of a mirror directory ({searched}; --mirror / {MIRROR_ENV} name them, "
            f"several directories: separate them with '{os.pathsep}')")


def mirror_directories(mirror: str | os.PathLike | None) -> list[Path]:
    """The directories of a mirror setting, in search order: one path, or several separated by ``os.pathsep``
    (as in PATH); empty entries are skipped, and so a directory whose name holds the separator cannot be named."""
    if mirror is None:
        return []
    return [Path(entry).absolute() for entry in os.fspath(mirror).split(os.pathsep) if entry.strip()]


def _load_library_dataset(spec: _LibraryDataset, root: Path, mirrors: list[Path], download: bool,
                          name: str, split: SplitParams | None) -> Graph:
    target = root / spec.directory
    for mirror in mirrors:  # only files still missing are copied, so the first mirror holding a file provides it
        _copy_missing_files(mirror / spec.directory, target, spec.files)
    missing = _missing_files(target, spec.files)
    if not missing:
        data = spec.read(root)
    elif not download:
        reason = (f"downloading is off ({OFFLINE_ENV}=1 or download=False; {OFFLINE_ENV}=0 lets its loader "
                  "download it)")
        raise DatasetUnavailable(_unavailable_message(spec, target, missing, reason, mirrors))
    else:
        try:
            with _socket_timeout(DOWNLOAD_SOCKET_TIMEOUT_S):
                if spec.fetch is not None:
                    spec.fetch(target)
                data = spec.read(root)
        except Exception as error:  # any failure to download (network, HTTP, truncated archive) means the same
            reason = f"downloading it failed ({type(error).__name__}: {error})"
            raise DatasetUnavailable(_unavailable_message(spec, target, missing, reason, mirrors)) from error
    if split is None:
        return _normalise(name, data, spec.task, spec.split, ogb_name=spec.ogb_name)
    split.apply(data)
    return _normalise(name, data, spec.task, split.split, split.seed, spec.ogb_name)


# ---------------------------------------------------------------------------------------------------------------------
# Stochastic block model graphs

# Class centroids are drawn with this expected norm, small against the default noise (1.0): on the default presets a
# node's own features give an MLP only ~20% accuracy (10 classes), while averaging over ~10 mostly same-class
# neighbours lifts a 2-layer GCN to ~80% (measured on sbm-20k and sbm-100k), so the graph matters but is not trivial.
CENTROID_NORM = 0.5


@dataclass(frozen=True)
class SBMParams:
    """Parameters of a generated graph; field names are the keys of the ``sbm:key=value,...`` form."""

    n: int = 20_000  # nodes
    classes: int = 10
    degree: float = 10.0  # average node degree (before duplicate edges are merged)
    homophily: float = 0.8  # probability that an edge joins two nodes of the same class
    features: int = 64
    noise: float = 1.0  # standard deviation of the Gaussian noise added to the class centroid
    seed: int = 0

    @property
    def name(self) -> str:
        """Canonical name: every key, in field order, so equal graphs get equal names."""
        return "sbm:" + ",".join(f"{field.name}={_format_number(getattr(self, field.name))}" for field in fields(self))

    def check(self) -> None:
        problems = [
            (self.classes >= 2, "classes must be at least 2"),
            (self.n >= self.classes, "n must be at least the number of classes"),
            (0 <= self.degree <= self.n - 1, "degree must be between 0 and n-1"),
            (0 <= self.homophily <= 1, "homophily must be between 0 and 1"),
            (self.features >= 1, "features must be at least 1"),
            (self.noise >= 0, "noise must be non-negative"),
            (self.seed >= 0, "seed must be non-negative"),
        ]
        for ok, problem in problems:
            if not ok:
                raise ConfigError(f"bad dataset '{self.name}': {problem}")


def _format_number(value: int | float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


SBM_PRESETS = {name: SBMParams(n=n) for name, n in
               (("sbm-2k", 2_000), ("sbm-20k", 20_000), ("sbm-100k", 100_000), ("sbm-1m", 1_000_000))}


def _parse_options(spec: str, params: type) -> dict[str, int | float | str]:
    """The ``key=value,...`` after the colon of ``spec``, typed by the fields of the dataclass ``params``; unknown
    keys, repeated keys and values of the wrong type raise ConfigError."""
    types = {field.name: field.type for field in fields(params)}  # "int" / "float" / "str": annotations are strings
    values: dict[str, int | float | str] = {}
    body = spec.partition(":")[2].strip()
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, sep, text = (part.strip() for part in item.partition("="))
        if not sep or key not in types:
            raise ConfigError(f"bad dataset '{spec}': expected key=value with keys {', '.join(types)}, got '{item}'")
        if key in values:
            raise ConfigError(f"bad dataset '{spec}': {key} given twice")
        if types[key] == "str":
            values[key] = text
            continue
        try:
            values[key] = int(text) if types[key] == "int" else float(text)
        except ValueError:
            kind = "an integer" if types[key] == "int" else "a number"
            raise ConfigError(f"bad dataset '{spec}': {key} must be {kind}, got '{text}'") from None
        if not math.isfinite(values[key]):
            raise ConfigError(f"bad dataset '{spec}': {key} must be finite, got '{text}'")
    return values


def parse_sbm(spec: str) -> SBMParams:
    """``sbm:n=5000,classes=5,...`` -> SBMParams; every key is optional, unknown keys and bad values raise."""
    params = SBMParams(**_parse_options(spec, SBMParams))
    params.check()
    return params


def generate_sbm(params: SBMParams) -> Data:
    """A planted-partition graph with class-correlated features and a 60/20/20 split, all drawn from ``params.seed``.

    Each of the ``n * degree / 2`` edges picks a uniform random source; its target is a uniform random node of the
    source's class with probability ``homophily``, else of a uniformly chosen other class. Classes are balanced.
    """
    import torch
    from torch_geometric.data import Data

    n, classes, rng = params.n, params.classes, np.random.default_rng(params.seed)
    y = rng.permutation(np.arange(n) % classes)
    members = np.argsort(y, kind="stable")  # node ids grouped by class, so a class is a contiguous slice
    class_size = np.bincount(y, minlength=classes)
    class_start = np.cumsum(class_size) - class_size

    num_edges = round(n * params.degree / 2)
    source = rng.integers(0, n, num_edges)
    target_class = y[source]
    across = rng.random(num_edges) >= params.homophily
    target_class[across] = (target_class[across] + rng.integers(1, classes, int(across.sum()))) % classes
    offset = (rng.random(num_edges) * class_size[target_class]).astype(np.int64)
    target = members[class_start[target_class] + offset]

    centroids = rng.standard_normal((classes, params.features), dtype=np.float32)
    centroids *= CENTROID_NORM / math.sqrt(params.features)
    x = rng.standard_normal((n, params.features), dtype=np.float32)
    x *= params.noise
    x += centroids[y]

    data = Data(x=torch.from_numpy(x), y=torch.from_numpy(y),
                edge_index=torch.from_numpy(np.stack([source, target])))
    _random_split(data, rng)
    return data


# ---------------------------------------------------------------------------------------------------------------------
# User graphs in .npz files

_MASKS = ("train_mask", "val_mask", "test_mask")


# A user's graph without masks gets a 60/20/20 split drawn from this seed.
NPZ_SPLIT_SEED = 0


def _read_npz(path: Path) -> tuple[Data, bool]:
    """A user's graph, checked field by field so a bad file fails with one message naming the file and the problem;
    and whether the file gave the split (else it is a seeded 60/20/20 one)."""
    import torch
    from torch_geometric.data import Data


    def bad(problem: str) -> ConfigError:
        return ConfigError(f"bad npz dataset {path}: {problem}")

    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as error:  # missing file, not a zip, truncated, pickled objects: all mean "cannot read it"
        raise ConfigError(f"cannot read npz dataset {path}: {type(error).__name__}: {error}") from None
    missing = [key for key in ("x", "y", "edge_index") if key not in arrays]
    if missing:
        raise bad(f"missing array(s) {', '.join(missing)} (has: {', '.join(arrays) or 'none'})")

    x, y, edge_index = arrays["x"], arrays["y"], arrays["edge_index"]
    if x.ndim != 2 or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise bad(f"x must be a real-valued [N, F] array, got {x.dtype} {list(x.shape)}")
    if not np.isfinite(x).all():
        raise bad("x contains NaN or infinite values")
    num_nodes = x.shape[0]
    if num_nodes == 0:
        raise bad("x has no rows (the graph has no nodes)")
    if y.ndim not in (1, 2) or y.shape[0] != num_nodes:
        raise bad(f"y must be [N] or [N, C] with N = {num_nodes} (rows of x), got {list(y.shape)}")
    if y.ndim == 1:
        if not np.issubdtype(y.dtype, np.integer):
            raise bad(f"single-label y must hold integers, got {y.dtype}")
        if y.min() < 0:
            raise bad("y contains negative class labels")
    elif not np.isin(y, (0, 1)).all():
        raise bad("multi-label y ([N, C]) must hold only 0 and 1")
    if edge_index.ndim != 2 or edge_index.shape[0] != 2 or not np.issubdtype(edge_index.dtype, np.integer):
        raise bad(f"edge_index must be an integer [2, E] array, got {edge_index.dtype} {list(edge_index.shape)}")
    if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
        raise bad(f"edge_index refers to nodes outside 0..{num_nodes - 1}")

    data = Data(x=torch.from_numpy(x), y=torch.from_numpy(y), edge_index=torch.from_numpy(edge_index.astype(np.int64)))
    given_masks = [key for key in _MASKS if key in arrays]
    if not given_masks:
        _random_split(data, np.random.default_rng(NPZ_SPLIT_SEED))
        return data, False
    if len(given_masks) != len(_MASKS):
        raise bad(f"give all of {', '.join(_MASKS)} or none, got only {', '.join(given_masks)}")
    for key in _MASKS:
        mask = arrays[key]
        if mask.dtype != np.bool_ or mask.shape != (num_nodes,):
            raise bad(f"{key} must be a bool [{num_nodes}] array, got {mask.dtype} {list(mask.shape)}")
        data[key] = torch.from_numpy(mask)
    # An overlap would silently leak training nodes into the reported accuracy.
    if (data.train_mask.int() + data.val_mask.int() + data.test_mask.int()).max() > 1:
        raise bad("train_mask, val_mask and test_mask overlap")
    return data, True


# ---------------------------------------------------------------------------------------------------------------------
# Can it train?

# A multi-class label space with this many more classes than distinct labels (and at least MIN_UNUSED_CLASSES unused)
# is a mislabelled file, not a dataset with a few unused classes: one stray id of 10^5 would build a 100,001-class
# model.
UNUSED_CLASS_RATIO = 10
MIN_UNUSED_CLASSES = 100


def check_trainable(graph: Graph) -> None:
    """Refuse, with one line, a graph that cannot train or cannot be scored.

    No feature columns, features that are not finite once in float32 (NaN, infinite, or beyond ±3.4e38), no label
    columns, class ids far above the number of distinct labels, no training nodes, or no validation nodes (no best
    epoch could be chosen). No test nodes is allowed: test scores are then recorded as null.
    """
    import torch

    data = graph.data

    def refuse(problem: str) -> None:
        raise ConfigError(f"dataset {graph.name} cannot be trained on: {problem}")

    if graph.num_features == 0:
        refuse("x has no feature columns")
    if not torch.isfinite(data.x).all():
        refuse("x is not finite in float32 (NaN, infinite, or beyond ±3.4e38)")
    if graph.task == MULTILABEL and data.y.size(1) == 0:
        refuse("y has no label columns (shape [N, 0])")
    if graph.task == MULTICLASS:
        distinct = int(torch.unique(data.y).numel())
        unused = graph.num_classes - distinct
        if unused >= MIN_UNUSED_CLASSES and unused > UNUSED_CLASS_RATIO * distinct:
            refuse(f"label ids run up to {graph.num_classes - 1} (a {graph.num_classes}-class model) but only "
                   f"{distinct} distinct labels occur; number the classes 0..C-1")
    if not bool(data.train_mask.any()):
        refuse("train_mask is empty (no training nodes)")
    if not bool(data.val_mask.any()):
        refuse("val_mask is empty (no validation nodes: no best epoch could be chosen)")
    if not bool(data.test_mask.any()):
        log.warning("dataset %s has no test nodes: test scores are recorded as null", graph.name)


# ---------------------------------------------------------------------------------------------------------------------
# Registry


def list_datasets() -> list[DatasetInfo]:
    infos = [DatasetInfo(spec.name, spec.source, spec.description) for spec in _LIBRARY_DATASETS.values()]
    defaults = SBMParams()
    infos += [DatasetInfo(name, "generated", f"stochastic block model, {params.n:,} nodes, default parameters")
              for name, params in SBM_PRESETS.items()]
    infos.append(DatasetInfo(
        "sbm:KEY=VALUE,...", "generated",
        "stochastic block model; keys (all optional): " + ", ".join(
            f"{field.name}={_format_number(getattr(defaults, field.name))}" for field in fields(SBMParams)),
        pattern=True))
    infos.append(DatasetInfo("npz:PATH", "user file", "x [N,F], y [N] or 0/1 [N,C], edge_index [2,E], "
                                                      "optional train/val/test_mask (else a seeded 60/20/20 split)",
                             pattern=True))
    infos += [DatasetInfo(
        f"{name}:split=NAME,seed=N", spec.source,
        "its split drawn from seed: split=per-class (20 training and 30 validation nodes per class, the rest test; "
        f"Shchur et al. 2018) or split=random (60/20/20); default {SplitParams().text}", pattern=True)
        for name, spec in _LIBRARY_DATASETS.items() if spec.seeded_split]
    return infos


def _known_names() -> str:
    infos = list_datasets()
    return (", ".join(info.name for info in infos if not info.pattern) + "; patterns: "
            + ", ".join(info.name for info in infos if info.pattern))


def did_you_mean(word: str, known) -> str:
    """`` (did you mean 'x'?)`` for the known name closest to a misspelt ``word``, or nothing when none is close."""
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def validate_dataset_name(name: str) -> str:
    """The canonical name of a dataset, or ConfigError. Touches no files, so configs can be checked up front.

    A dataset without a standard split is always named with its split in full (``amazon-photo`` is
    ``amazon-photo:split=per-class,seed=0``), so one split has one name, in records and cache paths alike.
    """
    stripped = name.strip()
    key = stripped.lower()
    library = _LIBRARY_DATASETS.get(key.partition(":")[0].strip())
    if library is not None and library.seeded_split:  # no standard split: the name chooses one
        return f"{library.name}:{parse_split(key).text}"
    if key in _LIBRARY_DATASETS or key in SBM_PRESETS:
        return key
    if library is not None:
        raise ConfigError(f"bad dataset '{key}': {library.name} has a standard split ({library.split}) and takes no "
                          "options")
    if key.startswith("sbm:"):
        return parse_sbm(key).name
    if key.startswith("npz:"):
        path = stripped[len("npz:"):].strip()
        if not path:
            raise ConfigError("bad dataset 'npz:': give the file as npz:PATH")
        return "npz:" + os.path.abspath(os.path.expanduser(path))
    names = [info.name for info in list_datasets() if not info.pattern]
    raise ConfigError(f"unknown dataset '{name}'{did_you_mean(key.partition(':')[0], names)}; known: "
                      f"{_known_names()}")


def load_dataset(name: str, root: str | os.PathLike = "data", mirror: str | os.PathLike | None = None,
                 download: bool | None = None) -> Graph:
    """Load a dataset by registry name (see `list_datasets`) as a normalised `Graph`.

    ``root`` holds library datasets (one folder each, as their loaders lay them out); ``mirror`` (default: the
    SATBENCH_DATA_MIRROR environment variable) is a directory with the same layout, or several separated by
    ``os.pathsep`` and searched in order, whose files are copied into ``root`` when missing there. ``download``
    (default: on unless SATBENCH_OFFLINE=1) lets loaders fetch files found in none of them; when the files cannot be
    had, DatasetUnavailable says which files to put where.
    """
    canonical = validate_dataset_name(name)
    library_name = canonical.partition(":")[0]
    if library_name in _LIBRARY_DATASETS:
        spec = _LIBRARY_DATASETS[library_name]
        if mirror is None:
            mirror = os.environ.get(MIRROR_ENV) or None
        if download is None:
            download = os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("1", "true", "yes")
        split = parse_split(canonical) if spec.seeded_split else None
        return _load_library_dataset(spec, Path(root).absolute(), mirror_directories(mirror), download, canonical,
                                     split)
    if canonical in SBM_PRESETS or canonical.startswith("sbm:"):  # the split is drawn from the graph's own seed
        params = SBM_PRESETS[canonical] if canonical in SBM_PRESETS else parse_sbm(canonical)
        return _normalise(canonical, generate_sbm(params), MULTICLASS, "random", params.seed)
    data, given = _read_npz(Path(canonical[len("npz:"):]))
    return _normalise(canonical, data, MULTILABEL if data.y.dim() == 2 else MULTICLASS,
                      *(("given", None) if given else ("random", NPZ_SPLIT_SEED)))


def fetch_dataset(name: str, root: str | os.PathLike = "data", mirror: str | os.PathLike | None = None,
                  download: bool | None = None) -> str:
    """Make a dataset ready before any training job needs it (``satbench data fetch``, the workflow's data rule), and
    say how in one line. A library dataset's files are put in ``root``, copied from a mirror or else downloaded by its
    PyG/OGB loader, and then loaded once: that verifies them, and leaves the loader's processed files for the jobs, so
    parallel jobs neither download nor process the same files at once. A user's file is read and checked; a generated
    graph needs nothing. ``mirror`` and ``download`` as in `load_dataset`, whose DatasetUnavailable (which files to
    put where) or ConfigError this raises."""
    canonical = validate_dataset_name(name)
    spec = _LIBRARY_DATASETS.get(canonical.partition(":")[0])
    if spec is None and not canonical.startswith("npz:"):
        return f"{canonical}: generated from its parameters when a run starts; nothing to fetch"
    if spec is None:
        return f"{canonical}: readable ({_size_text(load_dataset(canonical))}); nothing to fetch"
    if mirror is None:
        mirror = os.environ.get(MIRROR_ENV) or None
    target = Path(root).absolute() / spec.directory
    missing = _missing_files(target, spec.files)
    holding = [directory / spec.directory for directory in mirror_directories(mirror)
               if any((directory / spec.directory / file).is_file() for file in missing)]
    mirrored = {file for file in missing if any((directory / file).is_file() for directory in holding)}
    graph = load_dataset(canonical, root, mirror, download)
    if not missing:
        how = "already there"
    elif mirrored == set(missing):
        how = f"copied from {', '.join(map(str, holding))}"
    else:
        how = "downloaded" + (f" (part copied from {', '.join(map(str, holding))})" if holding else "")
    return f"{canonical}: ready in {target}, {how}; it loads: {_size_text(graph)}"


def _size_text(graph: Graph) -> str:
    return (f"{graph.num_nodes:,} nodes, {graph.data.edge_index.size(1) // 2:,} edges, "
            f"{graph.num_classes} {'labels' if graph.task == MULTILABEL else 'classes'}")
