"""The statistics of issue 16 pinned against independent implementations (scipy.stats, statsmodels, or a brute
force written here) on fixed inputs, including 0/n and n/n."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.contingency_tables import StratifiedTable
from statsmodels.stats.multitest import multipletests

from pytest_hepagent.matrix.gate import detectable_drop, trials_needed
from pytest_hepagent.sequential.boundaries import regression_power, single_look
from pytest_hepagent.stats import (
    _restricted_rates,
    _score,
    clopper_pearson_interval,
    fisher_pvalue,
    holm,
    interval,
    newcombe_difference,
    pass_at_k,
    pass_hat_k,
    rule_of_three,
    stratified_difference,
    stratified_drop_pvalue,
    wilson_interval,
)

COUNTS = [(0, 1), (1, 1), (0, 5), (5, 5), (1, 3), (2, 3), (5, 10), (3, 20), (17, 20), (0, 100), (100, 100), (37, 120)]
PAIRS = [
    (0, 10, 10, 10),
    (10, 10, 0, 10),
    (2, 10, 9, 10),
    (5, 10, 5, 10),
    (0, 3, 3, 3),
    (1, 5, 18, 20),
    (7, 40, 9, 12),
    (0, 1, 1, 1),
    (20, 20, 19, 20),
    (0, 10, 0, 10),
    (5, 5, 5, 5),
]


# --- one cell ---


@pytest.mark.parametrize(("passed", "total"), COUNTS)
def test_clopper_pearson_equals_statsmodels_beta_interval(passed: int, total: int) -> None:
    low, high = sm_proportion.proportion_confint(passed, total, alpha=0.05, method="beta")
    assert clopper_pearson_interval(passed, total) == pytest.approx((low, high), abs=1e-10)
    assert interval(passed, total, "clopper-pearson") == clopper_pearson_interval(passed, total)


@pytest.mark.parametrize(("passed", "total"), COUNTS)
def test_the_exact_interval_holds_the_wilson_one_at_the_edges(passed: int, total: int) -> None:
    wilson, exact = wilson_interval(passed, total), clopper_pearson_interval(passed, total)
    assert interval(passed, total) == wilson  # Wilson is the default
    if passed in (0, total) and total <= 20:  # where small n bites, the exact one is the wider
        assert exact[0] <= wilson[0] and exact[1] >= wilson[1]
    assert clopper_pearson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("total", [1, 2, 3, 5, 10, 30, 100, 1000])
def test_the_rule_of_three_is_the_exact_one_sided_bound_rounded_up(total: int) -> None:
    # the exact one-sided 95% upper bound at 0/n is the upper end of the two-sided 90% Clopper-Pearson interval
    exact = stats.binomtest(0, total).proportion_ci(confidence_level=0.90, method="exact").high
    assert exact == pytest.approx(1 - 0.05 ** (1 / total), rel=1e-9)
    assert rule_of_three(0, total) == (0.0, min(1.0, 3 / total))
    low, high = rule_of_three(total, total) or (None, None)
    assert (low, high) == (pytest.approx(max(0.0, 1 - 3 / total)), 1.0)
    assert 3 / total >= exact  # never tighter than the exact bound ...
    if total >= 30:
        assert 3 / total - exact < 0.06 * exact  # ... and within 6% of it once n is not tiny


def test_the_rule_of_three_is_only_for_the_edges() -> None:
    assert rule_of_three(1, 3) is None
    assert rule_of_three(49, 100) is None
    assert rule_of_three(0, 0) is None


def _pass_at_k_chen(n: int, c: int, k: int) -> float:
    """Chen et al.'s numerically stable form, as published with HumanEval."""
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


@pytest.mark.parametrize(("passed", "total"), [*COUNTS, (3, 5), (2, 5), (4, 7)])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_pass_at_k_and_pass_hat_k_are_hypergeometric_draws(passed: int, total: int, k: int) -> None:
    if total < k:
        assert pass_at_k(passed, total, k) is None and pass_hat_k(passed, total, k) is None
        return
    draws = stats.hypergeom(total, passed, k)  # k trials drawn without replacement from the n recorded
    assert pass_at_k(passed, total, k) == pytest.approx(1 - draws.pmf(0), abs=1e-12)
    assert pass_at_k(passed, total, k) == pytest.approx(_pass_at_k_chen(total, passed, k), abs=1e-12)
    assert pass_hat_k(passed, total, k) == pytest.approx(draws.pmf(k), abs=1e-12)


