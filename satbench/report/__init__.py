"""Tables and figures from run records: accuracy, staleness, throughput, time to target, SAT vs its base, τ sweep,
bandwidth study.

Input is a list of run records (paths, or already-loaded record dicts). Each record says its study (``main``, the
``control`` runs of the fresh-halo controls, the ``sweep`` of sync periods, the ``bandwidth`` study, or a study of
the user's) and its labels, as the job passed them (``satbench run --study``, ``--label dataset=...``); a run's
dataset label is an explicit ``labels`` entry given to the report for its path, else the record's ``dataset`` label,
else ``config.dataset`` (which may be a long spec such as ``sbm:n=3000,...``). Everything else (model, method, W,
seed, τ, link) comes from the record's ``config``, and what ran (family, base, fresh-halo control or not) from its
``method`` section. Records written before records carried their study (version 1) are placed by where they lie in
the workflow's layout of then (``results/runs|controls|sweep|bandwidth/{dataset}/...``). The main tables and figures
use main runs only, because a sweep run repeats a main configuration with other epochs and τ; the sync-period table
and figure use the sweep runs when there are any, else every run.

Conventions (also stated in the captions, ``report/*.rst``, which ``satbench.report.artefacts`` declares):

* the reported score is ``summary.test_at_best_val`` (test score at the first epoch with the best validation score),
  in %; "mean ± std" is over seeds with the sample standard deviation (ddof = 1), and just the mean for one seed;
* staleness is the measured relative error ``‖h_used − h_exact‖_F / ‖h_exact‖_F`` of the halo rows, averaged with
  equal weight per (measured epoch, layer) row;
* speedup is exact's mean epoch time over the method's at the same (dataset, model, W), each a mean over seeds;
* time to target: the target of a (dataset, model) is 0.95 × exact's best validation score there (mean of
  ``summary.best_val`` over exact's runs, all seeds and W, which agree up to seed because exact equals full-graph
  training); a run's epochs to target is the first epoch whose validation score reaches it, its time the cumulative
  ``epoch_time_s`` through that epoch; means are over the seeds that reached it ("reached" says how many did);
* SAT vs base: per SAT configuration, the mean error of the rows SAT used against the mean error of the stale copy it
  replaced (``replaced_rel_error``, same rows and weights) — reduction = replaced / used (> 1: SAT helped) — and its
  mean epoch time against its base method's at the same (dataset, model, W, τ);
* bandwidth study: per (dataset, model, W, method, rate), measured epoch and communication times averaged over every
  epoch but each run's first, then over seeds; speedup is exact's epoch time over the method's at the same rate; a
  method's crossover is the highest rate from which down it is faster than exact at every rate of the sweep.

If a method appears in the main runs with several τ values, its rows are split and labelled ``method (τ=N)`` so that
no table averages over different hyperparameters.
"""

from .build import add_arguments, build_all, main, run_from_args
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
from .frames import (
    TARGET_FRACTION,
    epoch_frame,
    load_records,
    load_runs,
    main_study,
    reach_frame,
    read_record,
    staleness_frame,
    target_scores,
)
from .render import (
    format_cell,
    latex_escape,
    table_to_csv,
    table_to_latex,
    table_to_markdown,
    write_table,
)
from .style import METHOD_COLORS, method_color, ordered_methods
from .tables import (
    NEVER_IN_SWEEP,
    accuracy_table,
    bandwidth_table,
    claims_table,
    decomposition_table,
    sat_vs_base_table,
    staleness_table,
    sync_period_table,
    throughput_table,
    time_to_target_table,
)

__all__ = [
    "METHOD_COLORS", "NEVER_IN_SWEEP", "TARGET_FRACTION", "accuracy_table", "add_arguments", "bandwidth_table",
    "build_all", "claims_table", "decomposition_table", "epoch_frame", "format_cell", "latex_escape",
    "load_records", "load_runs", "main", "main_study", "method_color", "ordered_methods",
    "plot_accuracy_vs_staleness", "plot_bandwidth", "plot_decomposition", "plot_staleness", "plot_sync_period",
    "plot_throughput", "plot_val_vs_epoch", "plot_val_vs_time", "reach_frame", "read_record", "run_from_args",
    "sat_vs_base_table", "staleness_frame", "staleness_table", "sync_period_table", "table_to_csv",
    "table_to_latex", "table_to_markdown", "target_scores", "throughput_table", "time_to_target_table",
    "write_table",
]
