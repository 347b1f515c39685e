"""Step 4, signal/background separation: the classifier helper that trials call from `utils.py`.

Features are the photon observables of the paper's appendix A.1 (`selection.SAMPLE_COLUMNS[1:6]`: pT/m_yy of both
photons, eta of both, phi1 - phi2). Every event is scored by a model that did not see it in training (two-fold
cross-fitting with folds by row parity), so the scores of the training samples are not overtrained.

Backends:
- `tabpfn`, the paper's classifier. Used when its weights are on disk: the `HEPAGENT_TABPFN_MODEL` file, or a
  `*classifier*.ckpt` under `TABPFN_MODEL_CACHE_DIR` (weights cannot be downloaded at run time). TabPFN is an
  in-context learner whose CPU cost grows with the training set, so each fold trains on a deterministic,
  class-balanced subsample of `TABPFN_TRAIN_EVENTS` events per class (equal weights, as the paper's equal-total-weight
  training asks) and predicts in batches. Install it with `pip install 'pytest-hepagent[tabpfn]'` after
  `pip install torch==2.13.0` (the CPU build).
- `hgb`, the deterministic fallback: scikit-learn's HistGradientBoostingClassifier with fixed hyperparameters and
  seed, trained on all events with the training weights.

`auto` picks `tabpfn` when weights are found and `hgb` otherwise; the result names the backend that ran.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from pytest_hepagent.errors import HepAgentError

__all__ = ["BACKENDS", "FEATURES", "Scores", "find_tabpfn_weights", "resolve_backend", "train_and_score"]

log = logging.getLogger(__name__)

F64 = NDArray[np.float64]
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
        raise HepAgentError(f"unknown S-B backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    weights = find_tabpfn_weights(model_path) if backend in ("auto", "tabpfn") else None
    if backend == "tabpfn" and weights is None:
        raise HepAgentError(
            "S-B backend 'tabpfn' needs classifier weights on disk: set HEPAGENT_TABPFN_MODEL to a "
            "TabPFN classifier .ckpt or TABPFN_MODEL_CACHE_DIR to a folder holding one, or use "
            "backend 'hgb'"
        )
    if weights is not None:
        try:
            import tabpfn  # noqa: F401
        except ImportError:
            if backend == "tabpfn":
                raise HepAgentError(
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
    """
    chosen, weights = resolve_backend(backend or os.environ.get("HEPAGENT_SB_BACKEND", "auto"), model_path)
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
    log.info("S-B separation ran with backend %s", chosen)
    return Scores(scores[: len(signal)], scores[len(signal) :], chosen)
