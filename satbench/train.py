"""The training loop one worker runs inside an initialised process group.

Per epoch: ``local_steps`` optimiser steps on the worker's part (the method supplies halo rows between layers),
weight synchronisation (gradient all-reduce every step, or model averaging at the end of the epoch), then, every
``eval_every`` epochs and at the last one, exact distributed evaluation in eval mode with the current weights.
Evaluation time and traffic are kept out of the epoch's timings.

With ``--checkpoint-every K`` the loop hands its state to a checkpoint store every K epochs (:meth:`Trainer.fit`):
the model, the optimiser, the method's state (:meth:`~satbench.methods.Method.state_dict`), the step counter, the
random number generators' states, the epoch and the epoch rows so far; a run resumed from it continues with the
next epoch and yields the rows an uninterrupted run yields.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Protocol

import torch
import torch.nn.functional as F

from .config import RunConfig
from .comm import Communicator
from .evaluate import Scorer
from .halo import NO_MASK, SEAM_FIELDS, FirstLayerRows, HaloSeam, UsedRows
from .methods import MethodContext, get_method, load_optimizer_state
from .models import LocalGraph, SparseAggregation, build_model, first_layer_aggregate, gcn_edge_weights
from .partition import Part
from .prepared import PreparedRun
from .record import epoch_row
from .staleness import (DRIFT_FIELDS, MeasurementSchedule, agreed_mask_steps, combine_drift, drift_sums,
                        mask_steps)
from .traffic import CONTROL_TRAFFIC, METHOD_TRAFFIC, Traffic

# Per hidden layer, per worker, at a measured step: the sums that combine into the staleness row's columns.
STALENESS_FIELDS = (*SEAM_FIELDS, *DRIFT_FIELDS)

# The record's byte columns of the method's own traffic, one per counted category (satbench.traffic.Traffic, as the
# record declares them: satbench.record.EPOCH_ROW); the rest (measuring staleness, evaluating, setting up, these
# statistics, the fresh-halo control's rows) is kept apart.
BYTE_FIELDS = tuple(category.column for category in METHOD_TRAFFIC)
# Per-worker statistics gathered at the end of every epoch, in this order.
_STAT_FIELDS = ("loss_sum", "train_count", "epoch_time_s", "comm_time_s", *BYTE_FIELDS, "measure_time_s",
                "control_bytes", "control_time_s")


def local_graph(part: Part, model: str, device: torch.device, kind: str = "full",
                detach_halo_weights: bool = True) -> LocalGraph:
    """The worker's message-passing graph (``Method.train_graph``).

    ``full``: every edge into an inner row (exact aggregation). ``inner``: only edges between inner rows, with
    degrees counted inside the part (partition-based training). ``partial_halo``: also the reversed cut edges, into
    halo rows, so a layer recomputes halo rows from in-partition messages, with its weights detached there unless
    ``detach_halo_weights`` is false (:attr:`LocalGraph.halo_weights_detached`: LMC's authors' out-of-batch rows).

    GCN and SAGE also get the sparse aggregation their layers use (see :mod:`satbench.models`).
    """
    edge_index, degree, num_targets = part.edge_index, part.degree, part.num_inner
    if kind == "inner":
        edge_index = edge_index[:, edge_index[0] < part.num_inner]
        degree = torch.bincount(edge_index[1], minlength=part.num_inner + part.num_halo)
    elif kind == "partial_halo":
        cut = edge_index[:, edge_index[0] >= part.num_inner]
        edge_index = torch.cat([edge_index, cut.flip(0)], dim=1)
        num_targets = part.num_inner + part.num_halo
    edge_weight = None
    if model == "gcn":
        edge_index, edge_weight = gcn_edge_weights(edge_index, degree, num_targets)
        edge_weight = edge_weight.to(device)
    num_rows = part.num_inner + part.num_halo
    edge_index = edge_index.to(device)
    aggregation = halo_aggregation = None
    if model in ("gcn", "sage") and kind == "partial_halo":  # halo rows apart: their weights are detached
        into_inner = edge_index[1] < part.num_inner
        weights = (None, None) if edge_weight is None else (edge_weight[into_inner], edge_weight[~into_inner])
        aggregation = SparseAggregation(edge_index[:, into_inner], part.num_inner, num_rows, weights[0])
        halo_edges = edge_index[:, ~into_inner] - torch.tensor([[0], [part.num_inner]], device=edge_index.device)
        halo_aggregation = SparseAggregation(halo_edges, part.num_halo, num_rows, weights[1])
    elif model in ("gcn", "sage"):
        aggregation = SparseAggregation(edge_index, num_targets, num_rows, edge_weight)
    return LocalGraph(edge_index, part.num_inner, part.local_nodes.to(device), edge_weight, num_targets, aggregation,
                      halo_weights_detached=kind == "partial_halo" and detach_halo_weights,
                      halo_aggregation=halo_aggregation)


def loss_sum(logits: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor:
    """Summed (not averaged) loss, so that dividing by the *global* training-set size gives full-graph gradients."""
    if task == "multilabel":
        return F.binary_cross_entropy_with_logits(logits, y, reduction="sum") / y.size(1)
    return F.cross_entropy(logits, y, reduction="sum")


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class CheckpointStore(Protocol):
    """Where :meth:`Trainer.fit` keeps its checkpoints (``satbench.runtime.checkpoint``; a test keeps them in
    memory). Every worker calls both, at the same epochs."""

    def load(self) -> dict[str, Any] | None:
        """This worker's state of the latest checkpoint of this configuration, or None to start afresh."""

    def save(self, epoch: int, state: dict[str, Any]) -> None:
        """Keep ``state``, this worker's after ``epoch``, as the latest checkpoint once every worker has saved it."""


