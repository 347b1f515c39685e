"""Success-rate statistics: the paper's binomial error, the Wilson interval, and a one-sided Fisher test."""

from __future__ import annotations

import math

__all__ = ["binomial_error", "fisher_drop_pvalue", "wilson_interval"]


def binomial_error(passed: int, total: int) -> float:
    """sqrt(p (1 - p) / n), the error the paper quotes on success fractions."""
    if total == 0:
        return 0.0
    p = passed / total
    return math.sqrt(p * (1 - p) / total)


def wilson_interval(passed: int, total: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The 95% Wilson score interval of a success fraction (sensible at 0/n and n/n, unlike the normal one)."""
    if total == 0:
        return 0.0, 1.0
    p = passed / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def fisher_drop_pvalue(passed: int, total: int, base_passed: int, base_total: int) -> float:
    """One-sided p-value of Fisher's exact test that the current success rate is below the baseline's.

    The probability, with all margins fixed, of the current run having this many successes or fewer.
    """
    successes, n = passed + base_passed, total + base_total
    if total == 0 or base_total == 0:
        return 1.0

    def log_choose(a: int, b: int) -> float:
        return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)

    low, high = max(0, successes - base_total), min(total, successes)
    denominator = log_choose(n, total)
    p = sum(
        math.exp(log_choose(successes, k) + log_choose(n - successes, total - k) - denominator)
        for k in range(low, min(passed, high) + 1)
    )
    return min(1.0, p)
