"""Row-order-free comparison within tolerance: every generated row paired with its own reference row.

Sorting both arrays and comparing element by element is not enough when rows are free to come in any order: two
events closer in the sort key than the tolerance swap places under any valid rounding (in the golden signal, more
than half the events have a neighbour within 1 ppm in m_yy), and the element-wise comparison then sees mismatches
where there are none. Here each generated row gets as candidates the reference rows whose sort key is within
tolerance (found by binary search), keeps those that match in every column, and a maximum bipartite matching
(Hopcroft-Karp, scipy) decides whether every row has a partner of its own. A wrong row has none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["RowMatch", "match_rows", "within"]

F64 = NDArray[np.float64]
CANDIDATES_PER_ROW = 16
"""Beyond this many candidate pairs per row on average (rows identical in the key), the key cannot separate them:
the rows are then compared in sorted order instead, which is exact for identical rows."""


def within(generated: F64, reference: F64, rtol: float, atol: F64 | float) -> NDArray[np.bool_]:
    """Element-wise: equal within `atol + rtol * |reference|`; NaN only matches NaN, infinity only itself."""
    with np.errstate(invalid="ignore", over="ignore"):
        both_nan = np.isnan(generated) & np.isnan(reference)
        infinite = np.isinf(generated) | np.isinf(reference)
        close = np.abs(generated - reference) <= atol + rtol * np.abs(reference)
    return both_nan | np.where(infinite, generated == reference, close)


@dataclass(frozen=True)
class RowMatch:
    matched: bool
    pairs: NDArray[np.intp]
    """For each generated row, the reference row it is paired with, or -1."""


def _key_column(reference: F64) -> int:
    """The column that best separates rows: finite everywhere, most distinct values."""
    best, best_distinct = 0, -1
    for j in range(reference.shape[1]):
        column = reference[:, j]
        if np.isfinite(column).all():
            distinct = np.unique(column).size
            if distinct > best_distinct:
                best, best_distinct = j, distinct
    return best


def match_rows(generated: F64, reference: F64, rtol: float, atol: F64) -> RowMatch:
    """Pair the rows of two (n, d) arrays within tolerance, in any order (see the module docstring)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    n = reference.shape[0]
    key = _key_column(reference)
    order = np.argsort(reference[:, key], kind="stable")
    ref_key = reference[order, key]
    gen_key = generated[:, key]
    finite = np.isfinite(gen_key)
    half = np.where(finite, (atol[key] + rtol * np.abs(np.where(finite, gen_key, 0.0))) / (1.0 - rtol), 0.0)
    low = np.where(finite, np.searchsorted(ref_key, gen_key - half, side="left"), 0)
    high = np.where(finite, np.searchsorted(ref_key, gen_key + half, side="right"), 0)
    counts = high - low
    total = int(counts.sum())
    if total > CANDIDATES_PER_ROW * max(n, 1):
        return _sorted_match(generated, reference, rtol, atol)
    rows = np.repeat(np.arange(n), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    cols = order[np.repeat(low, counts) + offsets]
    ok = within(generated[rows], reference[cols], rtol, atol).all(axis=1)
    rows, cols = rows[ok], cols[ok]
    graph = csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n, n))
    pairs = np.asarray(maximum_bipartite_matching(graph, perm_type="column"), dtype=np.intp)
    return RowMatch(bool((pairs >= 0).all()), pairs)


def _sorted_match(generated: F64, reference: F64, rtol: float, atol: F64) -> RowMatch:
    """Rows paired by their rank in a lexicographic sort (for rows the key cannot tell apart)."""
    gen_order = np.lexsort(generated.T[::-1])
    ref_order = np.lexsort(reference.T[::-1])
    ok = within(generated[gen_order], reference[ref_order], rtol, atol).all(axis=1)
    pairs = np.full(reference.shape[0], -1, dtype=np.intp)
    pairs[gen_order[ok]] = ref_order[ok]
    return RowMatch(bool(ok.all()), pairs)
