"""The helper module a trial imports as `utils.py` (`from utils import *`), as in the paper's reference workflow.

A trial directory gets a `utils.py` that re-exports this module, so agents call exactly the reference helpers.
"""

from __future__ import annotations

from pytest_hepagent.analysis.categorization import get_significance, load_datasets, place_boundary
from pytest_hepagent.analysis.separation import train_and_score

__all__ = ["get_significance", "load_datasets", "place_boundary", "train_and_score"]
