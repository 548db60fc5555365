"""The training loop one worker runs inside an initialised process group.

Per epoch: ``local_steps`` optimiser steps on the worker's part (the method supplies halo rows between layers),
weight synchronisation (gradient all-reduce every step, or model averaging at the end of the epoch), then, every
``eval_every`` epochs and at the last one, exact distributed evaluation in eval mode with the current weights.
Evaluation time and traffic are kept out of the epoch's timings.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from .config import RunConfig
from .dist.comm import Communicator
from .evaluate import Scorer
from .methods import get_method
from .models import LocalGraph, build_model, gcn_edge_weights
from .partition import Part
from .record import summarize

# Per-worker statistics gathered at the end of every epoch, in this order.
_STAT_FIELDS = ("loss_sum", "train_count", "epoch_time_s", "comm_time_s", "halo_bytes", "reduce_bytes")


def local_graph(part: Part, model: str, device: torch.device) -> LocalGraph:
    edge_index, edge_weight = part.edge_index, None
    if model == "gcn":
        edge_index, edge_weight = gcn_edge_weights(edge_index, part.degree, part.num_inner)
        edge_weight = edge_weight.to(device)
    return LocalGraph(edge_index.to(device), part.num_inner, part.local_nodes.to(device), edge_weight)


def loss_sum(logits: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor:
    """Summed (not averaged) loss, so that dividing by the *global* training-set size gives full-graph gradients."""
    if task == "multilabel":
        return F.binary_cross_entropy_with_logits(logits, y, reduction="sum") / y.size(1)
    return F.cross_entropy(logits, y, reduction="sum")


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Trainer:
    """Everything one worker holds: its part, the model, the optimiser and the method."""

    def __init__(self, config: RunConfig, meta: dict[str, Any], part: Part, device: torch.device):
        self.config, self.meta, self.part, self.device = config, meta, part, device
        self.comm = Communicator(part, device)
        x_inner = part.x.to(device)
        # Layer 0's halo rows are input features: static, so fetched once.
        self.x = torch.cat([x_inner, self.comm.exchange(x_inner, category="setup")])
        self.setup_bytes = self.comm.meter.total_bytes
        self.y = part.y.to(device)
        self.masks = {"train": part.train_mask.to(device), "val": part.val_mask.to(device),
                      "test": part.test_mask.to(device)}
        self.graph = local_graph(part, config.model, device)
        self.model = build_model(config.model, meta["num_features"], meta["num_classes"], config.hidden,
                                 config.layers, config.dropout, config.norm, config.heads, seed=config.seed).to(device)
        self.method = get_method(config.method)(self.comm, config.layers, **config.method_options)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.weight_sync = config.resolved_weight_sync
        self.local_steps = config.resolved_local_steps
        # All-reduced gradients must be those of the global mean loss; averaged models train on their own mean.
        self.loss_denominator = (part.num_train_total if self.weight_sync == "allreduce"
                                 else max(int(part.train_mask.sum()), 1))
        self.scorer = Scorer(self.comm, meta["task"], meta["metric"], meta["ogb_name"], self.masks)
        self.step = 0

    def train_step(self) -> float:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model(self.x, self.graph, self.method.supply_halo, dropout_key=(self.config.seed, self.step),
                            sum_across=self.comm.sum_across)
        mask = self.masks["train"]
        summed = loss_sum(logits[mask], self.y[mask], self.meta["task"])
        (summed / self.loss_denominator).backward()
        if self.weight_sync == "allreduce":
            self.comm.all_reduce_gradients(self.model)
        self.optimizer.step()
        self.step += 1
        return float(summed.detach())

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """Run one epoch; returns this worker's raw statistics."""
        self.comm.meter.reset()
        _synchronize(self.device)
        start = time.perf_counter()
        self.method.start_epoch(epoch)
        summed = [self.train_step() for _ in range(self.local_steps)]
        if self.weight_sync == "average":
            self.comm.average_parameters(self.model)
        _synchronize(self.device)
        meter = self.comm.meter
        return {
            "loss_sum": sum(summed) / self.local_steps,
            "train_count": float(self.masks["train"].sum()),
            "epoch_time_s": time.perf_counter() - start,
            "comm_time_s": meter.total_seconds,
            "halo_bytes": float(sum(v for k, v in meter.bytes.items() if k != "reduce")),
            "reduce_bytes": float(meter.bytes.get("reduce", 0)),
        }

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Exact full-graph inference (fresh halo rows at every layer) in eval mode with the current weights."""
        self.model.eval()
        logits = self.model(self.x, self.graph, lambda layer, h: self.comm.exchange(h, category="eval"),
                            sum_across=self.comm.sum_across)
        return self.scorer.score(logits, self.y)

    def epoch_row(self, epoch: int, stats: dict[str, float], scores: dict[str, float] | None,
                  eval_time: float) -> dict[str, Any]:
        """Combine every worker's statistics (identical on all workers)."""
        gathered = self.comm.gather_rows(torch.tensor([stats[k] for k in _STAT_FIELDS], dtype=torch.float64,
                                                      device=self.device)).cpu()
        column = {name: gathered[:, i] for i, name in enumerate(_STAT_FIELDS)}
        worker_compute = column["epoch_time_s"] - column["comm_time_s"]
        halo, reduce = int(column["halo_bytes"].sum()), int(column["reduce_bytes"].sum())
        return {
            "epoch": epoch,
            "loss": float(column["loss_sum"].sum() / column["train_count"].sum()),
            "train": scores["train"] if scores else None,
            "val": scores["val"] if scores else None,
            "test": scores["test"] if scores else None,
            # The slowest worker sets the pace of a synchronous epoch.
            "epoch_time_s": float(column["epoch_time_s"].max()),
            "compute_time_s": float(worker_compute.max()),
            "comm_time_s": float(column["comm_time_s"].max()),
            "comm_bytes": halo + reduce,
            "halo_bytes": halo,
            "reduce_bytes": reduce,
            "comm_bytes_per_worker": [int(h + r) for h, r in zip(column["halo_bytes"], column["reduce_bytes"])],
            "eval_time_s": eval_time,
        }

    def fit(self, progress=None) -> list[dict[str, Any]]:
        rows = []
        epochs = self.config.epochs
        for epoch in range(1, epochs + 1):
            stats = self.train_epoch(epoch)
            scores, eval_time = None, 0.0
            if epoch % self.config.eval_every == 0 or epoch == epochs:
                start = time.perf_counter()
                scores = self.evaluate()
                eval_time = time.perf_counter() - start
            rows.append(self.epoch_row(epoch, stats, scores, eval_time))
            if progress is not None:
                progress.update(1)
                best = summarize(rows)
                progress.set_postfix(loss=f"{rows[-1]['loss']:.4f}", best_val=best["best_val"])
        return rows
