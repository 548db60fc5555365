"""The training loop one worker runs inside an initialised process group.

Per epoch: ``local_steps`` optimiser steps on the worker's part (the method supplies halo rows between layers),
weight synchronisation (gradient all-reduce every step, or model averaging at the end of the epoch), then, every
``eval_every`` epochs and at the last one, exact distributed evaluation in eval mode with the current weights.
Evaluation time and traffic are kept out of the epoch's timings.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F

from .config import RunConfig
from .dist.comm import Communicator
from .evaluate import Scorer
from .methods import MethodContext, get_method
from .models import LocalGraph, build_model, gcn_edge_weights
from .partition import Part
from .record import summarize

# Per-worker statistics gathered at the end of every epoch, in this order.
_STAT_FIELDS = ("loss_sum", "train_count", "epoch_time_s", "comm_time_s", "halo_bytes", "halo_grad_bytes",
                "reduce_bytes", "other_bytes", "measure_time_s")
_BYTE_FIELDS = ("halo_bytes", "halo_grad_bytes", "reduce_bytes", "other_bytes")
_STALENESS_FIELDS = ("error_sq", "exact_sq", "cosine_sum", "rows", "age_epochs_sum", "age_steps_sum",
                     "replaced_error_sq")
# Traffic that is not part of training: measuring staleness and evaluating.
UNCOUNTED = ("measure", "eval", "setup", "stats")


def local_graph(part: Part, model: str, device: torch.device, *, drop_cut_edges: bool = False,
                partial_halo: bool = False) -> LocalGraph:
    """The worker's message-passing graph.

    Default: every edge into an inner row (exact aggregation). ``drop_cut_edges``: only edges between inner rows,
    with degrees counted inside the part (partition-based training). ``partial_halo``: also the reversed cut edges,
    into halo rows, so a layer recomputes halo rows from in-partition messages.
    """
    edge_index, degree, num_targets = part.edge_index, part.degree, part.num_inner
    if drop_cut_edges:
        edge_index = edge_index[:, edge_index[0] < part.num_inner]
        degree = torch.bincount(edge_index[1], minlength=part.num_inner + part.num_halo)
    elif partial_halo:
        cut = edge_index[:, edge_index[0] >= part.num_inner]
        edge_index = torch.cat([edge_index, cut.flip(0)], dim=1)
        num_targets = part.num_inner + part.num_halo
    edge_weight = None
    if model == "gcn":
        edge_index, edge_weight = gcn_edge_weights(edge_index, degree, num_targets)
        edge_weight = edge_weight.to(device)
    return LocalGraph(edge_index.to(device), part.num_inner, part.local_nodes.to(device), edge_weight, num_targets)


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
        method_class = get_method(config.method)
        self.eval_graph = local_graph(part, config.model, device)
        self.train_graph = self.eval_graph
        if method_class.drops_cut_edges or method_class.needs_partial_halo:
            self.train_graph = local_graph(part, config.model, device, drop_cut_edges=method_class.drops_cut_edges,
                                           partial_halo=method_class.needs_partial_halo)
        self.model = build_model(config.model, meta["num_features"], meta["num_classes"], config.hidden,
                                 config.layers, config.dropout, config.norm, config.heads, seed=config.seed).to(device)
        self.weight_sync = config.resolved_weight_sync
        self.local_steps = config.resolved_local_steps
        self.method = method_class(MethodContext(self.comm, config.layers, self.local_steps, config.lr,
                                                 self.eval_graph), **config.method_options)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        # All-reduced gradients must be those of the global mean loss; averaged models train on their own mean.
        self.loss_denominator = (part.num_train_total if self.weight_sync == "allreduce"
                                 else max(int(part.train_mask.sum()), 1))
        self.scorer = Scorer(self.comm, meta["task"], meta["metric"], meta["ogb_name"], self.masks)
        self.step = 0
        self.method.setup([(inner, halo) for inner, halo, _ in self.exact_trace()])
        self.comm.meter.reset()

    # -- training ------------------------------------------------------------------------------------------------
    def train_step(self) -> float:
        self.model.train()
        self.method.start_step(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model(self.x, self.train_graph, self.method.supply_halo,
                            dropout_key=(self.config.seed, self.step), sum_across=self.comm.sum_across)
        mask = self.masks["train"]
        summed = loss_sum(logits[mask], self.y[mask], self.meta["task"])
        (summed / self.loss_denominator).backward()
        self.method.after_backward()
        if self.weight_sync == "allreduce":
            self.comm.all_reduce_gradients(self.model)
        self.optimizer.step()
        self.step += 1
        return float(summed.detach())

    def train_epoch(self, epoch: int, measure: bool = False) -> tuple[dict[str, float], list[dict] | None]:
        """Run one epoch; returns this worker's raw statistics and, if asked, its staleness measurement.

        Staleness is measured after the method's epoch start (when periodic methods pull) and before the first
        step, so it describes the halo rows this epoch trains with; its time and traffic are kept out of the
        epoch's figures.
        """
        self.comm.meter.reset()
        _synchronize(self.device)
        start = time.perf_counter()
        self.method.start_epoch(epoch, self.step)
        staleness, measure_time = None, 0.0
        if measure:
            _synchronize(self.device)
            measure_start = time.perf_counter()
            staleness = self.measure_staleness()
            _synchronize(self.device)
            measure_time = time.perf_counter() - measure_start
        summed = [self.train_step() for _ in range(self.local_steps)]
        if self.weight_sync == "average":
            self.comm.average_parameters(self.model)
        _synchronize(self.device)
        meter = self.comm.meter
        counted = {k: v for k, v in meter.bytes.items() if k not in UNCOUNTED}
        stats = {
            "loss_sum": sum(summed) / self.local_steps,
            "train_count": float(self.masks["train"].sum()),
            "epoch_time_s": time.perf_counter() - start - measure_time,
            "comm_time_s": sum(v for k, v in meter.seconds.items() if k not in UNCOUNTED),
            "halo_bytes": float(counted.get("halo", 0)),
            "halo_grad_bytes": float(counted.get("halo_grad", 0)),
            "reduce_bytes": float(counted.get("reduce", 0)),
            "other_bytes": float(sum(v for k, v in counted.items() if k not in ("halo", "halo_grad", "reduce"))),
            "measure_time_s": measure_time,
        }
        for key, value in self.method.epoch_metrics().items():
            stats[f"method:{key}"] = float(value)
        return stats, staleness

    # -- exact reference passes ----------------------------------------------------------------------------------
    @torch.no_grad()
    def exact_trace(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Eval-mode forward with fresh halo rows at every layer and the current weights; per hidden layer, the
        inner rows, the exact halo rows and (for methods that use it) the partial recomputation of halo rows."""
        trace = []

        def record_exact(layer, h_inner, partial_halo):
            halo = self.comm.exchange(h_inner, category="measure")
            trace.append((h_inner, halo, partial_halo))
            return halo

        self.model.eval()
        self.model(self.x, self.train_graph if self.method.needs_partial_halo else self.eval_graph, record_exact,
                   sum_across=self.comm.sum_across)
        return trace

    @torch.no_grad()
    def measure_staleness(self) -> list[dict[str, float]]:
        """Per hidden layer, sums over this worker's halo rows of what the method uses against the exact rows."""
        measured = []
        for layer, (h_inner, exact, partial) in enumerate(self.exact_trace(), start=1):
            used = self.method.peek_halo(layer, h_inner, partial)
            replaced = self.method.peek_replaced_halo(layer, h_inner, partial)
            age_epochs, age_steps = self.method.halo_age(layer)
            rows = float(exact.size(0))
            measured.append({
                "error_sq": float((used - exact).pow(2).sum()),
                "exact_sq": float(exact.pow(2).sum()),
                "cosine_sum": float(F.cosine_similarity(used, exact, dim=1, eps=1e-12).sum()) if rows else 0.0,
                "rows": rows,
                "age_epochs_sum": age_epochs * rows,
                "age_steps_sum": age_steps * rows,
                "replaced_error_sq": float((replaced - exact).pow(2).sum()) if replaced is not None else -1.0,
            })
        return measured

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Exact full-graph inference (fresh halo rows at every layer) in eval mode with the current weights."""
        self.model.eval()
        logits = self.model(self.x, self.eval_graph,
                            lambda layer, h, partial: self.comm.exchange(h, category="eval"),
                            sum_across=self.comm.sum_across)
        return self.scorer.score(logits, self.y)

    # -- bookkeeping ---------------------------------------------------------------------------------------------
    def epoch_row(self, epoch: int, stats: dict[str, float], staleness: list[dict] | None,
                  scores: dict[str, float] | None, eval_time: float) -> dict[str, Any]:
        """Combine every worker's statistics (the result is identical on all workers)."""
        method_keys = sorted(k for k in stats if k.startswith("method:"))
        values = [stats[k] for k in _STAT_FIELDS] + [stats[k] for k in method_keys]
        for layer in staleness or []:
            values += [layer[k] for k in _STALENESS_FIELDS]
        gathered = self.comm.gather_rows(torch.tensor(values, dtype=torch.float64, device=self.device)).cpu()
        column = {name: gathered[:, i] for i, name in enumerate(_STAT_FIELDS)}
        worker_compute = column["epoch_time_s"] - column["comm_time_s"]
        traffic = {name: int(column[name].sum()) for name in _BYTE_FIELDS}
        row = {
            "epoch": epoch,
            "loss": float(column["loss_sum"].sum() / column["train_count"].sum()),
            "train": scores["train"] if scores else None,
            "val": scores["val"] if scores else None,
            "test": scores["test"] if scores else None,
            # The slowest worker sets the pace of a synchronous epoch.
            "epoch_time_s": float(column["epoch_time_s"].max()),
            "compute_time_s": float(worker_compute.max()),
            "comm_time_s": float(column["comm_time_s"].max()),
            "comm_bytes": sum(traffic.values()),
            **traffic,  # halo_bytes: embeddings sent; halo_grad_bytes: their gradients; other: protocol control
            "comm_bytes_per_worker": [int(sum(column[k][w] for k in _BYTE_FIELDS)) for w in range(gathered.size(0))],
            "eval_time_s": eval_time,
            "measure_time_s": float(column["measure_time_s"].max()),
        }
        for index, key in enumerate(method_keys, start=len(_STAT_FIELDS)):
            name = key.removeprefix("method:")
            values = gathered[:, index]
            row[name] = float(values.max() if name.endswith("_time_s") else values.mean())
        if staleness is not None:
            offset = len(_STAT_FIELDS) + len(method_keys)
            row["staleness"] = _combine_staleness(gathered[:, offset:], len(staleness))
            row["staleness_age"] = [layer["age_epochs"] for layer in row["staleness"]]
        return row

    def should_measure(self, epoch: int) -> bool:
        every = self.config.staleness_every
        return every > 0 and (epoch == 1 or epoch == self.config.epochs or epoch % every == 0)

    def fit(self, progress=None) -> list[dict[str, Any]]:
        rows = []
        epochs = self.config.epochs
        for epoch in range(1, epochs + 1):
            stats, staleness = self.train_epoch(epoch, measure=self.should_measure(epoch))
            scores, eval_time = None, 0.0
            if epoch % self.config.eval_every == 0 or epoch == epochs:
                start = time.perf_counter()
                scores = self.evaluate()
                eval_time = time.perf_counter() - start
            rows.append(self.epoch_row(epoch, stats, staleness, scores, eval_time))
            _check_finite(epoch, rows[-1], self.model)  # stop at the first non-finite loss, weight or statistic
            if progress is not None:
                progress.update(1)
                best = summarize(rows)["best_val"]
                progress.set_postfix(loss=f"{rows[-1]['loss']:.4f}", best_val="-" if best is None else f"{best:.4f}")
        return rows


