"""Physics of the default synthetic dataset through the reference analysis."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from pytest_hepagent.analysis import selection
from pytest_hepagent.analysis.ntuple import column_index as col
from pytest_hepagent.data.schema import MC_SAMPLES

SIGNALS = [s.name for s in MC_SAMPLES]
DATA = [f"data_{p}" for p in "ABCD"]


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x)
    cdf = np.cumsum(w[order]) / w.sum()
    return float(x[order][np.searchsorted(cdf, q)])


@pytest.fixture(scope="module")
def signal(hepagent_solution: Path) -> np.ndarray:
    return np.load(hepagent_solution / "arrays/signal.npy")


@pytest.fixture(scope="module")
def bkgd(hepagent_solution: Path) -> np.ndarray:
    return np.load(hepagent_solution / "arrays/bkgd.npy")


def test_signal_peak_and_resolution(signal: np.ndarray) -> None:
    m, w = signal[:, 0], signal[:, 6]
    assert 124.6 < _weighted_quantile(m, w, 0.5) < 125.2  # the low tail pulls the median below 125
    core = np.abs(m - 125.0) < 5.0
    # Half the central 68% of the core: the Gaussian resolution (about 1.7 GeV).
    width = 0.5 * (_weighted_quantile(m[core], w[core], 0.84) - _weighted_quantile(m[core], w[core], 0.16))
    assert 1.5 < width < 1.9
    below, above = w[m < 120.0].sum(), w[m > 130.0].sum()
    assert below > 3 * above  # energy losses make a low-side tail only
    assert 0.005 < below / w.sum() < 0.1


def test_signal_yield_after_selection(signal: np.ndarray) -> None:
    assert 380 < signal[:, 6].sum() < 520  # the reference's 400-500 events


def test_cut_flow_decreases_and_every_cut_acts_on_data(raw: dict[str, np.ndarray]) -> None:
    flow = selection.cut_flow(np.concatenate([raw[d] for d in DATA]))
    counts = list(flow.values())
    assert counts == sorted(counts, reverse=True)
    names = list(flow)
    for before, after in itertools.pairwise(names):
        if after != "two photons":  # the skim already requires two photons
            assert flow[after] < flow[before], after


def test_most_skimmed_data_fail_tight_id_or_isolation(raw: dict[str, np.ndarray]) -> None:
    data = np.concatenate([raw[d] for d in DATA])
    sel = selection.preselect(data)
    nti_fraction = (sel.passed & ~sel.tight_isolated).sum() / sel.passed.sum()
    assert 0.5 < nti_fraction < 0.75
    m = sel.m_yy[sel.passed & sel.tight_isolated]
    assert 5e4 < m.size < 2e5  # of order 1e5 diphoton events in 105-160 GeV
    low, high = np.sum((m > 105) & (m < 110)), np.sum((m > 155) & (m < 160))
    assert 2.5 < low / high < 8  # exp(-a m) with a in 0.02-0.04 over 50 GeV


def _independent_selection(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m_yy, TI) of the preselected events, written out cut by cut without the selection module."""
    pt1, pt2 = data[:, col("photon1_pt")] / 1e3, data[:, col("photon2_pt")] / 1e3
    e1, e2 = data[:, col("photon1_eta")], data[:, col("photon2_eta")]
    p1, p2 = data[:, col("photon1_phi")], data[:, col("photon2_phi")]
    m = np.sqrt(2 * pt1 * pt2 * (np.cosh(e1 - e2) - np.cos(p1 - p2)))
    with np.errstate(invalid="ignore"):
        good_eta = [(np.abs(e) < 2.37) & ((np.abs(e) < 1.37) | (np.abs(e) > 1.52)) for e in (e1, e2)]
        presel = (
            (data[:, col("trigP")] == 1)
            & (pt1 > 25)
            & (pt2 > 25)
            & good_eta[0]
            & good_eta[1]
            & (pt1 / m > 0.35)
            & (pt2 / m > 0.25)
            & (m > 105)
            & (m < 160)
        )
        iso = [
            (data[:, col(f"photon{i}_ptcone30")] / data[:, col(f"photon{i}_pt")] < 0.065)
            & (data[:, col(f"photon{i}_etcone20")] / data[:, col(f"photon{i}_pt")] < 0.065)
            for i in (1, 2)
        ]
    ti = (data[:, col("photon1_isTightID")] == 1) & (data[:, col("photon2_isTightID")] == 1) & iso[0] & iso[1]
    return m[presel], ti[presel]


def _sideband(m: np.ndarray) -> np.ndarray:
    return ((m > 105) & (m < 120)) | ((m > 130) & (m < 160))


