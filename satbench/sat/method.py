"""The SAT method: a base method held inside, whose snapshots it hears, and the predictor, anchor, blend and gate
that turn them into the halo rows used (see ``satbench.sat`` for the update rule)."""

from __future__ import annotations

import dataclasses
import time
from collections import deque

from typing import TYPE_CHECKING

from ..halo import NO_MASK, HaloRows, as_halo_rows
from ..history import Snapshot
from ..lazy import lazy
from ..methods import Alleviation, Deviation, Method, MethodContext
from ..record import Column
from .options import SAT_OPTIONS, check_sat_options, check_sat_run

if TYPE_CHECKING:
    from .predictor import EmbeddingPredictor

# SAT's machinery is imported when a SAT method is first built, so that registering and listing its variants needs
# no torch (the variants are registered from this class).
torch = lazy("torch")
F = lazy("torch.nn.functional")
anchor = lazy("satbench.sat.anchor")
gate = lazy("satbench.sat.gate")
predictor_module = lazy("satbench.sat.predictor")


@dataclasses.dataclass
class _LayerState:
    window: deque  # the last K snapshots (window_push=forward: held copies, one per forward pass), oldest first
    fresh_at: tuple[float, float]  # (epoch, step) at which the newest snapshot was computed
    spacing: float = 1.0  # epochs between the last two snapshots
    prediction: torch.Tensor | None = None  # cached between syncs when the predictor's input does not change
    use_prediction: torch.Tensor | None = None  # gated: per owning peer, whether the prediction beat the stale copy
    gate_errors: tuple[torch.Tensor, torch.Tensor] | None = None  # gated: (prediction, stale copy) errors per peer
    replay: deque = dataclasses.field(default_factory=deque)  # (window, snapshot, shift) triples to train on
    # local_delta: the local pre-activation part when the latest snapshot arrived, and now
    partial_at_arrival: torch.Tensor | None = None
    partial_now: torch.Tensor | None = None
    # local_delta: the factor by which the local part's change explained the last change between snapshots (the
    # rest of a halo node's neighbourhood is not held here), fitted at each sync
    delta_gain: float = 0.0
    damping: float = 0.0  # extrapolate: rho, how much of the last change between snapshots the next one repeated
    sent: deque | None = None  # owner_check: the last two snapshots of my rows that the peers hold, oldest first
    # owner_check: per owning peer, sums over this period's checks of ‖h − s‖², f<h − s, d>, f²‖d‖² (h: the owner's
    # current rows, s: the rows I hold, d: their last change, f: the time-aware fraction), as the owners sent them
    evidence: torch.Tensor | None = None
    # window_push=forward: how many entries at the window's end are the held copy (equal rows), so a pass that
    # pushes the same copy into a window already full of it keeps the cached prediction
    copies: int = 0


# How SAT here differs from the authors' distributed code (Ziyang-Yu/SAT-DIGEST): every variant that trains the
# predictor has these (satbench.sat.variants adds a variant's own).
SAT_DEVIATIONS = (
    Deviation("the LSTM's window holds the last K (4) snapshots the base received, one per sync; the authors push "
              "the held halo copy into the window at every forward pass (every local step; digest/models/gcn.py), "
              "so between syncs their window fills with copies of one snapshot: K passes after a sync it holds "
              "nothing else",
              "the paper's window is a sequence of historical snapshots; repeated copies of one snapshot give the "
              "LSTM no change to learn from (the authors' form is kept as an option for the study, not the default)",
              "window_push=forward"),
    Deviation("the predictor's 2-layer GCN is normalised as GCNConv (self loops, symmetric degrees) over the "
              "worker's edges into its inner rows and the reversed cut edges; the authors' sums unnormalised "
              "(normalize=False) over the induced subgraph, halo-to-halo edges and self loops included (their "
              "loader, digest/loader.py, numbers that subgraph's nodes in networkx's iteration order rather than the "
              "order of the rows the predictor reads, so its edges can join other rows than the nodes they name; "
              "the option builds the subgraph they evidently intend, each edge on its own rows, the edges into "
              "halo rows sent once by their owners before training)",
              "a worker here holds no halo-to-halo edges; unnormalised sums scale the predictor's output with the "
              "degrees, the normalisation keeps it on the scale of the rows",
              "predictor_graph=authors"),
    Deviation("inner rows enter the predictor's GCN as zeros; the authors pass zero sequences through the LSTM, so "
              "their inner rows enter as the LSTM's (bias-driven, non-zero) summary of zeros",
              "the paper's inner rows are zero at the GCN's input",
              "predictor_input=lstm"),
    Deviation("the predictor's optimiser is zeroed before every step; the authors never call zero_grad on it, so "
              "its gradients accumulate across syncs (here, with more than one hidden layer, also across the "
              "layers' steps of one sync: theirs takes one step on the layers' joint loss)",
              "one Adam step per sync on that sync's loss, as the paper states; the accumulation looks unintended",
              "predictor_grad=accumulate"),
)

