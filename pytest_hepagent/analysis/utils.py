"""The helper module a trial imports as `utils.py` (`from utils import *`), as in the paper's reference workflow.

A trial directory gets a `utils.py` that re-exports this module, so agents call exactly the reference helpers.
"""

from __future__ import annotations

from pathlib import Path

from pytest_hepagent.analysis.categorization import get_significance, load_datasets, place_boundary
from pytest_hepagent.analysis.separation import train_and_score

__all__ = ["get_significance", "load_datasets", "place_boundary", "train_and_score"]
"""What `from utils import *` gives a trial."""

_SHIM = '''"""Helpers provided to this trial (see pytest_hepagent.analysis.utils)."""
from pytest_hepagent.analysis.utils import *  # noqa: F403
from pytest_hepagent.analysis.utils import __all__  # noqa: F401
'''


def write_trial_utils(directory: Path) -> Path:
    """Write `utils.py` into a trial directory so `from utils import *` gives these helpers."""
    path = Path(directory) / "utils.py"
    path.write_text(_SHIM)
    return path
