"""The reference analysis of the five steps (vectorized numpy/awkward).

The re-exports load lazily: importing a light submodule must not pull in awkward, uproot and scikit-learn.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_reference", "run_step", "step_by_name"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pytest_hepagent.analysis import reference

        return getattr(reference, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
