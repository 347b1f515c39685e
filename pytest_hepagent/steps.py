"""The five steps' names, in order: the one light list the plugin, config and tables use.

`analysis.reference.STEPS` carries each step's function and outputs; importing it loads awkward, uproot and
scikit-learn, which the plugin and its xdist workers should not pay for just to know the names.
"""

from __future__ import annotations

__all__ = ["STEP_NAMES"]

STEP_NAMES: tuple[str, ...] = (
    "root_inspection",
    "ntuple_conversion",
    "preprocessing",
    "sb_separation",
    "categorization",
)
