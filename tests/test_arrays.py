"""The array comparator's whole result, field by field, on arrays small enough to work out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pytest_hepagent.compare.arrays import compare_aligned_files, compare_array_files, compare_arrays
from pytest_hepagent.compare.result import ColumnStats, Mismatch, OutputResult
from pytest_hepagent.specs import OutputCheck

INF, NAN = np.inf, np.nan
CHECK = OutputCheck("arrays/x.npy", rtol=0.1, atol=0.0)


def test_identical_arrays_pass_with_every_field_set() -> None:
    a = np.array([[1.0, 2.0], [3.0, NAN]])
    assert compare_arrays(a, a.copy(), CHECK) == OutputResult(
        "arrays/x.npy", "pass", "", (2, 2), (2, 2), 4, 0, True, 0.0, 0.0, 0.1, 0.0, "strict"
    )


def test_values_within_tolerance_pass_with_their_largest_difference() -> None:
    result = compare_arrays(np.array([1.05, 2.0, INF]), np.array([1.0, 2.1, INF]), CHECK)
    assert (result.status, result.max_diff, result.total) == ("pass", pytest.approx(0.1), 3)


def test_a_shape_mismatch_says_both_shapes() -> None:
    result = compare_arrays(np.zeros((2, 3)), np.zeros((3, 2)), CHECK)
    assert result == OutputResult(
        "arrays/x.npy", "shape", "shape (2, 3) vs reference (3, 2)", (2, 3), (3, 2), 6, rtol=0.1, row_order="strict"
    )


def test_mismatches_are_counted_located_and_measured() -> None:
    reference = np.array([[1.0, 10.0, 5.0], [2.0, 20.0, 5.0], [3.0, 30.0, 5.0]])
    generated = reference.copy()
    generated[0, 1] = 12.0  # off by 2 (tolerance 1)
    generated[2, 1] = 27.5  # off by 2.5 (tolerance 3): passes
    generated[2, 0] = 4.0  # off by 1 (tolerance 0.3)
    generated[1, 2] = 5.4  # off by 0.4, but column "c" has atol 0.5 on top of rtol 0.1 * 5: passes
    check = OutputCheck("arrays/x.npy", rtol=0.1, atol=0.0, column_atol=(("c", 0.5), ("unknown", 9.0)))
    result = compare_arrays(generated, reference, check, ("a", "b", "c"))
    assert result == OutputResult(
        "arrays/x.npy",
        "values",
        "2/9 elements differ",
        (3, 3),
        (3, 3),
        9,
        2,
        True,
        2.5,
        pytest.approx((2.0 + 2.5 + 1.0 + 0.4) / 9),
        0.1,
        0.0,
        "strict",
        (Mismatch((0, 1), 12.0, 10.0), Mismatch((2, 0), 4.0, 3.0)),
        (ColumnStats(0, "a", 1, 1.0), ColumnStats(1, "b", 1, 2.0)),
    )


def test_a_column_without_a_name_is_named_by_its_index() -> None:
    result = compare_arrays(np.array([[0.0, 1.0]]), np.array([[0.0, 2.0]]), CHECK, ("a",))
    assert result.columns == (ColumnStats(1, "col1", 1, 1.0),)


def test_a_column_tolerance_applies_to_its_own_column_only() -> None:
    check = OutputCheck("arrays/x.npy", column_atol=(("b", 1.0),))
    both_off = np.array([[0.5, 0.5]])
    result = compare_arrays(both_off, np.zeros((1, 2)), check, ("a", "b"))
    assert result.first == (Mismatch((0, 0), 0.5, 0.0),)
    assert compare_arrays(both_off, np.zeros((1, 2)), check, ("b", "a")).first == (Mismatch((0, 1), 0.5, 0.0),)


def test_a_nan_where_the_reference_has_a_number_is_a_nan_mask_failure() -> None:
    result = compare_arrays(np.array([NAN, 1.0, 2.0]), np.array([1.0, 1.0, 4.0]), CHECK)
    assert (result.status, result.message, result.nan_mask_equal, result.mismatches) == (
        "nan_mask",
        "2/3 elements differ (NaN masks differ)",
        False,
        2,
    )
    assert (result.max_diff, result.mean_diff) == (2.0, 1.0)  # over the two elements both hold numbers
    nan, other = result.first
    assert (nan.index, np.isnan(nan.generated), nan.reference) == ((0,), True, 1.0)
    assert other == Mismatch((2,), 2.0, 4.0)


def test_infinities_match_only_themselves_and_add_no_difference() -> None:
    result = compare_arrays(np.array([INF, 1.0]), np.array([INF, 1.5]), CHECK)
    assert (result.status, result.max_diff, result.mean_diff) == ("values", 0.5, 0.25)
    result = compare_arrays(np.array([INF, 1.0]), np.array([-INF, 1.0]), CHECK)
    assert result.status == "values" and result.first == (Mismatch((0,), INF, -INF),)
    assert compare_arrays(np.array([-INF]), np.array([-INF]), CHECK).status == "pass"


def test_only_the_first_ten_mismatches_are_listed() -> None:
    result = compare_arrays(np.arange(25.0) + 100, np.arange(25.0), CHECK)
    assert result.mismatches == 25 and len(result.first) == 10
    assert result.columns == ()  # a 1-D array has no columns
    assert result.first[-1] == Mismatch((9,), 109.0, 9.0)


def test_arrays_in_another_memory_order_are_still_compared_by_value() -> None:
    reference = np.array([[1.0, 2.0], [3.0, 4.0]])
    fortran = np.asfortranarray(reference)
    assert compare_arrays(fortran, reference, CHECK).status == "pass"
    wrong = np.asfortranarray(reference + 1.0)
    assert compare_arrays(wrong, reference, CHECK).status == "values"
    assert compare_arrays(reference + 1.0, np.asfortranarray(reference), CHECK).status == "values"


ANY = OutputCheck("arrays/x.npy", rtol=1e-6, atol=1e-12, row_order="any")


def test_rows_in_any_order_pass_when_allowed() -> None:
    reference = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    result = compare_arrays(reference[[2, 0, 1]] * (1 + 1e-7), reference, ANY)
    assert (result.status, result.row_order) == ("pass", "any")
    assert result.max_diff == pytest.approx(30e-7)
    assert compare_arrays(reference[[2, 0, 1]], reference, CHECK).status == "values"  # strict: order matters


def test_rows_without_a_partner_are_named_by_their_own_index() -> None:
    reference = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    generated = np.array([[4.0, 40.0], [9.0, 20.0], [1.0, 10.0], [3.0, 35.0]])
    result = compare_arrays(generated, reference, ANY, ("a", "b"))
    assert (result.status, result.mismatches, result.total) == ("values", 2, 4)
    assert result.message == "2/4 rows have no partner within tolerance in the reference (rows may come in any order)"
    assert (result.generated_shape, result.reference_shape, result.path) == ((4, 2), (4, 2), "arrays/x.npy")
    assert (result.row_order, result.rtol, result.atol) == ("any", 1e-6, 1e-12)
    # the spare reference rows (2, 20), (3, 30) against the unmatched rows, both sorted: row 3 (3, 35), row 1 (9, 20);
    # each mismatch names the generated row it is in
    assert result.first == (
        Mismatch((3, 0), 3.0, 2.0),
        Mismatch((3, 1), 35.0, 20.0),
        Mismatch((1, 0), 9.0, 3.0),
        Mismatch((1, 1), 20.0, 30.0),
    )
    assert all(generated[m.index] == m.generated for m in result.first)


def test_an_empty_array_in_any_order_passes() -> None:
    assert compare_arrays(np.zeros((0, 2)), np.zeros((0, 2)), ANY).status == "pass"


def test_files_missing_unreadable_or_of_another_shape(tmp_path: Path) -> None:
    golden = tmp_path / "golden.npy"
    np.save(golden, np.arange(6.0).reshape(2, 3))
    work = tmp_path / "work"
    (work / "arrays").mkdir(parents=True)
    assert compare_array_files(work, golden, CHECK) == OutputResult(
        "arrays/x.npy", "missing", "arrays/x.npy was not produced"
    )
    np.save(work / "arrays/x.npy", np.zeros((3, 2)))
    assert compare_array_files(work, golden, CHECK) == OutputResult(
        "arrays/x.npy", "shape", "shape (3, 2) vs reference (2, 3)", (3, 2), (2, 3), 6
    )
    np.save(work / "arrays/x.npy", np.array(["text"]))
    result = compare_array_files(work, golden, CHECK)
    assert result == OutputResult(
        "arrays/x.npy", "unreadable", "arrays/x.npy: dtype <U4 is not plain real numbers (pickled or structured data)"
    )
    np.save(work / "arrays/x.npy", np.arange(6).reshape(2, 3))  # integers: the same numbers
    assert compare_array_files(work, golden, CHECK).status == "pass"


def test_a_golden_array_is_never_unpickled(tmp_path: Path) -> None:
    golden = tmp_path / "golden.npy"
    np.save(golden, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    work = tmp_path / "work"
    (work / "arrays").mkdir(parents=True)
    np.save(work / "arrays/x.npy", np.zeros(1))
    with pytest.raises(ValueError, match="allow_pickle"):
        compare_array_files(work, golden, CHECK)


def test_nans_in_both_arrays_add_no_difference() -> None:
    result = compare_arrays(np.array([NAN, 1.0]), np.array([NAN, 1.05]), CHECK)
    assert (result.status, result.max_diff) == ("pass", pytest.approx(0.05))


def test_a_mismatch_of_nans_alone_has_no_difference_statistics() -> None:
    result = compare_arrays(np.array([NAN]), np.array([1.0]), CHECK)
    assert (result.status, result.max_diff, result.mean_diff) == ("nan_mask", 0.0, 0.0)


def test_a_column_whose_mismatches_are_small_reports_their_size() -> None:
    result = compare_arrays(np.array([[0.5, 0.0]]), np.array([[0.0, 0.0]]), CHECK, ("a", "b"))
    assert result.columns == (ColumnStats(0, "a", 1, 0.5),)


def test_a_shape_mismatch_keeps_the_tolerance_it_was_judged_with() -> None:
    result = compare_arrays(np.zeros(2), np.zeros(3), OutputCheck("arrays/x.npy", rtol=0.2, atol=0.3))
    assert (result.rtol, result.atol) == (0.2, 0.3)


def test_file_comparisons_name_the_columns(tmp_path: Path) -> None:
    golden = tmp_path / "golden.npy"
    np.save(golden, np.zeros((2, 2)))
    work = tmp_path / "work"
    (work / "arrays").mkdir(parents=True)
    np.save(work / "arrays/x.npy", np.array([[0.0, 1.0], [0.0, 0.0]]))
    result = compare_array_files(work, golden, CHECK, ("a", "b"))
    assert result.columns == (ColumnStats(1, "b", 1, 1.0),)


SCORES = OutputCheck("arrays/scores.npy", rtol=1e-6, aligned_with="solution/arrays/rows.npy")


@pytest.fixture
def aligned(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Golden input rows and their scores; a work folder to put a trial's input and output in."""
    rows = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    np.save(tmp_path / "rows.npy", rows)
    np.save(tmp_path / "scores.npy", np.array([0.1, 0.2, 0.3, 0.4]))
    work = tmp_path / "work"
    (work / "arrays").mkdir(parents=True)
    (work / "solution" / "arrays").mkdir(parents=True)
    return tmp_path / "scores.npy", tmp_path / "rows.npy", work


