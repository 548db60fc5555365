"""Distributed evaluation: exact full-graph inference with the current weights, scored with the dataset's metric.

Every score is assembled from per-worker sufficient statistics summed across workers, so it equals the score of
single-process inference: accuracy from (correct, count), micro-F1 from (TP, FP, FN). For OGB datasets the per-worker
accuracy comes from OGB's own ``Evaluator`` and is weighted by the worker's node count. A split with no nodes on any
worker has no score: ``None`` (null in the run record), never 0.0.
"""

from __future__ import annotations

import torch

SPLITS = ("train", "val", "test")


class Scorer:
    def __init__(self, comm, task: str, metric: str, ogb_name: str | None, masks: dict[str, torch.Tensor]):
        self.comm, self.task, self.metric, self.masks = comm, task, metric, masks
        self.evaluator = None
        if ogb_name is not None:
            from ogb.nodeproppred import Evaluator

            self.evaluator = Evaluator(ogb_name)

    def _accuracy_terms(self, pred: torch.Tensor, y: torch.Tensor) -> list[float]:
        count = float(y.numel())
        if self.evaluator is not None and count:
            accuracy = self.evaluator.eval({"y_true": y.view(-1, 1).cpu(), "y_pred": pred.view(-1, 1).cpu()})["acc"]
            return [accuracy * count, count]
        return [float((pred == y).sum()), count]

    @staticmethod
    def _f1_terms(pred: torch.Tensor, y: torch.Tensor) -> list[float]:
        y = y > 0.5
        return [float((pred & y).sum()), float((pred & ~y).sum()), float((~pred & y).sum()), float(y.size(0))]

    def score(self, logits: torch.Tensor, y: torch.Tensor) -> dict[str, float | None]:
        """Scores of the inner rows' ``logits`` on every split, reduced over all workers."""
        terms = []
        for split in SPLITS:
            mask = self.masks[split]
            if self.task == "multilabel":
                terms.append(self._f1_terms(logits[mask] > 0, y[mask]))
            else:
                terms.append(self._accuracy_terms(logits[mask].argmax(-1), y[mask]))
        totals = torch.tensor(terms, dtype=torch.float64, device=logits.device)
        totals = self.comm.all_reduce(totals, "eval").tolist()
        scores = {}
        for split, values in zip(SPLITS, totals):
            count = values[-1]
            if not count:  # an empty split has no score
                scores[split] = None
            elif self.task == "multilabel":
                tp, fp, fn, _ = values
                scores[split] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
            else:
                hits, _ = values
                scores[split] = hits / count
        return scores
