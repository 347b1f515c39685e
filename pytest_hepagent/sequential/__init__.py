"""The gate's statistics for trials that come in rounds: exact group-sequential boundaries of its two one-sided
tests (a drop shown, a drop of the margin ruled out) and the design they serve. numpy and scipy only."""

from __future__ import annotations

from pytest_hepagent.sequential.boundaries import Boundaries, boundaries, drop_pvalue, margin_pvalue, single_look
from pytest_hepagent.sequential.design import (
    DEFAULT_MARGIN,
    DEFAULT_MAX_TRIALS,
    DEFAULT_ROUND_TRIALS,
    CellDecision,
    decide,
    schedule,
)

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_MAX_TRIALS",
    "DEFAULT_ROUND_TRIALS",
    "Boundaries",
    "CellDecision",
    "boundaries",
    "decide",
    "drop_pvalue",
    "margin_pvalue",
    "schedule",
    "single_look",
]