def test_pass_at_k_values() -> None:
    assert pass_at_k(3, 10, 1) == pytest.approx(0.3)  # pass@1 is the success fraction
    assert pass_hat_k(3, 10, 1) == pytest.approx(0.3)
    assert pass_at_k(1, 5, 5) == 1.0 and pass_hat_k(1, 5, 5) == 0.0  # all five drawn: the pass is among them
    assert pass_at_k(0, 5, 3) == 0.0 and pass_hat_k(5, 5, 3) == 1.0  # the edges
    assert pass_at_k(2, 5, 3) == pytest.approx(1 - 1 / 10)  # C(3, 3) / C(5, 3): the three failures drawn
    assert pass_hat_k(4, 5, 3) == pytest.approx(4 / 10)  # C(4, 3) / C(5, 3)
    assert pass_at_k(3, 4, 0) is None


# --- two cells ---


@pytest.mark.parametrize(("passed", "total", "base_passed", "base_total"), PAIRS)
def test_newcombe_difference_equals_statsmodels(passed: int, total: int, base_passed: int, base_total: int) -> None:
    low, high = sm_proportion.confint_proportions_2indep(
        passed, total, base_passed, base_total, method="newcomb", compare="diff"
    )
    difference, my_low, my_high = newcombe_difference(passed, total, base_passed, base_total)
    assert difference == pytest.approx(passed / total - base_passed / base_total)
    assert (my_low, my_high) == pytest.approx((max(-1.0, low), min(1.0, high)), abs=1e-10)
    assert my_low <= difference <= my_high


def test_newcombe_difference_at_the_edges_and_without_trials() -> None:
    difference, low, high = newcombe_difference(0, 10, 10, 10)
    assert difference == -1.0 and low == -1.0 and -1.0 < high < -0.5  # still an interval, not the Wald point
    assert newcombe_difference(3, 5, 0, 0) == (0.0, -1.0, 1.0)


def _fisher_two_sided_by_enumeration(a: int, n: int, b: int, m: int) -> float:
    """The p-value of the definition: every table with the margins no more probable than this one (with R's and
    scipy's relative tolerance for ties)."""
    if n == 0 or m == 0:
        return 1.0
    dist = stats.hypergeom(n + m, a + b, n)
    observed = dist.pmf(a)
    support = range(max(0, a + b - m), min(n, a + b) + 1)
    return min(1.0, sum(dist.pmf(x) for x in support if dist.pmf(x) <= observed * (1 + 1e-7)))


@pytest.mark.parametrize(("passed", "total", "base_passed", "base_total"), PAIRS)
def test_fisher_two_sided_equals_the_definition(passed: int, total: int, base_passed: int, base_total: int) -> None:
    expected = _fisher_two_sided_by_enumeration(passed, total, base_passed, base_total)
    assert fisher_pvalue(passed, total, base_passed, base_total) == pytest.approx(expected, rel=1e-9)


def test_fisher_two_sided_values() -> None:
    assert fisher_pvalue(0, 3, 3, 3) == pytest.approx(2 / 20)  # the table and its mirror
    assert fisher_pvalue(5, 10, 5, 10) == pytest.approx(1.0)
    assert fisher_pvalue(0, 0, 3, 3) == 1.0


@pytest.mark.parametrize(
    "pvalues",
    [
        [0.01, 0.04, 0.03, 0.005],
        [0.5, 0.5, 0.5],
        [0.001],
        [0.2, 0.01, 0.9, 0.04, 0.04, 1.0],
        [0.0, 0.0, 0.02],
        [],
    ],
)
def test_holm_equals_statsmodels(pvalues: list[float]) -> None:
    expected = multipletests(pvalues, method="holm")[1] if pvalues else []
    assert holm(pvalues) == pytest.approx(list(expected), abs=1e-12)


@given(st.lists(st.floats(0, 1), max_size=20))
def test_holm_equals_statsmodels_for_any_p_values(pvalues: list[float]) -> None:
    expected = multipletests(pvalues, method="holm")[1] if pvalues else []
    assert holm(pvalues) == pytest.approx(list(expected), abs=1e-12)


