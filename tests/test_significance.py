"""Properties of the significance and of the categorization helpers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pytest_hepagent.analysis.categorization import (
    ScoredSample,
    categorize,
    get_significance,
    load_datasets,
    place_boundary,
    significance,
)

positive = st.floats(1e-6, 1e6, allow_nan=False)


@given(s=st.floats(0, 1e6), b=st.floats(0, 1e6))
def test_z_is_non_negative_and_finite(s: float, b: float) -> None:
    z = float(significance(s, b))
    assert z >= 0 and np.isfinite(z)


@given(s=positive, ds=positive, b=positive)
def test_z_grows_with_s_at_fixed_b(s: float, ds: float, b: float) -> None:
    assume(ds > 1e-9 * s)
    assert significance(s + ds, b) >= significance(s, b)


@given(s1=positive, s2=positive, b1=positive, b2=positive)
def test_splitting_a_category_never_lowers_z(s1: float, s2: float, b1: float, b2: float) -> None:
    merged = significance(s1 + s2, b1 + b2) ** 2
    split = significance(s1, b1) ** 2 + significance(s2, b2) ** 2
    assert split >= merged * (1 - 1e-9)


def test_z_matches_s_over_sqrt_b_for_small_signal() -> None:
    assert significance(10.0, 1e6) == pytest.approx(10.0 / 1e3, rel=1e-4)
    assert significance(0.0, 5.0) == 0.0 and significance(5.0, 0.0) == 0.0


samples = st.integers(0, 2**32 - 1).map(np.random.default_rng)


def _frames(rng: np.random.Generator, n_s: int = 3000, n_b: int = 20000) -> tuple[ScoredSample, ScoredSample]:
    return (
        ScoredSample(rng.beta(3, 1.5, n_s), rng.uniform(0.01, 0.03, n_s)),
        ScoredSample(rng.beta(1.5, 3, n_b), rng.uniform(0.1, 0.3, n_b)),
    )


@given(rng=samples, cuts=st.lists(st.integers(1, 999), max_size=4))
def test_adding_a_boundary_never_lowers_total_z(rng: np.random.Generator, cuts: list[int]) -> None:
    """As long as every category keeps some background (a category with b = 0 counts as Z_i = 0)."""
    sig, bkg = _frames(rng)
    boundaries = sorted({0.0, 1.0, *(c / 1000 for c in cuts)})
    extra = float(rng.integers(1, 1000)) / 1000
    split = sorted({*boundaries, extra})
    assume(np.all(np.histogram(bkg.score, split)[0] > 0))
    assert get_significance(sig, bkg, split) >= get_significance(sig, bkg, boundaries) * (1 - 1e-12)


def test_a_category_without_background_counts_as_zero() -> None:
    sig = ScoredSample(np.array([0.2, 0.95]), np.array([1.0, 1.0]))
    bkg = ScoredSample(np.array([0.1, 0.3]), np.array([4.0, 4.0]))
    assert get_significance(sig, bkg, [0, 0.9, 1]) == pytest.approx(float(significance(1.0, 8.0)))


def _naive_place_boundary(
    sig: ScoredSample, bkg: ScoredSample, boundaries: list[float], num_bins: int, min_events: int
) -> tuple[float, float]:
    """Re-mask all events for every candidate: the obvious, slow scan."""
    best, best_z = float("nan"), -1.0
    edges = np.linspace(0, 1, num_bins + 1)
    for c in edges[1:-1]:
        if c in boundaries:
            continue
        lo = max(b for b in boundaries if b < c)
        hi = min(b for b in boundaries if b > c)
        counts = [np.sum((x.score >= a) & (x.score < z)) for x in (sig, bkg) for a, z in ((lo, c), (c, hi))]
        if hi == 1.0:  # the last category is closed
            counts[1] += np.sum(sig.score == 1.0)
            counts[3] += np.sum(bkg.score == 1.0)
        if min(counts) < min_events:
            continue
        z = get_significance(sig, bkg, [*boundaries, c])
        if z > best_z + 1e-12:
            best, best_z = c, z
    return best, best_z


@given(rng=samples, min_events=st.integers(0, 50))
def test_place_boundary_matches_a_naive_scan(rng: np.random.Generator, min_events: int) -> None:
    sig, bkg = _frames(rng, 400, 2000)
    boundaries = [0.0, 0.5, 1.0]
    fast = place_boundary(sig, bkg, boundaries, 100, min_events)
    slow = _naive_place_boundary(sig, bkg, boundaries, 100, min_events)
    assert fast[0] == pytest.approx(slow[0])
    assert fast[1] == pytest.approx(slow[1], rel=1e-9)
    assert fast[1] == pytest.approx(get_significance(sig, bkg, [*boundaries, fast[0]]), rel=1e-9)


@given(scores=hnp.arrays(np.float64, st.integers(1, 200), elements=st.sampled_from([0.0, 0.25, 0.5, 0.999, 1.0])))
def test_scores_on_bin_edges_land_where_boundaries_put_them(scores: np.ndarray) -> None:
    sample = ScoredSample(scores, np.ones_like(scores))
    _, counts = sample.binned(4)
    assert counts.sum() == scores.size
    expected = np.minimum(np.searchsorted(np.linspace(0, 1, 5), scores, side="right") - 1, 3)
    np.testing.assert_array_equal(counts, np.bincount(expected, minlength=4))


def test_no_allowed_boundary_returns_nan_and_current_z() -> None:
    sig = ScoredSample(np.array([0.7, 0.8]), np.array([1.0, 1.0]))
    bkg = ScoredSample(np.array([0.1, 0.2]), np.array([5.0, 5.0]))
    boundary, z = place_boundary(sig, bkg, [0, 1], 1000, min_events=5)
    assert np.isnan(boundary)
    assert z == pytest.approx(get_significance(sig, bkg, [0, 1]))


def test_categorize_starts_with_the_null_selection_and_keeps_the_last_boundary() -> None:
    sig, bkg = _frames(np.random.default_rng(3), 5000, 50000)
    boundaries, z = categorize(sig, bkg)
    assert z[0] == pytest.approx(get_significance(sig, bkg, [0, 1]))
    assert len(boundaries) == len(z) + 1
    assert (z[-1] - z[-2]) / z[-2] < 0.05
    assert z[-1] == pytest.approx(get_significance(sig, bkg, boundaries), rel=1e-9)


def test_load_datasets_applies_the_signal_window_and_checks_lengths() -> None:
    signal = np.zeros((4, 8))
    signal[:, 0] = [110.0, 124.0, 126.5, 140.0]
    signal[:, 6] = [1.0, 2.0, 3.0, 4.0]
    bkgd = np.ones((3, 8))
    sig_df, bkg_df = load_datasets(signal, bkgd, np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.5, 0.6, 0.7]))
    np.testing.assert_array_equal(sig_df.score, [0.2, 0.3])
    np.testing.assert_array_equal(sig_df.weight, [2.0, 3.0])
    assert len(bkg_df) == 3
    with pytest.raises(ValueError, match="signal has 4 rows but its scores have 3 entries"):
        load_datasets(signal, bkgd, np.array([0.1, 0.2, 0.3]), np.array([0.5, 0.6, 0.7]))
