"""Success-rate statistics for small numbers of trials.

One cell (a model x step) is `passed` of `total` judged trials: its binomial error (the paper's), the Wilson and
Clopper-Pearson intervals, the rule-of-three bound at 0/n and n/n, and the unbiased pass@k and pass^k. Two cells
(a run against a baseline) are compared by the difference in success with Newcombe's interval and Fisher's exact
test, Holm-adjusted across cells; two runs overall, stratified by step, by the Mantel-Haenszel weighted difference
with its stratified score interval and the Cochran-Mantel-Haenszel test. The gate's own tests and their power are in
`pytest_hepagent.sequential`.

scipy is imported on first use: it takes a few hundred milliseconds, paid once by whoever summarizes a run, never
by the plugin's start-up or a worker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ALPHA",
    "INTERVALS",
    "INTERVAL_NAMES",
    "POWER",
    "Interval",
    "StratifiedDifference",
    "binomial_error",
    "clopper_pearson_interval",
    "fisher_drop_pvalue",
    "fisher_pvalue",
    "holm",
    "interval",
    "newcombe_difference",
    "pass_at_k",
    "pass_hat_k",
    "rule_of_three",
    "stratified_difference",
    "stratified_drop_pvalue",
    "wilson_interval",
]

ALPHA = 0.05
"""The gate's significance level."""
POWER = 0.8
"""The power the detectable difference and the trials needed are quoted at."""
Interval = Literal["wilson", "clopper-pearson"]
INTERVALS: tuple[Interval, ...] = ("wilson", "clopper-pearson")
INTERVAL_NAMES: dict[str, str] = {"wilson": "Wilson", "clopper-pearson": "Clopper-Pearson"}


def binomial_error(passed: int, total: int) -> float:
    """sqrt(p (1 - p) / n), the error the paper quotes on success fractions."""
    if total == 0:
        return 0.0
    p = passed / total
    return math.sqrt(p * (1 - p) / total)


