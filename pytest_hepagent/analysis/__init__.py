"""The reference analysis of the five steps (vectorized numpy/awkward)."""

from __future__ import annotations

from pytest_hepagent.analysis.reference import STEPS, Step, run_reference, run_step, step_by_name

__all__ = ["STEPS", "Step", "run_reference", "run_step", "step_by_name"]
