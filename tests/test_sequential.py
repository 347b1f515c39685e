"""The gate's exact tests and their sequential design, pinned against statsmodels and brute force: the sizes are
recomputed here independently, over every outcome and a grid of rates fifty times finer than the design's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from pytest_hepagent.sequential.boundaries import (
    boundaries,
    drop_pvalue,
    margin_pvalue,
    single_look,
    z_drop,
    z_margin,
)
from pytest_hepagent.sequential.design import (
    baseline_needed,
    can_decide_later,
    decide,
    ok_reachable,
    round_of,
    run_trials_for_ok,
    schedule,
    trials_to_decide,
)

FINE = np.linspace(0.0, 1.0, 12_001)
EDGES = np.concatenate([np.geomspace(1e-7, 0.05, 1500), 1 - np.geomspace(1e-7, 0.05, 1500)])
"""Rates crowded near 0 and 1, where a large baseline makes the size change fastest."""


def _null(margin: float, drop: bool, rates: np.ndarray = FINE) -> tuple[np.ndarray, np.ndarray]:
    if drop:
        return rates, rates
    base = margin + (1 - margin) * rates
    return base, np.clip(base - margin, 0.0, 1.0)


def _size(n_b: int, looks: tuple[int, ...], counts: list[tuple[int, ...]], margin: float, drop: bool) -> float:
    """The largest chance, over every 10th rate of the fine grid and the rates crowded at the edges, of crossing
    any look's boundary first, by brute force: every baseline count, and the current passes carried look by look
    with plain convolutions."""
    base, current = _null(margin, drop, np.concatenate([FINE[::10], EDGES]))
    crossed = np.zeros(len(base))
    for x_b in range(n_b + 1):
        weight = binom.pmf(x_b, n_b, base)
        if weight.max() < 1e-16:
            continue
        mass, before = np.ones((len(base), 1)), 0
        for k, n in enumerate(looks):
            step = binom.pmf(np.arange(n - before + 1)[None, :], n - before, current[:, None])
            grown = np.zeros((len(base), n + 1))
            for j in range(n - before + 1):
                grown[:, j : j + before + 1] += mass * step[:, j : j + 1]
            mass, before = grown, n
            c = counts[k][x_b]
            region = np.arange(n + 1) <= c if drop else np.arange(n + 1) >= c
            crossed += weight * mass[:, region].sum(axis=1)
            mass[:, region] = 0.0
    return float(crossed.max())


def test_the_drop_score_is_the_pooled_z_test() -> None:
    from statsmodels.stats.proportion import proportions_ztest

    for x, n, x_b, n_b in [(3, 10, 9, 10), (18, 20, 27, 30), (0, 5, 4, 7), (12, 40, 5, 10)]:
        expected, _ = proportions_ztest([x, x_b], [n, n_b])
        assert float(z_drop(x, n, x_b, n_b)) == pytest.approx(expected, rel=1e-10)
    assert float(z_drop(5, 5, 10, 10)) == 0.0 and float(z_drop(0, 5, 0, 10)) == 0.0  # no information


@pytest.mark.parametrize("margin", [0.1, 0.35, 0.6])
def test_the_margin_score_is_farrington_and_mannings(margin: float) -> None:
    """The score with the variance at the rates of largest likelihood under a difference of -margin, found here by
    numerical maximization (statsmodels' closed form of those rates is off, statsmodels issue 10269, and its score
    test with them differs by up to 3% here)."""
    from scipy.optimize import minimize_scalar

    for x, n, x_b, n_b in [(3, 10, 9, 10), (18, 20, 27, 30), (0, 5, 4, 7), (20, 20, 10, 10), (12, 40, 5, 10)]:

        def minus_likelihood(p_b: float, x: int = x, n: int = n, x_b: int = x_b, n_b: int = n_b) -> float:
            return -float(binom.logpmf(x, n, p_b - margin) + binom.logpmf(x_b, n_b, p_b))

        best = minimize_scalar(
            minus_likelihood, bounds=(margin + 1e-12, 1 - 1e-12), method="bounded", options={"xatol": 1e-12}
        )
        r_b, r = best.x, best.x - margin
        expected = (x / n - x_b / n_b + margin) / np.sqrt(r * (1 - r) / n + r_b * (1 - r_b) / n_b)
        assert float(z_margin(x, n, x_b, n_b, margin)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    ("n_b", "n", "margin"),
    [(10, 10, 0.35), (30, 20, 0.35), (5, 3, 0.2), (12, 40, 0.5), (1000, 3, 0.35), (600, 10, 0.35)],
)
def test_one_look_keeps_its_level_at_every_rate(n_b: int, n: int, margin: float) -> None:
    level = 0.05 / 6
    for drop in (True, False):
        counts = single_look(n_b, n, level, margin, drop=drop)
        assert _size(n_b, (n,), [counts], margin, drop) <= level
        # ... and a boundary reaches where the outcomes allow: a collapse to nothing is a drop from a sure pass
    assert single_look(10, 10, level, 0.0, drop=True)[10] >= 0


def test_a_ten_trial_collapse_is_within_the_boundary_fishers_test_misses() -> None:
    """3/10 against 9/10 at 0.05/6: in the exact unconditional test's region, not in Fisher's."""
    from scipy.stats import fisher_exact

    assert single_look(10, 10, 0.05 / 6, 0.0, drop=True)[9] == 3
    assert fisher_exact([[3, 7], [9, 1]], alternative="less").pvalue > 0.05 / 6


@pytest.mark.parametrize(
    ("n_b", "looks", "most"),
    [
        (10, (3, 5, 10, 15, 20), 20),
        (30, (3, 5, 10, 15, 20), 20),
        (5, (2, 4, 9, 20), 20),
        (20, (10, 12), 30),
        (1000, (3, 5, 10), 50),  # a large pooled baseline: the size peaks within a thousandth of a rate of 1
    ],
)
def test_rounds_keep_each_side_within_its_level_at_every_rate(n_b: int, looks: tuple[int, ...], most: int) -> None:
    """The chance of a false REGRESSED (or OK) at any look, over every true rate, is at most the level: with the
    planned looks, with unplanned ones (a round short after errors), and with a design that stops before its
    last look (the last case's looks end at 12 of 30)."""
    level, margin = 0.05, 0.35
    found = boundaries(n_b, looks, most, level, margin)
    for drop, counts, sizes in ((True, found.regressed, found.size_regressed), (False, found.ok, found.size_ok)):
        size = _size(n_b, looks, list(counts), margin, drop)
        assert size <= level
        assert size <= sizes[-1] * 1.02  # the design's own figure, from a grid of its own
    assert list(found.size_regressed) == sorted(found.size_regressed)  # spent, never given back


@settings(max_examples=15, deadline=None)
@given(
    n_b=st.integers(1, 25),
    first=st.integers(1, 6),
    steps=st.lists(st.integers(1, 6), min_size=0, max_size=3),
    margin=st.sampled_from([0.2, 0.35, 0.5]),
)
def test_any_looks_against_any_baseline_keep_the_level(n_b: int, first: int, steps: list[int], margin: float) -> None:
    looks = [first]
    for more in steps:
        looks.append(looks[-1] + more)
    level = 0.02
    found = boundaries(n_b, tuple(looks), looks[-1] + 5, level, margin)
    assert _size(n_b, tuple(looks), list(found.regressed), margin, True) <= level
    assert _size(n_b, tuple(looks), list(found.ok), margin, False) <= level


def test_boundaries_rise_with_the_baseline_and_widen_with_the_level() -> None:
    found = boundaries(30, (5, 10, 20), 20, 0.05, 0.35)
    for k in range(3):
        assert list(found.regressed[k]) == sorted(found.regressed[k])  # a better baseline: a drop sooner
        assert list(found.ok[k]) == sorted(found.ok[k])  # a better baseline: more passes for OK
    loose = boundaries(30, (5, 10, 20), 20, 0.1, 0.35)
    assert all(a >= b for a, b in zip(loose.regressed[-1], found.regressed[-1], strict=True))
    assert all(a <= b for a, b in zip(loose.ok[-1], found.ok[-1], strict=True))


def test_the_drop_side_spends_early_and_the_margin_side_with_the_information() -> None:
    """Each look's cumulative size stays within level * t^rho, t the information fraction n n_b / (n + n_b) over
    its value at the most trials; rho 0.5 for the drop, 1 for the margin."""
    n_b, looks, most, level = 20, (3, 5, 10, 15, 20, 30), 30, 0.05
    found = boundaries(n_b, looks, most, level, 0.35)

    def info(n: int) -> float:
        return n * n_b / (n + n_b)

    for k, n in enumerate(looks):
        t = info(n) / info(most)
        assert found.size_regressed[k] <= level * t**0.5 + 1e-12
        assert found.size_ok[k] <= level * t + 1e-12


def test_bad_designs_are_refused() -> None:
    for looks in [(), (5, 5), (0, 3), (5, 3)]:
        with pytest.raises(ValueError, match="looks must be increasing"):
            boundaries(10, looks, 10, 0.05, 0.35)
    with pytest.raises(ValueError, match="no boundaries for a baseline of 0"):
        boundaries(0, (3,), 3, 0.05, 0.35)


@pytest.mark.parametrize(("x", "n", "x_b", "n_b"), [(3, 10, 9, 10), (14, 20, 27, 30), (0, 3, 3, 3), (7, 7, 2, 5)])
def test_the_p_values_are_the_largest_chance_of_an_outcome_as_extreme(x: int, n: int, x_b: int, n_b: int) -> None:
    """Brute force over every outcome of both runs: the outcomes whose score is at least as extreme (the score made
    monotone in the current passes, as the boundaries use it)."""
    for drop, margin in ((True, 0.0), (False, 0.35)):
        scores = np.array(
            [
                [-float(z_drop(a, n, b, n_b)) if drop else float(z_margin(a, n, b, n_b, margin)) for a in range(n + 1)]
                for b in range(n_b + 1)
            ]
        )
        monotone = (
            np.minimum.accumulate(scores, axis=1) if drop else np.minimum.accumulate(scores[:, ::-1], axis=1)[:, ::-1]
        )
        region = monotone >= monotone[x_b, x]
        base, current = _null(margin, drop)
        sizes = [
            sum(
                binom.pmf(b, n_b, base[i]) * binom.pmf(a, n, current[i])
                for b in range(n_b + 1)
                for a in range(n + 1)
                if region[b, a]
            )
            for i in range(0, len(FINE), 60)
        ]
        found = drop_pvalue(x, n, x_b, n_b) if drop else margin_pvalue(x, n, x_b, n_b, margin)
        assert found == pytest.approx(min(1.0, max(sizes)), rel=0.01, abs=1e-9)


# ---------------------------------------------------------------- the design


def test_the_schedule_is_the_first_round_then_multiples_of_a_round() -> None:
    assert schedule(3, 50) == (3, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50)
    assert schedule(10, 22, 5) == (10, 15, 20, 22)
    assert schedule(5, 5) == (5,)
    assert [round_of(t, (3, 5, 10)) for t in range(1, 11)] == [1, 1, 1, 2, 2, 3, 3, 3, 3, 3]
    with pytest.raises(ValueError, match="beyond the schedule"):
        round_of(11, (3, 5, 10))
    with pytest.raises(ValueError, match="no schedule from 6 to 5"):
        schedule(6, 5)


def test_a_decision_is_the_first_look_that_crosses_and_ignores_rounds_without_trials() -> None:
    level, margin = 0.05, 0.35
    found = boundaries(12, (3, 5, 10), 20, level, margin)
    at_most = found.regressed[1][12]
    looks = [(3, 3), (3, 3), (at_most, 5), (at_most, 10)]  # a round of errors only: no look
    d = decide(looks, 12, 12, max_trials=20, level=level, margin=margin)
    assert (d.verdict, d.look, d.passed, d.total) == ("REGRESSED", 1, at_most, 5)
    with pytest.raises(ValueError, match="at least one judged trial"):
        decide([(0, 0)], 1, 1, max_trials=5, level=level, margin=margin)


def test_ok_needs_a_baseline_that_could_support_it() -> None:
    level = 0.05 / 6
    assert not ok_reachable(5, 10, 50, level, 0.35)
    d = decide([(50, 50)], 5, 10, max_trials=50, level=level, margin=0.35)
    assert d.verdict == "UNDECIDED" and d.ok_blocked and d.ok_from is None
    n = baseline_needed(5, 10, 50, level, 0.35)
    assert n is not None and ok_reachable(round(n / 2), n, 50, level, 0.35)
    assert not ok_reachable(round((n - 1) / 2), n - 1, 50, level, 0.35)
    runs = run_trials_for_ok(27, 30, level, 0.35)
    assert (
        runs is not None and ok_reachable(27, 30, runs, level, 0.35) and not ok_reachable(27, 30, runs - 1, level, 0.35)
    )
    assert run_trials_for_ok(5, 10, level, 0.35) is None  # the baseline, not the run, is too small


def test_what_would_decide_an_undecided_cell() -> None:
    found = trials_to_decide(14, 20, 27, 30, 0.05, 0.35, ok_blocked=False)
    assert found is not None
    n, how = found
    x = round(0.7 * n)
    assert how == "REGRESSED" and x <= single_look(30, n, 0.05, 0.35, drop=True)[27]
    earlier = round(0.7 * (n - 1))
    assert (
        single_look(30, n - 1, 0.05, 0.35, drop=True)[27] < earlier < single_look(30, n - 1, 0.05, 0.35, drop=False)[27]
    )


def test_a_cell_stops_when_no_later_round_could_decide_it() -> None:
    level, margin = 0.05 / 6, 0.35
    planned = schedule(3, 50)
    # 5/10 against 9/10: failures to come would show a drop
    assert can_decide_later([(5, 10)], planned, 9, 10, max_trials=50, level=level, margin=margin)
    # 5/10 against 5/10: OK is out of reach for this baseline, and even 40 failures more (5/50) are no drop shown
    # against a baseline of 10 trials at 50% (at 50 trials the boundary is 4): stop
    assert boundaries(10, (10, *planned[3:]), 50, level, margin).regressed[-1][5] == 4
    assert not can_decide_later([(5, 10)], planned, 5, 10, max_trials=50, level=level, margin=margin)
    # 44/45 against 27/30 is OK-bound unless it already is; 1/45 against 5/10 cannot drop further enough? it can
    assert can_decide_later(
        [(0, t) for t in planned[:-2]] + [(1, 45)], planned, 27, 30, max_trials=50, level=level, margin=margin
    )
    assert not can_decide_later([(3, 50)], planned, 5, 10, max_trials=50, level=level, margin=margin)  # no round left
