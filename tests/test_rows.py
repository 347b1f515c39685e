"""Row matching of the comparator: the tolerance rule element by element, and rows paired in any order."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_hepagent.compare.rows import CANDIDATES_PER_ROW, _key_column, match_rows, within

INF, NAN = np.inf, np.nan


@pytest.mark.parametrize(
    ("generated", "reference", "close"),
    [
        (1.0, 1.0, True),
        (110.0, 100.0, True),  # |diff| = 10 = rtol * |reference|: on the edge, inside
        (110.5, 100.0, False),  # 10.5 > 10, though within 10% of the generated value (11.05): the reference decides
        (90.0, 100.0, True),
        (89.5, 100.0, False),
        (-110.0, -100.0, True),  # |reference|
        (0.0, 0.0, True),
        (1e-9, 0.0, False),  # no atol here: nothing is close to zero but zero
        (NAN, NAN, True),
        (NAN, 1.0, False),
        (1.0, NAN, False),
        (INF, INF, True),
        (-INF, -INF, True),
        (INF, -INF, False),
        (INF, 1e308, False),
        (1e308, INF, False),
        (INF, NAN, False),
        (1e308, -1e308, False),  # the difference overflows: not close, and no warning
    ],
)
def test_within_is_relative_to_the_reference(generated: float, reference: float, close: bool) -> None:
    assert within(np.array([generated]), np.array([reference]), 0.1, 0.0).tolist() == [close]


def test_within_adds_a_per_column_absolute_tolerance() -> None:
    generated = np.array([[0.5, 0.5], [0.51, 0.0]])
    reference = np.zeros((2, 2))
    atol = np.array([0.5, 0.0])
    assert within(generated, reference, 0.0, atol).tolist() == [[True, False], [False, True]]
    assert within(np.array([100.5]), np.array([100.0]), 0.001, 0.4).tolist() == [True]  # 0.5 <= 0.4 + 0.1
    assert within(np.array([100.6]), np.array([100.0]), 0.001, 0.4).tolist() == [False]


def test_the_key_column_is_the_finite_one_with_most_distinct_values() -> None:
    reference = np.array([[1.0, 5.0, NAN, 1.0], [1.0, 6.0, 1.0, 2.0], [2.0, 7.0, 2.0, 3.0], [2.0, 7.0, 3.0, 4.0]])
    assert _key_column(reference) == 3  # column 2 has as many distinct values, but a NaN
    assert _key_column(np.array([[1.0, 2.0], [2.0, 1.0]])) == 0  # a tie: the first
    assert _key_column(reference[:, :3]) == 1
    assert _key_column(np.array([[INF, 1.0], [2.0, 1.0]])) == 1
    assert _key_column(np.array([[NAN], [NAN]])) == 0  # none finite: the first column


def test_rows_in_any_order_pair_with_their_reference_rows() -> None:
    reference = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    generated = reference[[2, 0, 3, 1]] * (1 + 1e-9)
    match = match_rows(generated, reference, 1e-6, np.zeros(2))
    assert match.matched
    assert match.pairs.tolist() == [2, 0, 3, 1]


def test_a_row_out_of_tolerance_is_left_unpaired() -> None:
    reference = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    generated = np.array([[3.0, 30.0], [2.0, 20.5], [1.0, 10.0]])  # the second row's other column is off
    match = match_rows(generated, reference, 1e-6, np.zeros(2))
    assert not match.matched
    assert match.pairs.tolist() == [2, -1, 0]


def test_key_candidates_within_tolerance_are_all_tried() -> None:
    # keys 1.0 and 1.05 are within 10% of each other: the pairing must use the second column to choose
    reference = np.array([[1.0, 100.0], [1.05, 200.0]])
    generated = np.array([[1.04, 200.0], [1.01, 100.0]])
    match = match_rows(generated, reference, 0.1, np.zeros(2))
    assert match.matched and match.pairs.tolist() == [1, 0]


def test_a_non_finite_key_still_pairs_with_its_row() -> None:
    reference = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    generated = np.array([[NAN, 2.0], [1.0, 1.0], [3.0, 3.0]])
    match = match_rows(generated, reference, 1e-6, np.zeros(2))
    assert not match.matched  # a NaN key never matches a finite reference value
    assert match.pairs.tolist() == [-1, 0, 2]


def test_rows_the_key_cannot_tell_apart_are_compared_in_sorted_order() -> None:
    n = 4 * CANDIDATES_PER_ROW
    reference = np.zeros((n, 3))
    reference[:, 1] = np.arange(n) % 2  # two distinct values at most in any column: every row a candidate
    rng = np.random.default_rng(1)
    generated = reference[rng.permutation(n)]
    match = match_rows(generated, reference, 1e-9, np.zeros(3))
    assert match.matched
    assert sorted(match.pairs.tolist()) == list(range(n))  # a permutation...
    assert (reference[match.pairs] == generated).all()  # ...of equal rows
    generated[0, 2] = 1.0  # one row that exists nowhere in the reference
    match = match_rows(generated, reference, 1e-9, np.zeros(3))
    assert not match.matched
    assert (match.pairs == -1).sum() == 1
    unpaired = int(np.flatnonzero(match.pairs == -1)[0])
    assert unpaired == 0  # the odd row, and only it


def test_a_key_at_the_edge_of_the_tolerance_is_still_a_candidate() -> None:
    # 110 is within 10% of 100 (relative to the reference); the search window around 110 must reach 100
    reference = np.array([[100.0, 1.0], [300.0, 2.0]])
    generated = np.array([[110.0, 1.0], [300.0, 2.0]])
    assert match_rows(generated, reference, 0.1, np.zeros(2)).pairs.tolist() == [0, 1]


def test_crossed_rows_are_paired_by_their_other_columns() -> None:
    # keys pairwise within tolerance, the second column decides: a rank-by-rank comparison would fail here
    reference = np.array([[1.0, 100.0], [1.05, 200.0], [5.0, 300.0], [5.2, 400.0]])
    generated = np.array([[1.0, 200.0], [1.05, 100.0], [5.0, 400.0], [5.2, 300.0]])
    match = match_rows(generated, reference, 0.1, np.zeros(2))
    assert match.matched and match.pairs.tolist() == [1, 0, 3, 2]


def test_the_sorted_comparison_orders_both_arrays_by_the_same_columns() -> None:
    pattern = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    reference = np.repeat(pattern, 10, axis=0)  # 2 values per column: every row has 20 candidates, above 16
    generated = reference[np.random.default_rng(2).permutation(40)]
    match = match_rows(generated, reference, 1e-9, np.zeros(2))
    assert match.matched
    assert (reference[match.pairs] == generated).all()


def test_a_key_below_the_reference_at_the_edge_is_still_a_candidate() -> None:
    # 90 is within 10% of 100; seen from 90 that is 11.1%, so the search window must be wider than 10% of 90
    assert match_rows(np.array([[90.0]]), np.array([[100.0]]), 0.1, np.zeros(1)).pairs.tolist() == [0]


def test_many_crossed_rows_are_still_paired_one_by_one() -> None:
    keys = np.repeat(100 + np.arange(40.0) * 10, 2) + np.tile([0.0, 0.05], 40)
    reference = np.column_stack([keys, np.tile([1.0, 2.0], 40)])
    generated = np.column_stack([keys, np.tile([2.0, 1.0], 40)])  # each pair of rows crossed
    match = match_rows(generated, reference, 0.01, np.zeros(2))
    assert match.matched
    assert (reference[match.pairs, 1] == generated[:, 1]).all()
