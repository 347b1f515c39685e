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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "MOST_BASELINE",
    "MOST_TRIALS",
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
"""The fewest rates a design is made on (10 sqrt(n_b) for larger baselines); each look's region is then checked on
a grid three times finer and narrowed wherever it exceeds the level there."""
_SAFETY = 0.99
"""The share of the spending function a design aims at on its grid."""
_ONE_LOOK_SAFETY = 0.995
"""One look is designed on the fine grid itself: this covers what lies between its rates."""
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


MOST_BASELINE = 1_000
"""The most baseline trials of a cell the exact tests take (the computation grows with them)."""
MOST_TRIALS = 1_000
"""The most trials of a cell of the run the exact tests take."""


def _grid_size(n_b: int, fine: bool) -> int:
    """Rates on the grid: enough that the narrowest feature of the size, about 1 / (2 sqrt(n_b)) wide on the
    arcsine scale, spans several of them; three times as many on the grid that checks a design."""
    points = max(_GRID, int(10 * math.sqrt(n_b)))
    return 3 * points if fine else points


def _rates(n_b: int, margin: float, drop: bool, fine: bool = False) -> tuple[FloatArray, FloatArray]:
    """The null's boundary on the grid: (baseline rate, current rate) with a difference of 0 or -margin. The grid
    is uniform in arcsin(sqrt(p)), where a binomial's spread is the same at every rate: dense near 0 and 1, where a
    large baseline makes the size change fastest."""
    size = _grid_size(n_b, fine)
    grid = np.sin((np.arange(size) + 0.5) / size * math.pi / 2) ** 2
    if drop:
        return grid, grid
    base = margin + (1 - margin) * grid
    return base, np.clip(base - margin, 0.0, 1.0)


def _band(n_b: int, base: FloatArray) -> tuple[NDArray[np.int64], BoolArray]:
    """Per rate, the baseline counts that carry any probability (ten standard deviations around the mean): the
    computation keeps only those. (grid, width) indices into 0..n_b and which of them are real counts."""
    sd = np.sqrt(n_b * base * (1 - base))
    low = np.clip(np.floor(n_b * base - 10 * sd - 3), 0, n_b).astype(np.int64)
    high = np.clip(np.ceil(n_b * base + 10 * sd + 3), 0, n_b).astype(np.int64)
    counts = low[:, None] + np.arange(int((high - low).max()) + 1)[None, :]
    return np.minimum(counts, n_b), counts <= n_b


def _information(n: int, n_b: int) -> float:
    return n * n_b / (n + n_b)


def _spent(n: int, n_b: int, max_trials: int, level: float, drop: bool) -> float:
    """What the spending function allows by a look at n current trials: level * t^rho on the information clock."""
    t = min(1.0, _information(n, n_b) / _information(max(max_trials, n), n_b))
    return level * float(t ** (_RHO_DROP if drop else _RHO_MARGIN))


def _binomial_pmf(k: NDArray[np.int64], n: int, p: FloatArray) -> FloatArray:
    from scipy.stats import binom

    return np.asarray(binom.pmf(k[None, :], n, p[:, None]), dtype=float)


def _counts(region: BoolArray, drop: bool) -> tuple[int, ...]:
    """Per baseline count, the most passes that reject (drop; -1: none) or the fewest (margin; n + 1: none)."""
    n = region.shape[1] - 1
    if drop:
        return tuple(int(np.flatnonzero(row).max()) if row.any() else -1 for row in region)
    return tuple(int(np.flatnonzero(row).min()) if row.any() else n + 1 for row in region)


class _Looks:
    """The joint distribution of (baseline count, current passes not yet rejected) at each rate of a grid, carried
    from look to look: (grid, band, passes), the band of baseline counts that carry probability at each rate."""

    def __init__(self, n_b: int, base: FloatArray, current: FloatArray) -> None:
        from scipy.stats import binom

        self.counts, real = _band(n_b, base)
        self.current = current
        self.masses = (binom.pmf(self.counts, n_b, base[:, None]) * real)[:, :, None]
        self.before = 0

    def grow(self, n: int) -> None:
        """Add the trials up to n."""
        more = n - self.before
        step = _binomial_pmf(np.arange(more + 1), more, self.current)
        grown = np.zeros((*self.masses.shape[:2], n + 1))
        for k in range(more + 1):
            grown[:, :, k : k + self.before + 1] += self.masses * step[:, k, None, None]
        self.masses, self.before = grown, n

    def crossing(self, region: BoolArray) -> FloatArray:
        """Per rate, the chance of an outcome in `region` ((n_b + 1, n + 1) over the full counts) at this look."""
        return np.asarray(np.einsum("gbx,gbx->g", self.masses, region[self.counts]), dtype=float)

    def remove(self, region: BoolArray) -> None:
        self.masses = self.masses * ~region[self.counts]


