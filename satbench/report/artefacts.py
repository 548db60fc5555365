"""One registry of the tables and figures the suite makes: each declared once, with what it needs and its caption.

The workflow asks which artefacts a *config* will support (``satbench.workflow.facts_from_config``), the report
which ones a set of *records* supports (:func:`facts_from_runs`); both then take :func:`supported`, so the two cannot disagree as
long as the facts agree, and a test checks that they do on every shipped config and on edge configs. Captions live
in ``satbench/report/captions/<caption>.rst`` only: the Snakemake report shows them, and LaTeX tables take their text from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

CAPTIONS_DIR = Path(__file__).resolve().parent / "captions"  # package data: the Snakemake report shows them too

# What a set of runs can have, in words (shown where an artefact is skipped).
FACTS = {
    "main": "runs of the main study",
    "validated": "validation scores in the main study",
    "exact": "an exact run in the main study (it sets the target score)",
    "measured": "staleness measured on a run with halo rows (W > 1, staleness_every > 0)",
    "stale_measured": "staleness measured for a method other than exact",
    "sat": "a run of the SAT family",
    "sweep": "a method run at two or more sync periods",
    "controls": "a fresh-halo control (satbench run --halo fresh) beside the main runs",
    "bandwidth": "a method and exact run at two or more network rates",
}


@dataclass(frozen=True)
class Artefact:
    name: str
    kind: str  # "table" or "figure"
    needs: frozenset[str]
    caption_file: str  # stem of captions/<caption_file>.rst

    @property
    def caption(self) -> str:
        return caption_text(self.caption_file)

    def missing(self, facts: set[str]) -> list[str]:
        return [FACTS[need] for need in sorted(self.needs - facts)]


def _artefact(name: str, kind: str, *needs: str, caption: str | None = None) -> Artefact:
    return Artefact(name, kind, frozenset(needs), caption or name)


ARTEFACTS = (
    _artefact("accuracy", "table", "main"),
    _artefact("staleness", "table", "measured", caption="staleness_table"),
    _artefact("throughput", "table", "main"),
    _artefact("time_to_target", "table", "exact"),
    _artefact("sat_vs_base", "table", "sat"),
    _artefact("claims", "table", "sat"),
    _artefact("sync_period", "table", "sweep", caption="sync_period_table"),
    _artefact("decomposition", "table", "main", "controls", caption="decomposition_table"),
    _artefact("bandwidth", "table", "bandwidth", caption="bandwidth_table"),
    _artefact("val_vs_epoch", "figure", "validated"),
    _artefact("val_vs_time", "figure", "validated"),
    _artefact("throughput", "figure", "main", caption="throughput_plot"),
    _artefact("accuracy_vs_staleness", "figure", "measured"),
    _artefact("staleness", "figure", "stale_measured"),
    _artefact("sync_period", "figure", "sweep"),
    _artefact("decomposition", "figure", "main", "controls"),
    _artefact("bandwidth", "figure", "bandwidth"),
)


def supported(facts: set[str], kind: str | None = None) -> list[Artefact]:
    """The artefacts whose needs are all among ``facts`` (of one kind, if given), in declaration order."""
    unknown = set(facts) - set(FACTS)
    if unknown:
        raise ValueError(f"unknown facts {sorted(unknown)}")
    return [a for a in ARTEFACTS if a.needs <= facts and (kind is None or a.kind == kind)]


@cache
def caption_text(stem: str) -> str:
    """A caption's text, from ``captions/<stem>.rst`` (one paragraph, lines joined)."""
    return " ".join((CAPTIONS_DIR / f"{stem}.rst").read_text().split())


def has_bandwidth_sweep(rates: dict[tuple, set]) -> bool:
    """The ``bandwidth`` fact, from the rates each (dataset, model, W, method) ran at: a method other than exact, and
    exact beside it, each at two or more rates. The config's facts and the records' both decide by this."""
    return any(method != "exact" and len(seen) >= 2 and len(rates.get((dataset, model, workers, "exact"), ())) >= 2
               for (dataset, model, workers, method), seen in rates.items())


def facts_from_runs(runs, staleness) -> set[str]:
    """What a set of loaded records has (``runs`` and ``staleness`` are the report's frames)."""
    main = runs[runs["study"] == "main"]
    facts = {"main"} if not main.empty else set()
    if main["best_val"].notna().any():
        facts.add("validated")
    if (main["method"] == "exact").any() and main.loc[main["method"] == "exact", "best_val"].notna().any():
        facts.add("exact")
    measured = staleness[(staleness["study"] == "main")].dropna(subset=["rel_error"])
    if not measured.empty:
        facts.add("measured")
    if (measured["method"] != "exact").any():
        facts.add("stale_measured")
    if main["base"].notna().any():
        facts.add("sat")
    pool = runs[runs["study"] == "sweep"] if (runs["study"] == "sweep").any() else main
    pool = pool.dropna(subset=["sync_period"])
    if (pool.groupby(["dataset", "model", "workers", "method"])["sync_period"].nunique() >= 2).any():
        facts.add("sweep")
    if (runs["study"] == "control").any() and not main.empty:
        facts.add("controls")
    bandwidth = runs[runs["study"] == "bandwidth"].dropna(subset=["rate"])
    rates = bandwidth.groupby(["dataset", "model", "workers", "method"])["rate"].agg(set).to_dict()
    if has_bandwidth_sweep(rates):
        facts.add("bandwidth")
    return facts