def wilson_interval(passed: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a success fraction (sensible at 0/n and n/n, unlike the normal one); (0, 1)
    without trials."""
    if total == 0:
        return 0.0, 1.0
    from scipy.stats import binomtest

    found = binomtest(passed, total).proportion_ci(confidence_level=confidence, method="wilson")
    return float(found.low), float(found.high)  # scipy keeps them within [0, 1]


def clopper_pearson_interval(passed: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval: never below its confidence, wider than Wilson's; (0, 1) without
    trials."""
    if total == 0:
        return 0.0, 1.0
    from scipy.stats import binomtest

    found = binomtest(passed, total).proportion_ci(confidence_level=confidence, method="exact")
    return float(found.low), float(found.high)


def interval(passed: int, total: int, method: Interval = "wilson", confidence: float = 0.95) -> tuple[float, float]:
    """The interval `method` names (one of INTERVALS)."""
    if method == "clopper-pearson":
        return clopper_pearson_interval(passed, total, confidence)
    return wilson_interval(passed, total, confidence)


def rule_of_three(passed: int, total: int) -> tuple[float, float] | None:
    """The one-sided 95% bound of the rule of three, at 0/n (success at most 3/n) and n/n (at least 1 - 3/n);
    None in between or without trials. It is -ln(0.05)/n = 2.996/n rounded up, close to the exact one-sided bound
    1 - 0.05^(1/n) for large n (0.26 against 0.30 at n = 10)."""
    if total == 0 or 0 < passed < total:
        return None
    bound = min(1.0, 3 / total)
    return (0.0, bound) if passed == 0 else (1.0 - bound, 1.0)


def pass_at_k(passed: int, total: int, k: int) -> float | None:
    """The unbiased estimate of pass@k (Chen et al. 2021): the chance that at least one of k trials drawn without
    replacement from these passes, 1 - C(n - c, k) / C(n, k). None with fewer than k trials."""
    if k < 1 or total < k:
        return None
    return 1.0 - math.comb(total - passed, k) / math.comb(total, k)


def pass_hat_k(passed: int, total: int, k: int) -> float | None:
    """The unbiased estimate of pass^k (Yao et al. 2024): the chance that all of k trials drawn without replacement
    pass, C(c, k) / C(n, k): how reliably the model passes, where pass@k is how often it can. None with fewer than k
    trials."""
    if k < 1 or total < k:
        return None
    return math.comb(passed, k) / math.comb(total, k)


def fisher_drop_pvalue(passed: int, total: int, base_passed: int, base_total: int) -> float:
    """One-sided p-value of Fisher's exact test that the current success rate is below the baseline's: the
    probability, with all margins fixed, of the current run having this many successes or fewer (1 when either
    side has no trials)."""
    from scipy.stats import fisher_exact

    table = [[passed, total - passed], [base_passed, base_total - base_passed]]
    return float(fisher_exact(table, alternative="less").pvalue)  # within [0, 1]; 1 for a side without trials


def fisher_pvalue(passed: int, total: int, base_passed: int, base_total: int) -> float:
    """Two-sided p-value of Fisher's exact test that the two success rates differ (1 when a side has no trials)."""
    from scipy.stats import fisher_exact

    table = [[passed, total - passed], [base_passed, base_total - base_passed]]
    return float(fisher_exact(table, alternative="two-sided").pvalue)


def newcombe_difference(
    passed: int, total: int, base_passed: int, base_total: int, confidence: float = 0.95
) -> tuple[float, float, float]:
    """The difference in success, current minus baseline, with Newcombe's hybrid score interval (his method 10,
    from the two Wilson intervals): it keeps its coverage at 0/n and n/n where the Wald interval collapses.
    Without trials on a side, nothing is known: (0, -1, 1)."""
    if total == 0 or base_total == 0:
        return 0.0, -1.0, 1.0
    p1, p2 = passed / total, base_passed / base_total
    low1, high1 = wilson_interval(passed, total, confidence)
    low2, high2 = wilson_interval(base_passed, base_total, confidence)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - low1) ** 2 + (high2 - p2) ** 2)
    high = difference + math.sqrt((high1 - p1) ** 2 + (p2 - low2) ** 2)
    return difference, max(-1.0, low), min(1.0, high)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment, in the order given: each p-value as large as it must be for the family-wise
    error across all of them to stay at the level it is compared with."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


# --- two runs overall, stratified by step ---


@dataclass(frozen=True)
class StratifiedDifference:
    """The overall difference in success between two runs (or models), step by step: each step compares like with
    like, so a run that ran more trials of an easy step is not credited for it."""

    difference: float
    """The Mantel-Haenszel weighted difference, current minus baseline (weights n1 n2 / (n1 + n2) per step)."""
    low: float
    high: float
    """Its stratified Miettinen-Nurminen score interval (keeps coverage at 0/n and n/n)."""
    statistic: float
    """The Cochran-Mantel-Haenszel chi-square (1 degree of freedom, no continuity correction)."""
    p_value: float
    strata: int
    """The steps that had trials on both sides."""


def _restricted_rates(x1: int, n1: int, x2: int, n2: int, delta: float) -> tuple[float, float]:
    """The maximum-likelihood success rates of two binomial samples under p1 - p2 = delta (Miettinen and Nurminen
    1985, the closed form of the cubic's root in [0, 1])."""
    t = n2 / n1
    q1, q2 = x1 / n1, x2 / n2
    a = 1 + t
    b = -(1 + t + q1 + t * q2 + delta * (t + 2))
    c = delta * delta + delta * (2 * q1 + t + 1) + q1 + t * q2
    d = -q1 * delta * (1 + delta)
    v = (b / (3 * a)) ** 3 - b * c / (6 * a * a) + d / (2 * a)
    u2 = (b / (3 * a)) ** 2 - c / (3 * a)
    u = math.copysign(math.sqrt(max(u2, 0.0)), v)
    if u == 0:
        p1 = -b / (3 * a)
    else:
        w = (math.pi + math.acos(max(-1.0, min(1.0, v / u**3)))) / 3
        p1 = 2 * u * math.cos(w) - b / (3 * a)
    p1 = max(0.0, min(1.0, p1))
    return p1, max(0.0, min(1.0, p1 - delta))