def _chunks(n_b: int, margin: float, drop: bool, most: int) -> list[_Looks]:
    """The fine grid, in pieces of a few million numbers each."""
    base, current = _rates(n_b, margin, drop, fine=True)
    width = _band(n_b, base)[0].shape[1]
    per = max(1, int(4e6 // (width * (most + 1))))
    return [_Looks(n_b, base[i : i + per], current[i : i + per]) for i in range(0, len(base), per)]


def _widest(fits: Callable[[int], bool], low: int, high: int) -> int:
    """The largest index in [low, high] (-1 at the least) for which `fits` holds, `fits` holding for every index
    below one that fits (the region only grows as the index, the threshold falling, rises)."""
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def _look_region(
    scores: FloatArray,
    allowed: float,
    coarse: tuple[_Looks, FloatArray],
    fine: list[tuple[_Looks, FloatArray]],
) -> BoolArray:
    """One look's region: the widest {scores >= threshold} whose first-crossing chance, added to what earlier looks
    spent, stays within 0.99 of `allowed` on the design's grid and within `allowed` on the fine grid."""
    candidates = np.unique(scores[~np.isnan(scores)])[::-1]  # strictest first

    def region(i: int) -> BoolArray:
        return scores >= candidates[i] if i >= 0 else np.zeros(scores.shape, dtype=bool)

    def fits_coarse(i: int) -> bool:
        looks, spent = coarse
        return bool((spent + looks.crossing(region(i))).max() <= allowed * _SAFETY)

    def fits_fine(i: int) -> bool:
        chosen = region(i)
        return all((spent + looks.crossing(chosen)).max() <= allowed for looks, spent in fine)

    index = _widest(fits_coarse, -1, len(candidates) - 1)
    if not fits_fine(index):  # a peak of the size between the design's rates: narrow the region
        index = _widest(fits_fine, -1, index - 1)
    return region(index)


@functools.lru_cache(maxsize=1024)
def _side(
    n_b: int, looks: tuple[int, ...], max_trials: int, level: float, margin: float, drop: bool
) -> tuple[tuple[tuple[int, ...], ...], tuple[float, ...]]:
    """Each look's boundary (per baseline count) and the size spent by then on the fine grid.

    Each look's region is the widest whose first-crossing chance, added to what earlier looks spent, stays within
    0.99 of the spending function on the design's grid, and then within the spending function itself on the fine
    grid (narrowed where a peak of the size fell between the design's rates). A look's boundary depends on the
    looks before it only, as the spending function requires."""
    coarse = _Looks(n_b, *_rates(n_b, margin, drop))
    fine = _chunks(n_b, margin, drop, looks[-1])
    spent = np.zeros(len(coarse.current))
    spent_fine = [np.zeros(len(piece.current)) for piece in fine]
    found, sizes = [], []
    for n in looks:
        coarse.grow(n)
        for piece in fine:
            piece.grow(n)
        allowed = _spent(n, n_b, max_trials, level, drop)
        chosen = _look_region(
            _scores(n, n_b, margin, drop), allowed, (coarse, spent), list(zip(fine, spent_fine, strict=True))
        )
        spent = spent + coarse.crossing(chosen)
        coarse.remove(chosen)
        for k, piece in enumerate(fine):
            spent_fine[k] = spent_fine[k] + piece.crossing(chosen)
            piece.remove(chosen)
        found.append(_counts(chosen, drop))
        sizes.append(max(float(s.max()) for s in spent_fine))
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
    if not 1 <= base_total <= MOST_BASELINE or max_trials > MOST_TRIALS or not 0 < margin <= 1 or not 0 < level < 1:
        raise ValueError(
            f"no boundaries for a baseline of {base_total}, {max_trials} trials, margin {margin}, level {level}"
        )
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
    """(fine grid, n_b + 1): the baseline count's distribution at each rate of the null's boundary."""
    return _binomial_pmf(np.arange(n_b + 1), n_b, _rates(n_b, margin, drop, fine=True)[0])


@functools.lru_cache(maxsize=256)
def _tails(n_b: int, n: int, margin: float, drop: bool) -> FloatArray:
    """(fine grid, n + 2): for a boundary count c, the chance of rejecting at each rate, at column c + 1: P(X <= c)
    for c = -1..n (drop), P(X >= c) for c = 0..n+1 at column c (margin)."""
    from scipy.stats import binom

    current = _rates(n_b, margin, drop, fine=True)[1][:, None]
    if drop:
        return np.asarray(binom.cdf(np.arange(-1, n + 1)[None, :], n, current), dtype=float)
    return np.asarray(binom.sf(np.arange(-1, n + 1)[None, :], n, current), dtype=float)


def _look_size(counts: Sequence[int], n_b: int, n: int, margin: float, drop: bool) -> FloatArray:
    """The chance over the fine grid of rates that a single look at n trials rejects with these per-baseline
    counts (in closed form: one look needs no carried distribution)."""
    column = np.asarray(counts) + 1 if drop else np.asarray(counts)
    tail = _tails(n_b, n, margin, drop)[:, column]
    return np.asarray((_weights(n_b, margin, drop) * tail).sum(axis=1), dtype=float)


@functools.lru_cache(maxsize=4096)
def single_look(n_b: int, n: int, level: float, margin: float, *, drop: bool) -> tuple[int, ...]:
    """The boundary (per baseline count, as in `Boundaries`) of a fixed design: one look at n trials, at `level`."""
    if not 1 <= n_b <= MOST_BASELINE or not 1 <= n <= MOST_TRIALS:
        raise ValueError(f"no boundary for a baseline of {n_b} and {n} trials")
    scores = _scores(n, n_b, margin, drop)
    candidates = np.unique(scores[~np.isnan(scores)])[::-1]
    low, high = -1, len(candidates) - 1
    while low < high:
        middle = (low + high + 1) // 2
        counts = _counts(scores >= candidates[middle], drop)
        if _look_size(counts, n_b, n, margin, drop).max() <= level * _ONE_LOOK_SAFETY:
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