class SAT(Alleviation):
    """SAT holding a base method (``base``) whose protocol runs underneath; the module docstring states the update
    rule and the options. Registered on its base by :func:`~satbench.sat.variants.sat_variant`, never by itself.

    Its fresh-halo control is its base's: with every row it supplies replaced by the exact one, its predictor (trained
    on its own optimiser, seeded apart) never touches the GNN."""

    name = "sat"
    shares_base_control = True
    paper = ("Bai, Yu, Chai, Cheng, Zhao. Staleness-Alleviated Distributed GNN Training via Online Dynamic-Embedding "
             "Prediction (SAT). arXiv:2308.13466 (2023)")
    code = "Ziyang-Yu/SAT-DIGEST"
    code_note = "digest/models/gcn.py, digest/auxiliary_models/lstm_gcn.py, run/mini_batch.py"
    deviations = SAT_DEVIATIONS
    options = SAT_OPTIONS
    context_attributes = ("graph", "first_layer")  # the predictor's graph, and --exact-first-layer's rows
    metrics = (
        Column("predictor_time_s", "float", "s", "SAT: time training the predictor and predicting halo rows in the "
                                                 "epoch, the slowest worker's (inside epoch_time_s)"),
        Column("predictor_loss", "float", "", "SAT: the predictor's training loss, the mean squared error of its "
                                              "predictions (in the embeddings' units squared) over the epoch's "
                                              "predictor steps, the mean over workers; 0 where it did not train"),
    )

    @classmethod
    def held_copies(cls, options):
        """The window's snapshots for each replayed pair, and the predictor's working rows (calibrated on sat and
        sat-plus: README, "Before any worker starts")."""
        return options["window"] * options["replay"] + 6.0

    def __init__(self, context: MethodContext, base: Method, **options):
        super().__init__(context, base, **options)
        self.predictor_lr = self.config["predictor_lr"] or context.lr
        graph = context.graph
        if self.config["predictor_graph"] == "authors":
            self.graph = predictor_module.PredictorGraph(
                predictor_module.induced_subgraph_edges(self.comm, graph), graph.num_inner, graph.num_rows,
                normalise=False)
        else:
            edges = graph.edge_index[:, (graph.edge_index[1] < graph.num_inner)
                                     & (graph.edge_index[0] != graph.edge_index[1])]
            cut = edges[:, edges[0] >= graph.num_inner]
            # symmetric, so messages reach the halo rows
            self.graph = predictor_module.PredictorGraph(torch.cat([edges, cut.flip(0)], dim=1), graph.num_inner,
                                                         graph.num_rows)
        self.num_inner = graph.num_inner
        self.predictors: dict[object, tuple[EmbeddingPredictor, torch.optim.Optimizer]] = {}
        self.layers: dict[int, _LayerState] = {}
        self.predictor_time = 0.0
        self.predictor_losses: list[float] = []
        owners = torch.arange(self.comm.world_size)
        self.halo_owner = owners.repeat_interleave(torch.tensor(self.comm.halo_counts)).to(self.comm.device)
        self.sent_to = owners.repeat_interleave(torch.tensor(self.comm.send_counts)).to(self.comm.device)
        self.last_sent: dict[int, tuple[int, torch.Tensor]] = {}  # owner_check: layer -> (step, my rows sent then)
        # One worker has no peers to hear from (and no halo whose age could say when it was sent).
        self.owner_check = self.config["owner_check"] and self.comm.world_size > 1
        self.arrived: dict[int, Snapshot] = {}  # layer -> the newest snapshot the base announced, not yet observed
        self.syncs: dict[int, int] = {}  # layer -> snapshots observed (each one a sync: judge, train, slide)
        self.age: dict[int, tuple[float, float]] = {}  # layer -> age of the base's rows at the latest supply
        self.first_layer = context.first_layer  # --exact-first-layer's rows (local_delta reads their partial)

    # -- checkpoints: predictor_grad=accumulate carries gradients from sync to sync, which neither a module's nor an
    # optimiser's state_dict holds
    def state_dict(self):
        state = super().state_dict()
        state["predictor_grads"] = {key: [parameter.grad for parameter in predictor.parameters()]
                                    for key, (predictor, _) in self.predictors.items()}
        return state

    def load_state_dict(self, state):
        state = dict(state)
        grads = state.pop("predictor_grads", {})
        super().load_state_dict(state)
        for key, saved in grads.items():
            for parameter, grad in zip(self.predictors[key][0].parameters(), saved):
                parameter.grad = None if grad is None else grad.to(parameter.device)

    @classmethod
    def check_options(cls, options, name=None):
        check_sat_options(name or cls.name, options)

    @classmethod
    def check_run(cls, config, name=None):
        check_sat_run(name or cls.name, config)

    def predictor(self, layer: int, width: int) -> tuple[EmbeddingPredictor, torch.optim.Optimizer]:
        key = layer if self.config["per_layer"] else "shared"
        if key not in self.predictors:
            # Seeded on its own, so the predictor neither depends on nor disturbs the GNN's random state.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(1_000_003 + (layer if self.config["per_layer"] else 0))
                predictor = predictor_module.EmbeddingPredictor(width, self.config["residual"]).to(self.comm.device)
            self.predictors[key] = (predictor, torch.optim.Adam(predictor.parameters(), lr=self.predictor_lr))
        return self.predictors[key]

    # -- the base protocol runs underneath ---------------------------------------------------------------------
    def setup(self, exact):
        self.base.setup(exact)
        history = self.base_history()
        for layer, (inner, halo) in exact.items():
            # window_push=forward: empty, as the authors' (their first forward pass pushes the first pulled copy)
            first = [] if self.config["window_push"] == "forward" else [halo.detach().clone()]
            state = _LayerState(window=deque(first, maxlen=self.config["window"]), fresh_at=(0.0, -1.0))
            if self.config["gated"]:  # no evidence yet: trust the stale copy
                state.use_prediction = torch.zeros(self.comm.world_size, dtype=torch.bool, device=halo.device)
            if self.owner_check:
                state.sent = deque([inner.detach()[self.comm.send_index]], maxlen=2)  # indexing copies
                state.evidence = inner.new_zeros(self.comm.world_size, 3)
            self.layers[layer] = state
            self.syncs[layer] = 0
            self.predictor(layer, halo.size(1))
        history.subscribe(self._on_snapshot)

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        """The base's history announced new rows: observed at the layer's next supply, where the inner rows are."""
        self.arrived[snapshot.layer] = snapshot

    def start_epoch(self, epoch, step):
        super().start_epoch(epoch, step)  # the base's too
        self.predictor_time = 0.0
        self.predictor_losses = []

    # -- prediction and online training -----------------------------------------------------------------------
    def _inner_input(self, h_inner: torch.Tensor) -> torch.Tensor | None:
        if self.config["predictor_input"] == "fresh":
            return h_inner.detach()
        if self.config["predictor_input"] == "lstm":
            return None  # the predictor runs the zero rows through its LSTM
        return h_inner.new_zeros(self.num_inner, h_inner.size(1))

    def _trend(self, layer: int, window) -> torch.Tensor | float:
        """What ``extrapolate`` adds to the predictor's output: the damped last change of the window."""
        if not self.config["extrapolate"] or len(window) < 2:
            return 0.0
        return self.layers[layer].damping * (window[-1] - window[-2])

    def _local_shift(self, layer: int, window) -> torch.Tensor | float:
        """local_delta: how the locally computable part of the layer's pre-activation moved since the latest
        snapshot arrived, where the snapshot's unit is active (ReLU passes it)."""
        state = self.layers[layer]
        if not self.config["local_delta"] or layer != 2 or state.partial_at_arrival is None:
            return 0.0
        return state.delta_gain * self._raw_local_shift(state, window)

    @staticmethod
    def _raw_local_shift(state: _LayerState, window) -> torch.Tensor:
        return (window[-1] > 0) * (state.partial_now - state.partial_at_arrival)

    def _predict(self, layer: int, window: list[torch.Tensor], h_inner: torch.Tensor) -> torch.Tensor:
        predictor, _ = self.predictor(layer, window[-1].size(1))
        return predictor(window, self._inner_input(h_inner), self.graph) + self._trend(layer, window)

    def _error_per_owner(self, rows: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return gate.error_per_owner(rows, target, self.halo_owner, self.comm.world_size)

    def _observe(self, layer: int, snapshot: torch.Tensor, fresh_at: tuple[float, float], h_inner) -> None:
        """A new snapshot arrived (a sync): judge the last prediction, train on the snapshot, slide the window."""
        state = self.layers[layer]
        snapshot = snapshot.detach().clone()
        state.spacing = max(fresh_at[0] - state.fresh_at[0], 1.0)
        state.fresh_at = fresh_at
        previous = list(state.window)
        # window_push=forward: the window takes the held copy at every pass (_push_held), not the snapshot here; an
        # empty one (a snapshot before the first pass) has made no prediction to learn from, as the authors' first
        # pull trains nothing.
        pushed_per_pass = self.config["window_push"] == "forward"
        owner_evidence = None
        if self.owner_check:
            owner_evidence, state.evidence = state.evidence, torch.zeros_like(state.evidence)
            self._record_sent(layer, state, fresh_at)
        if pushed_per_pass and not previous:
            return
        shift = self._local_shift(layer, previous)  # what local_delta would have added right now
        if self.config["local_delta"] and layer == 2 and state.partial_at_arrival is not None:
            raw = self._raw_local_shift(state, previous)
            state.delta_gain = anchor.fit_gain(raw, snapshot.detach() - previous[-1])
        if self.config["gated"]:
            with torch.no_grad():
                predicted_error = self._error_per_owner(self._predict(layer, previous, h_inner) + shift, snapshot)
                stale_error = self._error_per_owner(previous[-1], snapshot)
                state.gate_errors = (predicted_error, stale_error)
                state.use_prediction = predicted_error < self.config["gate_margin"] * stale_error
        if snapshot.size(0) == 0:  # no halo (one worker): nothing to predict or learn
            if not pushed_per_pass:
                state.window.append(snapshot)
            return
        if self.config["extrapolate"] and len(previous) >= 2:
            state.damping = anchor.fit_damping(previous[-2], previous[-1], snapshot)
        if owner_evidence is not None:
            state.use_prediction &= gate.owner_approves(owner_evidence, state.damping, self.config["gate_margin"])
        state.replay.append((previous, snapshot, shift))
        while len(state.replay) > self.config["replay"]:
            state.replay.popleft()
        predictor, optimizer = self.predictor(layer, snapshot.size(1))
        inner = self._inner_input(h_inner)
        # With ``extrapolate`` and ``local_delta`` the predictor learns what the anchor leaves over.
        batches = predictor_module.replay_batches([(window, target - self._trend(layer, window) - shift)
                                        for window, target, shift in state.replay])
        elements = len(state.replay) * snapshot.numel()
        # predictor_grad=accumulate: as the authors' code, which never zeroes the predictor's optimiser, every step
        # follows the sum of the gradients of all the losses so far.
        accumulate = self.config["predictor_grad"] == "accumulate"
        for _ in range(self.config["predictor_steps"]):
            if not accumulate:
                optimizer.zero_grad(set_to_none=True)
            # The mean over pairs of each pair's MSE: all pairs have the snapshot's shape.
            loss = sum(F.mse_loss(predictor.forward_batch(windows, inner, self.graph), targets, reduction="sum")
                       for windows, targets in batches) / elements
            loss.backward()
            optimizer.step()
            self.predictor_losses.append(float(loss.detach()))
        # Frees them. The GNN's backward never adds any (the rows used are predicted without autograd), so what
        # accumulate keeps is the predictor's own losses' gradients only.
        if not accumulate:
            optimizer.zero_grad(set_to_none=True)
        if not pushed_per_pass:
            state.window.append(snapshot)
        state.prediction = None
        state.partial_at_arrival = state.partial_now

    # -- owner_check: the owners' evidence ----------------------------------------------------------------------
    def _record_sent(self, layer: int, state: _LayerState, fresh_at: tuple[float, float]) -> None:
        """The peers now hold my rows computed at ``fresh_at``: every base here syncs all workers at once, so those
        are the rows of my latest step (checked, so that a base breaking this cannot feed the gate wrong evidence)."""
        step, rows = self.last_sent.get(layer, (None, None))
        if step != fresh_at[1]:
            raise RuntimeError(f"SAT owner_check: peers hold rows of step {fresh_at[1]:g}, my latest are of {step}")
        state.sent.append(rows)

    def _owners_evidence(self, layer: int, mine: torch.Tensor) -> torch.Tensor:
        """At the first step of an epoch (weights just averaged, as when staleness is measured), as owner: how far the
        rows each peer holds, and the damped trend from them, are from my current rows, summed per receiving peer and
        sent to it (``mine``: my current rows that peers hold). Returns what the owners sent me ([W, 3], row j from
        owner j)."""
        state = self.layers[layer]
        terms = mine.new_zeros(self.comm.world_size, 3)
        if len(state.sent) >= 2:
            held, change = state.sent[-1], state.sent[-1] - state.sent[-2]
            fraction = self._time_fraction(layer)
            gap = mine - held
            terms.index_add_(0, self.sent_to, torch.stack([gap.pow(2).sum(1), fraction * (gap * change).sum(1),
                                                           fraction ** 2 * change.pow(2).sum(1)], dim=1))
        world = [1] * self.comm.world_size
        received = self.comm.exchange_rows(terms, world, world, "protocol")
        received[self.comm.rank] = 0.0
        return received

    def _hear_owners(self, layer: int, evidence: torch.Tensor) -> None:
        """Add an epoch's evidence to the period's sums; stop using the prediction of any owner on whose rows the
        trend lost to the stale copy by the inverse margin (until a sync approves it again)."""
        state = self.layers[layer]
        state.evidence += evidence
        state.use_prediction &= gate.owner_approves(evidence, state.damping, margin=1 / self.config["gate_margin"])

    def _rows_to_use(self, layer: int, h_inner: torch.Tensor, stale: torch.Tensor) -> torch.Tensor:
        state = self.layers[layer]
        if state.prediction is None or self.config["predictor_input"] == "fresh":
            with torch.no_grad():
                state.prediction = self._predict(layer, list(state.window), h_inner)
        used = state.prediction + self._local_shift(layer, list(state.window))
        if self.config["time_aware"]:
            used = stale + self._time_fraction(layer) * (used - stale)
        if state.use_prediction is not None:
            used = torch.where(state.use_prediction[self.halo_owner].unsqueeze(1), used, stale)
        return used.detach()

    def _time_fraction(self, layer: int) -> float:
        """time_aware: how far to move from the latest snapshot toward the prediction (age / sync spacing)."""
        if not self.config["time_aware"]:
            return 1.0
        return min(max(self.age[layer][0] / self.layers[layer].spacing, 0.0), 1.0)

    def supply_halo(self, layer, h_inner, partial_halo):
        supplied = as_halo_rows(self.base.supply_halo(layer, h_inner, partial_halo))
        stale = supplied.rows
        self.age[layer] = (supplied.age_epochs, supplied.age_steps)
        start = time.perf_counter()
        if self.config["local_delta"] and layer == 2:
            state = self.layers[layer]
            state.partial_now = self.first_layer.partial_next()
            if state.partial_at_arrival is None:  # the fill before training arrived with the initial weights
                state.partial_at_arrival = state.partial_now
        snapshot = self.arrived.pop(layer, None)
        if snapshot is not None:
            self._observe(layer, snapshot.rows, (float(snapshot.epoch), float(snapshot.step)), h_inner)
            self.syncs[layer] += 1
        if self.config["window_push"] == "forward":
            self._push_held(self.layers[layer], stale.detach())
        used = self._rows_to_use(layer, h_inner, stale.detach())
        if self.owner_check:
            mine = h_inner.detach()[self.comm.send_index]  # indexing copies
            # After this step's rows are chosen, so that a measurement before the step sees what the step uses.
            if self.step == self.epoch_first_step:
                self._hear_owners(layer, self._owners_evidence(layer, mine))
            self.last_sent[layer] = (self.step, mine)
        self.predictor_time += time.perf_counter() - start
        if stale.requires_grad:  # keep the base's backward path (PipeGCN's stale gradients) intact
            used = stale + (used - stale.detach())
        return HaloRows(used, supplied.age_epochs, supplied.age_steps, replaced=stale.detach(),
                        mask_step=self._mask_steps(layer, supplied))

    def _push_held(self, state: _LayerState, held: torch.Tensor) -> None:
        """window_push=forward: the held halo copy enters the window at every forward pass, after the sync's
        training and before the prediction, as in the authors' ``GCN.forward`` (``hist_embs[i].push(his_data[i])``
        ahead of the predictor, the oldest entry dropped beyond K): K passes after a sync the window holds that sync's
        copy K times. Equal copies share one tensor."""
        window = state.window
        same = bool(window) and torch.equal(held, window[-1])
        if not (same and state.copies >= window.maxlen):  # a window already full of this copy predicts the same
            state.prediction = None
        state.copies = state.copies + 1 if same else 1
        window.append(window[-1] if same else held.clone())

    def _mask_steps(self, layer: int, supplied: HaloRows) -> torch.Tensor:
        """The masks the rows used carry: none where a prediction is used (it comes from the predictor, not from a
        training pass), the stale row's where a gate kept it. A time-aware blend of both counts as a prediction."""
        unmasked = torch.full((supplied.rows.size(0),), NO_MASK, dtype=torch.int64, device=supplied.rows.device)
        gate = self.layers[layer].use_prediction
        if gate is None or supplied.mask_step is None:
            return unmasked
        return torch.where(gate[self.halo_owner], unmasked, supplied.mask_step)

    def epoch_metrics(self):
        losses = self.predictor_losses
        return {**self.base.epoch_metrics(), "predictor_time_s": self.predictor_time,
                "predictor_loss": sum(losses) / len(losses) if losses else 0.0}