def _score(strata: Sequence[tuple[int, int, int, int]], delta: float) -> float:
    """The stratified score statistic for a common difference `delta`: sum w (d - delta) / sqrt(sum w^2 V(delta)),
    with each step's variance at its restricted rates and the N / (N - 1) small-sample factor."""
    top = bottom = 0.0
    for x1, n1, x2, n2 in strata:
        n = n1 + n2
        w = n1 * n2 / n
        p1, p2 = _restricted_rates(x1, n1, x2, n2, delta)
        top += w * (x1 / n1 - x2 / n2 - delta)
        bottom += w * w * (p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2) * n / (n - 1)
    if bottom <= 0:
        return math.copysign(math.inf, top) if top else 0.0
    return top / math.sqrt(bottom)


def stratified_difference(
    strata: Sequence[tuple[int, int, int, int]], confidence: float = 0.95
) -> StratifiedDifference | None:
    """The overall difference of `strata`, each (passed, total, base_passed, base_total) of one step; None when no
    step has trials on both sides."""
    from scipy.optimize import brentq
    from scipy.stats import chi2, norm

    usable = [s for s in strata if s[1] > 0 and s[3] > 0]
    if not usable:
        return None
    weights = [n1 * n2 / (n1 + n2) for _, n1, _, n2 in usable]
    estimate = sum(w * (x1 / n1 - x2 / n2) for w, (x1, n1, x2, n2) in zip(weights, usable, strict=True)) / sum(weights)
    critical = float(norm.isf((1 - confidence) / 2))
    edge = 1 - 1e-12  # the score is undefined at exactly -1 and 1
    start = max(-edge, min(edge, estimate))  # the score is 0 here and falls as the difference grows

    def bound(side: float) -> float:
        """The lower (side -1) or upper (side 1) end: where the score reaches the critical value."""

        def excess(d: float) -> float:
            return _score(usable, d) + side * critical

        if side * excess(side * edge) >= 0:  # even the edge is not rejected
            return side
        return float(brentq(excess, start, side * edge, xtol=1e-12))

    low, high = bound(-1.0), bound(1.0)
    # Cochran-Mantel-Haenszel: the passes of the current run against their expectation given each step's margins
    top = variance = 0.0
    for x1, n1, x2, n2 in usable:
        n, passes = n1 + n2, x1 + x2
        top += x1 - n1 * passes / n
        if n > 1:
            variance += n1 * n2 * passes * (n - passes) / (n * n * (n - 1))
    statistic = top * top / variance if variance > 0 else 0.0
    p_value = float(chi2.sf(statistic, 1)) if variance > 0 else 1.0
    return StratifiedDifference(estimate, max(-1.0, low), min(1.0, high), statistic, p_value, len(usable))


def stratified_drop_pvalue(strata: Sequence[tuple[int, int, int, int]]) -> float:
    """One-sided p-value of the exact stratified test that the current run's success is below the baseline's over
    all `strata` (passed, total, base_passed, base_total) at once: the exact conditional form of the
    Cochran-Mantel-Haenszel test. With every stratum's margins fixed, each stratum's current passes are
    hypergeometric; the p-value is the chance that their sum is this small or smaller. With one stratum it is
    Fisher's one-sided test, as the gate's cells use. 1 when no stratum has trials on both sides."""
    import numpy as np
    from scipy.stats import hypergeom

    total = np.array([1.0])
    observed = 0
    for x1, n1, x2, n2 in strata:
        if n1 < 1 or n2 < 1:
            continue
        passes = x1 + x2
        support = np.arange(max(0, passes - n2), min(n1, passes) + 1)
        pmf = np.zeros(support[-1] + 1)
        pmf[support] = hypergeom.pmf(support, n1 + n2, passes, n1)
        total = np.convolve(total, pmf)
        observed += x1
    return float(min(1.0, total[: observed + 1].sum()))
