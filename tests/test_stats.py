"""The success-rate statistics, pinned against scipy.stats (an independent implementation) on fixed inputs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from pytest_hepagent.stats import binomial_error, fisher_drop_pvalue, wilson_interval

# (passed, total): the edges 0/n and n/n, a half, small and large n
COUNTS = [(0, 1), (1, 1), (0, 5), (5, 5), (1, 3), (2, 3), (5, 10), (3, 20), (17, 20), (0, 100), (100, 100), (37, 120)]


@pytest.mark.parametrize(("passed", "total"), COUNTS)
def test_wilson_interval_equals_scipys(passed: int, total: int) -> None:
    expected = stats.binomtest(passed, total).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(passed, total)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)


def test_wilson_interval_values_worked_by_hand() -> None:
    # 0/10: [0, z^2 / (n + z^2)] = [0, 3.8415 / 13.8415]; 10/10 mirrors it; 5/10 is symmetric about 0.5
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27753279), abs=1e-8)
    assert wilson_interval(10, 10) == pytest.approx((0.72246721, 1.0), abs=1e-8)
    assert wilson_interval(5, 10) == pytest.approx((0.23659309, 0.76340691), abs=1e-8)
    assert wilson_interval(0, 0) == (0.0, 1.0)  # no trials: nothing is known


def test_wilson_interval_at_another_confidence_level() -> None:
    expected = stats.binomtest(3, 10).proportion_ci(confidence_level=0.90, method="wilson")
    assert wilson_interval(3, 10, confidence=0.90) == pytest.approx((expected.low, expected.high), abs=1e-12)


@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_equals_scipys_for_any_count(counts: tuple[int, int]) -> None:
    passed, total = counts
    expected = stats.binomtest(passed, total).proportion_ci(method="wilson")
    assert wilson_interval(passed, total) == pytest.approx((expected.low, expected.high), abs=1e-9)


@pytest.mark.parametrize(("passed", "total"), COUNTS)
def test_binomial_error_is_the_papers(passed: int, total: int) -> None:
    p = passed / total
    assert binomial_error(passed, total) == pytest.approx(math.sqrt(p * (1 - p) / total), abs=1e-15)


def test_binomial_error_values() -> None:
    assert binomial_error(5, 10) == pytest.approx(0.158113883, abs=1e-9)
    assert binomial_error(1, 4) == pytest.approx(0.216506351, abs=1e-9)
    assert binomial_error(0, 0) == 0.0


# (passed, total, base_passed, base_total): a clear drop, no change, a rise, tiny and unequal samples, the edges
TABLES = [
    (0, 10, 10, 10),
    (2, 10, 9, 10),
    (5, 10, 5, 10),
    (10, 10, 0, 10),
    (0, 3, 3, 3),
    (1, 5, 18, 20),
    (7, 40, 9, 12),
    (0, 1, 1, 1),
    (20, 20, 19, 20),
    (0, 10, 0, 10),
]


@pytest.mark.parametrize(("passed", "total", "base_passed", "base_total"), TABLES)
def test_fisher_drop_pvalue_equals_scipys_one_sided_test(
    passed: int, total: int, base_passed: int, base_total: int
) -> None:
    table = [[passed, total - passed], [base_passed, base_total - base_passed]]
    expected = stats.fisher_exact(table, alternative="less").pvalue
    assert fisher_drop_pvalue(passed, total, base_passed, base_total) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_fisher_drop_pvalue_values_worked_by_hand() -> None:
    # 0/3 against 3/3: the one table as or more extreme of C(6, 3) = 20 with 3 successes
    assert fisher_drop_pvalue(0, 3, 3, 3) == pytest.approx(1 / 20)
    # 1/3 against 3/3: 4 successes in 6, X >= 1 always, P(X = 1) = C(4, 1) C(2, 2) / C(6, 3) = 4 / 20
    assert fisher_drop_pvalue(1, 3, 3, 3) == pytest.approx(math.comb(4, 1) * math.comb(2, 2) / math.comb(6, 3))
    assert fisher_drop_pvalue(3, 3, 0, 3) == pytest.approx(1.0)
    assert fisher_drop_pvalue(0, 0, 5, 5) == 1.0  # no trials: no evidence of a drop
    assert fisher_drop_pvalue(5, 5, 0, 0) == 1.0  # an empty baseline: nothing to drop from


@given(
    st.integers(1, 30).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.integers(1, 30).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
)
def test_fisher_drop_pvalue_equals_scipys_for_any_table(now: tuple[int, int], base: tuple[int, int]) -> None:
    table = [[now[0], now[1] - now[0]], [base[0], base[1] - base[0]]]
    expected = stats.fisher_exact(table, alternative="less").pvalue
    assert fisher_drop_pvalue(*now, *base) == pytest.approx(min(1.0, expected), rel=1e-9, abs=1e-15)


def test_rounding_never_takes_a_p_value_or_a_bound_out_of_zero_to_one() -> None:
    # the raw sums and formulas land just outside [0, 1] here: 1 + 7e-14, 1 + 2e-16, -1e-17
    assert fisher_drop_pvalue(24, 24, 28, 30) == 1.0
    assert wilson_interval(499, 499)[1] == 1.0
    assert wilson_interval(0, 21)[0] == 0.0


def test_the_tables_whose_p_value_is_exactly_five_percent() -> None:
    """Where the gate's `p < alpha` and `p <= alpha` (and `>=` for INCONCLUSIVE) differ: the one-sided p of these
    tables is exactly 1/20 (e.g. 0/1 against 19/19: one way in twenty to draw the one failure)."""
    hits = [
        (k, n, bk, bn)
        for n in range(1, 21)
        for k in range(n + 1)
        for bn in range(1, 21)
        for bk in range(bn + 1)
        if fisher_drop_pvalue(k, n, bk, bn) == 0.05
    ]
    assert hits == [(0, 1, 19, 19), (0, 2, 12, 14), (2, 4, 12, 12), (0, 12, 2, 4), (0, 19, 1, 1)]
    assert [stats.fisher_exact([[k, n - k], [bk, bn - bk]], alternative="less").pvalue for k, n, bk, bn in hits] == [
        0.05
    ] * 5


def _wilson_before(passed: int, total: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The hand-written interval the harness used before it called scipy.stats: its numbers must not change."""
    if total == 0:
        return 0.0, 1.0
    p = passed / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _fisher_before(passed: int, total: int, base_passed: int, base_total: int) -> float:
    """The hand-written one-sided Fisher p-value of before, likewise."""
    successes, n = passed + base_passed, total + base_total
    if total == 0 or base_total == 0:
        return 1.0

    def log_choose(a: int, b: int) -> float:
        return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)

    low, high = max(0, successes - base_total), min(total, successes)
    denominator = log_choose(n, total)
    terms = range(low, min(passed, high) + 1)
    return min(
        1.0, sum(math.exp(log_choose(successes, k) + log_choose(n - successes, total - k) - denominator) for k in terms)
    )


def test_the_numbers_are_todays_for_every_small_count() -> None:
    for total in range(61):
        for passed in range(total + 1):
            assert wilson_interval(passed, total) == pytest.approx(_wilson_before(passed, total), abs=1e-12)
    for total in range(13):
        for passed in range(total + 1):
            for base_total in range(13):
                for base_passed in range(base_total + 1):
                    now = fisher_drop_pvalue(passed, total, base_passed, base_total)
                    assert now == pytest.approx(_fisher_before(passed, total, base_passed, base_total), abs=1e-12)
