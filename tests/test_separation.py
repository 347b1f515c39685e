from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from pytest_hepagent.analysis import separation, utils
from pytest_hepagent.analysis.separation import TABPFN_TRAIN_EVENTS, find_tabpfn_weights, train_and_score


def _samples(n_s: int = 3000, n_b: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    signal, bkgd = np.zeros((n_s, 8)), np.zeros((n_b, 8))
    signal[:, 1:6] = rng.normal(0.5, 1.0, (n_s, 5))
    bkgd[:, 1:6] = rng.normal(0.0, 1.0, (n_b, 5))
    signal[:, 7], bkgd[:, 7] = 1.0 / n_s, 1.0 / n_b
    return signal, bkgd


def test_hgb_scores_every_event_out_of_fold_and_deterministically() -> None:
    signal, bkgd = _samples()
    first = train_and_score(signal, bkgd, backend="hgb")
    again = train_and_score(signal, bkgd, backend="hgb")
    assert first.backend == "hgb"
    assert first.signal.shape == (3000,) and first.background.shape == (5000,)
    np.testing.assert_array_equal(first.signal, again.signal)
    assert first.signal.mean() > first.background.mean() + 0.1
    # Out of fold: in each sample's canonical order (sorted by all columns), the even-ranked rows are scored by a
    # model trained on the odd-ranked rows only.
    cs, cb = np.lexsort(signal.T[::-1]), np.lexsort(bkgd.T[::-1])
    x = np.concatenate([signal[cs[1::2], 1:6], bkgd[cb[1::2], 1:6]])
    y = np.concatenate([np.ones(1500), np.zeros(2500)])
    w = np.concatenate([signal[cs[1::2], 7], bkgd[cb[1::2], 7]])
    w_all_mean = np.concatenate([signal[cs, 7], bkgd[cb, 7]]).mean()
    even = utils._fit_predict_hgb(x, y, w / w_all_mean, signal[cs[::2], 1:6], separation.SEED)
    np.testing.assert_array_equal(first.signal[cs[::2]], even)


def test_the_scores_do_not_depend_on_the_rows_order() -> None:
    """Preprocessing may write its rows in any order: each event keeps its score (folds follow the content)."""
    signal, bkgd = _samples(800, 1200)
    first = train_and_score(signal, bkgd, backend="hgb")
    rng = np.random.default_rng(11)
    for _ in range(3):
        ps, pb = rng.permutation(len(signal)), rng.permutation(len(bkgd))
        again = train_and_score(signal[ps], bkgd[pb], backend="hgb")
        np.testing.assert_array_equal(again.signal, first.signal[ps])
        np.testing.assert_array_equal(again.background, first.background[pb])


class _FakeTabPFN:
    """Stands in for tabpfn.TabPFNClassifier to test the glue: what it is given and how its output is used."""

    instances: ClassVar[list[_FakeTabPFN]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.fit_shapes: list[tuple[int, ...]] = []
        self.fit_labels: np.ndarray = np.empty(0)
        self.predicted = 0
        _FakeTabPFN.instances.append(self)

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        self.fit_shapes.append(x.shape)
        self.fit_labels = y

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.predicted += len(x)
        p = 1.0 / (1.0 + np.exp(-x[:, 0]))
        return np.column_stack([1 - p, p])


def test_tabpfn_runs_when_weights_are_on_disk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    weights = tmp_path / "tabpfn-v2-classifier.ckpt"
    weights.write_bytes(b"weights")
    monkeypatch.setenv("HEPAGENT_TABPFN_MODEL", str(weights))
    monkeypatch.setitem(sys.modules, "tabpfn", types.SimpleNamespace(TabPFNClassifier=_FakeTabPFN))
    _FakeTabPFN.instances.clear()
    signal, bkgd = _samples()
    scores = train_and_score(signal, bkgd, backend="auto")
    assert scores.backend == "tabpfn"
    assert len(_FakeTabPFN.instances) == 2  # one model per fold
    for model in _FakeTabPFN.instances:
        assert model.kwargs["model_path"] == str(weights) and model.kwargs["device"] == "cpu"
        assert model.fit_shapes == [(2 * TABPFN_TRAIN_EVENTS, 5)]
        assert (model.fit_labels == 1).sum() == (model.fit_labels == 0).sum() == TABPFN_TRAIN_EVENTS
    assert sum(m.predicted for m in _FakeTabPFN.instances) == 8000
    np.testing.assert_allclose(scores.signal, 1.0 / (1.0 + np.exp(-signal[:, 1])))


def test_weights_are_found_in_the_tabpfn_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HEPAGENT_TABPFN_MODEL", raising=False)
    monkeypatch.setenv("TABPFN_MODEL_CACHE_DIR", str(tmp_path))
    assert find_tabpfn_weights() is None
    (tmp_path / "tabpfn-v2-regressor.ckpt").write_bytes(b"r")
    assert find_tabpfn_weights() is None
    (tmp_path / "tabpfn-v2-classifier-finetuned-zk73skhh.ckpt").write_bytes(b"c")
    assert find_tabpfn_weights() == tmp_path / "tabpfn-v2-classifier-finetuned-zk73skhh.ckpt"


def test_weights_without_the_package_fall_back_to_hgb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    weights = tmp_path / "m.ckpt"
    weights.write_bytes(b"w")
    monkeypatch.setenv("HEPAGENT_TABPFN_MODEL", str(weights))
    monkeypatch.setitem(sys.modules, "tabpfn", None)  # import tabpfn raises ImportError
    assert separation.resolve_backend("auto") == ("hgb", None)
    with pytest.raises(separation.HepAgentError, match=r"pip install torch==2.13.0"):
        separation.resolve_backend("tabpfn")


def test_hgb_scores_do_not_depend_on_the_thread_count() -> None:
    """Goldens made on a 2-core machine must regenerate bit for bit on machines with other core counts."""
    from threadpoolctl import threadpool_limits

    signal, bkgd = _samples(1500, 2500)
    by_threads = []
    for threads in (1, 2, 4):
        with threadpool_limits(limits=threads, user_api="openmp"):
            by_threads.append(train_and_score(signal, bkgd, backend="hgb").signal)
    np.testing.assert_array_equal(by_threads[0], by_threads[1])
    np.testing.assert_array_equal(by_threads[0], by_threads[2])
