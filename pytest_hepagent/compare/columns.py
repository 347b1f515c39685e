"""Named column sets of 2-D outputs, for per-column tolerances and diagnostics (light: no numpy, no awkward)."""

from __future__ import annotations

from pytest_hepagent.analysis.columns import NTUPLE_COLUMNS, SAMPLE_COLUMNS

__all__ = ["COLUMN_SETS", "column_names"]

COLUMN_SETS = {"ntuple": NTUPLE_COLUMNS, "sample": SAMPLE_COLUMNS}


def column_names(kind: str | None) -> tuple[str, ...]:
    """The columns of a named set (`ntuple`, `sample`); () for none."""
    return COLUMN_SETS.get(kind or "", ())
