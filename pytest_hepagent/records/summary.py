"""A run's aggregates as `summary.json` stores them: one cell per model x step, the gate's verdicts, the settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_hepagent.stats import binomial_error, wilson_interval

__all__ = ["SUMMARY_VERSION", "Cell", "RunSummary", "SuccessRate", "Verdict"]

SUMMARY_VERSION = 1


class SuccessRate:
    """A success fraction with the paper's binomial error and the 95% Wilson interval, from `passed` of `total`
    (a cell of one step, or a model's chains)."""

    if TYPE_CHECKING:  # provided by the subclasses, as a field or a property
        passed: int

        @property
        def total(self) -> int: ...

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total else 0.0

    @property
    def error(self) -> float:
        """The paper's binomial error of the fraction."""
        return binomial_error(self.passed, self.total)

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% Wilson interval of the fraction."""
        return wilson_interval(self.passed, self.total)


@dataclass(frozen=True)
class Cell(SuccessRate):
    """One model x step of a run: its trials by outcome and their means and sums."""

    model: str
    step: str
    passed: int
    failed: int
    errors: int
    """Infrastructure errors: not counted in the success fraction."""
    mean_api_calls: float
    mean_agent_work: float
    tokens: int
    cost_usd: float

    @property
    def total(self) -> int:
        """The judged trials: passed or failed."""
        return self.passed + self.failed

    @property
    def started(self) -> int:
        """Every trial that started: passed, failed or ended in an error."""
        return self.total + self.errors

    @property
    def fraction_errors_failed(self) -> float:
        """Success with infrastructure errors counted as failures: what a run that errors a lot really shows."""
        return self.passed / self.started if self.started else 0.0

    def to_json(self) -> dict[str, Any]:
        """The stored form: the fields, then the derived numbers for readers without this class."""
        return asdict(self) | {
            "total": self.total,
            "fraction": self.fraction,
            "binomial_error": self.error,
            "wilson_95": list(self.interval),
            "started": self.started,
            "fraction_errors_as_failures": self.fraction_errors_failed,
        }


@dataclass(frozen=True)
class Verdict:
    """The CI gate's verdict on one cell against the baseline."""

    model: str
    step: str
    verdict: str
    """OK, REGRESSED, INCONCLUSIVE or NEW (no baseline cell)."""
    passed: int
    total: int
    base_passed: int
    base_total: int
    p_value: float
    reason: str


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    cells: tuple[Cell, ...]
    gate: tuple[Verdict, ...] | None = None
    """None when the run had no baseline."""
    schema_version: int = SUMMARY_VERSION
    config: dict[str, Any] = field(default_factory=dict)
    """The run's settings (BenchmarkConfig.describe())."""
    hashes: dict[str, str] = field(default_factory=dict)
    run_dir: str = ""
    harness_version: str = ""
    dataset: dict[str, str] | None = None
    """kind (synthetic or real) and path."""
    sb_backend: str | None = None
    """The separation backend of the goldens (tabpfn or the fallback)."""

    @property
    def total_cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.cells)

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {
            "cells": [c.to_json() for c in self.cells],
            "gate": [asdict(v) for v in self.gate] if self.gate is not None else None,
            "total_cost_usd": self.total_cost_usd,
        }
