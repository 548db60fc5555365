"""The configuration of one training run, validated before any worker starts."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .halo import HALO_MODES
from .models import MODELS, NORMS
from .partition import PARTITIONERS

DEVICES = ("cpu", "cuda")
# gloo refuses a collective timeout of 1e13 s (an int64 overflow inside); 1e9 s (31 years) works.
MAX_TIMEOUT_S = 1e9
# Adam divides the learning rate by (1 - beta1) in float32 arithmetic: far beyond any useful rate, it overflows.
MAX_LR = 1e30
_INT64 = (-(2**63), 2**63 - 1)


@dataclass
class RunConfig:
    dataset: str
    model: str = "gcn"
    method: str = "exact"
    workers: int = 2
    epochs: int = 100
    seed: int = 0
    hidden: int = 64
    layers: int = 2
    lr: float = 0.01
    weight_decay: float = 0.0
    dropout: float = 0.5
    norm: str = "none"
    heads: int = 4  # GAT attention heads in hidden layers
    device: str = "cpu"
    eval_every: int = 1
    staleness_every: int = 10  # measure staleness every K epochs (and at the first and last); 0: never
    partitioner: str = "metis"
    partition_seed: int = 0  # partitions stay fixed across training seeds, as in the papers
    weight_sync: str | None = None  # None: the method's own choice
    local_steps: int | None = None  # None: the method's own choice
    method_options: dict[str, Any] = field(default_factory=dict)
    # "method": the rows the method supplies; "fresh": the fresh-halo control (the method's whole protocol, with every
    # halo row it supplies replaced by the exact row of that layer and step)
    halo: str = "method"
    # Layer-1 halo rows computed locally, exactly, from an aggregate their owners send once (GCN and SAGE only)
    exact_first_layer: bool = False
    data_root: str = "data"
    mirror: str | None = None
    cache_dir: str = "cache"
    timeout_s: float = 300.0  # collective timeout: a lost peer fails the run instead of hanging it
    progress: bool = True
    save_model: str | None = None  # where rank 0 saves the final weights (a state dict)
    # Emulated links, "RATE[,DELAY]" in tc's units (satbench.dist.network): every worker's traffic crosses a link of
    # that rate and delay. None: workers talk over the machine's loopback.
    network: str | None = None

    def validate(self) -> "RunConfig":
        """Check everything that needs no data on disk; raises :class:`ConfigError` with one readable message."""
        from .data import validate_dataset_name
        from .methods import WEIGHT_SYNCS, get_method, resolve_options

        self.dataset = validate_dataset_name(self.dataset)
        _choice("model", self.model, MODELS)
        _choice("norm", self.norm, NORMS)
        _choice("device", self.device, DEVICES)
        _choice("partitioner", self.partitioner, PARTITIONERS)
        _choice("halo", self.halo, HALO_MODES)
        if self.weight_sync is not None:
            _choice("weight sync", self.weight_sync, WEIGHT_SYNCS)
        for name in ("workers", "epochs", "hidden", "layers", "eval_every", "heads"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.staleness_every < 0:
            raise ConfigError(f"staleness-every must be >= 0, got {self.staleness_every}")
        if self.local_steps is not None and self.local_steps < 1:
            raise ConfigError(f"local-steps must be at least 1, got {self.local_steps}")
        # NaN passes every comparison and infinity most, so finiteness is checked first, by name.
        for name in ("lr", "weight_decay", "dropout", "timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{_flag(name)} must be a finite number, got {value!r}")
        for name in ("seed", "partition_seed"):
            if not _INT64[0] <= int(getattr(self, name)) <= _INT64[1]:
                raise ConfigError(f"{_flag(name)} must fit in a signed 64-bit integer, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.lr <= MAX_LR:
            raise ConfigError(f"lr must be positive and at most {MAX_LR:.0e}, got {self.lr}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight-decay must be non-negative, got {self.weight_decay}")
        if not 0 < self.timeout_s <= MAX_TIMEOUT_S:
            raise ConfigError(f"timeout must be positive and at most {MAX_TIMEOUT_S:.0e} seconds, got {self.timeout_s}")
        if self.network is not None:
            from .dist.network import parse_network

            self.network = parse_network(self.network).text  # stored as tc spells it, lower case
        if self.model == "gat" and self.layers > 1 and self.hidden % self.heads:
            raise ConfigError(f"GAT hidden size {self.hidden} must be divisible by heads={self.heads}")
        # Stored resolved and typed, so the record states every hyperparameter the method ran with.
        method = get_method(self.method)
        self.method_options = resolve_options(method, self.method_options)
        if self.halo == "fresh" and method.train_graph == "inner":
            raise ConfigError(f"--halo fresh: method {self.method!r} uses no halo rows (it drops cut edges), so there "
                              "is nothing to replace")
        if method.exact_first_layer:  # the method is built on it
            self.exact_first_layer = True
        if self.exact_first_layer:
            self._check_exact_first_layer(method)
        method.check_run(self)
        if self.device == "cuda":
            import torch

            available = torch.cuda.device_count()
            if available == 0:
                raise ConfigError("device cuda requested but torch sees no CUDA device")
        return self

    def _check_exact_first_layer(self, method) -> None:
        def refuse(why: str) -> None:
            raise ConfigError(f"--exact-first-layer: {why}")

        if self.model not in ("gcn", "sage"):
            refuse(f"{self.model} layers have no static pre-aggregate (GAT's attention depends on the current "
                   "weights of both endpoints); use gcn or sage")
        if self.norm == "batch":
            refuse("batch norm's statistics belong to each step, so a halo row's first layer cannot be computed "
                   "apart; use --norm none or layer")
        if self.dropout != 0:
            refuse("needs --dropout 0: a neighbour's dropout mask cannot be pre-aggregated")
        if self.layers < 2:
            refuse("a one-layer model has no hidden halo rows")
        if method.train_graph == "inner":
            refuse(f"method {self.method!r} uses no halo rows")

    @property
    def resolved_weight_sync(self) -> str:
        from .methods import get_method

        return self.weight_sync or get_method(self.method).weight_sync

    @property
    def resolved_local_steps(self) -> int:
        from .methods import get_method

        return self.local_steps or get_method(self.method).local_steps

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown run setting(s): {', '.join(unknown)}")
        return cls(**values)


def _flag(name: str) -> str:
    """The command-line spelling of a setting, for messages."""
    return {"timeout_s": "timeout"}.get(name, name).replace("_", "-")


def _choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")
