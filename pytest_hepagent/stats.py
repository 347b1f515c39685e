"""Success-rate statistics: the paper's binomial error, the Wilson interval, and a one-sided Fisher test.

The interval and the test are scipy.stats' (imported on first use: it takes a few hundred milliseconds, paid once by
whoever summarizes a run, never by the plugin's start-up or a worker).
"""

from __future__ import annotations

import math

__all__ = ["binomial_error", "fisher_drop_pvalue", "wilson_interval"]


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

    interval = binomtest(passed, total).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)  # scipy keeps them within [0, 1]


def fisher_drop_pvalue(passed: int, total: int, base_passed: int, base_total: int) -> float:
    """One-sided p-value of Fisher's exact test that the current success rate is below the baseline's: the
    probability, with all margins fixed, of the current run having this many successes or fewer (1 when either
    side has no trials)."""
    from scipy.stats import fisher_exact

    table = [[passed, total - passed], [base_passed, base_total - base_passed]]
    return float(fisher_exact(table, alternative="less").pvalue)  # within [0, 1]; 1 for a side without trials
