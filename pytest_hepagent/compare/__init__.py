"""Comparing trial outputs with golden outputs, and the validation log."""

from __future__ import annotations

from pytest_hepagent.compare.arrays import compare_arrays, sort_rows
from pytest_hepagent.compare.result import ColumnStats, Mismatch, OutputResult
from pytest_hepagent.compare.summary import compare_summaries
from pytest_hepagent.compare.validation import StepValidation, validate_step

__all__ = [
    "ColumnStats",
    "Mismatch",
    "OutputResult",
    "StepValidation",
    "compare_arrays",
    "compare_summaries",
    "sort_rows",
    "validate_step",
]