class Trainer:
    """Everything one worker holds: its part, the model, the optimiser and the method."""

    def __init__(self, config: RunConfig, prepared: PreparedRun, part: Part, device: torch.device):
        # The configuration that runs: validated here unless it was already (the launcher's was, once).
        config = config.validate()
        self.config, self.prepared, self.part, self.device = config, prepared, part, device
        self.comm = Communicator(part, device, config.timeout_s)
        x_inner = part.x.to(device)
        # Layer 0's halo rows are input features: static, so fetched once.
        self.x = torch.cat([x_inner, self.comm.exchange(x_inner, category=Traffic.SETUP)])
        self.setup_bytes = self.comm.meter.total_bytes
        self.first_layer_bytes = 0
        self.y = part.y.to(device)
        self.masks = {"train": part.train_mask.to(device), "val": part.val_mask.to(device),
                      "test": part.test_mask.to(device)}
        entry = get_method(config.method)
        # What the method reports every epoch besides the record's own columns, as it declares it (Method.metrics).
        self.metric_units = {metric.name: metric.unit for metric in entry.metrics}
        self.eval_graph = local_graph(part, config.model, device)
        self.train_graph = self.eval_graph
        if entry.train_graph != "full":
            self.train_graph = local_graph(part, config.model, device, entry.train_graph,
                                           entry.detaches_halo_weights(config.method_options))
        self.model = build_model(config.model, prepared.num_features, prepared.num_classes, config.hidden,
                                 config.layers, config.dropout, config.norm, config.heads, seed=config.seed).to(device)
        self.weight_sync, self.local_steps = config.weight_sync, config.local_steps  # resolved: given, or the method's
        self.first_layer = self._exact_first_layer() if config.exact_first_layer else None
        self.method = entry(MethodContext(self.comm, config.layers, self.local_steps, config.lr, self.eval_graph,
                                          self.first_layer, part.degree.to(device), self.fresh_pass),
                            **config.method_options)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        # All-reduced gradients must be those of the global mean loss; averaged models train on their own mean.
        self.loss_denominator = (part.num_train_total if self.weight_sync == "allreduce"
                                 else max(int(part.train_mask.sum()), 1))
        self.scorer = Scorer(self.comm, prepared.task, prepared.metric, prepared.ogb_name, self.masks)
        self.seam = HaloSeam(self.method, self.comm, config.halo, self.first_layer)
        self.step = 0
        self.schedule = MeasurementSchedule(config.seed, config.staleness_every, self.local_steps, config.epochs)
        first_supplied = 2 if self.first_layer is not None else 1
        self.method.setup({layer: rows for layer, rows in enumerate(self.exact_trace(), start=1)
                           if layer >= first_supplied})
        self.comm.meter.reset()

    def _exact_first_layer(self) -> FirstLayerRows:
        """Owners send each halo node's static first-layer aggregate once (``first_layer_bytes``, all workers); the
        layer-1 halo rows are then computed here, exactly, with the current weights, at every step."""
        before = self.comm.meter.total_bytes
        aggregate = first_layer_aggregate(self.config.model, self.eval_graph, self.x)
        halo_aggregate = self.comm.exchange(aggregate, category=Traffic.SETUP)
        sent = torch.tensor([float(self.comm.meter.total_bytes - before)], dtype=torch.float64, device=self.device)
        self.first_layer_bytes = int(self.comm.all_reduce(sent, Traffic.SETUP))  # over all workers
        x_halo = self.x[self.part.num_inner:]
        partial_next = None
        if self.config.model == "gcn" and self.config.layers >= 3:
            # edges into halo rows too (reversed cut edges, self loops, global-degree weights)
            graph = local_graph(self.part, "gcn", self.device, "partial_halo")
            partial_next = lambda rows: self.model.conv(1, rows, graph)[self.part.num_inner:]  # noqa: E731
        return FirstLayerRows(lambda: self.model.first_layer_halo(halo_aggregate, x_halo), partial_next)

    # -- training ------------------------------------------------------------------------------------------------
    def train_step(self) -> float:
        self.model.train()
        self.method.start_step(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model(self.x, self.train_graph, self.seam, dropout_key=self.dropout_key(),
                            sum_across=self.comm.sum_across)
        mask = self.masks["train"]
        summed = loss_sum(logits[mask], self.y[mask], self.prepared.task)
        (summed / self.loss_denominator).backward()
        self.method.after_backward()
        if self.weight_sync == "allreduce":
            self.comm.all_reduce_gradients(self.model)
        self.optimizer.step()
        self.step += 1
        return float(summed.detach())

    def dropout_key(self) -> tuple[int, int]:
        """The current step's dropout key: the same masks in training and in the step's reference pass."""
        return self.config.seed, self.step

    def train_epoch(self, epoch: int, measure: int | None = None) -> tuple[dict[str, float], list[dict] | None]:
        """Run one epoch; returns this worker's raw statistics and, if asked, its staleness measurement.

        ``measure``: the local step at which to measure staleness (:class:`~satbench.staleness.MeasurementSchedule`
        draws it), or None. Before that step the halo seam is armed with the exact rows of a reference pass with the
        same weights, mode and dropout masks; after it, the rows the step used are compared again with exact rows of
        each row's own masks (:meth:`measure_drift`). Its time and traffic are kept out of the epoch's figures, and so
        is the exchange the fresh-halo control adds (reported as control_bytes / control_time_s).
        """
        self.comm.meter.reset()
        self.comm.position.epoch = epoch
        self.seam.measure_time = 0.0
        _synchronize(self.device)
        start = time.perf_counter()
        self.method.start_epoch(epoch, self.step)
        staleness, reference_time = None, 0.0
        summed = []
        for local_step in range(self.local_steps):
            measuring = measure == local_step
            if measuring:
                _synchronize(self.device)
                reference_start = time.perf_counter()
                weights = {name: value.detach().clone() for name, value in self.model.state_dict().items()}
                current = self.reference_trace()
                self.seam.arm(current)
                _synchronize(self.device)
                reference_time += time.perf_counter() - reference_start
            summed.append(self.train_step())
            if measuring:
                _synchronize(self.device)
                reference_start = time.perf_counter()
                compared, used = self.seam.take_measurement()
                staleness = self.measure_drift(compared, used, current, weights, self.step - 1, local_step)
                _synchronize(self.device)
                reference_time += time.perf_counter() - reference_start
        if self.weight_sync == "average":
            self.comm.average_parameters(self.model)
        _synchronize(self.device)
        meter = self.comm.meter
        measure_time = reference_time + self.seam.measure_time
        control_time = sum(meter.seconds.get(category, 0.0) for category in CONTROL_TRAFFIC)
        stats = {
            "loss_sum": sum(summed) / self.local_steps,
            "train_count": float(self.masks["train"].sum()),
            "epoch_time_s": time.perf_counter() - start - measure_time - control_time,
            "comm_time_s": meter.method_seconds(),
            **{category.column: float(sent) for category, sent in meter.method_bytes().items()},
            "measure_time_s": measure_time,
            "control_bytes": float(sum(meter.bytes.get(category, 0) for category in CONTROL_TRAFFIC)),
            "control_time_s": control_time,
        }
        reported = self.method.epoch_metrics()
        if set(reported) != set(self.metric_units):
            raise TypeError(f"method {self.config.method!r} reports the metrics {sorted(reported)} but declares "
                            f"{sorted(self.metric_units)} (Method.metrics): the record holds what it declares")
        for key, value in reported.items():
            stats[f"method:{key}"] = float(value)
        return stats, staleness

    # -- exact reference passes ----------------------------------------------------------------------------------
    @torch.no_grad()
    def exact_trace(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Eval-mode forward with fresh halo rows at every layer and the current weights; per hidden layer, the
        inner rows and the exact halo rows (what methods fill their histories with before training)."""
        trace = []

        def record_exact(layer, h_inner, partial_halo):
            with self.comm.position.at(layer):
                halo = self.comm.exchange(h_inner, category=Traffic.SETUP)
            trace.append((h_inner, halo))
            return halo

        self.model.eval()
        self.model(self.x, self.eval_graph, record_exact, sum_across=self.comm.sum_across)
        return trace

    @torch.no_grad()
    def fresh_pass(self) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        """What a method may ask for between steps (``MethodContext.fresh_pass``, REST's refresh): an eval-mode forward
        with the current weights and exact halo rows at every layer; per hidden layer, the inner rows and the exact
        halo rows. Unlike :meth:`exact_trace` it is the method's own work: its exchange is booked as the method's halo
        traffic, and its time falls in the epoch's. With ``--exact-first-layer`` layer 1's halo rows are computed
        here, as in training, without traffic."""
        trace = {}

        def record_exact(layer, h_inner, partial_halo):
            if layer == 1 and self.first_layer is not None:
                halo = self.first_layer.compute()
            else:
                halo = self.comm.exchange(h_inner, category="halo")
            trace[layer] = (h_inner, halo)
            return halo

        training = self.model.training  # asked between steps (REST's refresh_steps): the step trains as it would
        self.model.eval()
        try:
            with self.comm.meter.booked_as("halo"):
                self.model(self.x, self.eval_graph, record_exact, sum_across=self.comm.sum_across)
        finally:
            self.model.train(training)
        return trace

    @torch.no_grad()
    def reference_trace(self, dropout_key: tuple[int, int] | None = None, masked: bool = True) -> list[torch.Tensor]:
        """The exact halo rows of the coming training step, per hidden layer: a forward pass in training mode with
        the step's dropout masks (``dropout_key``: another step's; ``masked`` False: in eval mode, no masks), the
        current weights and fresh halo rows at every layer. Batch-norm running statistics are restored afterwards
        and all its traffic counts as measurement, so training is unaffected."""
        buffers = [buffer.clone() for buffer in self.model.buffers()]
        trace = []

        def record_exact(layer, h_inner, partial_halo):
            with self.comm.position.at(layer):
                trace.append(self.comm.exchange(h_inner, category=Traffic.MEASURE))
            return trace[-1]

        self.model.train(masked)
        with self.comm.meter.booked_as(Traffic.MEASURE):
            self.model(self.x, self.eval_graph, record_exact, dropout_key=dropout_key or self.dropout_key(),
                       sum_across=self.comm.sum_across)
        for buffer, saved in zip(self.model.buffers(), buffers):
            buffer.copy_(saved)
        return trace

    def own_mask_trace(self, mask_step: int) -> list[torch.Tensor]:
        """The exact halo rows per hidden layer with the current weights and the dropout masks of step ``mask_step``
        (:data:`~satbench.halo.NO_MASK`: in eval mode, no masks): :meth:`reference_trace` with those masks."""
        if mask_step == NO_MASK:
            return self.reference_trace(masked=False)
        return self.reference_trace(dropout_key=(self.config.seed, mask_step))

    @torch.no_grad()
    def measure_drift(self, compared: list[dict[str, float]], used: list[UsedRows], current: list[torch.Tensor],
                      weights: dict[str, torch.Tensor], step: int, local_step: int) -> list[dict[str, float]]:
        """The measured step's per-layer sums: the seam's (against ``current``, the exact rows with the step's own
        masks) and the drift comparison's (against exact rows with each used row's own masks), both with the
        ``weights`` the step trained with, which are put back into the model for the reference passes and replaced
        by the updated ones afterwards. Every worker runs the same passes (the union of their rows' masks). Without
        dropout and batch norm every mask, and eval mode, gives the current rows: no pass is run."""
        own_masks = None
        if self.config.dropout > 0 or self.config.norm == "batch":
            steps = agreed_mask_steps(mask_steps(used, step), lambda values: self.comm.gather_rows(
                values.to(self.device), Traffic.MEASURE).cpu())
            own_masks = {}
            if steps:
                updated = {name: value.detach().clone() for name, value in self.model.state_dict().items()}
                self.model.load_state_dict(weights)
                own_masks = {mask_step: self.own_mask_trace(mask_step) for mask_step in steps}
                self.model.load_state_dict(updated)
        drift = drift_sums(used, current, own_masks, step)
        return [{**seam, **extra, "local_step": float(local_step)} for seam, extra in zip(compared, drift)]

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Exact full-graph inference (fresh halo rows at every layer) in eval mode with the current weights."""
        self.model.eval()

        def fresh(layer, h_inner, partial_halo):
            with self.comm.position.at(layer):
                return self.comm.exchange(h_inner, category=Traffic.EVAL)

        logits = self.model(self.x, self.eval_graph, fresh, sum_across=self.comm.sum_across)
        return self.scorer.score(logits, self.y)

    # -- bookkeeping ---------------------------------------------------------------------------------------------
    def epoch_row(self, epoch: int, stats: dict[str, float], staleness: list[dict] | None,
                  scores: dict[str, float] | None, eval_time: float) -> dict[str, Any]:
        """Combine every worker's statistics (the result is identical on all workers)."""
        method_keys = sorted(k for k in stats if k.startswith("method:"))
        local = [stats[k] for k in _STAT_FIELDS] + [stats[k] for k in method_keys]
        for layer in staleness or []:
            local += [layer[k] for k in STALENESS_FIELDS]
        gathered = self.comm.gather_rows(torch.tensor(local, dtype=torch.float64, device=self.device)).cpu()
        column = {name: gathered[:, i] for i, name in enumerate(_STAT_FIELDS)}
        worker_compute = column["epoch_time_s"] - column["comm_time_s"]
        traffic = {name: int(column[name].sum()) for name in BYTE_FIELDS}
        values = {
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
            **traffic,  # per counted category: halo rows, their gradients, weight sync, the method's protocol
            # byte counts are whole numbers below 2**53: exact in float64 whatever the order of the sum
            "comm_bytes_per_worker": [int(total) for total in torch.stack([column[k] for k in BYTE_FIELDS]).sum(0)
                                      .tolist()],
            "eval_time_s": eval_time,
            "measure_time_s": float(column["measure_time_s"].max()),
            # The fresh-halo control's own exchange (zero for a method's own run), not part of comm_bytes.
            "control_bytes": int(column["control_bytes"].sum()),
            "control_time_s": float(column["control_time_s"].max()),
        }
        metrics = {}
        for index, key in enumerate(method_keys, start=len(_STAT_FIELDS)):
            name = key.removeprefix("method:")
            # seconds: the slowest worker's, as the epoch's own times; anything else: the mean over workers
            metrics[name] = float(gathered[:, index].max() if self.metric_units[name] == "s"
                                  else gathered[:, index].mean())
        measured = None
        if staleness is not None:
            offset = len(_STAT_FIELDS) + len(method_keys)
            measured = _combine_staleness(gathered[:, offset:], len(staleness),
                                          int(staleness[0]["local_step"]) if staleness else 0)
        return epoch_row(values, metrics, measured)

    def should_measure(self, epoch: int) -> int | None:
        """The local step at which epoch ``epoch`` measures staleness (the run's seeded schedule), or None."""
        return self.schedule.local_step(epoch)

    def fit(self, on_epoch: Callable[[list[dict[str, Any]]], None] | None = None,
            checkpoints: CheckpointStore | None = None) -> list[dict[str, Any]]:
        """Train every epoch; returns the epoch rows. ``on_epoch(rows)`` is called after each epoch (the progress bar,
        the log lines). With ``checkpoints`` and ``checkpoint_every`` K > 0, a checkpoint is saved after every K-th
        epoch but the last, and training resumes from the latest one the store holds."""
        rows: list[dict[str, Any]] = []
        epochs, every = self.config.epochs, self.config.checkpoint_every
        if checkpoints is None or not every:
            checkpoints = None
        else:
            self.method.state_dict()  # a method state no checkpoint can hold is refused now, not after K epochs
            resumed = checkpoints.load()
            if resumed is not None:
                rows = self.load_state_dict(resumed)
        for epoch in range(len(rows) + 1, epochs + 1):
            stats, staleness = self.train_epoch(epoch, measure=self.should_measure(epoch))
            scores, eval_time = None, 0.0
            if epoch % self.config.eval_every == 0 or epoch == epochs:
                start = time.perf_counter()
                scores = self.evaluate()
                eval_time = time.perf_counter() - start
            rows.append(self.epoch_row(epoch, stats, staleness, scores, eval_time))
            _check_finite(epoch, rows[-1], self.model)  # stop at the first non-finite loss, weight or statistic
            if on_epoch is not None:
                on_epoch(rows)
            if checkpoints is not None and epoch % every == 0 and epoch < epochs:
                checkpoints.save(epoch, self.state_dict(rows))
        return rows

    # -- checkpoints ---------------------------------------------------------------------------------------------
    def state_dict(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """This worker's training state after the epochs of ``rows``: what a resumed run needs to continue as this
        one does (values ``torch.load`` reads with ``weights_only=True``)."""
        rng = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {"epoch": len(rows), "rows": rows, "step": self.step, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "method": self.method.state_dict(), "rng": rng}

    def load_state_dict(self, state: dict[str, Any]) -> list[dict[str, Any]]:
        """Continue from :meth:`state_dict`'s ``state`` (into this freshly built trainer); returns its epoch rows."""
        if len(state["rows"]) != state["epoch"]:
            raise ValueError(f"a checkpoint of epoch {state['epoch']} holds {len(state['rows'])} epoch rows")
        self.model.load_state_dict(state["model"])
        load_optimizer_state(self.optimizer, state["optimizer"])  # loaded onto the device, as the rest
        self.method.load_state_dict(state["method"])
        self.step = int(state["step"])
        torch.set_rng_state(state["rng"]["cpu"].cpu())
        if self.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"].cpu(), self.device)
        return list(state["rows"])


def _combine_staleness(columns: torch.Tensor, num_layers: int, local_step: int) -> list[dict[str, float]]:
    """Per layer: relative Frobenius errors over all workers' halo rows (against exact rows with the step's masks, and
    with each row's own: :mod:`satbench.staleness`), mean cosine similarity, mean age, and the local step measured."""
    totals = columns.sum(0).view(num_layers, len(STALENESS_FIELDS))
    combined = []
    for layer, values in enumerate(totals.tolist(), start=1):
        item = dict(zip(STALENESS_FIELDS, values))
        if item["rows"] == 0:  # no halo rows anywhere (one worker): nothing was measured
            combined.append({"layer": layer, "local_step": local_step, "rel_error": None, "drift_rel_error": None,
                             "mask_rel_error": None, "unmasked_share": None, "cosine": None, "age_epochs": None,
                             "age_steps": None})
            continue
        rows = item["rows"]
        combined.append({
            "layer": layer,
            "local_step": local_step,
            "rel_error": math.sqrt(item["error_sq"] / item["exact_sq"]) if item["exact_sq"] > 0 else 0.0,
            **combine_drift(item),
            "cosine": item["cosine_sum"] / rows,
            "age_epochs": item["age_epochs_sum"] / rows,
            "age_steps": item["age_steps_sum"] / rows,
        })
        # -1 per worker marks "none": rows a correcting method replaced (SAT), rows the fresh-halo control replaced
        for key, name in (("replaced_error_sq", "replaced_rel_error"), ("supplied_error_sq", "supplied_rel_error")):
            if item[key] >= 0:
                combined[-1][name] = math.sqrt(item[key] / item["exact_sq"]) if item["exact_sq"] > 0 else 0.0
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
