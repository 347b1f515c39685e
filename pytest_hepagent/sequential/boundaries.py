"""Exact boundaries of the gate's two one-sided tests, for a run whose trials arrive in rounds against a baseline.

A cell compares `x` passes of `n` current trials with `x_b` of `n_b` baseline trials. Two hypotheses are tested:

- *drop*: the current success is below the baseline's. Rejecting "p >= p_b" is REGRESSED. The ordering statistic is
  the pooled z score of the difference.
- *margin*: the current success is not below the baseline's by `margin` or more. Rejecting "p <= p_b - margin" is
  OK (non-inferiority). The ordering statistic is Farrington and Manning's score, with the variance at the rates
  restricted to the null's boundary (Miettinen and Nurminen's closed form).

Both tests are exact and unconditional: the baseline's count is random too, and the size is the largest chance of
rejecting over every value of the unknown common rate (Suissa and Shuster 1985; Chan 1998 for the margin). Looks
are taken after each round, and the level is spent over them by Lan and DeMets' alpha-spending function (Biometrika
70:659, 1983), on the information clock t = I(n) / I(N) with I(n) = n n_b / (n + n_b), in Kim and DeMets' power
family level * t^rho (Biometrics 43:857, 1987): rho = 0.5 for the drop, which spends early so that a collapse stops
early, and rho = 1 for the margin. Each look's boundary is the widest region
whose first-crossing chance, added to what earlier looks spent, stays within the spending function at every rate,
computed by propagating the exact distribution of the current passes from look to look (Jennison and Turnbull,
*Group Sequential Methods*, 2000, ch. 12, for exact binomial boundaries). The boundary at a look depends only on the
looks so far and on N, so unplanned looks (a round short of trials after errors) stay valid, and stopping a cell
early, for any reason, can only lower its error rate: each side is computed as if the cell always went on to N
(non-binding).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "Boundaries",
    "boundaries",
    "drop_pvalue",
    "margin_pvalue",
    "regression_power",
    "single_look",
    "z_drop",
    "z_margin",
]

_GRID = 240
"""Rates at which the size is evaluated; the size is a smooth polynomial in the rate, and `_SAFETY` covers what
lies between two grid points (the tests check the size on a grid fifty times finer)."""
_SAFETY = 0.99
_RHO_DROP = 0.5
"""The drop side spends early (t^0.5: a third of the trials spend 58% of its level), so a collapse stops early."""
_RHO_MARGIN = 1.0
"""The margin side spends in step with the information (t^1): OK needs many trials anyway."""
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def z_drop(x: FloatArray | float, n: int, x_b: FloatArray | float, n_b: int) -> FloatArray:
    """The pooled z score of current minus baseline success (negative: a drop); 0 where both sides all passed or
    all failed (no information on a difference)."""
    x, x_b = np.asarray(x, dtype=float), np.asarray(x_b, dtype=float)
    pooled = (x + x_b) / (n + n_b)
    variance = pooled * (1 - pooled) * (1 / n + 1 / n_b)
    difference = x / n - x_b / n_b
    safe = np.where(variance > 0, variance, 1.0)
    return np.where(variance > 0, difference / np.sqrt(safe), 0.0)


def _restricted(q1: FloatArray, n1: int, q2: FloatArray, n2: int, delta: float) -> tuple[FloatArray, FloatArray]:
    """Maximum-likelihood rates of two binomial samples (observed q1 of n1, q2 of n2) under p1 - p2 = delta
    (Miettinen and Nurminen 1985, the root of their cubic in [0, 1]; `stats._restricted_rates`, vectorized)."""
    t = n2 / n1
    a = 1 + t
    b = -(1 + t + q1 + t * q2 + delta * (t + 2))
    c = delta * delta + delta * (2 * q1 + t + 1) + q1 + t * q2
    d = -q1 * delta * (1 + delta)
    v = (b / (3 * a)) ** 3 - b * c / (6 * a * a) + d / (2 * a)
    u = np.copysign(np.sqrt(np.maximum((b / (3 * a)) ** 2 - c / (3 * a), 0.0)), v)
    safe_u = np.where(u == 0, 1.0, u)
    w = (math.pi + np.arccos(np.clip(v / safe_u**3, -1.0, 1.0))) / 3
    p1 = np.clip(np.where(u == 0, -b / (3 * a), 2 * u * np.cos(w) - b / (3 * a)), 0.0, 1.0)
    return p1, np.clip(p1 - delta, 0.0, 1.0)


def z_margin(x: FloatArray | float, n: int, x_b: FloatArray | float, n_b: int, margin: float) -> FloatArray:
    """Farrington and Manning's score for "current minus baseline success is above -margin" (large: the margin is
    ruled out), with the variance at the rates restricted to a difference of exactly -margin."""
    x, x_b = np.asarray(x, dtype=float), np.asarray(x_b, dtype=float)
    p, p_b = x / n, x_b / n_b
    r, r_b = _restricted(p, n, p_b, n_b, -margin)
    variance = r * (1 - r) / n + r_b * (1 - r_b) / n_b
    top = p - p_b + margin
    safe = np.where(variance > 0, variance, 1.0)
    edge = np.where(top > 0, np.inf, np.where(top < 0, -np.inf, 0.0))  # a margin of 1: the variance can vanish
    return np.where(variance > 0, top / np.sqrt(safe), edge)


def _scores(n: int, n_b: int, margin: float, drop: bool) -> FloatArray:
    """(n_b + 1, n + 1): how strongly each outcome rejects, made monotone in the current passes (a running minimum
    from the extreme side), so that every region is a run of the fewest (drop) or most (margin) passes."""
    x = np.arange(n + 1, dtype=float)[None, :]
    x_b = np.arange(n_b + 1, dtype=float)[:, None]
    if drop:
        return np.minimum.accumulate(-z_drop(x, n, x_b, n_b), axis=1)
    return np.minimum.accumulate(z_margin(x, n, x_b, n_b, margin)[:, ::-1], axis=1)[:, ::-1]


def _rates(margin: float, drop: bool) -> tuple[FloatArray, FloatArray]:
    """The null's boundary on the grid: (baseline rate, current rate) with a difference of 0 or -margin."""
    grid = (np.arange(_GRID) + 0.5) / _GRID
    if drop:
        return grid, grid
    base = margin + (1 - margin) * grid
    return base, np.clip(base - margin, 0.0, 1.0)


