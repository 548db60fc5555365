"""SAT: staleness-alleviated training by online prediction of halo embeddings.

Bai, Yu, Chai, Cheng, Zhao. *Staleness-Alleviated Distributed GNN Training via Online Dynamic-Embedding Prediction.*
arXiv:2308.13466 (2023); code: Ziyang-Yu/SAT-DIGEST (distributed), BaiTheBest/SAT, Ziyang-Yu/SAT-GNNAutoscale.

SAT rides on a historical-embedding protocol (its *base*: ``digest`` by default, or ``gas``/``pipegcn``) and replaces
the stale halo rows the base would use by a prediction of their current value:

* per hidden layer, a window of the last K (4) halo snapshots the base received;
* an embedding predictor: an LSTM over the window (hidden size = layer width, zero initial state) whose last hidden
  state feeds a 2-layer GCN over the worker's local graph (inner + halo nodes, self loops); inner rows of the GCN's
  input are zeros (``predictor_input=fresh``: the worker's fresh inner rows instead); one predictor per worker shared
  by all layers (``per_layer``: one per layer);
* the predicted rows are detached: the GNN loss sends no gradient into the predictor;
* online training alternating with the GNN: whenever the base receives a snapshot (a *sync*) after the first, the
  predictor takes ``predictor_steps`` Adam steps on ``MSE(fresh snapshot, its prediction from the previous window)``
  with the GNN's learning rate unless ``predictor_lr`` is set.

The authors' code (Ziyang-Yu/SAT-DIGEST: ``digest/models/gcn.py``, ``digest/auxiliary_models/lstm_gcn.py``,
``run/mini_batch.py``) differs from that rule in four ways, each an option that selects their form (SAT's deviations
say why the defaults differ): ``window_push=forward`` pushes the held halo copy into the window at every forward pass,
not one snapshot per sync, so K passes after a sync the window holds K copies of it; ``predictor_graph=authors`` sums
unnormalised over the induced subgraph of the worker's rows, halo-to-halo edges and self loops included (the edges
into halo rows sent once by their owners); ``predictor_input=lstm`` runs the inner rows' zero sequences through the
LSTM; ``predictor_grad=accumulate`` never zeroes the predictor's gradients, so each step follows the sum of the
gradients of every loss so far.

Beyond the paper (each an option; see the README): ``residual`` predicts a correction added to the latest snapshot,
with a zero-initialised output layer, so an untrained predictor reproduces the base exactly; ``time_aware``
interpolates from the latest snapshot toward the predicted next snapshot by the rows' age over the sync spacing;
``gated`` uses the prediction, per layer and per owning peer, only where at the last sync it was closer to the fresh
snapshot than the stale copy was; ``replay`` keeps the last R (window → snapshot) pairs and trains on all of them;
``extrapolate`` anchors the residual at ``s_k + ρ (s_k − s_{k−1})``, with ρ ∈ [0, 1] the least-squares factor by which
the previous change between snapshots predicted the latest one (refitted at each sync), so the predictor only learns
what the damped trend leaves over; ``gate_margin`` < 1 demands that the prediction beat the stale copy by that
factor. ``owner_check`` adds the owning peer's evidence to the gate: the next snapshot a receiver judges by is
computed with the owner's local, not yet averaged weights, so a prediction can track the snapshots while moving away
from the rows at the current weights. The owner alone sees those rows for free (its first step of each epoch, right
after the weights were averaged), so at that step it compares the rows it last sent, and the damped trend from them,
with its current rows, and sends each receiver three numbers per layer (the stale copy's squared error, and the cross
and trend terms from which the receiver gets the trend's error at its own ρ). At a sync the receiver uses an owner's
prediction only where the period's sums show the trend beating the stale copy by the margin (squared error below
``gate_margin`` × the stale copy's), and from the next step on it stops using it when one epoch's numbers show the
trend losing by as much (above the stale copy's / ``gate_margin``): a trend that reverses is dropped within an epoch,
while the early epochs of a period, where the trend has barely moved the rows, do not veto good predictions.
``sat-plus`` combines them (margin 0.8, 5 steps per sync, replay 2, owner check).
"""

from .method import SAT
from .options import SAT_OPTIONS
from .variants import SATVariant, sat_variant

# The predictor and the anchor's fits need torch: importing this package (which registers the variants) does not
# import them; naming one here does.
_LAZY = {"fit_damping": "anchor", "fit_gain": "anchor", "EmbeddingPredictor": "predictor",
         "PredictorGraph": "predictor", "replay_batches": "predictor", "induced_subgraph_edges": "predictor"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["SAT", "SAT_OPTIONS", "EmbeddingPredictor", "PredictorGraph", "SATVariant", "fit_damping", "fit_gain",
           "induced_subgraph_edges", "replay_batches", "sat_variant"]
