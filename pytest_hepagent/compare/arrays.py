"""Tolerance-aware comparison of numpy outputs: shape, NaN mask, then |gen - ref| <= atol + rtol * |ref|."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pytest_hepagent.compare.result import ColumnStats, Mismatch, OutputResult
from pytest_hepagent.compare.rows import match_rows, within
from pytest_hepagent.sandbox.trial_files import UnsafeFile
from pytest_hepagent.sandbox.untrusted import UnreadableOutput, read_npy, read_npy_header
from pytest_hepagent.specs import OutputCheck

__all__ = ["FIRST_MISMATCHES", "compare_array_files", "compare_arrays", "sort_rows"]

FIRST_MISMATCHES = 10


def sort_rows(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rows in a canonical order (lexicographic on all columns, NaN last), for row-order-insensitive checks."""
    return a[_row_order(a)]


def _row_order(a: NDArray[np.float64]) -> NDArray[np.intp]:
    return np.lexsort(a.reshape(a.shape[0], -1).T[::-1])


def _load_reference(path: Path) -> NDArray[np.float64]:
    """A golden array (trusted: written by the reference analysis)."""
    return np.asarray(np.load(path, allow_pickle=False), dtype=np.float64)


def _bitwise_equal(a: NDArray[np.float64], b: NDArray[np.float64]) -> bool:
    """Identical bits (NaNs included), compared as integers in one pass."""
    if not (a.flags.c_contiguous and b.flags.c_contiguous):
        return False
    return bool(np.array_equal(a.view(np.uint64), b.view(np.uint64)))


def _atol(check: OutputCheck, column_names: Sequence[str], width: int) -> NDArray[np.float64]:
    """The absolute tolerance of each column (the output's `atol`, or a column's own)."""
    atol = np.full(width, check.atol)
    for name, value in check.column_atol:
        if name in column_names:
            atol[list(column_names).index(name)] = value
    return atol


def compare_arrays(
    generated: NDArray[np.float64], reference: NDArray[np.float64], check: OutputCheck, column_names: Sequence[str] = ()
) -> OutputResult:
    base = OutputResult(
        check.path,
        "shape",
        generated_shape=tuple(generated.shape),
        reference_shape=tuple(reference.shape),
        rtol=check.rtol,
        atol=check.atol,
        row_order=check.row_order,
        total=int(reference.size),
    )
    if generated.shape != reference.shape:
        return replace(base, message=f"shape {generated.shape} vs reference {reference.shape}")
    if _bitwise_equal(generated, reference):
        return replace(base, status="pass")  # the common case, in one pass instead of the full diagnosis
    atol = _atol(check, column_names, generated.shape[-1]) if generated.ndim == 2 else np.float64(check.atol)
    if check.row_order == "any" and generated.ndim == 2 and generated.shape[0]:
        match = match_rows(generated, reference, check.rtol, np.asarray(atol))
        unmatched = np.flatnonzero(match.pairs < 0)
        if unmatched.size == 0:
            diff = np.abs(generated - reference[match.pairs])
            return replace(base, status="pass", max_diff=float(np.nanmax(diff, initial=0.0)))
        # Diagnose the rows without a partner against the reference rows left over, in sorted order.
        spare = np.setdiff1d(np.arange(reference.shape[0]), match.pairs[match.pairs >= 0])
        unmatched = unmatched[_row_order(generated[unmatched])]  # sorted, and still naming the generated rows
        rows = _elementwise(generated[unmatched], sort_rows(reference[spare]), check, atol, column_names)
        return replace(
            rows,
            path=check.path,
            generated_shape=tuple(generated.shape),
            reference_shape=tuple(reference.shape),
            total=int(reference.shape[0]),
            mismatches=int(unmatched.size),
            message=f"{unmatched.size}/{reference.shape[0]} rows have no partner within tolerance in the reference "
            f"(rows may come in any order)",
            first=tuple(replace(m, index=(int(unmatched[m.index[0]]), *m.index[1:])) for m in rows.first),
        )
    return _elementwise(generated, reference, check, atol, column_names)