def _aligned(work: Path, golden: tuple[Path, Path, Path], producer: OutputCheck | None) -> OutputResult:
    scores, rows, _ = golden
    return compare_aligned_files(work, scores, SCORES, "solution/arrays/rows.npy", rows, producer)


def test_an_output_follows_its_input_rows_in_another_order(aligned: tuple[Path, Path, Path]) -> None:
    _, rows, work = aligned
    order = [2, 0, 3, 1]
    np.save(work / "solution/arrays/rows.npy", np.load(rows)[order])
    np.save(work / "arrays/scores.npy", np.array([0.1, 0.2, 0.3, 0.4])[order])
    assert _aligned(work, aligned, None).status == "pass"
    np.save(work / "arrays/scores.npy", np.array([0.1, 0.2, 0.3, 0.4]))  # the golden order: wrong for these rows
    wrong = _aligned(work, aligned, None)
    assert wrong.status == "values" and wrong.mismatches == 4


def test_input_rows_are_matched_within_the_producing_steps_tolerance(aligned: tuple[Path, Path, Path]) -> None:
    _, rows, work = aligned
    order = [1, 0, 2, 3]
    shifted = np.load(rows)[order] * (1 + 1e-4)  # the input rows moved by 1e-4: within 1e-3, not exactly equal
    np.save(work / "solution/arrays/rows.npy", shifted)
    np.save(work / "arrays/scores.npy", np.array([0.2, 0.1, 0.3, 0.4]))
    producer = OutputCheck("arrays/rows.npy", rtol=1e-3)
    assert _aligned(work, aligned, producer).status == "pass"
    assert _aligned(work, aligned, None).status == "values"  # matched exactly, no row pairs: the golden order
    tight = OutputCheck("arrays/rows.npy", rtol=1e-6, column_atol=(("m_yy", 1.0),), columns="sample")
    assert _aligned(work, aligned, tight).status == "values"


