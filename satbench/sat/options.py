"""SAT's options, grouped by the part they configure (the names are relied on by configs and scripts).

* the predictor (``predictor.py``): its window and what fills it, its graph, training steps, learning rate, gradient
  handling, input, sharing and replay;
* the anchor (``anchor.py``): what the predictor's output is added to (the latest snapshot, its damped trend, the
  locally computable change since it arrived);
* the blend: how far to move from the stale copy toward the prediction (time-aware);
* the gate (``gate.py``): where a prediction may be used at all, by its own evidence and its owners'.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..methods import Option

PREDICTOR_OPTIONS = {
    "window": Option(4, "K: halo snapshots the LSTM reads", minimum=1, flag="--sat-window"),
    "predictor_steps": Option(1, "Adam steps per sync; 0: the predictor stays untrained (with residual: the "
                                 "anchor alone)", minimum=0, flag="--predictor-steps"),
    "predictor_lr": Option(0.0, "predictor learning rate; 0: the GNN's", minimum=0.0),
    # The authors' code (Ziyang-Yu/SAT-DIGEST) differs from the defaults in the next four; each value named
    # "authors"/"forward"/"lstm"/"accumulate" is their form (SAT's deviations say why the defaults differ).
    "window_push": Option("sync", "what enters the window: the snapshot at every sync (sync) or, as the authors' "
                                  "code, the held halo copy at every forward pass (forward)",
                          choices=("sync", "forward")),
    "predictor_graph": Option("normalised", "the predictor GCN's graph: edges into inner rows and reversed cut "
                                            "edges, normalised as GCNConv (normalised), or, as the authors' code, "
                                            "the induced subgraph, halo-to-halo edges and self loops included, "
                                            "summed unnormalised (authors)",
                              choices=("normalised", "authors")),
    "predictor_input": Option("zeros", "inner rows of the predictor's GCN input: zeros (paper), fresh, or lstm (the "
                                       "authors' code: zero sequences through the LSTM)",
                              choices=("zeros", "fresh", "lstm"), flag="--predictor-input"),
    "predictor_grad": Option("zero", "the predictor's gradients: zeroed before each step (zero) or, as the "
                                     "authors' code, never zeroed, so they accumulate across syncs (accumulate)",
                             choices=("zero", "accumulate")),
    "per_layer": Option(False, "one predictor per layer instead of one shared by all layers"),
    "replay": Option(1, "train on the last R (window, snapshot) pairs at every sync", minimum=1),
}
ANCHOR_OPTIONS = {
    "residual": Option(False, "predict a correction to the latest snapshot (untrained = the base)"),
    "extrapolate": Option(False, "anchor the prediction at the latest snapshot plus its damped last change, "
                                 "rho * (s_k - s_k-1), rho in [0, 1] fitted at each sync"),
    "local_delta": Option(False, "layer 2, with --exact-first-layer (GCN, no norm): add to the prediction the "
                                 "change, since the snapshot arrived, of the locally computable part of its "
                                 "pre-activation (self loop and local neighbours, from the exact current layer-1 "
                                 "rows and weights), where the snapshot's unit is active"),
}
BLEND_OPTIONS = {
    "time_aware": Option(False, "move from the latest snapshot toward the prediction by age / sync spacing"),
}
GATE_OPTIONS = {
    "gated": Option(False, "use the prediction only per (layer, peer) where it beat the stale copy at the last sync"),
    "gate_margin": Option(1.0, "gated: use the prediction only where its error was below margin x the stale copy's",
                          minimum=0.0, maximum=1.0),
    "owner_check": Option(False, "gated + extrapolate: also require the owning peer's evidence, checked every epoch, "
                                 "that the trend beats the stale copy on its rows at the current weights (3 numbers "
                                 "per peer and layer per epoch)"),
}
SAT_OPTIONS = {**PREDICTOR_OPTIONS, **ANCHOR_OPTIONS, **BLEND_OPTIONS, **GATE_OPTIONS}


def check_sat_options(name: str, options: dict[str, Any]) -> None:
    if options["owner_check"] and not (options["gated"] and options["extrapolate"]):
        raise ConfigError(f"option 'owner_check' of method {name!r} needs gated=true and extrapolate=true "
                          "(the owners judge the trend, and only a gate can act on their verdict)")


def check_sat_run(name: str, config) -> None:
    """Options that need more of the run than the options themselves."""
    if config.method_options.get("local_delta"):
        if not config.exact_first_layer or config.model != "gcn" or config.norm != "none" or config.layers < 3:
            raise ConfigError(f"option 'local_delta' of method {name!r} needs --exact-first-layer, a GCN of at "
                              "least 3 layers and no norm (it corrects layer 2 from the exact layer-1 rows)")