def _elementwise(
    generated: NDArray[np.float64],
    reference: NDArray[np.float64],
    check: OutputCheck,
    atol: NDArray[np.float64] | np.float64,
    column_names: Sequence[str],
) -> OutputResult:
    base = OutputResult(
        check.path,
        "values",
        generated_shape=tuple(generated.shape),
        reference_shape=tuple(reference.shape),
        rtol=check.rtol,
        atol=check.atol,
        row_order=check.row_order,
        total=int(reference.size),
    )
    gen_nan, ref_nan = np.isnan(generated), np.isnan(reference)
    nan_equal = bool(np.array_equal(gen_nan, ref_nan))
    both = ~gen_nan & ~ref_nan
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(both, np.abs(generated - reference), 0.0)
    close = within(generated, reference, check.rtol, atol)
    infinite = both & (np.isinf(reference) | np.isinf(generated))
    diff = np.where(infinite & close, 0.0, diff)
    bad = ~close
    n_bad = int(bad.sum())
    if n_bad == 0:
        return replace(base, status="pass", max_diff=float(diff.max(initial=0.0)))
    compared = diff[both]  # the paper's diff stats run over every element compared, not only the mismatches
    first = tuple(
        Mismatch(tuple(int(i) for i in idx), float(generated[tuple(idx)]), float(reference[tuple(idx)]))
        for idx in np.argwhere(bad)[:FIRST_MISMATCHES]
    )
    columns: tuple[ColumnStats, ...] = ()
    if generated.ndim == 2:
        per_col = bad.sum(axis=0)
        columns = tuple(
            ColumnStats(
                int(j),
                column_names[int(j)] if j < len(column_names) else f"col{j}",
                int(per_col[j]),
                float(np.max(diff[:, j][bad[:, j]], initial=0.0)),
            )
            for j in np.flatnonzero(per_col)
        )
    return replace(
        base,
        status="values" if nan_equal else "nan_mask",
        message=f"{n_bad}/{reference.size} elements differ" + ("" if nan_equal else " (NaN masks differ)"),
        mismatches=n_bad,
        nan_mask_equal=nan_equal,
        max_diff=float(compared.max(initial=0.0)),
        mean_diff=float(compared.mean()) if compared.size else 0.0,
        first=first,
        columns=columns,
    )


def compare_array_files(
    work: Path, reference: Path, check: OutputCheck, column_names: Sequence[str] = ()
) -> OutputResult:
    """Compare the trial's `work/<check.path>` with the golden `reference`, reading the trial's file as hostile."""
    ref = _load_reference(reference)
    generated = _read_output(work, check, ref)
    if isinstance(generated, OutputResult):
        return generated
    return compare_arrays(generated, ref, check, column_names)


def _read_output(work: Path, check: OutputCheck, ref: NDArray[np.float64]) -> NDArray[np.float64] | OutputResult:
    """The trial's output as an array, or the result that says why it is none: its header is read first, and its
    data only when its shape is the reference's (so never more than the golden's size)."""
    try:
        header = read_npy_header(work, check.path)
        if header.shape != ref.shape:
            base = OutputResult(check.path, "shape", generated_shape=header.shape, reference_shape=tuple(ref.shape))
            return replace(base, message=f"shape {header.shape} vs reference {tuple(ref.shape)}", total=int(ref.size))
        generated = read_npy(work, check.path, max_elements=int(ref.size))
    except FileNotFoundError:
        return OutputResult(check.path, "missing", f"{check.path} was not produced")
    except (UnsafeFile, UnreadableOutput) as exc:
        return OutputResult(check.path, "unreadable", str(exc))
    return generated


def compare_aligned_files(
    work: Path,
    reference: Path,
    check: OutputCheck,
    input_rel: str,
    reference_input: Path,
    producer: OutputCheck | None,
) -> OutputResult:
    """Compare an output whose rows belong to the rows of an input (`check.aligned_with`): when the trial's input
    is the golden one, element by element; when it holds the same rows in another order (a chain after a step
    whose row order is free), after putting the output in the golden input's row order. The input's rows are
    matched within the tolerance of the step that produced them (`producer`; exactly when unknown)."""
    ref = _load_reference(reference)
    golden_rows = _load_reference(reference_input)
    generated = _read_output(work, check, ref)
    if isinstance(generated, OutputResult):
        return generated
    try:
        rows = read_npy(work, input_rel, max_elements=int(golden_rows.size))
    except (OSError, UnsafeFile, UnreadableOutput):  # no input beside it: the golden input's order is the order
        rows = golden_rows
    if rows.shape == golden_rows.shape and not _bitwise_equal(rows, golden_rows) and rows.ndim == 2:
        from pytest_hepagent.analysis.columns import column_names

        rtol = producer.rtol if producer else 0.0
        atol = _atol(producer, column_names(producer.columns), rows.shape[1]) if producer else np.zeros(rows.shape[1])
        match = match_rows(rows, golden_rows, rtol, atol)
        if match.matched:  # the same events in another order: judge the output in the golden order
            reordered = np.empty_like(generated)
            reordered[match.pairs] = generated
            generated = reordered
    return compare_arrays(generated, ref, check)
