"""The option study's table (satbench.report.options): each option setting paired by seed with its method's default
form, in accuracy, drift and, for an alleviation method, C1."""

import math

import numpy as np
import pandas as pd
import pytest

from satbench.report.options import options_table

pytestmark = pytest.mark.unit


def _frames(shift_pts: float, drift_factor: float):
    """sat (on digest) in its default form and with one option over 6 seeds: the option moves every seed's score by
    ``shift_pts`` (plus noise) and scales its drift by ``drift_factor``; digest's rows drift twice as far as sat's."""
    rng = np.random.default_rng(0)
    runs, staleness = [], []
    for seed in range(6):
        base_score = 0.70 + 0.02 * rng.standard_normal()
        for study, method, option, score, drift in (
                ("main", "digest", None, base_score - 0.01, 0.4 * (1 + 0.1 * seed)),
                ("main", "sat", None, base_score, 0.2 * (1 + 0.1 * seed)),
                ("option", "sat", "window_push=forward", base_score + shift_pts / 100 + 0.001 * rng.standard_normal(),
                 0.2 * drift_factor * (1 + 0.1 * seed))):
            record = f"{study}/{method}/{option}/seed{seed}.json"
            runs.append({"dataset": "cora", "model": "gcn", "workers": 4, "sync_period": 10.0, "method": method,
                         "option": option, "study": study, "seed": seed, "test_at_best_val": score,
                         "base": "digest" if method == "sat" else None, "record": record})
            staleness += [{"record": record, "seed": seed, "drift_rel_error": drift * scale} for scale in (0.9, 1.1)]
    return pd.DataFrame(runs), pd.DataFrame(staleness)


def test_an_option_is_paired_with_the_default_form_in_accuracy_drift_and_c1():
    runs, staleness = _frames(shift_pts=-2.0, drift_factor=3.0)
    table = options_table(runs, staleness)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["method"], row["option"], row["n"], row["test"]) == ("sat", "window_push=forward", 6, "paired t")
    assert row["options_changed"] == 1
    assert row["estimate"] == pytest.approx(-2.0, abs=0.2)
    assert row["ci_low"] < row["estimate"] < row["ci_high"] < 0 and row["significant"]
    assert row["drift_estimate"] == pytest.approx(3.0)  # the geometric mean ratio option / default
    assert row["default_drift"] == pytest.approx(0.2 * 1.25) and row["option_drift"] == pytest.approx(0.6 * 1.25)
    # C1: sat's rows against digest's; the default form holds it (ratio 0.5), the option's rows fail it (1.5)
    assert row["default_c1_ratio"] == pytest.approx(0.5) and row["default_c1_verdict"] == "holds"
    assert row["c1_ratio"] == pytest.approx(1.5) and row["c1_verdict"] == "fails"


def test_an_option_that_moves_nothing_is_not_significant():
    runs, staleness = _frames(shift_pts=0.0, drift_factor=1.0)
    row = options_table(runs, staleness).iloc[0]
    assert not row["significant"] and row["ci_low"] < 0 < row["ci_high"]
    assert row["mde_pts"] > 0 and row["drift_estimate"] == pytest.approx(1.0)


def test_no_option_study_no_rows():
    runs, staleness = _frames(shift_pts=1.0, drift_factor=1.0)
    assert options_table(runs[runs["study"] == "main"], staleness).empty
    # a historical method has no C1 to state
    hist = runs.assign(method=runs["method"].replace({"sat": "gas"}), base=None)
    row = options_table(hist, staleness).iloc[0]
    assert row["c1_verdict"] == "not applicable" and math.isnan(row["c1_ratio"])


def test_exact_rows_have_a_drift_ratio_of_zero_and_hold_c1():
    """REST refreshing before every step trains on exact rows: drift 0 at every measurement, which no log ratio
    states; the ratio is 0 and C1 holds."""
    runs, staleness = _frames(shift_pts=0.0, drift_factor=1.0)
    option_records = set(runs.loc[runs["study"] == "option", "record"])
    staleness.loc[staleness["record"].isin(option_records), "drift_rel_error"] = 0.0
    row = options_table(runs, staleness).iloc[0]
    assert (row["drift_estimate"], row["drift_ci_high"], row["c1_ratio"]) == (0.0, 0.0, 0.0)
    assert row["c1_verdict"] == "holds" and row["drift_test"] == "exact rows: no drift at any measurement"
