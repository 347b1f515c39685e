"""Step 4, signal/background separation: the classifier helper trials call from `utils.py`, and its backends.

The classifier (`train_and_score`, two-fold cross-fitted on the photon observables of the paper's appendix A.1) lives
in `utils.py`, the standalone module every trial imports; see its docstring for the backends. Here the harness
side: `resolve_backend` raises the project's one-line `HepAgentError` for the command line.
"""

from __future__ import annotations

from pathlib import Path

from pytest_hepagent.analysis import utils
from pytest_hepagent.analysis.utils import (
    BACKENDS,
    FEATURES,
    HGB_PARAMS,
    SEED,
    TABPFN_TRAIN_EVENTS,
    TRAIN_WEIGHT,
    Scores,
    find_tabpfn_weights,
    train_and_score,
)
from pytest_hepagent.errors import HepAgentError

__all__ = [
    "BACKENDS",
    "FEATURES",
    "HGB_PARAMS",
    "SEED",
    "TABPFN_TRAIN_EVENTS",
    "TRAIN_WEIGHT",
    "Scores",
    "find_tabpfn_weights",
    "resolve_backend",
    "train_and_score",
]


def resolve_backend(backend: str = "auto", model_path: Path | None = None) -> tuple[str, Path | None]:
    """('tabpfn', weights) or ('hgb', None); asking for tabpfn without weights is an error that says what to do."""
    try:
        return utils.resolve_backend(backend, model_path)
    except utils.HelperError as exc:
        raise HepAgentError(str(exc)) from None