def _combine_staleness(columns: torch.Tensor, num_layers: int) -> list[dict[str, float]]:
    """Per layer: relative Frobenius error over all workers' halo rows, mean cosine similarity and mean age."""
    totals = columns.sum(0).view(num_layers, len(_STALENESS_FIELDS))
    combined = []
    for layer, values in enumerate(totals.tolist(), start=1):
        item = dict(zip(_STALENESS_FIELDS, values))
        if item["rows"] == 0:  # no halo rows anywhere (one worker): nothing was measured
            combined.append({"layer": layer, "rel_error": None, "cosine": None, "age_epochs": None,
                             "age_steps": None})
            continue
        rows = item["rows"]
        combined.append({
            "layer": layer,
            "rel_error": math.sqrt(item["error_sq"] / item["exact_sq"]) if item["exact_sq"] > 0 else 0.0,
            "cosine": item["cosine_sum"] / rows,
            "age_epochs": item["age_epochs_sum"] / rows,
            "age_steps": item["age_steps_sum"] / rows,
        })
        if item["replaced_error_sq"] >= 0:  # -1 per worker marks "nothing replaced"
            combined[-1]["replaced_rel_error"] = (math.sqrt(item["replaced_error_sq"] / item["exact_sq"])
                                                  if item["exact_sq"] > 0 else 0.0)
    return combined


def _check_finite(epoch: int, row: dict[str, Any], model: torch.nn.Module) -> None:
    """Raise :class:`TrainingDiverged` if the epoch's loss, any weight, or any other number of its row is not finite.

    The loss is combined over all workers and the weights are synchronised, so every worker stops at the same epoch.
    """
    from .errors import TrainingDiverged

    loss = row["loss"]
    if not math.isfinite(loss):
        raise TrainingDiverged(f"training diverged at epoch {epoch}: loss {loss}")
    for name, parameter in model.named_parameters():
        if not bool(torch.isfinite(parameter.detach()).all()):
            raise TrainingDiverged(f"training diverged at epoch {epoch}: weight {name} is not finite")

    def walk(value: Any, path: str) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise TrainingDiverged(f"training diverged at epoch {epoch}: {path} {value}")
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, key if not path else f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")

    walk(row, "")
