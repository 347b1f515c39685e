"""Tolerance-aware comparison of numpy outputs: shape, NaN mask, then |gen - ref| <= atol + rtol * |ref|."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pytest_hepagent.compare.result import ColumnStats, Mismatch, OutputResult
from pytest_hepagent.compare.untrusted import UnreadableOutput, read_npy, read_npy_header
from pytest_hepagent.sandbox.trial_files import UnsafeFile
from pytest_hepagent.specs import OutputCheck

__all__ = ["FIRST_MISMATCHES", "compare_array_files", "compare_arrays", "sort_rows"]

FIRST_MISMATCHES = 10


def sort_rows(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rows in a canonical order (lexicographic on all columns, NaN last), for row-order-insensitive checks."""
    if a.ndim == 1:
        return np.sort(a)
    flat = a.reshape(a.shape[0], -1)
    order = np.lexsort(flat.T[::-1])
    return a[order]


def _load_reference(path: Path) -> NDArray[np.float64]:
    """A golden array (trusted: written by the reference analysis)."""
    return np.asarray(np.load(path, allow_pickle=False), dtype=np.float64)


def _bitwise_equal(a: NDArray[np.float64], b: NDArray[np.float64]) -> bool:
    """Identical bits (NaNs included), compared as integers in one pass."""
    if not (a.flags.c_contiguous and b.flags.c_contiguous):
        return False
    return bool(np.array_equal(a.view(np.uint64), b.view(np.uint64)))


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
    if check.row_order == "any" and generated.ndim >= 1:
        generated, reference = sort_rows(generated), sort_rows(reference)
    gen_nan, ref_nan = np.isnan(generated), np.isnan(reference)
    nan_equal = bool(np.array_equal(gen_nan, ref_nan))
    both = ~gen_nan & ~ref_nan
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(both, np.abs(generated - reference), 0.0)
        # An infinity matches only the same infinity (a relative tolerance of inf would accept anything).
        infinite = both & (np.isinf(reference) | np.isinf(generated))
        close = np.where(infinite, generated == reference, diff <= check.atol + check.rtol * np.abs(reference))
        diff = np.where(infinite & close, 0.0, diff)
        bad = both & ~close
    bad |= gen_nan != ref_nan
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
    """Compare the trial's `work/<check.path>` with the golden `reference`, reading the trial's file as hostile:
    its header first, and its data only when its shape is the reference's (so never more than the golden's size)."""
    ref = _load_reference(reference)
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
    return compare_arrays(generated, ref, check, column_names)