# --- two runs, stratified by step ---

STRATA = [
    [(3, 5, 5, 5), (4, 10, 6, 10)],
    [(0, 5, 5, 5), (0, 5, 5, 5), (1, 5, 5, 5)],
    [(5, 5, 5, 5), (2, 4, 1, 4)],
    [(7, 12, 2, 9)],
    [(30, 50, 40, 50), (10, 20, 12, 20), (1, 3, 3, 3)],
    [(0, 3, 3, 3), (0, 3, 3, 3), (0, 3, 3, 3), (0, 3, 3, 3), (0, 3, 3, 3)],  # oracle vs failures, five steps
    [(1, 1, 0, 1), (0, 1, 1, 1), (2, 4, 3, 3)],  # single trials on a side count
    [(5, 5, 5, 5), (0, 3, 0, 4)],  # every margin fixed: no evidence either way
]


def _tables(strata: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
    return [np.array([[a, n - a], [b, m - b]]) for a, n, b, m in strata]


@pytest.mark.parametrize("strata", STRATA)
def test_cochran_mantel_haenszel_equals_statsmodels(strata: list[tuple[int, int, int, int]]) -> None:
    found = stratified_difference(strata)
    assert found is not None
    with warnings.catch_warnings():  # statsmodels divides 0 by 0 where every margin is fixed
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = StratifiedTable(_tables(strata)).test_null_odds(correction=False)
    if np.isfinite(expected.statistic):
        assert found.statistic == pytest.approx(expected.statistic, rel=1e-9)
        assert found.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    else:  # every step's margins fixed (all passed or all failed on both sides): no evidence either way
        assert (found.statistic, found.p_value) == (0.0, 1.0)


@pytest.mark.parametrize("strata", STRATA)
def test_the_overall_difference_is_the_mantel_haenszel_weighted_mean(strata: list[tuple[int, int, int, int]]) -> None:
    found = stratified_difference(strata)
    assert found is not None
    # the Mantel-Haenszel risk difference in its textbook form: sum (a d - b c) / N over sum n1 n2 / N
    top = sum((a * (m - b) - (n - a) * b) / (n + m) for a, n, b, m in strata)
    weights = sum(n * m / (n + m) for _, n, _, m in strata)
    assert found.difference == pytest.approx(top / weights, abs=1e-12)
    assert found.low <= found.difference <= found.high
    assert found.strata == len(strata)


def _restricted_by_optimizer(x1: int, n1: int, x2: int, n2: int, delta: float) -> tuple[float, float]:
    """The rates that maximize the two binomial likelihoods under p1 - p2 = delta, found numerically."""

    def minus_loglik(p2: float) -> float:
        p1 = p2 + delta
        return -(stats.binom.logpmf(x1, n1, p1) + stats.binom.logpmf(x2, n2, p2))

    low, high = max(0.0, -delta) + 1e-12, min(1.0, 1.0 - delta) - 1e-12
    grid = np.linspace(low, high, 2001)
    best = grid[np.argmin([minus_loglik(p) for p in grid])]
    step = (high - low) / 2000
    found = optimize.minimize_scalar(
        minus_loglik,
        bounds=(max(low, best - step), min(high, best + step)),
        method="bounded",
        options={"xatol": 1e-13},
    )
    return float(found.x + delta), float(found.x)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2"), [(30, 50, 40, 50), (7, 12, 2, 9), (0, 5, 5, 5), (5, 5, 5, 5), (1, 3, 2, 7), (4, 4, 1, 3)]
)
@pytest.mark.parametrize("delta", [-0.9, -0.37, -0.1, 0.0, 0.2, 0.6])
def test_the_restricted_rates_maximize_the_likelihood(x1: int, n1: int, x2: int, n2: int, delta: float) -> None:
    """The Miettinen-Nurminen closed form against a numerical maximum. (statsmodels' own closed form has a wrong
    linear coefficient for a non-zero difference, statsmodels issue 10269, so it cannot be the reference here.)"""
    mine = _restricted_rates(x1, n1, x2, n2, delta)
    assert mine[0] - mine[1] == pytest.approx(delta, abs=1e-12)
    assert mine == pytest.approx(_restricted_by_optimizer(x1, n1, x2, n2, delta), abs=2e-6)


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), [(30, 50, 40, 50), (7, 12, 2, 9), (20, 40, 10, 40), (1, 3, 2, 7)])
def test_the_score_at_no_difference_equals_statsmodels(x1: int, n1: int, x2: int, n2: int) -> None:
    # at a difference of 0 statsmodels uses the pooled rate, unaffected by its issue 10269
    expected = sm_proportion.test_proportions_2indep(
        x1, n1, x2, n2, value=0, method="score", compare="diff", correction=True
    )
    assert _score([(x1, n1, x2, n2)], 0.0) == pytest.approx(expected.statistic, rel=1e-9)


