"""Categorization and preselection at their edges, on examples worked by hand (not with the code under test)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_hepagent.analysis import categorization
from pytest_hepagent.analysis.categorization import categorize, get_significance, load_datasets, place_boundary
from pytest_hepagent.analysis.ntuple import COLUMNS
from pytest_hepagent.analysis.selection import background_sample, cut_flow, preselect, signal_sample
from pytest_hepagent.analysis.utils import ScoredSample


def z(s: float, b: float) -> float:
    """The Asimov significance, written out: sqrt(2((s + b) ln(1 + s/b) - s))."""
    return math.sqrt(2 * ((s + b) * math.log(1 + s / b) - s))


def sample(scores: list[float], weights: list[float]) -> ScoredSample:
    return ScoredSample(np.array(scores, dtype=np.float64), np.array(weights, dtype=np.float64))


# signal: 10 events at score 0.9 (weight 1) and 10 at 0.1 (weight 0.1); background: 10 at 0.1 (weight 10), 10 at 0.9
SIGNAL = sample([0.9] * 10 + [0.1] * 10, [1.0] * 10 + [0.1] * 10)
BKGD = sample([0.1] * 10 + [0.9] * 10, [10.0] * 10 + [1.0] * 10)


def test_get_significance_adds_the_categories_in_quadrature() -> None:
    assert get_significance(SIGNAL, BKGD, [0.0, 1.0]) == pytest.approx(z(11.0, 110.0))
    split = math.hypot(z(1.0, 100.0), z(10.0, 10.0))
    assert get_significance(SIGNAL, BKGD, [0.0, 0.5, 1.0]) == pytest.approx(split)
    assert get_significance(SIGNAL, BKGD, [1.0, 0.5, 0.0, 0.5]) == pytest.approx(split)  # any order, repeats


def test_a_score_on_a_boundary_belongs_to_the_category_above_and_one_is_in_the_last() -> None:
    signal = sample([0.5, 1.0, 0.2], [4.0, 2.0, 1.0])
    bkgd = sample([0.5, 1.0, 0.2, 1.5, -0.1], [1.0, 1.0, 1.0, 50.0, 50.0])  # outside [0, 1]: in no category
    assert get_significance(signal, bkgd, [0.0, 0.5, 1.0]) == pytest.approx(math.hypot(z(1, 1), z(6, 2)))
    assert get_significance(signal, bkgd, [0.0, 0.5, 0.75, 1.0]) == pytest.approx(
        math.sqrt(z(1, 1) ** 2 + z(4, 1) ** 2 + z(2, 1) ** 2)
    )


def test_fewer_than_two_boundaries_is_an_error_that_says_how_to_start() -> None:
    with pytest.raises(ValueError, match=r"boundaries need at least two values \(start with \[0, 1\]\), got \[0.5\]"):
        get_significance(SIGNAL, BKGD, [0.5, 0.5])


def test_place_boundary_takes_the_first_of_equal_best_edges() -> None:
    # every inner edge of 4 bins (0.25, 0.5, 0.75) splits the events the same way: the lowest one wins
    boundary, new_z = place_boundary(SIGNAL, BKGD, [0.0, 1.0], num_bins=4, min_events=10)
    assert boundary == 0.25
    assert new_z == pytest.approx(math.hypot(z(1.0, 100.0), z(10.0, 10.0)))


def test_min_events_is_the_least_each_side_may_keep() -> None:
    assert place_boundary(SIGNAL, BKGD, [0.0, 1.0], num_bins=4, min_events=10)[0] == 0.25  # exactly 10: allowed
    boundary, current = place_boundary(SIGNAL, BKGD, [0.0, 1.0], num_bins=4, min_events=11)
    assert math.isnan(boundary)
    assert current == pytest.approx(z(11.0, 110.0))


@pytest.mark.parametrize("short", ["signal low", "signal high", "background low", "background high"])
def test_min_events_holds_for_each_sample_on_each_side(short: str) -> None:
    s_low, s_high, b_low, b_high = ([0.1] * 3, [0.9] * 3, [0.1] * 3, [0.9] * 3)
    sides = {"signal low": s_low, "signal high": s_high, "background low": b_low, "background high": b_high}
    sides[short].pop()  # one side of one sample keeps 2 events, below min_events = 3
    signal = sample(s_low + s_high, [1.0] * len(s_low + s_high))
    bkgd = sample(b_low + b_high, [1.0] * len(b_low + b_high))
    assert math.isnan(place_boundary(signal, bkgd, [0.0, 1.0], num_bins=2, min_events=3)[0])
    full = sample([0.1] * 3 + [0.9] * 3, [1.0] * 6)
    assert place_boundary(full, full, [0.0, 1.0], num_bins=2, min_events=3)[0] == 0.5


def test_place_boundary_splits_only_between_existing_boundaries() -> None:
    # with [0, 0.5, 1] of 4 bins the candidates are 0.25 and 0.75; the events at 0.1 and 0.9 leave both below
    # min_events on one side, so nothing can be added
    boundary, current = place_boundary(SIGNAL, BKGD, [0.0, 0.5, 1.0], num_bins=4, min_events=1)
    assert math.isnan(boundary)
    assert current == pytest.approx(math.hypot(z(1.0, 100.0), z(10.0, 10.0)))


def test_num_bins_below_two_is_an_error() -> None:
    with pytest.raises(ValueError, match="num_bins must be at least 2, got 1"):
        place_boundary(SIGNAL, BKGD, [0.0, 1.0], num_bins=1, min_events=1)


def test_a_score_of_exactly_one_is_counted_in_the_top_bin() -> None:
    signal = sample([1.0] * 5 + [0.1] * 5, [1.0] * 10)
    bkgd = sample([1.0] * 5 + [0.1] * 5, [1.0] * 5 + [9.0] * 5)
    boundary, new_z = place_boundary(signal, bkgd, [0.0, 1.0], num_bins=10, min_events=5)
    assert boundary == pytest.approx(0.2)
    assert new_z == pytest.approx(math.hypot(z(5.0, 45.0), z(5.0, 5.0)))


def scripted(monkeypatch: pytest.MonkeyPatch, first_z: float, steps: list[tuple[float, float]]) -> None:
    """categorize() over a scripted place_boundary: each call returns the next (boundary, Z)."""
    queue = list(steps)
    monkeypatch.setattr(categorization, "get_significance", lambda s, b, bounds: first_z)
    monkeypatch.setattr(categorization, "place_boundary", lambda s, b, bounds, n, m: queue.pop(0))


def test_categorize_keeps_adding_while_the_gain_is_at_least_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    # gains of exactly 25% (the threshold: go on) twice, then 0.8%: stop, keeping that last boundary
    scripted(monkeypatch, 4.0, [(0.5, 5.0), (0.75, 6.25), (0.25, 6.3), (0.1, 9.0)])
    boundaries, zs = categorize(SIGNAL, BKGD, threshold=0.25)
    assert list(boundaries) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert list(zs) == [4.0, 5.0, 6.25, 6.3]


def test_categorize_uses_five_percent_and_the_papers_bins(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    monkeypatch.setattr(categorization, "get_significance", lambda s, b, bounds: 1.0)
    monkeypatch.setattr(
        categorization, "place_boundary", lambda s, b, bounds, n, m: seen.append((n, m)) or (0.5, 1.049)
    )
    _, zs = categorize(SIGNAL, BKGD)
    assert seen == [(1000, 10)]
    assert list(zs) == [1.0, 1.049]


def test_categorize_stops_after_one_boundary_from_zero_and_at_no_allowed_boundary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scripted(monkeypatch, 0.0, [(0.5, 1.0), (0.25, 2.0)])
    boundaries, zs = categorize(SIGNAL, BKGD)
    assert (list(boundaries), list(zs)) == ([0.0, 0.5, 1.0], [0.0, 1.0])
    scripted(monkeypatch, 3.0, [(float("nan"), 3.0)])
    boundaries, zs = categorize(SIGNAL, BKGD)
    assert (list(boundaries), list(zs)) == ([0.0, 1.0], [3.0])


def test_load_datasets_keeps_signal_strictly_inside_123_to_127_gev() -> None:
    masses = [122.999, 123.0, 123.001, 125.0, 126.999, 127.0, 127.001]
    signal = np.zeros((len(masses), 8))
    signal[:, 0] = masses
    signal[:, 6] = np.arange(1, len(masses) + 1)  # the physics weight
    bkgd = np.ones((3, 8))
    bkgd[:, 6] = [0.5, 0.25, 0.125]
    s, b = load_datasets(signal, bkgd, np.linspace(0, 1, len(masses)), np.array([0.1, 0.2, 0.3]))
    assert list(s.weight) == [3.0, 4.0, 5.0]
    assert list(s.score) == pytest.approx([2 / 6, 3 / 6, 4 / 6])
    assert list(b.weight) == [0.5, 0.25, 0.125]  # the background is the sideband sample already weighted
    with pytest.raises(ValueError, match=r"signal has 7 rows but its scores have 2 entries"):
        load_datasets(signal, bkgd, [0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"bkgd must be the 2-D array of preprocessing \(arrays/bkgd.npy\)"):
        load_datasets(signal, bkgd[:, :6], np.zeros(7), [0.1, 0.2, 0.3])


# ---------------------------------------------------------------- preselection edges


def events(**changes: list[float]) -> np.ndarray:
    """Step-2 rows of a clean diphoton event (two 60 GeV photons back to back, m_yy = 120 GeV), one per value."""
    n = max((len(v) for v in changes.values()), default=1)
    raw = np.zeros((n, len(COLUMNS)))
    base = {
        "trigP": 1.0,
        "photon1_pt": 60_000.0,
        "photon2_pt": 60_000.0,
        "photon1_eta": 0.5,
        "photon2_eta": 0.5,
        "photon1_phi": math.pi / 2,
        "photon2_phi": -math.pi / 2,
        "photon1_isTightID": 1.0,
        "photon2_isTightID": 1.0,
    }
    for name, value in (base | changes).items():
        raw[:, COLUMNS.index(name)] = value
    return raw


def test_a_clean_event_passes_every_cut_at_120_gev() -> None:
    sel = preselect(events())
    assert sel.m_yy[0] == pytest.approx(120.0)
    assert list(sel.cuts) == [
        "trigger",
        "two photons",
        "photon pT > 25 GeV",
        "photon |eta|",
        "pT/m_yy",
        "105 < m_yy < 160 GeV",
    ]
    assert all(mask[0] for mask in sel.cuts.values())
    assert sel.tight_isolated[0]


@pytest.mark.parametrize(
    ("cut", "column", "values", "passes"),
    [
        ("trigger", "trigP", [1.0, 0.0], [True, False]),
        ("photon pT > 25 GeV", "photon2_pt", [25_000.0, 25_001.0], [False, True]),
        ("photon |eta|", "photon1_eta", [2.369, 2.37, -2.37], [True, False, False]),
        (
            "photon |eta|",
            "photon2_eta",
            [1.369, 1.37, 1.45, 1.52, 1.521, -1.45],
            [True, False, False, False, True, False],
        ),
    ],
)
def test_preselection_cut_edges(cut: str, column: str, values: list[float], passes: list[bool]) -> None:
    # every cut before this one passes, so the cumulative mask is this cut's own
    assert list(preselect(events(**{column: values})).cuts[cut]) == passes


def test_the_mass_window_is_open_at_105_and_160_gev() -> None:
    # back to back with equal pT p: m_yy = 2 p exactly
    pts = [52_500.0, 52_501.0, 79_999.0, 80_000.0]
    raw = events(photon1_pt=pts, photon2_pt=pts)
    sel = preselect(raw)
    assert list(sel.m_yy) == pytest.approx([105.0, 105.002, 159.998, 160.0])
    assert list(sel.cuts["105 < m_yy < 160 GeV"]) == [False, True, True, False]


def test_pt_over_m_yy_cuts_are_strict_and_differ_for_the_two_photons() -> None:
    # back to back: m_yy = 2 sqrt(pT1 pT2); 49 and 100 GeV give m_yy = 140 GeV and pT1/m_yy = 0.35 exactly
    sel = preselect(events(photon1_pt=[49_000.0, 49_100.0], photon2_pt=[100_000.0, 100_000.0]))
    assert list(sel.cuts["pT/m_yy"]) == [False, True]
    # 144 and 36 GeV give m_yy = 144 GeV and pT2/m_yy = 0.25 exactly; the second photon's cut is 0.25, not 0.35
    sel = preselect(events(photon1_pt=[144_000.0, 144_000.0], photon2_pt=[36_000.0, 36_010.0]))
    assert list(sel.m_yy) == pytest.approx([144.0, 144.02], abs=1e-2)
    assert list(sel.cuts["pT/m_yy"]) == [False, True]


def test_isolation_and_tight_id_make_an_event_nti() -> None:
    tight = events(photon2_isTightID=[1.0, 0.0])
    assert list(preselect(tight).tight_isolated) == [True, False]
    # isolation: ptcone30 / pT < 0.065, strictly (60 GeV * 0.065 = 3.9 GeV)
    iso = events(photon1_ptcone30=[3_899.0, 3_900.0, 3_901.0])
    assert list(preselect(iso).tight_isolated) == [True, False, False]
    iso = events(photon2_etcone20=[3_899.0, 3_900.0, 3_901.0])
    assert list(preselect(iso).tight_isolated) == [True, False, False]


def test_the_signal_sample_keeps_ti_events_with_their_mc_weight_and_unit_total_training_weight() -> None:
    raw = events(photon1_isTightID=[1.0, 1.0, 0.0])
    for name, value in {
        "mcWeight": 2.0,
        "scaleFactor_PHOTON": 0.5,
        "scaleFactor_PhotonTRIGGER": 2.0,
        "scaleFactor_PILEUP": 4.0,
        "XSection": 3.0,
        "SumWeights": 4.0,
    }.items():
        raw[:, COLUMNS.index(name)] = value
    signal = signal_sample({"a": raw, "b": raw[:1]})
    assert signal.shape == (3, 8)  # two TI events of a, one of b
    assert list(signal[:, 6]) == pytest.approx([2 * 0.5 * 2 * 4 * 3 * 10_064 / 4] * 3)  # L = 10.064 fb^-1 in pb^-1
    assert list(signal[:, 7]) == pytest.approx([1 / 3] * 3)
    assert signal[0, 0] == pytest.approx(120.0)
    assert list(signal[0, 1:3]) == pytest.approx([0.5, 0.5])  # pT / m_yy of both photons
    assert signal[0, 5] == pytest.approx(-math.pi)  # phi1 - phi2 = pi, wrapped into [-pi, pi)


def test_the_background_is_nti_sideband_data_scaled_by_sf1_times_sf2() -> None:
    # masses (GeV, 2 p each): sidebands 110, 115 and 140; signal window 125; 121 is in neither
    pts = [55_000.0, 57_500.0, 70_000.0, 62_500.0, 60_500.0, 55_000.0, 62_500.0]
    tight = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]  # five NTI, then a TI sideband event and a TI window event
    raw = events(photon1_pt=pts, photon2_pt=pts, photon1_isTightID=tight)
    bkg = background_sample({"data": raw})
    assert (bkg.ti_sidebands, bkg.nti_sidebands, bkg.nti_signal_window) == (1, 3, 1)
    assert bkg.sf1 == pytest.approx(1 / 3) and bkg.sf2 == pytest.approx(1 / 3)
    assert list(bkg.array[:, 0]) == pytest.approx([110.0, 115.0, 140.0])
    assert list(bkg.array[:, 6]) == pytest.approx([1 / 9] * 3)
    assert list(bkg.array[:, 7]) == pytest.approx([1 / 3] * 3)


def test_the_cut_flow_counts_what_each_cut_leaves_then_ti() -> None:
    # five events: clean TI, no trigger, a 20 GeV photon, in the crack, and clean but not tight
    raw = events(
        trigP=[1.0, 0.0, 1.0, 1.0, 1.0],
        photon2_pt=[60_000.0, 60_000.0, 20_000.0, 60_000.0, 60_000.0],
        photon1_eta=[0.5, 0.5, 0.5, 1.4, 0.5],
        photon1_isTightID=[1.0, 1.0, 1.0, 1.0, 0.0],
    )
    assert cut_flow(raw) == {
        "all": 5.0,
        "trigger": 4.0,
        "two photons": 4.0,
        "photon pT > 25 GeV": 3.0,
        "photon |eta|": 2.0,
        "pT/m_yy": 2.0,
        "105 < m_yy < 160 GeV": 2.0,
        "tight and isolated": 1.0,
    }
    weighted = cut_flow(raw, np.array([0.5, 1.0, 2.0, 4.0, 8.0]))
    assert (weighted["all"], weighted["trigger"], weighted["105 < m_yy < 160 GeV"]) == (15.5, 14.5, 8.5)
    assert weighted["tight and isolated"] == 0.5


def test_a_missing_photon_fails_the_two_photon_cut() -> None:
    sel = preselect(events(photon2_pt=[60_000.0, np.nan]))
    assert list(sel.cuts["two photons"]) == [True, False]
    assert np.isnan(sel.m_yy[1])
    assert list(sel.passed) == [True, False]


def test_window_and_sideband_edges_belong_to_neither() -> None:
    # masses 2 p: 120 and 130 GeV end the sidebands, 123 and 127 GeV the window; all open intervals
    pts = [60_000.0, 65_000.0, 61_500.0, 63_500.0, 62_500.0, 59_000.0]
    raw = events(photon1_pt=pts, photon2_pt=pts, photon1_isTightID=[0.0] * 6)
    bkg = background_sample({"data": raw})
    assert (bkg.nti_sidebands, bkg.nti_signal_window) == (1, 1)  # 118 GeV in a sideband, 125 GeV in the window
    assert list(bkg.array[:, 0]) == pytest.approx([118.0])


def test_counts_add_up_over_data_samples() -> None:
    pts = [55_000.0, 62_500.0, 55_000.0]
    raw = events(photon1_pt=pts, photon2_pt=pts, photon1_isTightID=[0.0, 0.0, 1.0])
    bkg = background_sample({"a": raw, "b": raw})
    assert (bkg.ti_sidebands, bkg.nti_sidebands, bkg.nti_signal_window) == (2, 2, 2)
    assert bkg.array.shape == (2, 8)


def test_data_without_nti_sideband_events_give_an_empty_background() -> None:
    raw = events(photon1_pt=[62_500.0], photon2_pt=[62_500.0])  # TI, in the window
    bkg = background_sample({"a": raw})
    assert (bkg.nti_sidebands, bkg.array.shape) == (0, (0, 8))


def test_categorize_goes_on_from_a_small_positive_significance(monkeypatch: pytest.MonkeyPatch) -> None:
    scripted(monkeypatch, 0.5, [(0.5, 1.0), (0.25, 1.01), (0.1, 9.0)])
    boundaries, zs = categorize(SIGNAL, BKGD)
    assert list(boundaries) == [0.0, 0.25, 0.5, 1.0]
    assert list(zs) == [0.5, 1.0, 1.01]


def test_a_photon_of_zero_momentum_fails_quietly() -> None:
    sel = preselect(events(photon1_pt=[0.0], photon2_pt=[0.0]))  # m_yy = 0: pT/m_yy is 0/0
    assert not sel.passed[0] and not sel.cuts["photon pT > 25 GeV"][0]
