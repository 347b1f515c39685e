"""The helpers a trial imports with `from utils import *`: the paper's appendix B.1 tools and the S-B classifier.

This one file is copied into every trial folder as `utils.py` and runs inside the sandbox, where the project
itself cannot be imported: it depends on the standard library and numpy only (scikit-learn and TabPFN are
imported when `train_and_score` runs). The project's analysis (`categorization`, `separation`) uses the same
functions from here, so the reference and the agents call identical code.

Step 5 (categorization):
- `load_datasets(signal, bkgd, signal_scores, bkgd_scores)`: signal restricted to the 125 +- 2 GeV window with its
  physics weights; background = the NTI sideband sample weighted by SF1 * SF2 (already the expected TI background
  in the window). The returned frames play the role of the paper's ROOT data frames.
- `get_significance(signal_df, bkgd_df, boundaries)`: Z = sqrt(sum_i Z_i^2), Z_i = sqrt(2((s_i+b_i) ln(1+s_i/b_i)
  - s_i)) over the categories [b_0, b_1), ..., [b_{n-1}, b_n] (the last one closed); categories with s_i <= 0 or
  b_i <= 0 contribute 0.
- `place_boundary(signal_df, bkgd_df, boundaries, num_bins, min_events)`: the best next boundary among the
  num_bins - 1 inner edges of num_bins equal bins on [0, 1], and the significance with it. Both new categories
  must keep at least `min_events` unweighted signal and background events; with no allowed candidate it returns
  (nan, current significance). One pass: histogram once, prefix sums, and every candidate scored at once.
  Existing boundaries are expected on the same grid (as the ones it returns are); one that is not is treated as
  the next edge above it.

Step 4 (S-B separation):
- `train_and_score(signal, bkgd)`: the classifier on the photon observables of the paper's appendix A.1 (pT/m_yy of
  both photons, eta of both, phi1 - phi2), every event scored by a model that did not see it in training (two-fold
  cross-fitting, folds by row parity). Backends: `tabpfn`, the paper's classifier, when its weights are on disk
  (`HEPAGENT_TABPFN_MODEL`, or a `*classifier*.ckpt` under `TABPFN_MODEL_CACHE_DIR`; each fold trains on a
  deterministic, class-balanced subsample of `TABPFN_TRAIN_EVENTS` events per class); `hgb`, the deterministic
  fallback (scikit-learn's HistGradientBoostingClassifier with fixed hyperparameters and seed, trained on all events
  with the training weights). `auto` picks `tabpfn` when weights are found; the result names the backend that ran.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["get_significance", "load_datasets", "place_boundary", "train_and_score"]

log = logging.getLogger(__name__)

F64 = NDArray[np.float64]

SIGNAL_WINDOW = (123.0, 127.0)
"""The 125 +- 2 GeV window, in GeV (open interval)."""
_MASS, _WEIGHT = 0, 6
"""Columns of signal.npy/bkgd.npy: m_yy and the physics weight."""

Backend = Literal["auto", "tabpfn", "hgb"]
BACKENDS: tuple[str, ...] = ("auto", "tabpfn", "hgb")
FEATURES = slice(1, 6)
TRAIN_WEIGHT = 7
SEED = 20200
TABPFN_TRAIN_EVENTS = 1024
HGB_PARAMS = {
    "max_iter": 200,
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "early_stopping": False,
}


class HelperError(ValueError):
    """A helper cannot run as asked (an unknown backend, missing TabPFN weights); the message says what to do."""


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
        raise ValueError(f"boundaries need at least two values (start with [0, 1]), got {b.tolist()}")
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


@dataclass(frozen=True)
class Scores:
    signal: F64
    background: F64
    backend: str
    """The backend that actually ran: `tabpfn` or `hgb`."""


def find_tabpfn_weights(model_path: Path | None = None) -> Path | None:
    """The TabPFN classifier checkpoint to use, or None when none is on disk."""
    if model_path is not None:
        return Path(model_path) if Path(model_path).is_file() else None
    explicit = os.environ.get("HEPAGENT_TABPFN_MODEL")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    cache = os.environ.get("TABPFN_MODEL_CACHE_DIR")
    if cache and Path(cache).is_dir():
        found = sorted(Path(cache).rglob("*classifier*.ckpt"))
        return found[0] if found else None
    return None


def resolve_backend(backend: str = "auto", model_path: Path | None = None) -> tuple[str, Path | None]:
    """('tabpfn', weights) or ('hgb', None); asking for tabpfn without weights is an error that says what to do."""
    if backend not in BACKENDS:
        raise HelperError(f"unknown S-B backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    weights = find_tabpfn_weights(model_path) if backend in ("auto", "tabpfn") else None
    if backend == "tabpfn" and weights is None:
        raise HelperError(
            "S-B backend 'tabpfn' needs classifier weights on disk: set HEPAGENT_TABPFN_MODEL to a "
            "TabPFN classifier .ckpt or TABPFN_MODEL_CACHE_DIR to a folder holding one, or use "
            "backend 'hgb'"
        )
    if weights is not None:
        try:
            import tabpfn  # noqa: F401
        except ImportError:
            if backend == "tabpfn":
                raise HelperError(
                    "S-B backend 'tabpfn' needs the tabpfn package: pip install torch==2.13.0 'pytest-hepagent[tabpfn]'"
                ) from None
            log.warning("TabPFN weights found at %s but tabpfn is not installed; using hgb", weights)
            return "hgb", None
        return "tabpfn", weights
    return "hgb", None


def _fit_predict_hgb(x_train: F64, y_train: F64, w_train: F64, x_test: F64, seed: int) -> F64:
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(random_state=seed, **HGB_PARAMS)
    model.fit(x_train, y_train, sample_weight=w_train)
    return np.asarray(model.predict_proba(x_test)[:, 1], dtype=np.float64)


def _fit_predict_tabpfn(x_train: F64, y_train: F64, x_test: F64, seed: int, weights: Path) -> F64:
    from tabpfn import TabPFNClassifier

    rng = np.random.default_rng(seed)
    chosen = np.concatenate(
        [
            rng.choice(
                np.flatnonzero(y_train == label), min(TABPFN_TRAIN_EVENTS, int((y_train == label).sum())), replace=False
            )
            for label in (0.0, 1.0)
        ]
    )
    # The subsample keeps CPU training affordable; TabPFN's CPU size guard would refuse the batched predictions.
    model = TabPFNClassifier(model_path=str(weights), device="cpu", random_state=seed, ignore_pretraining_limits=True)
    model.fit(x_train[chosen], y_train[chosen])
    batches = [model.predict_proba(x_test[i : i + 4096])[:, 1] for i in range(0, len(x_test), 4096)]
    return np.concatenate(batches).astype(np.float64)


def train_and_score(
    signal: F64, bkgd: F64, backend: str | None = None, seed: int = SEED, model_path: Path | None = None
) -> Scores:
    """Train the S-B classifier on signal.npy/bkgd.npy rows and score every row out of fold.

    Returns `Scores(signal_scores, bkgd_scores, backend)`; scores are signal probabilities in [0, 1]. The backend
    defaults to `HEPAGENT_SB_BACKEND` (the harness sets it to the goldens' backend in trials), else `auto`.
    The rows' order does not matter: each sample is put in a canonical order (sorted by all its columns) before
    the folds are made and the models trained, and the scores are returned in the order the rows came in, so
    every valid row order of preprocessing gets the same score for the same event.
    """
    chosen, weights = resolve_backend(backend or os.environ.get("HEPAGENT_SB_BACKEND", "auto"), model_path)
    signal, bkgd = np.asarray(signal, dtype=np.float64), np.asarray(bkgd, dtype=np.float64)
    canonical = [np.lexsort(sample.T[::-1]) for sample in (signal, bkgd)]
    scored = _train_and_score(signal[canonical[0]], bkgd[canonical[1]], chosen, weights, seed)
    out = []
    for order, values in zip(canonical, scored, strict=True):
        back = np.empty_like(values)
        back[order] = values
        out.append(back)
    log.info("S-B separation ran with backend %s", chosen)
    return Scores(out[0], out[1], chosen)


def _train_and_score(signal: F64, bkgd: F64, chosen: str, weights: Path | None, seed: int) -> tuple[F64, F64]:
    """Scores of rows already in canonical order, two-fold cross-fitted (folds by rank parity)."""
    x = np.concatenate([signal[:, FEATURES], bkgd[:, FEATURES]])
    y = np.concatenate([np.ones(len(signal)), np.zeros(len(bkgd))])
    w = np.concatenate([signal[:, TRAIN_WEIGHT], bkgd[:, TRAIN_WEIGHT]])
    w = w / w.mean()  # keep the weights O(1): HGB's min_samples_leaf and l2 act on weighted sums
    fold = np.concatenate([np.arange(len(signal)), np.arange(len(bkgd))]) % 2
    scores = np.empty(len(x))
    for k in (0, 1):
        train, test = fold != k, fold == k
        if chosen == "tabpfn":
            assert weights is not None
            scores[test] = _fit_predict_tabpfn(x[train], y[train], x[test], seed + k, weights)
        else:
            scores[test] = _fit_predict_hgb(x[train], y[train], w[train], x[test], seed + k)
    return scores[: len(signal)], scores[len(signal) :]