def _score_by_optimizer(strata: list[tuple[int, int, int, int]], delta: float) -> float:
    top = bottom = 0.0
    for x1, n1, x2, n2 in strata:
        n = n1 + n2
        w = n1 * n2 / n
        p1, p2 = _restricted_by_optimizer(x1, n1, x2, n2, delta)
        top += w * (x1 / n1 - x2 / n2 - delta)
        bottom += w * w * (p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2) * n / (n - 1)
    return top / math.sqrt(bottom)


@pytest.mark.parametrize("strata", STRATA)
def test_the_stratified_interval_ends_where_the_score_test_rejects(strata: list[tuple[int, int, int, int]]) -> None:
    found = stratified_difference(strata)
    assert found is not None
    critical = stats.norm.isf(0.025)
    for end, sign in ((found.low, 1.0), (found.high, -1.0)):
        if abs(end) < 1 - 1e-9:
            assert _score_by_optimizer(strata, end) == pytest.approx(sign * critical, abs=2e-4)
        else:  # the end is the edge: the score test does not reject there
            assert abs(_score_by_optimizer(strata, end * (1 - 1e-6))) < critical


def test_oracle_against_failures_is_a_clear_drop_with_an_honest_interval() -> None:
    found = stratified_difference([(0, 3, 3, 3)] * 5)
    assert found is not None
    assert found.difference == -1.0 and found.low == -1.0
    assert -1.0 < found.high < -0.5  # not the Wald interval's point at -1
    assert found.p_value < 1e-5


def test_no_step_with_trials_on_both_sides_has_no_overall_difference() -> None:
    assert stratified_difference([(3, 5, 0, 0), (0, 0, 2, 2)]) is None
    assert stratified_difference([]) is None


# --- power of the gate's test (one look) ---


def _power_by_enumeration(n: int, m: int, base_rate: float, rate: float, level: float = 0.05) -> float:
    """Every outcome of both runs, each put to the gate's drop boundary of a single look."""
    at_most = single_look(m, n, level, 0.0, drop=True)
    return sum(
        stats.binom.pmf(b, m, base_rate) * stats.binom.pmf(a, n, rate)
        for b in range(m + 1)
        for a in range(n + 1)
        if a <= at_most[b]
    )


@pytest.mark.parametrize(
    ("n", "m", "base_rate", "rate"), [(6, 5, 1.0, 0.5), (10, 10, 0.9, 0.4), (4, 7, 0.7, 0.0), (3, 3, 1.0, 0.0)]
)
def test_the_power_is_the_gates_test_over_every_outcome(n: int, m: int, base_rate: float, rate: float) -> None:
    assert regression_power(n, m, base_rate, rate, 0.05) == pytest.approx(_power_by_enumeration(n, m, base_rate, rate))


@pytest.mark.parametrize(("n", "base_rate"), [(5, 1.0), (10, 1.0), (10, 0.7), (20, 0.85), (40, 0.5)])
def test_the_detectable_drop_is_detected_at_eighty_percent(n: int, base_rate: float) -> None:
    drop = detectable_drop(n, n, base_rate, 0.05)
    assert drop is not None and 0 < drop <= base_rate
    assert _power_by_enumeration(n, n, base_rate, base_rate - drop) == pytest.approx(0.8, abs=1e-6)


