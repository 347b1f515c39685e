"""Running generated code: the trial folder and the confined execution."""

from __future__ import annotations

from pytest_hepagent.sandbox.isolation import Limits
from pytest_hepagent.sandbox.layout import prepare_trial_dir
from pytest_hepagent.sandbox.runner import ExecutionResult, isolation_level, run_confined

__all__ = ["ExecutionResult", "Limits", "isolation_level", "prepare_trial_dir", "run_confined"]
