"""Step 5, categorization: the reference procedure of the paper's appendix B.1 over the trial helpers.

The helpers (`load_datasets`, `get_significance`, `place_boundary`, and `significance`, `ScoredSample`) live in
`utils.py`, the standalone module every trial imports; see its docstring for their definitions.

- `categorize(...)`: the reference procedure. Start from [0, 1] with the null-selection significance as the first
  entry of the significance array (appendix B.3), add boundaries until the relative gain of the latest one is below
  5%, and keep that last boundary.
"""

from __future__ import annotations

import numpy as np

from pytest_hepagent.analysis.utils import (
    F64,
    ScoredSample,
    get_significance,
    load_datasets,
    place_boundary,
    significance,
)

__all__ = [
    "MIN_EVENTS",
    "NUM_BINS",
    "THRESHOLD",
    "ScoredSample",
    "categorize",
    "get_significance",
    "load_datasets",
    "place_boundary",
    "significance",
]

NUM_BINS = 1000
MIN_EVENTS = 10
THRESHOLD = 0.05


def categorize(
    signal_df: ScoredSample,
    bkgd_df: ScoredSample,
    num_bins: int = NUM_BINS,
    min_events: int = MIN_EVENTS,
    threshold: float = THRESHOLD,
) -> tuple[F64, F64]:
    """The reference procedure: (boundaries, significances), significances[0] being the null selection's."""
    boundaries = [0.0, 1.0]
    significances = [get_significance(signal_df, bkgd_df, boundaries)]
    while True:
        new_boundary, new_z = place_boundary(signal_df, bkgd_df, boundaries, num_bins, min_events)
        if np.isnan(new_boundary):
            break
        boundaries = sorted([*boundaries, new_boundary])
        old_z = significances[-1]
        significances.append(new_z)
        if old_z <= 0 or (new_z - old_z) / old_z < threshold:
            break
    return np.asarray(boundaries, dtype=np.float64), np.asarray(significances, dtype=np.float64)
