"""One registry of the tables and figures the suite makes: each declared once, with its builder, what it needs and
its caption. Adding a table is one entry in :data:`ARTEFACTS`.

The workflow asks which artefacts a *config* will support (``satbench.workflow.facts_from_config``), the report
which ones a set of *records* supports (:func:`facts_from_runs`); both then take :func:`supported`, so the two cannot
disagree as long as the facts agree, and a test checks that they do on every shipped config and on edge configs.
LaTeX tables take their caption from here, and the Snakemake report reads it from a file this registry writes
(:func:`caption_file`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from ..files import write_text_atomic
from .claims import FIDELITY_RULE
from .families import ALLEVIATION, HISTORICAL
from .figures import (
    plot_accuracy_vs_staleness,
    plot_bandwidth,
    plot_decomposition,
    plot_staleness,
    plot_sync_period,
    plot_throughput,
    plot_val_vs_epoch,
    plot_val_vs_time,
)
from .frames import Frames
from .published import reported_vs_measured
from .options import OPTION_STUDY, options_table
from .regime import SCREEN_STUDY, plot_regime, plot_regime_rule, predictor_table, regime_claims_table, regime_table
from .tables import (
    accuracy_table,
    alleviation_vs_base_table,
    bandwidth_table,
    claims_table,
    decomposition_table,
    fidelity_table,
    staleness_by_age_table,
    staleness_table,
    sync_period_table,
    throughput_table,
    time_to_target_table,
)

# What a set of runs can have, in words (shown where an artefact is skipped).
FACTS = {
    "main": "runs of the main study",
    "validated": "validation scores in the main study",
    "exact": "an exact run in the main study (it sets the target score)",
    "measured": "staleness measured on a run with halo rows (W > 1, staleness_every > 0)",
    "stale_measured": "staleness measured for a method other than exact",
    "alleviation": "an alleviation run (a method that corrects its base's stale rows) in the main study",
    "historical": "a historical method's run in the main study on a dataset and model where exact ran too",
    "sweep": "a method run at two or more sync periods",
    "controls": "a fresh-halo control (satbench run --halo fresh) beside the main runs",
    "bandwidth": "a method and exact run at two or more network rates",
    "published": "published figures to compare with (config/published.csv)",
    "regime": "runs of the regime study's screen (config/regime.yaml)",
    "options": "runs of the option study (a method with options changed from its defaults, option_study)",
}

TABLE, FIGURE = "table", "figure"


@dataclass(frozen=True)
class Artefact:
    """A table or a figure: ``build(frames)`` returns a table's frame, ``build(frames, stem)`` writes a figure and
    returns its files; it is made where the runs have every fact in ``needs``."""

    name: str
    kind: str  # TABLE or FIGURE
    needs: frozenset[str]
    caption: str
    build: Callable

    def missing(self, facts: set[str]) -> list[str]:
        return [FACTS[need] for need in sorted(self.needs - facts)]


def table(name: str, build: Callable[[Frames], pd.DataFrame], *needs: str, caption: str) -> Artefact:
    return Artefact(name, TABLE, frozenset(needs), " ".join(caption.split()), build)


def figure(name: str, build: Callable[[Frames, Path], list[Path]], *needs: str, caption: str) -> Artefact:
    return Artefact(name, FIGURE, frozenset(needs), " ".join(caption.split()), build)


MEAN_STD = "mean ± std over seeds (sample std, n seeds; the CSV has the mean, std and n columns)"
REGIME = ("beside each setting its partition regime: halo ratio (halo rows per inner row) and label skew "
          "(total-variation distance of a part's training labels from the graph's; mean and largest over parts, "
          "— where the records do not state it)")

ARTEFACTS = (
    table("accuracy", lambda f: accuracy_table(f.runs), "main", caption=f"""
        Test score at the epoch of best validation score (never the best test score) in %, {MEAN_STD}, per
        dataset, model, W and method; {REGIME}; the runs' epochs and, where a sync period τ applies, their syncs
        (epochs / τ, rounded down)."""),
    table("staleness", lambda f: staleness_table(f.staleness), "measured", caption="""
        Relative errors ‖h_used − h_exact‖/‖h_exact‖ of the halo rows each method trains with, against exact rows
        computed with the same current weights, per hidden layer, time-averaged over steps drawn by a seeded schedule
        that covers every phase of every method's cycle: drift (exact rows with the dropout masks each used row
        carries: what staleness alone costs; eval mode for rows that carry none), total (exact rows with the step's
        own masks, as exact training would use) and the mask floor between the two; each run's mean, then mean ± std
        over runs; mean row age in steps; one row per dataset, model and W, never averaged across them."""),
    table("staleness_by_age", lambda f: staleness_by_age_table(f.staleness), "measured", caption="""
        Error against row age: drift, total and mask-floor errors of the halo rows used, averaged over every
        measurement at the same mean row age (optimiser steps since the rows were computed), per dataset, model, W,
        method and hidden layer; the measurements and runs behind each mean."""),
    table("throughput", lambda f: throughput_table(f.runs), "main", caption="""
        Mean epoch time (slowest worker, evaluation and staleness measurement excluded; mean ± std over the
        repetitions of the timing study where it timed the setting, with worker processes and every method trained
        in turn in one job, else over the seeds of the main runs), speedup over exact at the same dataset, model and
        W (exact's mean epoch time over the method's), MB sent per epoch (all workers), the largest worker's peak
        memory over the runs, the study the times come from and the launcher that ran them (inprocess: the workers
        as threads of one process, whose times are no deployment's)."""),
    table("time_to_target", lambda f: time_to_target_table(f.epochs, f.runs), "exact", caption="""
        Epochs and wall time (training only) until the validation score first reaches 95% of exact's best
        validation score on the same dataset and model; mean ± std over the seeds that reached it ("reached" of n;
        — where none did)."""),
    table("alleviation_vs_base", lambda f: alleviation_vs_base_table(f.staleness, f.runs), "alleviation",
          caption="""
        Each alleviation method against its base: the error of the halo rows it used next to the error of the
        stale copies it replaced (same rows, same weights), the reduction (replaced / used; above 1: it helped),
        the base's error in the base's own run, and its epoch-time overhead over the base (times as in the
        throughput table)."""),
    table("claims", lambda f: claims_table(f.runs, f.staleness, f.reach), "alleviation", caption="""
        SAT's four claims (C1 staleness, C2 accuracy, C3 convergence, C4 overhead, timed by the timing study where
        it timed the setting; Bai et al. 2023), judged for
        every alleviation method against its base, per setting, from the run records by the rule in each row: a
        paired test over seeds with its estimate, 95% interval, raw p and p adjusted by Holm's method over the
        table (α = 0.05); holds, fails, inconclusive (the test cannot tell), not testable (a premise is absent, for
        example where staleness costs the base no significant accuracy, so no correction of stale rows could show a
        gain, or data is missing), or not applicable (C1 of a method that leaves its base's rows as they are)."""),
    table("sync_period", lambda f: sync_period_table(f.runs), "sweep", caption="""
        Sync-period sweep: per method and τ, the syncs in a run, the mean staleness, the test score at best
        validation (mean ± std over seeds) and the mean epoch time."""),
    table("decomposition", lambda f: decomposition_table(f.runs, f.reach), "main", "controls", caption=f"""
        Each stale method's gap to exact, split by its fresh-halo control (the method's whole protocol with exact
        halo rows): protocol cost = exact − control, staleness cost = control − method, in test points at the best
        validation epoch, paired by seed (mean ± std over seeds, 95% interval, one-sided paired t-test that the cost
        is a loss, its p adjusted by Holm's method over every cost in the table; "significant": adjusted p < 0.05),
        with the staleness cost's minimum detectable effect (80% power), and in epochs and seconds to the target
        validation score; {REGIME}; epochs and syncs. For an alleviation method, the recovered share = (method −
        base) / (control − base), with Fieller's 95% interval: how much of its base's staleness cost it wins back,
        given only where that cost is a significant loss."""),
    table("fidelity", lambda f: fidelity_table(f.runs, f.reach), "exact", "historical", caption=f"""
        Each historical method against the accuracy claim of its paper (quoted with its source), at the suite's
        settings: its gap to exact, {FIDELITY_RULE}. Where the claim does not hold, "cost on" says where the
        fresh-halo control puts the loss: the protocol (exact − control), the stale rows (control − method), both,
        or neither significant (the decomposition's one-sided paired t-tests, Holm-adjusted)."""),
    table("bandwidth", lambda f: bandwidth_table(f.epochs), "bandwidth", caption="""
        Bandwidth study: each method trained by W workers on one machine, each worker in its own network namespace
        with an emulated full-duplex link of the given rate (tc tbf both ways, to a bridge), so all traffic crosses
        the links while the workers share the machine's cores. Epoch time (slowest worker) and communication time
        per epoch are measured, averaged over every epoch but each run's first (evaluation and staleness
        measurement excluded), then over seeds (std over seeds where there are several); MB per epoch is summed
        over workers. Speedup over exact is exact's epoch time over the method's at the same rate and an equal
        number of epochs, not time to an accuracy. "Faster than exact at and below" is the highest rate from which
        down the method is faster than exact at every rate of the sweep (means, no noise test), or never in the
        sweep."""),
    table("reported_vs_measured", lambda f: reported_vs_measured(f.published, f.runs), "main", "published",
          caption="""
        Published figures (config/published.csv: paper and table, or the authors' repository file) beside the
        suite's runs of the same setting: same dataset, model and method, and W where the paper states it (one row
        per W otherwise); the runs' test score at best validation (mean ± std over seeds), its difference from the
        published value, and whether the published value lies within the runs' mean ± twice their seed std.
        Settings without runs are listed as such, with the reason where they cannot run on this machine (no data
        offline, no GPU); a paper whose numbers could not be retrieved is listed with no value."""),
    figure("val_vs_epoch", lambda f, stem: plot_val_vs_epoch(f.epochs, stem), "validated", caption="""
        Validation score against epoch at the largest W of each dataset and model: mean over seeds, shaded band its
        95 % t-interval over seeds (n in the legend; a one-seed panel says it has none). One column per family: exact and partition (references) in every column, the
        historical methods in one, each base's alleviation methods with that base in one; every method keeps its
        colour, dash and marker."""),
    figure("val_vs_time", lambda f, stem: plot_val_vs_time(f.epochs, stem), "validated", caption="""
        Validation score against cumulative training wall time (evaluation and staleness measurement excluded),
        in the columns of the validation-against-epoch figure; band the 95 % t-interval over seeds."""),
    figure("throughput", lambda f, stem: plot_throughput(f.runs, stem), "main", caption="""
        Epoch time and speedup over exact per method at a single W, against W where there are several (one kind of
        y scale for both), with 95 % intervals (t over repetitions or seeds; Fieller for the speedup), from the
        timing study where it timed the setting, else from the main runs (as the throughput table)."""),
    figure("accuracy_vs_staleness", lambda f, stem: plot_accuracy_vs_staleness(f.runs, stem), "measured",
           caption="""
        Test score at best validation against mean staleness, one panel per dataset, model and W, one point per
        method (mean over seeds) with 95 % t-intervals both ways; points that would cover each other are set
        slightly apart (the legend says so)."""),
    figure("staleness", lambda f, stem: plot_staleness(f.staleness, stem), "stale_measured", caption="""
        Drift of the halo rows used (relative error against exact rows with the current weights and the dropout
        masks each row carries), each seed's mean per short window of epochs, then the mean over seeds with its 95 %
        t-interval, against the training position (epoch + local step / local steps), per hidden layer, one kind of y scale throughout; dashed in the same colour: the
        total error against the step's own masks (drift plus mask noise); columns by family as in the validation
        figures (exact's error is 0). Periodic methods (digest and the methods on it) show a saw-tooth over each
        sync period; the dotted line in an alleviation method's colour is the stale copy it replaced."""),
    figure("sync_period", lambda f, stem: plot_sync_period(f.runs, stem), "sweep", caption="""
        Sync-period sweep: staleness, test score at best validation and epoch time against τ (log x, linear y) for
        the periodic methods."""),
    figure("decomposition", lambda f, stem: plot_decomposition(f.table("decomposition"), stem), "main", "controls",
           caption="""
        Per setting, each stale method's protocol cost (grey: exact − control) and staleness cost (orange: control
        − method) in test points, whiskers spanning their 95 % intervals over seeds; hatched where the staleness cost
        is not a significant loss (one-sided paired t-test, Holm-adjusted, α = 0.05). Only a significant staleness cost is something a
        correction of stale rows can win back; an alleviation method's recovered share is printed beside its bar
        where its base's staleness cost is one."""),
    table("regime", lambda f: regime_table(f.runs, f.staleness), "regime", caption="""
        The regime map (satbench.report.regime): per screened setting (dataset, model, W, historical method, sync
        period τ) the partition's regime (halo ratio, label skew: means over parts), the halo rows' mean age in
        optimiser steps and their drift (time-averaged relative error against exact rows with the same weights and
        masks), exact's, the fresh-halo control's and the method's test score at best validation (%, means over
        seeds), protocol cost = exact − control and staleness cost = control − method in test points, each a paired
        t over seeds with its 95 % interval and one-sided p (a loss), the staleness cost's p adjusted by Holm's
        method over the table ("significant": adjusted p < 0.05). Settings the confirm stage reran are reported
        from its seeds (stage confirm), the screen's estimate beside them; each staleness cost's minimum
        detectable effect (two-sided paired t, α = 0.05, 80 % power, at its seeds' spread)."""),
    table("regime_predictors", lambda f: predictor_table(f.table("regime")), "regime", caption="""
        What explains the staleness cost across the regime table's settings: for each candidate a user can measure
        (drift, halo ratio, row age and their products with the halo ratio), the R² and slope of a least-squares
        line through the settings' estimates and Spearman's rank correlation ρ with its p; best first."""),
    table("regime_claims", lambda f: regime_claims_table(f.runs, f.epochs, f.staleness), "regime", caption="""
        SAT's four claims judged, by the claims table's rules, for every alleviation method in every setting the
        regime study's confirm stage reran (those whose screened staleness cost passed the threshold), with the
        confirm stage's seeds; one row saying so where no setting reached that stage."""),
    figure("regime", lambda f, stem: plot_regime(f.table("regime"), stem), "regime", caption="""
        The regime map: one panel per graph and model, staleness cost (fresh-halo control − method, test points at
        the best validation epoch, mean over seeds) as colour over the number of workers W and the method and its
        sync period τ, the estimate in each cell, a black box where it is a significant loss (one-sided paired t,
        Holm-adjusted over the table, α = 0.05); under each W its partition regime (halo ratio, label skew) and the
        fewest seeds behind its cells."""),
    figure("regime_rule", lambda f, stem: plot_regime_rule(f.table("regime"), f.table("regime_predictors"), stem),
           "regime", caption="""
        The rule a user can apply to an unseen graph: staleness cost per setting (whiskers: 95 % interval over
        seeds) against the measured quantity that explains it best across the regime table (the highest R²), with
        the fitted line; every candidate's R² and Spearman ρ in the corner."""),
    table("options", lambda f: options_table(f.runs, f.staleness), "options", caption="""
        What each option of the option study moves (satbench.report.options): per setting, method and option setting
        (KEY=VALUE), the method's test score at best validation with the option and in its default form (%, means
        over the seeds both ran), their difference in test points (option − default: paired t, 95 % interval, p
        adjusted by Holm's method over the table, and the smallest difference the seeds could detect), the drift of
        the halo rows used (relative error against exact rows with the same weights and masks, per seed the mean
        over its measurements) in both forms with their geometric mean ratio, and for an alleviation method its C1
        with the option and without (its rows' drift against its base's: holds where the 95 % interval of the ratio
        lies below 1)."""),
    figure("bandwidth", lambda f, stem: plot_bandwidth(f.table("bandwidth"), stem), "bandwidth", caption="""
        Bandwidth study: mean epoch time (left) and speedup over exact (right; dashed line at 1×: faster above it)
        against the rate of each worker's emulated full-duplex link, W workers on one machine sharing its cores;
        log scales. Measured epoch times, every epoch but each run's first, mean over seeds; speedup at an equal
        number of epochs, not time to an accuracy."""),
)


