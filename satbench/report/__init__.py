"""Tables, figures and tidy data from run records: accuracy, staleness, throughput, time to target, each
alleviation method against its base and its claims, the decomposition by fresh-halo controls, each historical
method's fidelity to its paper's claim, published figures beside measured ones, the τ sweep, the bandwidth study.

Input is a list of run records (paths, or already-loaded record dicts). Each record says its study (``main``, the
``control`` runs of the fresh-halo controls, the ``sweep`` of sync periods, the ``bandwidth`` study, the ``timing``
study, or a study of the user's) and its labels, as the job passed them (``satbench run --study``, ``--label dataset=...``); a run's
dataset label is an explicit ``labels`` entry given to the report for its path, else the record's ``dataset`` label,
else ``config.dataset`` (which may be a long spec such as ``sbm:n=3000,...``). Everything else (model, method, W,
seed, τ, link) comes from the record's ``config``, and what ran (family, base, fresh-halo control or not) from its
``method`` section (:mod:`.families` maps older records' words onto today's families). Records written before
records carried their study (version 1) are placed by where they lie in the workflow's layout of then
(``results/runs|controls|sweep|bandwidth/{dataset}/...``). The main tables and figures use main runs only, because a
sweep run repeats a main configuration with other epochs and τ; the sync-period table and figure use the sweep runs
when there are any, else every run; epoch times (the throughput table and figure, the overhead of an alleviation
method, claim C4) come from the timing study where it timed a (dataset, model, W), else from the main runs, whose
launcher the runs frame states (``launcher``, from the record's env).

Every table is long and numeric (one row per setting and method, ``X_mean``/``X_std``/``n`` where averaged over
seeds, units in the column names) in its CSV; its Markdown and LaTeX show "mean ± std". ``runs.parquet`` (one row per
run: scores and every setting), ``epochs.parquet`` (one row per run and epoch) and ``staleness.parquet`` (one row per
run, measured epoch and hidden layer) are the tidy data, every column declared (docs/data.md, :mod:`.dictionary`).
What exists, with its builder, needs and caption, is declared once in :mod:`.artefacts`. ``--evidence DIR`` writes a
study's compact evidence, from which the tables are built again and the documents rendered (:mod:`.evidence`: ``make
evidence``, ``make docs``).

Conventions (also stated in the captions):

* the reported score is ``summary.test_at_best_val`` (test score at the first epoch with the best validation score),
  in %; "mean ± std" is over seeds with the sample standard deviation (ddof = 1), and just the mean for one seed;
* staleness is the measured relative error ``‖h_used − h_exact‖_F / ‖h_exact‖_F`` of the halo rows, each run's mean
  over its measured epochs (equal weight per measurement), then over runs;
* speedup is exact's mean epoch time over the method's at the same (dataset, model, W), each a mean over seeds (over
  the repetitions of the timing study where it timed the setting);
* time to target: the target of a (dataset, model) is 0.95 × exact's best validation score there (mean of
  ``summary.best_val`` over exact's runs, all seeds and W, which agree up to seed because exact equals full-graph
  training); a run's epochs to target is the first epoch whose validation score reaches it, its time the cumulative
  ``epoch_time_s`` through that epoch; means are over the seeds that reached it ("reached" says how many did);
* an alleviation method against its base: the mean error of the rows it used against the mean error of the stale
  copy it replaced (``replaced_rel_error``, same rows and weights) — reduction = replaced / used (> 1: it helped) —
  and its mean epoch time against its base method's at the same (dataset, model, W, τ);
* bandwidth study: per (dataset, model, W, method, rate), measured epoch and communication times averaged over every
  epoch but each run's first, then over seeds; speedup is exact's epoch time over the method's at the same rate; a
  method's crossover is the highest rate from which down it is faster than exact at every rate of the sweep.

If a method appears in the main runs with several τ values, the tables keep them apart by their ``sync_period``
column and the figures label them ``method (τ=N)``, so that nothing averages over different hyperparameters.
"""

from .artefacts import ARTEFACTS, Artefact, supported
from .build import add_arguments, build_all
from .command import main, run_from_args
from .claims import FIDELITY_RULE, PAPER_CLAIMS, RULES, fidelity_verdict
from .families import ALLEVIATION, FAMILIES, HISTORICAL, REFERENCE, family_of
from .figures import (
    method_facets,
    plot_accuracy_vs_staleness,
    plot_bandwidth,
    plot_decomposition,
    plot_staleness,
    plot_sync_period,
    plot_throughput,
    plot_val_vs_epoch,
    plot_val_vs_time,
)
from .frames import (
    TARGET_FRACTION,
    Frames,
    data_files,
    epoch_data,
    epoch_frame,
    load_records,
    load_runs,
    main_study,
    reach_frame,
    read_record,
    staleness_data,
    staleness_frame,
    target_scores,
)
from .published import load_published, reported_vs_measured
from .render import (
    format_cell,
    latex_escape,
    present,
    table_to_csv,
    table_to_latex,
    table_to_markdown,
    write_parquet,
    write_table,
)
from .style import METHOD_COLORS, METHOD_STYLES, method_color, method_style, ordered_methods, rate_label
from .tables import (
    NEVER_IN_SWEEP,
    accuracy_table,
    alleviation_vs_base_table,
    bandwidth_table,
    claims_table,
    decomposition_table,
    fidelity_table,
    staleness_table,
    sync_period_table,
    throughput_table,
    time_to_target_table,
)

__all__ = [
    "ALLEVIATION", "ARTEFACTS", "Artefact", "FAMILIES", "FIDELITY_RULE", "Frames", "HISTORICAL", "METHOD_COLORS",
    "METHOD_STYLES", "NEVER_IN_SWEEP", "PAPER_CLAIMS", "REFERENCE", "RULES", "TARGET_FRACTION", "accuracy_table",
    "add_arguments", "alleviation_vs_base_table", "bandwidth_table", "build_all", "claims_table",
    "data_files", "decomposition_table", "epoch_data", "epoch_frame", "family_of", "fidelity_table", "fidelity_verdict",
    "format_cell", "latex_escape", "load_published", "load_records", "load_runs", "main", "main_study",
    "method_color", "method_facets", "method_style", "ordered_methods", "plot_accuracy_vs_staleness",
    "plot_bandwidth", "plot_decomposition", "plot_staleness", "plot_sync_period", "plot_throughput",
    "plot_val_vs_epoch", "plot_val_vs_time", "present", "rate_label", "reach_frame", "read_record",
    "reported_vs_measured", "run_from_args", "staleness_data", "staleness_frame", "staleness_table", "supported",
    "sync_period_table", "table_to_csv", "table_to_latex", "table_to_markdown", "target_scores",
    "throughput_table", "time_to_target_table", "write_parquet", "write_table",
]
