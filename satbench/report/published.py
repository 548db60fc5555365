"""Published figures beside the suite's own: ``config/published.csv`` and the pairing of each row with the suite's
runs of the same setting.

``config/published.csv`` holds one row per number a paper (or its authors' code) reports that the suite can compare
with: paper, table (or the file of the authors' repository), dataset, model, method (the suite's name for what was
run: ``exact`` for full-graph training), workers (empty where the paper does not state it), metric, value (in %),
plus_minus (where given) and a note (the paper's setting, or why a number is missing: a row without a value says what
could not be found). Nothing there is computed; each row cites where it comes from.

Matching rule: a published row is paired with the main-study runs whose dataset (the name in the run's dataset spec,
or its label), model and method are the row's, and, where the row states W, whose W is the row's (one pairing per W
otherwise). The difference is the runs' mean test score at the best validation epoch minus the published value; it
lies within the seeds' spread when the published value is within the runs' mean ± :data:`NOISE_FACTOR` × their seed
std. A row without runs is "no matching run", or "cannot run here" with the reason where its dataset is not available
offline (:data:`NOT_HERE`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from .claims import NOISE_FACTOR
from .frames import main_study

# The shipped file (a checkout's config/); None where the package is installed without it.
PUBLISHED_FILE = Path(__file__).resolve().parents[2] / "config" / "published.csv"
COLUMNS = ("paper", "table", "dataset", "model", "method", "workers", "metric", "value", "plus_minus", "note")

_LARGE = "no data here: its files are not in the offline data mirror, and at its size it needs the paper's GPUs"
NOT_HERE = {name: _LARGE for name in ("flickr", "reddit", "yelp", "amazon-products", "ogbn-arxiv", "ogbn-products",
                                      "ogbn-papers100m")}


def published_file() -> Path | None:
    """The published figures this checkout ships, or None."""
    return PUBLISHED_FILE if PUBLISHED_FILE.is_file() else None


def load_published(path: str | os.PathLike) -> pd.DataFrame:
    """``path`` as a frame of :data:`COLUMNS` (missing cells NaN)."""
    table = pd.read_csv(path, dtype={"paper": str, "table": str, "dataset": str, "model": str, "method": str,
                                     "metric": str, "note": str}, keep_default_na=False, na_values=[""])
    missing = [column for column in COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(missing)}")
    return table[list(COLUMNS)]


def _dataset_name(runs: pd.DataFrame) -> pd.Series:
    """A run's dataset as papers name it: the name in its spec (``cora``, ``amazon-photo``), else its label."""
    spec = runs["dataset_spec"] if "dataset_spec" in runs.columns else runs["dataset"]
    return spec.fillna(runs["dataset"]).astype(str).str.split(":").str[0].str.lower()


def reported_vs_measured(published: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (published row, W of the matching runs): the published value, the runs' mean, std and n, their
    difference and whether it lies within the seeds' spread, and the row's status (module docstring)."""
    main = main_study(runs)
    main = main.assign(paper_dataset=_dataset_name(main), test_pct=main["test_at_best_val"] * 100)
    rows = []
    for entry in published.itertuples(index=False):
        dataset = str(entry.dataset).lower() if isinstance(entry.dataset, str) else ""
        matched = main[(main["paper_dataset"] == dataset) & (main["model"] == entry.model)
                       & (main["method"] == entry.method)]
        if not pd.isna(entry.workers):
            matched = matched[matched["workers"] == int(entry.workers)]
        base = {"paper": entry.paper, "table": entry.table, "dataset": entry.dataset, "model": entry.model,
                "method": entry.method, "published_workers": entry.workers, "metric": entry.metric,
                "published_pct": entry.value, "published_plus_minus": entry.plus_minus}
        if pd.isna(entry.value):
            rows.append({**base, "status": "no published number", "note": entry.note})
            continue
        if matched.empty:
            status = f"cannot run here ({NOT_HERE[dataset]})" if dataset in NOT_HERE else "no matching run"
            rows.append({**base, "status": status, "note": entry.note})
            continue
        for workers, group in matched.groupby("workers"):
            scores = group["test_pct"].dropna()
            mean, std = scores.mean(), scores.std(ddof=1) if len(scores) >= 2 else math.nan
            difference = mean - entry.value
            within = bool(abs(difference) <= NOISE_FACTOR * std) if not math.isnan(std) else None
            rows.append({**base, "workers": workers, "measured_pct_mean": mean, "measured_pct_std": std,
                         "n": len(scores), "difference_pts": difference, "within_seed_spread": within,
                         "status": "measured", "note": entry.note})
    columns = ["paper", "table", "dataset", "model", "method", "published_workers", "workers", "metric",
               "published_pct", "published_plus_minus", "measured_pct_mean", "measured_pct_std", "n",
               "difference_pts", "within_seed_spread", "status", "note"]
    return pd.DataFrame(rows, columns=columns)