def test_without_an_input_beside_it_the_output_is_in_the_golden_order(aligned: tuple[Path, Path, Path]) -> None:
    _, _, work = aligned
    np.save(work / "arrays/scores.npy", np.array([0.1, 0.2, 0.3, 0.4]))
    assert _aligned(work, aligned, None).status == "pass"
    np.save(work / "solution/arrays/rows.npy", np.zeros((4, 3)))  # another shape: not the rows of this output
    assert _aligned(work, aligned, None).status == "pass"
    assert compare_aligned_files(work, aligned[0], SCORES, "missing.npy", aligned[1], None).status == "pass"


def test_values_whose_difference_overflows_differ_without_a_warning() -> None:
    result = compare_arrays(np.array([1e308]), np.array([-1e308]), CHECK)
    assert (result.status, result.max_diff) == ("values", INF)


def test_unmatched_rows_are_counted_out_of_all_rows() -> None:
    reference = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    generated = reference[[2, 1, 0]].copy()
    generated[1, 1] = 25.0
    result = compare_arrays(generated, reference, ANY)
    assert (result.mismatches, result.total) == (1, 3)


def test_sort_rows_orders_lexicographically_with_nan_last() -> None:
    from pytest_hepagent.compare.arrays import sort_rows

    a = np.array([[2.0, 1.0], [1.0, NAN], [1.0, 0.0]])
    assert np.array_equal(sort_rows(a), np.array([[1.0, 0.0], [1.0, NAN], [2.0, 1.0]]), equal_nan=True)
    assert sort_rows(np.array([3.0, NAN, 1.0])).tolist()[:2] == [1.0, 3.0]


def test_input_rows_are_matched_with_the_producing_steps_column_tolerance(aligned: tuple[Path, Path, Path]) -> None:
    _, rows, work = aligned
    moved = np.load(rows)[[1, 0, 2, 3]]
    moved[:, 0] += 0.5  # every row's first column off by 0.5: within that column's absolute tolerance only
    np.save(work / "solution/arrays/rows.npy", moved)
    np.save(work / "arrays/scores.npy", np.array([0.2, 0.1, 0.3, 0.4]))
    producer = OutputCheck("arrays/rows.npy", rtol=1e-9, columns="sample", column_atol=(("m_yy", 1.0),))
    assert _aligned(work, aligned, producer).status == "pass"