def supported(facts: set[str], kind: str | None = None) -> list[Artefact]:
    """The artefacts whose needs are all among ``facts`` (of one kind, if given), in declaration order."""
    unknown = set(facts) - set(FACTS)
    if unknown:
        raise ValueError(f"unknown facts {sorted(unknown)}")
    return [a for a in ARTEFACTS if a.needs <= facts and (kind is None or a.kind == kind)]


def artefact(kind: str, name: str) -> Artefact:
    return next(a for a in ARTEFACTS if a.kind == kind and a.name == name)


def table_builders() -> dict[str, Callable[[Frames], pd.DataFrame]]:
    return {a.name: a.build for a in ARTEFACTS if a.kind == TABLE}


def caption_file(kind: str, name: str, directory: str | os.PathLike) -> Path:
    """The caption of a table or figure as a file under ``directory`` (``<kind>-<name>.rst``), for Snakemake's
    report, which reads captions from files; written when missing or when the declaration changed."""
    path = Path(directory) / f"{kind}-{name}.rst"
    text = artefact(kind, name).caption + "\n"
    if not path.is_file() or path.read_text() != text:
        write_text_atomic(path, text)
    return path.absolute()


def has_bandwidth_sweep(rates: dict[tuple, set]) -> bool:
    """The ``bandwidth`` fact, from the rates each (dataset, model, W, method) ran at: a method other than exact, and
    exact beside it, each at two or more rates. The config's facts and the records' both decide by this."""
    return any(method != "exact" and len(seen) >= 2 and len(rates.get((dataset, model, workers, "exact"), ())) >= 2
               for (dataset, model, workers, method), seen in rates.items())


def has_historical_beside_exact(runs: Iterable[tuple[str, str, str, str]]) -> bool:
    """The ``historical`` fact, from the (dataset, model, method, family) of the main runs: a historical method where
    exact ran on the same dataset and model. The config's facts and the records' both decide by this."""
    runs = set(runs)
    exact = {(dataset, model) for dataset, model, method, _ in runs if method == "exact"}
    return any(family == HISTORICAL and (dataset, model) in exact for dataset, model, _, family in runs)


def facts_from_runs(runs, staleness, published: pd.DataFrame | None = None) -> set[str]:
    """What a set of loaded records has (``runs`` and ``staleness`` are the report's frames; ``published`` the
    published figures given to the report)."""
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
    if ((main["family"] == ALLEVIATION) & main["base"].notna()).any():
        facts.add("alleviation")
    if has_historical_beside_exact(zip(main["dataset"], main["model"], main["method"], main["family"])):
        facts.add("historical")
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
    if published is not None and not published.empty:
        facts.add("published")
    if (runs["study"] == SCREEN_STUDY).any():
        facts.add("regime")
    if "option" in runs.columns and (runs["study"] == OPTION_STUDY).any():
        facts.add("options")
    return facts