def _information(n: int, n_b: int) -> float:
    return n * n_b / (n + n_b)


def _spent(n: int, n_b: int, max_trials: int, level: float, drop: bool) -> float:
    """What the spending function allows by a look at n current trials: level * t^rho on the information clock."""
    t = min(1.0, _information(n, n_b) / _information(max(max_trials, n), n_b))
    return level * float(t ** (_RHO_DROP if drop else _RHO_MARGIN))


def _binomial_pmf(k: NDArray[np.int64], n: int, p: FloatArray) -> FloatArray:
    from scipy.stats import binom

    return np.asarray(binom.pmf(k[None, :], n, p[:, None]), dtype=float)


def _widest(masses: FloatArray, scores: FloatArray, spent: FloatArray, allowed: float) -> BoolArray:
    """The widest region {scores >= threshold} whose mass (per rate, over the grid) added to `spent` stays within
    `allowed` at every rate; an empty region when none does."""
    candidates = np.unique(scores[~np.isnan(scores)])[::-1]  # strictest first
    low, high = -1, len(candidates) - 1
    while low < high:  # the mass only grows as the threshold falls
        middle = (low + high + 1) // 2
        region = scores >= candidates[middle]
        if (spent + np.einsum("gbx,bx->g", masses, region.astype(float))).max() <= allowed * _SAFETY:
            low = middle
        else:
            high = middle - 1
    return scores >= candidates[low] if low >= 0 else np.zeros(scores.shape, dtype=bool)


def _counts(region: BoolArray, drop: bool) -> tuple[int, ...]:
    """Per baseline count, the most passes that reject (drop; -1: none) or the fewest (margin; n + 1: none)."""
    n = region.shape[1] - 1
    if drop:
        return tuple(int(np.flatnonzero(row).max()) if row.any() else -1 for row in region)
    return tuple(int(np.flatnonzero(row).min()) if row.any() else n + 1 for row in region)


@functools.lru_cache(maxsize=1024)
def _side(
    n_b: int, looks: tuple[int, ...], max_trials: int, level: float, margin: float, drop: bool
) -> tuple[tuple[tuple[int, ...], ...], tuple[float, ...]]:
    """Each look's boundary (per baseline count) and the size spent by then (the largest over the grid)."""
    base, current = _rates(margin, drop)
    x_b = np.arange(n_b + 1)
    # the joint distribution of (baseline count, current passes not yet rejected), per rate: (grid, n_b+1, n+1)
    masses = _binomial_pmf(x_b, n_b, base)[:, :, None]
    spent = np.zeros(len(base))
    before = 0
    found, sizes = [], []
    for n in looks:
        more = n - before
        step = _binomial_pmf(np.arange(more + 1), more, current)
        grown = np.zeros((*masses.shape[:2], n + 1))
        for k in range(more + 1):  # add the new trials' passes
            grown[:, :, k : k + before + 1] += masses * step[:, k, None, None]
        masses, before = grown, n
        region = _widest(masses, _scores(n, n_b, margin, drop), spent, _spent(n, n_b, max_trials, level, drop))
        spent = spent + np.einsum("gbx,bx->g", masses, region.astype(float))
        masses = masses * ~region
        found.append(_counts(region, drop))
        sizes.append(float(spent.max()))
    return tuple(found), tuple(sizes)


@dataclass(frozen=True)
class Boundaries:
    """The gate's boundaries for one cell's looks against a baseline of `base_total` trials."""

    looks: tuple[int, ...]
    """Current trials at each look (judged, cumulative)."""
    regressed: tuple[tuple[int, ...], ...]
    """Per look, per baseline passes (0..base_total): the most current passes that are REGRESSED (-1: none)."""
    ok: tuple[tuple[int, ...], ...]
    """Per look, per baseline passes: the fewest current passes that are OK (looks[k] + 1: none)."""
    size_regressed: tuple[float, ...]
    size_ok: tuple[float, ...]
    """The largest chance over the rates of a false REGRESSED (OK) by each look: at most the level spent."""


