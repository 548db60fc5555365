"""The paired tests behind every comparison the report states (scipy.stats), one small function each.

Every comparison is paired by seed: two per-seed series (index: seed) are compared over the seeds both have. Each
helper returns a :class:`Comparison`: the estimate, a two-sided 95 % interval, a p-value, the number of pairs and the
test's short name. Conventions throughout:

* α = :data:`ALPHA` = 0.05; intervals are two-sided at 1 − α (95 %) whatever the alternative of the p-value, so that
  every table shows intervals of one kind;
* a p-value is for the alternative asked (``two-sided``, ``greater``: the first series is larger, ``less``);
* fewer than two pairs: the estimate where one exists, NaN interval and p-value (no spread to test with);
* differences that are all equal (zero spread, up to floating-point rounding, :data:`ZERO_SPREAD`) are a degenerate
  t-test: the interval collapses to the point, and p is 0 where the point lies on the alternative's side of the null,
  1 otherwise; scipy is not asked (it would warn of a division by zero or of "catastrophic cancellation");
* multiplicity: :func:`holm` adjusts a family of p-values (Holm–Bonferroni); callers decide the family.

Torch-free: the report imports it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Iterable, Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

ALPHA = 0.05
CONFIDENCE = 1 - ALPHA
# Differences whose spread is at most this × max(1, |mean|) count as all equal (scores in % carry rounding noise of
# ~1e-14 from × 100).
ZERO_SPREAD = 1e-9
# Above this many non-zero pairs the censored test draws sign flips at random (fixed seed) instead of all 2^n.
EXACT_PAIRS = 16
PERMUTATIONS = 100_000
RANDOM_SEED = 0

Alternative = Literal["two-sided", "greater", "less"]


@dataclass(frozen=True)
class Comparison:
    """One paired comparison: ``estimate`` (its unit is the helper's: a mean difference, a median difference, a
    ratio), its two-sided 95 % interval ``[ci_low, ci_high]``, ``p_value`` (for the alternative the helper was asked
    for), ``n`` (pairs used) and ``test`` (the test's short name, as the tables print it)."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    test: str

    def columns(self, prefix: str = "") -> dict[str, float | int | str]:
        """The fields as table columns, each name prefixed (``prefix`` + ``estimate``, ...)."""
        return {f"{prefix}{key}": value for key, value in asdict(self).items()}

    def significant(self, alpha: float = ALPHA) -> bool:
        """p < alpha (False where p is NaN)."""
        return bool(self.p_value < alpha)


NAN = math.nan


def paired(a: pd.Series, b: pd.Series, *, dropna: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` at the seeds (index) both have, in index order; pairs with a NaN dropped where ``dropna``."""
    seeds = a.index.intersection(b.index)
    first, second = a.loc[seeds].to_numpy(dtype=float), b.loc[seeds].to_numpy(dtype=float)
    if dropna:
        keep = ~(np.isnan(first) | np.isnan(second))
        first, second = first[keep], second[keep]
    return first, second


def _values(values: pd.Series | Iterable[float]) -> np.ndarray:
    array = np.asarray(values.to_numpy() if isinstance(values, pd.Series) else list(values), dtype=float)
    return array[~np.isnan(array)]


def _all_equal(values: np.ndarray) -> bool:
    return bool(np.ptp(values) <= ZERO_SPREAD * max(1.0, float(np.abs(values).max())))


def _degenerate_p(point: float, null: float, alternative: Alternative) -> float:
    """A zero-spread t-test's p: 0 where ``point`` lies on the alternative's side of ``null`` (beyond rounding,
    :data:`ZERO_SPREAD`), else 1."""
    if abs(point - null) <= ZERO_SPREAD * max(1.0, abs(null)):
        return 1.0
    side = {"two-sided": True, "greater": point > null, "less": point < null}[alternative]
    return 0.0 if side else 1.0


def _mean_test(values: np.ndarray, null: float, alternative: Alternative, test: str) -> Comparison:
    """One-sample t-test of mean(values) = null with the 95 % t-interval of the mean."""
    n = len(values)
    if n == 0:
        return Comparison(NAN, NAN, NAN, NAN, 0, test)
    mean = float(values.mean())
    if n < 2:
        return Comparison(mean, NAN, NAN, NAN, n, test)
    if _all_equal(values):
        return Comparison(mean, mean, mean, _degenerate_p(mean, null, alternative), n, test)
    sd = float(values.std(ddof=1))
    half = float(stats.t.ppf(1 - ALPHA / 2, n - 1)) * sd / math.sqrt(n)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_1samp(values, null, alternative=alternative).pvalue)
    return Comparison(mean, mean - half, mean + half, p, n, test)


def paired_difference(a: pd.Series, b: pd.Series, alternative: Alternative = "two-sided") -> Comparison:
    """Paired t-test of a − b over the seeds both have (pairs with a NaN dropped): estimate = mean difference,
    95 % t-interval, p for ``alternative`` (``greater``: a > b)."""
    first, second = paired(a, b)
    return _mean_test(first - second, 0.0, alternative, "paired t")


def difference_test(differences: pd.Series | Iterable[float], alternative: Alternative = "two-sided",
                    null: float = 0.0) -> Comparison:
    """:func:`paired_difference` on differences already paired (NaN dropped): the t-test of mean = ``null``."""
    return _mean_test(_values(differences), null, alternative, "paired t")


def equivalence(differences: pd.Series | Iterable[float], margin: float) -> Comparison:
    """Two one-sided t-tests (TOST) of paired differences against the equivalence margin ±``margin``.

    p = the larger of the two one-sided p-values (H0: mean ≤ −margin, H0: mean ≥ +margin); equivalence is shown at
    level α when p < α, which is the same as the 1 − 2α (90 %) t-interval lying inside (−margin, +margin). The
    interval reported (``ci_low``, ``ci_high``) is the 95 % one, as everywhere in the report; a verdict of parity
    uses p (equivalently the 90 % interval), never the 95 % interval. Zero spread: p = 0 where the mean lies strictly
    inside the margin, 1 otherwise; fewer than two differences: NaN."""
    values = _values(differences)
    test = f"TOST, margin {margin:g} pt"
    spread = _mean_test(values, 0.0, "two-sided", test)
    if len(values) < 2:
        return spread
    mean = spread.estimate
    if _all_equal(values):
        p = 0.0 if -margin < mean < margin else 1.0
    else:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            above = stats.ttest_1samp(values, -margin, alternative="greater").pvalue
            below = stats.ttest_1samp(values, margin, alternative="less").pvalue
        p = float(max(above, below))
    return Comparison(mean, spread.ci_low, spread.ci_high, p, spread.n, test)


def ratio(a: pd.Series, b: pd.Series, null: float = 1.0, alternative: Alternative = "two-sided") -> Comparison:
    """Paired t-test on log(a / b) over the seeds both have with positive, finite values (others dropped):
    estimate = exp(mean log ratio) (the geometric mean ratio), the 95 % interval exponentiated, p for
    mean log ratio = log(``null``) (``greater``: a / b > null)."""
    first, second = paired(a, b)
    keep = (first > 0) & (second > 0) & np.isfinite(first) & np.isfinite(second)
    logs = np.log(first[keep] / second[keep])
    result = _mean_test(logs, math.log(null), alternative, "paired t on log ratio")
    return Comparison(*(math.exp(value) if not math.isnan(value) else NAN
                        for value in (result.estimate, result.ci_low, result.ci_high)),
                      result.p_value, result.n, result.test)


EXACT_ROWS = "exact rows: no drift at any measurement"  # error_ratio's test where the first run's rows were exact


def error_ratio(errors: pd.Series, reference: pd.Series) -> Comparison:
    """:func:`ratio` of two runs' errors (a row error, per seed); where the first has none at any seed (exact rows:
    REST refreshing before every step) and the reference has some, the ratio is 0, which no log ratio can state."""
    first, second = paired(errors, reference)
    if len(first) and (first == 0).all() and (second > 0).all():
        return Comparison(0.0, 0.0, 0.0, NAN, len(first), EXACT_ROWS)
    return ratio(errors, reference)


def ratio_of_means(numerator: pd.Series, denominator: pd.Series) -> Comparison:
    """mean(numerator) / mean(denominator) over the seeds both have, with Fieller's 95 % interval (paired: the
    covariance of the two is used). The interval is the set of ρ for which mean(num) − ρ·mean(den) = 0 is not
    rejected by a t-test at 5 %; it is bounded only where the denominator's mean is itself distinguishable from 0 at
    that level — else it is unbounded and reported as NaN, NaN. p: NaN (no null to test)."""
    num, den = paired(numerator, denominator)
    n, test = len(num), "Fieller"
    if n == 0 or den.mean() == 0:
        return Comparison(NAN, NAN, NAN, NAN, n, test)
    estimate = float(num.mean() / den.mean())
    if n < 2:
        return Comparison(estimate, NAN, NAN, NAN, n, test)
    t2 = float(stats.t.ppf(1 - ALPHA / 2, n - 1)) ** 2
    cov = np.cov(num, den, ddof=1) / n  # variances and covariance of the two means
    m_num, m_den = float(num.mean()), float(den.mean())
    a = m_den ** 2 - t2 * float(cov[1, 1])
    b = -2 * (m_num * m_den - t2 * float(cov[0, 1]))
    c = m_num ** 2 - t2 * float(cov[0, 0])
    if a <= 0:  # the denominator is not distinguishable from 0: the set of ρ is unbounded
        return Comparison(estimate, NAN, NAN, NAN, n, test)
    # The estimate always lies in the set (the quadratic is ≤ 0 there), so the discriminant is ≥ 0 up to rounding.
    root = math.sqrt(max(0.0, b * b - 4 * a * c))
    return Comparison(estimate, float((-b - root) / (2 * a)), float((-b + root) / (2 * a)), NAN, n, test)


def _signed_rank(differences: np.ndarray, axis: int = -1) -> np.ndarray:
    """Wilcoxon's T⁺ − T⁻ with Pratt's zeros: the |differences| ranked together with the zeros (mid-ranks for ties),
    each rank signed by its difference (a zero contributes 0)."""
    ranks = stats.rankdata(np.abs(differences), axis=axis)
    return np.sum(np.sign(differences) * ranks, axis=axis)


def censored_paired(a: pd.Series, b: pd.Series, alternative: Alternative = "two-sided") -> Comparison:
    """Times (epochs, seconds) to a target, where NaN or +inf means "never reached", compared by seed: a − b.

    Every seed both series have is kept: never reaching is treated as the longest time of all (right-censored at
    the run's end, it is later than any time that was reached). Test: Wilcoxon's signed-rank test on the paired
    differences, never-reached replaced by a time larger than twice any reached one, so that a difference involving
    one never-reached run ranks above every finite difference; both never reached is a zero difference. Zeros are
    kept in the ranking (Pratt) and contribute 0; ties get mid-ranks. p is exact: the statistic's distribution over
    all 2^n sign flips of the differences (``scipy.stats.permutation_test``; above :data:`EXACT_PAIRS` non-zero
    pairs, :data:`PERMUTATIONS` random flips with a fixed seed). With n pairs and no ties the smallest two-sided p
    is 2 / 2^n (0.0625 at n = 5): few seeds may leave p large.

    estimate = the median of the paired differences, ±inf where the median pair is one never-reached run (NaN when
    the two middle differences are −inf and +inf). Interval: the distribution-free interval for that median from the
    sign test, the order statistics d_(k) and d_(n+1−k) with the largest k such that P(Binomial(n, ½) < k) ≤ α/2 (its
    coverage ≥ 95 %); it needs n ≥ 6, NaN below."""
    first, second = paired(a, b, dropna=False)
    first = np.where(np.isnan(first), math.inf, first)
    second = np.where(np.isnan(second), math.inf, second)
    n, test = len(first), "Wilcoxon signed-rank (censored as +inf)"
    if n == 0:
        return Comparison(NAN, NAN, NAN, NAN, 0, test)
    never_first, never_second = np.isinf(first), np.isinf(second)
    with np.errstate(invalid="ignore"):  # inf − inf, replaced by 0
        true = np.where(never_first & never_second, 0.0, first - second)  # ±inf where one never reached
    ordered = np.sort(true)
    middle = ordered[[(n - 1) // 2, n // 2]]
    with np.errstate(invalid="ignore"):
        estimate = float(middle.mean()) if not (np.isinf(middle).all() and middle[0] != middle[1]) else NAN
    low = high = NAN
    k = int(stats.binom.ppf(ALPHA / 2, n, 0.5))  # P(Bin ≤ k) ≥ α/2; step back to the largest k with P(Bin < k) ≤ α/2
    while k > 0 and stats.binom.cdf(k - 1, n, 0.5) > ALPHA / 2:
        k -= 1
    if k >= 1:
        low, high = float(ordered[k - 1]), float(ordered[n - k])
    if n < 2:
        return Comparison(estimate, low, high, NAN, n, test)
    finite = np.concatenate([first[~never_first], second[~never_second]])
    largest = float(np.abs(finite).max()) if len(finite) else 0.0
    late = 2 * largest + 1  # never reached: later than every reached time, by more than any finite difference
    ranked = np.where(never_first, late, first) - np.where(never_second, late, second)
    if not ranked.any():
        return Comparison(estimate, low, high, 1.0, n, test)
    nonzero = int(np.count_nonzero(ranked))
    exact = nonzero <= EXACT_PAIRS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.permutation_test(
            (ranked,), _signed_rank, permutation_type="samples", alternative=alternative, vectorized=True,
            n_resamples=math.inf if exact else PERMUTATIONS, random_state=RANDOM_SEED)
    return Comparison(estimate, low, high, float(min(1.0, result.pvalue)), n, test)


def holm(p_values: pd.Series | Iterable[float]) -> pd.Series | np.ndarray:
    """Holm–Bonferroni adjusted p-values of one family: the i-th smallest of m p-values becomes
    max over j ≤ i of min(1, (m − j + 1) · p_(j)) (monotone in p, capped at 1). NaN p-values are no tests: they stay
    NaN and do not count in m. Returns a Series with ``p_values``' index if given a Series, else an array."""
    values = np.asarray(p_values.to_numpy() if isinstance(p_values, pd.Series) else list(p_values), dtype=float)
    adjusted = np.full(values.shape, NAN)
    tested = np.flatnonzero(~np.isnan(values))
    if len(tested):
        order = tested[np.argsort(values[tested], kind="stable")]
        m = len(order)
        scaled = np.minimum(1.0, (m - np.arange(m)) * values[order])
        adjusted[order] = np.maximum.accumulate(scaled)
    return pd.Series(adjusted, index=p_values.index) if isinstance(p_values, pd.Series) else adjusted


def min_detectable_effect(differences: pd.Series | Iterable[float], alpha: float = ALPHA,
                          power: float = 0.8) -> float:
    """The smallest true mean difference that a two-sided paired t-test at level ``alpha``, with this many pairs and
    their observed standard deviation, detects with probability ``power``: the δ solving
    P(|T| > t_{1−α/2, n−1}) = power for T noncentral t with n − 1 degrees of freedom and noncentrality δ√n / sd
    (``scipy.stats.nct``; the approximation (t_{1−α/2,n−1} + t_{power,n−1}) · sd / √n is where the search starts).
    In the differences' unit; NaN with fewer than two, 0 with zero spread."""
    values = _values(differences)
    n = len(values)
    if n < 2:
        return NAN
    sd = float(values.std(ddof=1))
    if _all_equal(values) or sd == 0:
        return 0.0
    df, critical = n - 1, float(stats.t.ppf(1 - alpha / 2, n - 1))

    def shortfall(delta: float) -> float:
        nc = delta * math.sqrt(n) / sd
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            upper, lower = float(stats.nct.sf(critical, df, nc)), float(stats.nct.cdf(-critical, df, nc))
        # The wrong-sign tail is negligible for δ > 0, and scipy's nct returns NaN for some far tails: count it 0.
        return upper + (0.0 if math.isnan(lower) else lower) - power

    guess = (critical + float(stats.t.ppf(power, df))) * sd / math.sqrt(n)
    high = 2 * guess
    while shortfall(high) < 0:
        high *= 2
    return float(optimize.brentq(shortfall, 0.0, high, xtol=1e-10 * high))