def test_too_few_trials_detect_no_drop() -> None:
    assert detectable_drop(2, 2, 1.0, 0.05) is None  # even 0/2 against 2/2 cannot be a drop at 5%
    assert detectable_drop(10, 10, 0.0, 0.05) is None  # nothing to drop from
    assert detectable_drop(0, 5, 1.0, 0.05) is None
    assert detectable_drop(6000, 10, 0.9, 0.05) is None  # not computed for huge runs


@pytest.mark.parametrize(
    ("drop", "base_rate", "level"),
    [(0.5, 1.0, 0.05), (0.2, 1.0, 0.05), (0.3, 0.8, 0.05), (0.4, 0.5, 0.05), (0.85, 1.0, 0.025), (0.4, 1.0, 0.01)],
)
def test_trials_needed_decides_and_one_fewer_does_not(drop: float, base_rate: float, level: float) -> None:
    n = trials_needed(drop, base_rate, level)
    assert n is not None
    assert regression_power(n, n, base_rate, base_rate - drop, level) >= 0.8
    assert n > 1 and regression_power(n - 1, n - 1, base_rate, base_rate - drop, level) < 0.8
    detected = detectable_drop(n, n, base_rate, level)
    assert detected is not None and detected <= drop + 1e-9


def test_trials_needed_of_impossible_drops() -> None:
    assert trials_needed(0.5, 0.4, 0.05) is None  # cannot drop below 0
    assert trials_needed(0.0, 0.9, 0.05) is None
    assert trials_needed(1e-3, 0.5, 0.05) is None  # more than 1,000 trials


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(0, 100).map(lambda k: k / 100),
    st.integers(0, 100).map(lambda k: k / 100),
)
def test_the_power_equals_the_enumeration_for_any_small_run(n: int, m: int, base_rate: float, rate: float) -> None:
    assert regression_power(n, m, base_rate, rate, 0.05) == pytest.approx(_power_by_enumeration(n, m, base_rate, rate))


def _stratified_drop_by_enumeration(strata: list[tuple[int, int, int, int]]) -> float:
    """Every combination of tables with the strata's margins, each weighted by its hypergeometric probability."""
    import itertools

    supports = []
    for x1, n1, x2, n2 in strata:
        passes = x1 + x2
        dist = stats.hypergeom(n1 + n2, passes, n1)
        supports.append([(k, dist.pmf(k)) for k in range(max(0, passes - n2), min(n1, passes) + 1)])
    observed = sum(s[0] for s in strata)
    return sum(
        math.prod(p for _, p in combo) for combo in itertools.product(*supports) if sum(k for k, _ in combo) <= observed
    )


@pytest.mark.parametrize(
    "strata",
    [
        [(1, 3, 10, 10)] * 3,
        [(0, 3, 5, 5), (0, 3, 5, 5)],
        [(2, 5, 4, 5), (3, 4, 3, 4), (0, 2, 2, 3)],
        [(5, 5, 5, 5), (4, 6, 6, 6)],
        [(3, 3, 0, 3)],
        [(0, 1, 1, 1), (1, 2, 1, 1), (0, 1, 3, 4)],
        [(0, 0, 2, 2), (0, 1, 1, 1), (1, 3, 2, 2)],  # a step without trials on a side is skipped, not the end
    ],
)
def test_the_exact_stratified_test_is_the_enumeration(strata: list[tuple[int, int, int, int]]) -> None:
    assert stratified_drop_pvalue(strata) == pytest.approx(_stratified_drop_by_enumeration(strata), rel=1e-9)


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), [(0, 3, 3, 3), (2, 10, 9, 10), (7, 40, 9, 12), (5, 5, 0, 5)])
def test_the_exact_stratified_test_of_one_step_is_fishers(x1: int, n1: int, x2: int, n2: int) -> None:
    expected = stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]], alternative="less").pvalue
    assert stratified_drop_pvalue([(x1, n1, x2, n2)]) == pytest.approx(expected, rel=1e-9)


def test_the_exact_stratified_test_skips_steps_without_trials_on_a_side() -> None:
    assert stratified_drop_pvalue([(0, 0, 3, 3), (1, 4, 0, 0)]) == 1.0
    assert stratified_drop_pvalue([(0, 3, 3, 3), (2, 2, 0, 0)]) == pytest.approx(stratified_drop_pvalue([(0, 3, 3, 3)]))