@functools.lru_cache(maxsize=1024)
def boundaries(base_total: int, looks: tuple[int, ...], max_trials: int, level: float, margin: float) -> Boundaries:
    """Both sides' boundaries at `looks` (strictly increasing, the last at most `max_trials`) for a test of each
    side at `level` (one test's share of the family-wise level), with `margin` the drop OK must rule out."""
    if not looks or any(b <= a for a, b in itertools.pairwise(looks)) or looks[0] < 1:
        raise ValueError(f"looks must be increasing counts of trials, got {looks}")
    if base_total < 1 or not 0 < margin <= 1 or not 0 < level < 1:
        raise ValueError(f"no boundaries for a baseline of {base_total}, margin {margin}, level {level}")
    if len(looks) == 1 and looks[0] >= max_trials:
        drop = single_look(base_total, looks[0], level, 0.0, drop=True)
        ok = single_look(base_total, looks[0], level, margin, drop=False)
        return Boundaries(looks, (drop,), (ok,), (math.nan,), (math.nan,))
    drop_bounds, drop_sizes = _side(base_total, looks, max_trials, level, 0.0, True)
    ok_bounds, ok_sizes = _side(base_total, looks, max_trials, level, margin, False)
    return Boundaries(looks, drop_bounds, ok_bounds, drop_sizes, ok_sizes)


# --- one look (a fixed design): the size in closed form, without propagating a distribution ---


@functools.lru_cache(maxsize=256)
def _weights(n_b: int, margin: float, drop: bool) -> FloatArray:
    """(grid, n_b + 1): the baseline count's distribution at each rate of the null's boundary."""
    return _binomial_pmf(np.arange(n_b + 1), n_b, _rates(margin, drop)[0])


def _look_size(counts: Sequence[int], n_b: int, n: int, margin: float, drop: bool) -> FloatArray:
    """The chance over the grid of rates that a single look at n trials rejects with these per-baseline counts."""
    from scipy.stats import binom

    current = _rates(margin, drop)[1]
    weights = _weights(n_b, margin, drop)
    c = np.asarray(counts)
    # drop: P(X <= c) (cdf(-1) is 0); margin: P(X >= c) = sf(c - 1) (sf(n) is 0)
    tail = binom.cdf(c[None, :], n, current[:, None]) if drop else binom.sf(c[None, :] - 1, n, current[:, None])
    return np.asarray((weights * tail).sum(axis=1), dtype=float)


@functools.lru_cache(maxsize=4096)
def single_look(n_b: int, n: int, level: float, margin: float, *, drop: bool) -> tuple[int, ...]:
    """The boundary (per baseline count, as in `Boundaries`) of a fixed design: one look at n trials, at `level`."""
    scores = _scores(n, n_b, margin, drop)
    candidates = np.unique(scores[~np.isnan(scores)])[::-1]
    low, high = -1, len(candidates) - 1
    while low < high:
        middle = (low + high + 1) // 2
        counts = _counts(scores >= candidates[middle], drop)
        if _look_size(counts, n_b, n, margin, drop).max() <= level * _SAFETY:
            low = middle
        else:
            high = middle - 1
    return _counts(scores >= candidates[low] if low >= 0 else np.zeros(scores.shape, dtype=bool), drop)


@functools.lru_cache(maxsize=65536)
def _pvalue(x: int, n: int, x_b: int, n_b: int, margin: float, drop: bool) -> float:
    scores = _scores(n, n_b, margin, drop)
    counts = _counts(scores >= scores[x_b, x], drop)
    return float(min(1.0, _look_size(counts, n_b, n, margin, drop).max()))


def drop_pvalue(x: int, n: int, x_b: int, n_b: int) -> float:
    """One-sided exact unconditional p-value of a drop, for one look (descriptive: the verdicts come from the
    boundaries, which spend the level over the looks)."""
    return _pvalue(x, n, x_b, n_b, 0.0, True)


def margin_pvalue(x: int, n: int, x_b: int, n_b: int, margin: float) -> float:
    """One-sided exact unconditional p-value that the drop is `margin` or more, for one look (descriptive)."""
    return _pvalue(x, n, x_b, n_b, margin, False)


def regression_power(n: int, n_b: int, base_rate: float, rate: float, level: float) -> float:
    """The chance that a fixed design of n trials at success `rate` is REGRESSED against n_b baseline trials at
    `base_rate`, with the drop test at `level`: exact, summed over every outcome of both runs."""
    from scipy.stats import binom

    counts = np.asarray(single_look(n_b, n, level, 0.0, drop=True))
    weights = binom.pmf(np.arange(n_b + 1), n_b, min(max(base_rate, 0.0), 1.0))
    return float(np.sum(weights * binom.cdf(counts, n, min(max(rate, 0.0), 1.0))))
