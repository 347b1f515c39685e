"""Step 5, categorization: the helpers of the paper's appendix B.1 prompt and the reference procedure.

- `load_datasets(signal, bkgd, signal_scores, bkgd_scores)`: signal restricted to the 125 +- 2 GeV window with its
  physics weights; background = the NTI sideband sample weighted by SF1 * SF2 (already the expected TI background
  in the window, see `selection`). The returned frames play the role of the paper's ROOT data frames.
- `get_significance(signal_df, bkgd_df, boundaries)`: Z = sqrt(sum_i Z_i^2), Z_i = sqrt(2((s_i+b_i) ln(1+s_i/b_i)
  - s_i)) over the categories [b_0, b_1), ..., [b_{n-1}, b_n] (the last one closed); categories with s_i <= 0 or
  b_i <= 0 contribute 0.
- `place_boundary(signal_df, bkgd_df, boundaries, num_bins, min_events)`: the best next boundary among the
  num_bins - 1 inner edges of num_bins equal bins on [0, 1], and the significance with it. Both new categories
  must keep at least `min_events` unweighted signal and background events; with no allowed candidate it returns
  (nan, current significance). One pass: histogram once, prefix sums, and every candidate scored at once.
  Existing boundaries are expected on the same grid (as the ones it returns are); one that is not is treated as
  the next edge above it.
- `categorize(...)`: the reference procedure. Start from [0, 1] with the null-selection significance as the first
  entry of the significance array (appendix B.3), add boundaries until the relative gain of the latest one is below
  5%, and keep that last boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pytest_hepagent.analysis.selection import SIGNAL_WINDOW

__all__ = [
    "MIN_EVENTS",
    "NUM_BINS",
    "THRESHOLD",
    "ScoredSample",
    "categorize",
    "get_significance",
    "load_datasets",
    "place_boundary",
    "significance",
]

F64 = NDArray[np.float64]
NUM_BINS = 1000
MIN_EVENTS = 10
THRESHOLD = 0.05
_MASS, _WEIGHT = 0, 6


def significance(s: ArrayLike, b: ArrayLike) -> F64:
    """Per-category Asimov significance Z_i (0 where s <= 0 or b <= 0)."""
    s, b = np.asarray(s, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = (s > 0) & (b > 0)
    safe_s, safe_b = np.where(ok, s, 1.0), np.where(ok, b, 1.0)
    # ln(1 + s/b) without overflowing s/b when b is tiny; log1p keeps precision where s << b.
    with np.errstate(over="ignore"):
        log_term = np.where(safe_s <= safe_b, np.log1p(safe_s / safe_b), np.log(safe_s + safe_b) - np.log(safe_b))
    z2 = 2.0 * ((safe_s + safe_b) * log_term - safe_s)
    return np.where(ok, np.sqrt(np.maximum(z2, 0.0)), 0.0)


@dataclass(frozen=True, eq=False)
class ScoredSample:
    """Scores and weights of one sample (what the paper's helpers keep in a ROOT data frame)."""

    score: F64
    weight: F64
    _binned: dict[int, tuple[F64, F64]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return int(self.score.size)

    def binned(self, num_bins: int) -> tuple[F64, F64]:
        """(summed weights, event counts) per bin of num_bins equal bins on [0, 1]; cached per num_bins."""
        if num_bins not in self._binned:
            self._binned[num_bins] = _binned_sums(self.score, self.weight, num_bins)
        return self._binned[num_bins]


def _edges(num_bins: int) -> F64:
    return np.linspace(0.0, 1.0, num_bins + 1)


def _bin_index(score: F64, num_bins: int, edges: F64) -> NDArray[np.intp]:
    """Bin of each score in [0, 1] with the semantics of searchsorted(edges, score, 'right') - 1, last bin closed.

    A multiply-and-floor plus a one-step correction against the exact edges, as np.histogram does for equal bins,
    so that boundaries placed at edges[k] select exactly the events with score >= edges[k].
    """
    index = (score * num_bins).astype(np.intp)
    index[index == num_bins] -= 1
    index -= score < edges[index]
    index += (score >= edges[index + 1]) & (index != num_bins - 1)
    return index


_BLOCK = 65536
"""Events binned at a time: like np.histogram, work on blocks that stay in cache."""


def _binned_sums(score: F64, weight: F64, num_bins: int) -> tuple[F64, F64]:
    """(summed weights, event counts) per bin; scores outside [0, 1] (or NaN) are not counted."""
    edges = _edges(num_bins)
    weights = np.zeros(num_bins)
    counts = np.zeros(num_bins, dtype=np.intp)
    for start in range(0, score.size, _BLOCK):
        s, w = score[start : start + _BLOCK], weight[start : start + _BLOCK]
        inside = (s >= 0.0) & (s <= 1.0)
        if not inside.all():
            s, w = s[inside], w[inside]
        index = _bin_index(s, num_bins, edges)
        weights += np.bincount(index, w, minlength=num_bins)
        counts += np.bincount(index, minlength=num_bins)
    return weights, counts.astype(np.float64)


def _as_array(value: ArrayLike | str | Path, name: str) -> F64:
    if isinstance(value, (str, Path)):
        value = np.load(value)
    array = np.asarray(value, dtype=np.float64)
    if array.size == 0:
        raise ValueError(f"{name} is empty; pass the array loaded with np.load")
    return array


def load_datasets(
    signal: ArrayLike, bkgd: ArrayLike, signal_scores: ArrayLike, background_scores: ArrayLike
) -> tuple[ScoredSample, ScoredSample]:
    """Return (signal_df, bkgd_df): scored, weighted signal (in 125 +- 2 GeV) and background samples."""
    sig, bkg = _as_array(signal, "signal"), _as_array(bkgd, "bkgd")
    s_scores = _as_array(signal_scores, "signal_scores").reshape(-1)
    b_scores = _as_array(background_scores, "background_scores").reshape(-1)
    for name, rows, scores in (("signal", sig, s_scores), ("bkgd", bkg, b_scores)):
        if rows.ndim != 2 or rows.shape[1] <= _WEIGHT:
            raise ValueError(
                f"{name} must be the 2-D array of preprocessing (arrays/{name}.npy), got shape {rows.shape}"
            )
        if rows.shape[0] != scores.size:
            raise ValueError(
                f"{name} has {rows.shape[0]} rows but its scores have {scores.size} entries; pass the "
                f"scores that belong to {name}"
            )
    window = (sig[:, _MASS] > SIGNAL_WINDOW[0]) & (sig[:, _MASS] < SIGNAL_WINDOW[1])
    return (ScoredSample(s_scores[window], sig[window, _WEIGHT]), ScoredSample(b_scores, bkg[:, _WEIGHT]))


def _sorted_boundaries(boundaries: Sequence[float] | ArrayLike) -> F64:
    b = np.unique(np.asarray(boundaries, dtype=np.float64))
    if b.size < 2:
        raise ValueError(f"boundaries need at least two values (start with [0, 1]), got {list(b)}")
    return b


def get_significance(signal_df: ScoredSample, bkgd_df: ScoredSample, boundaries: Sequence[float] | ArrayLike) -> float:
    """Total significance of the categorization given by `boundaries`."""
    b = _sorted_boundaries(boundaries)
    n_cat = b.size - 1

    def sums(sample: ScoredSample) -> F64:
        index = np.searchsorted(b, sample.score, side="right") - 1
        index[sample.score == b[-1]] = n_cat - 1
        inside = (index >= 0) & (index < n_cat)
        return np.bincount(index[inside], sample.weight[inside], minlength=n_cat).astype(np.float64)

    return float(np.sqrt(np.sum(significance(sums(signal_df), sums(bkgd_df)) ** 2)))


def place_boundary(
    signal_df: ScoredSample,
    bkgd_df: ScoredSample,
    boundaries: Sequence[float] | ArrayLike,
    num_bins: int,
    min_events: int,
) -> tuple[float, float]:
    """(new_boundary, new_significance) for the best boundary to add to `boundaries`."""
    num_bins = int(num_bins)
    if num_bins < 2:
        raise ValueError(f"num_bins must be at least 2, got {num_bins}")
    edges = _edges(num_bins)
    current = _sorted_boundaries(boundaries)
    # Existing boundaries as edge positions (exact for boundaries this function returned).
    kb = np.unique(np.clip(np.searchsorted(edges, current, side="left"), 0, num_bins))
    prefix = [np.concatenate([[0.0], np.cumsum(a)]) for a in (*signal_df.binned(num_bins), *bkgd_df.binned(num_bins))]
    s, ns, b, nb = prefix
    z2_segments = significance(s[kb[1:]] - s[kb[:-1]], b[kb[1:]] - b[kb[:-1]]) ** 2
    z2_total = float(z2_segments.sum())

    k = np.setdiff1d(np.arange(1, num_bins), kb)
    seg = np.searchsorted(kb, k, side="right") - 1
    inside = (seg >= 0) & (seg < kb.size - 1)
    k, seg = k[inside], seg[inside]
    lo, hi = kb[seg], kb[seg + 1]
    z2_new = (
        z2_total
        - z2_segments[seg]
        + significance(s[k] - s[lo], b[k] - b[lo]) ** 2
        + significance(s[hi] - s[k], b[hi] - b[k]) ** 2
    )
    allowed = (
        (ns[k] - ns[lo] >= min_events)
        & (ns[hi] - ns[k] >= min_events)
        & (nb[k] - nb[lo] >= min_events)
        & (nb[hi] - nb[k] >= min_events)
    )
    if not allowed.any():
        return float("nan"), float(np.sqrt(z2_total))
    best = int(np.argmax(np.where(allowed, z2_new, -np.inf)))
    return float(edges[k[best]]), float(np.sqrt(max(z2_new[best], 0.0)))


def categorize(
    signal_df: ScoredSample,
    bkgd_df: ScoredSample,
    num_bins: int = NUM_BINS,
    min_events: int = MIN_EVENTS,
    threshold: float = THRESHOLD,
) -> tuple[F64, F64]:
    """The reference procedure: (boundaries, significances), significances[0] being the null selection's."""
    boundaries = [0.0, 1.0]
    significances = [get_significance(signal_df, bkgd_df, boundaries)]
    while True:
        new_boundary, new_z = place_boundary(signal_df, bkgd_df, boundaries, num_bins, min_events)
        if np.isnan(new_boundary):
            break
        boundaries = sorted([*boundaries, new_boundary])
        old_z = significances[-1]
        significances.append(new_z)
        if old_z <= 0 or (new_z - old_z) / old_z < threshold:
            break
    return np.asarray(boundaries, dtype=np.float64), np.asarray(significances, dtype=np.float64)