def _independent_nti_sideband(data: np.ndarray) -> np.ndarray:
    m, ti = _independent_selection(data)
    return m[~ti & _sideband(m)]


def test_background_is_the_nti_sideband_sample(raw: dict[str, np.ndarray], bkgd: np.ndarray) -> None:
    expected = _independent_nti_sideband(np.concatenate([raw[d] for d in DATA]))
    np.testing.assert_allclose(np.sort(bkgd[:, 0]), np.sort(expected), rtol=1e-12)
    assert not np.any((bkgd[:, 0] >= 120) & (bkgd[:, 0] <= 130))
    assert bkgd[:, 7].sum() == pytest.approx(1.0)


def test_background_weights_extrapolate_ti_into_the_signal_window(raw: dict[str, np.ndarray], bkgd: np.ndarray) -> None:
    # the scale factors counted here, without the selection module: SF1 = TI/NTI in the sidebands, SF2 = NTI in
    # 123-127 GeV / NTI in the sidebands
    m, ti = _independent_selection(np.concatenate([raw[d] for d in DATA]))
    ti_sb, nti_sb = np.sum(ti & _sideband(m)), np.sum(~ti & _sideband(m))
    nti_window = np.sum(~ti & (m > 123) & (m < 127))
    sf1, sf2 = ti_sb / nti_sb, nti_window / nti_sb
    assert sf1 > 0 and 0 < sf2 < 1
    np.testing.assert_allclose(bkgd[:, 6], sf1 * sf2, rtol=1e-12)
    # SF1 x SF2 x NTI yield equals TI(sidebands) x NTI(window) / NTI(sidebands).
    assert bkgd[:, 6].sum() == pytest.approx(ti_sb * nti_window / nti_sb)
    # A sideband fit of the TI data agrees with that estimate to within 15%.
    data = np.concatenate([raw[d] for d in DATA])
    sel = selection.preselect(data)
    m = sel.m_yy[sel.passed & sel.tight_isolated]
    sb = ((m > 105) & (m < 120)) | ((m > 130) & (m < 160))
    slope = -np.polyfit(np.arange(105.5, 160), np.log(np.histogram(m, np.arange(105, 161))[0]), 1)[0]

    def shape(lo: float, hi: float) -> float:
        return float((np.exp(-slope * lo) - np.exp(-slope * hi)) / slope)

    norm = sb.sum() / (shape(105, 120) + shape(130, 160))
    assert bkgd[:, 6].sum() == pytest.approx(norm * shape(123, 127), rel=0.15)


def test_signal_weights_follow_the_mc_formula(raw: dict[str, np.ndarray], signal: np.ndarray) -> None:
    blocks = []
    for name in SIGNALS:
        sel = selection.preselect(raw[name])
        keep = sel.passed & sel.tight_isolated
        r = raw[name][keep]
        blocks.append(
            r[:, col("mcWeight")]
            * r[:, col("scaleFactor_PHOTON")]
            * r[:, col("scaleFactor_PhotonTRIGGER")]
            * r[:, col("scaleFactor_PILEUP")]
            * r[:, col("XSection")]
            * 10064.0
            / r[:, col("SumWeights")]
        )
    np.testing.assert_allclose(signal[:, 6], np.concatenate(blocks), rtol=1e-12)


def test_significance_is_a_few_sigma_and_categories_add_20_to_45_percent(hepagent_solution: Path) -> None:
    z = np.load(hepagent_solution / "arrays/significances.npy")
    boundaries = np.load(hepagent_solution / "arrays/boundaries.npy")
    assert 2.0 < z[0] < 7.0
    assert 1.2 < z[-1] / z[0] < 1.45
    assert boundaries[0] == 0.0 and boundaries[-1] == 1.0 and len(boundaries) == len(z) + 1
    assert (z[-1] - z[-2]) / z[-2] < 0.05  # stopped at the first gain below the paper's 5%...
    assert all((b - a) / a >= 0.05 for a, b in itertools.pairwise(z[:-1]))  # ...not before


def test_classifier_separates_signal_from_background(hepagent_solution: Path) -> None:
    s = np.load(hepagent_solution / "arrays/signal_scores.npy")
    b = np.load(hepagent_solution / "arrays/bkgd_scores.npy")
    # Mann-Whitney AUC without sklearn: P(score_s > score_b).
    ranks = np.argsort(np.argsort(np.concatenate([s, b]))) + 1
    auc = (ranks[: s.size].sum() - s.size * (s.size + 1) / 2) / (s.size * b.size)
    assert 0.65 < auc < 0.9
    assert s.min() >= 0 and s.max() <= 1
