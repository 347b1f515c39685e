"""A run's aggregates as `summary.json` stores them: one cell per model x step, the gate's verdicts, the settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_hepagent.stats import (
    Interval,
    binomial_error,
    clopper_pearson_interval,
    interval,
    pass_at_k,
    pass_hat_k,
    rule_of_three,
    wilson_interval,
)

__all__ = ["PASS_K", "SUMMARY_VERSION", "Cell", "RunSummary", "SuccessRate", "Verdict"]

SUMMARY_VERSION = 1
PASS_K = (1, 3, 5)
"""The k of pass@k and pass^k a cell reports (where it has at least k judged trials)."""


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

    def interval_by(self, method: Interval) -> tuple[float, float]:
        """The 95% interval `method` names (wilson or clopper-pearson)."""
        return interval(self.passed, self.total, method)

    @property
    def rule_of_three(self) -> tuple[float, float] | None:
        """At 0/n and n/n, the rule of three's one-sided 95% bound; None in between."""
        return rule_of_three(self.passed, self.total)

    def pass_at(self, k: int) -> float | None:
        """Unbiased pass@k (at least one of k trials passes); None with fewer than k trials."""
        return pass_at_k(self.passed, self.total, k)

    def pass_hat(self, k: int) -> float | None:
        """Unbiased pass^k (all k trials pass); None with fewer than k trials."""
        return pass_hat_k(self.passed, self.total, k)


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
    first_passed: int = 0
    """Passed on the coder's first script (one attempt): what the task gets without the supervisor's
    self-correction loop. The others of `passed` were rescued by a later attempt."""
    looks: tuple[tuple[int, int], ...] = ()
    """A gated run's sequential cell: (passed, judged) after each round, cumulative; empty for a single look at
    all the cell's trials."""
    max_trials: int | None = None
    """With `looks`: the most trials the cell could get (`--hep-max-trials`)."""

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

    @property
    def interval_errors_failed(self) -> tuple[float, float]:
        """The 95% Wilson interval of the success with errors counted as failures."""
        return wilson_interval(self.passed, self.started)

    @property
    def first_fraction(self) -> float:
        """Success on the first attempt, over the judged trials."""
        return self.first_passed / self.total if self.total else 0.0

    @property
    def self_correction(self) -> tuple[float, float, float]:
        """What the self-correction loop adds: final minus first-attempt success, with its 95% interval.

        First-attempt success implies final success, so the difference is the share of trials a later attempt
        rescued, a binomial fraction of the same trials: its Wilson interval is the paired difference's."""
        rescued = self.passed - self.first_passed
        low, high = wilson_interval(rescued, self.total)
        return (rescued / self.total if self.total else 0.0), low, high

    @property
    def cost_per_success(self) -> float | None:
        """Everything the cell spent (errors and failures too) per passed trial; None without a pass."""
        return self.cost_usd / self.passed if self.passed else None

    def to_json(self) -> dict[str, Any]:
        """The stored form: the fields, then the derived numbers for readers without this class."""
        gain, gain_low, gain_high = self.self_correction
        bound = self.rule_of_three
        return asdict(self) | {
            "total": self.total,
            "fraction": self.fraction,
            "binomial_error": self.error,
            "wilson_95": list(self.interval),
            "clopper_pearson_95": list(clopper_pearson_interval(self.passed, self.total)),
            "rule_of_three_95": list(bound) if bound is not None else None,
            "pass_at_k": {str(k): v for k in PASS_K if (v := self.pass_at(k)) is not None},
            "pass_hat_k": {str(k): v for k in PASS_K if (v := self.pass_hat(k)) is not None},
            "first_attempt_fraction": self.first_fraction,
            "self_correction": {"difference": gain, "wilson_95": [gain_low, gain_high]},
            "cost_per_success_usd": self.cost_per_success,
            "started": self.started,
            "fraction_errors_as_failures": self.fraction_errors_failed,
            "wilson_95_errors_as_failures": list(self.interval_errors_failed),
        }


@dataclass(frozen=True)
class Verdict:
    """The CI gate's verdict on one cell against the baseline, or on a model over its steps (step `all steps`)."""

    model: str
    step: str
    verdict: str
    """REGRESSED (a drop is shown), OK (a drop of the margin or more is ruled out), UNDECIDED (neither), NEW (no
    baseline cell), MISSING (a baseline cell the run has no trial of); a model over its steps: REGRESSED or NO DROP.
    Summaries written before the margin say INCONCLUSIVE for UNDECIDED."""
    passed: int
    total: int
    """The run's trials the verdict rests on: at the look that decided, or the last."""
    base_passed: int
    base_total: int
    p_value: float
    """The one-sided exact p-value of a drop at that look, as if it were the only one (descriptive: the verdict
    comes from the boundaries, which spend the level over the looks)."""
    reason: str
    p_adjusted: float | None = None
    """`p_value` times the tests of the family (Bonferroni), at most 1; equal to it with `--hep-adjust none`."""
    detectable_drop: float | None = None
    """The smallest drop from the baseline's success that this many trials (against the baseline's) show as
    REGRESSED with 80% power in a single look at `level`; None when no drop could be."""
    target_drop: float | None = None
    """The margin: the drop OK rules out (`--hep-detect-drop`)."""
    trials_needed: int | None = None
    """Trials per cell, in both runs, that show a drop of `target_drop` with 80% power in a single look at
    `level` (None: more than 2,000)."""
    round: int | None = None
    """The round (1-based) whose look decided the cell, or its last."""
    level: float | None = None
    """One test's share of the family-wise level: what each side of this cell may spend over its looks."""
    regressed_at_most: int | None = None
    """At that look: the most passes that are REGRESSED (-1: none could be)."""
    ok_from: int | None = None
    """At that look: the fewest passes that are OK (None: none could be)."""
    baseline_needed: int | None = None
    """When the baseline is too uncertain for OK: the baseline trials, at its success, that would allow it."""
    trials_to_decide: int | None = None
    """For UNDECIDED: about how many trials in all, at the cell's success, would decide it."""


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
    gate_line: str | None = None
    """The gate's one-line decision (`gate: PASS|FAIL (exit N): ...`); None without a baseline."""

    @property
    def total_cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.cells)

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {
            "cells": [c.to_json() for c in self.cells],
            "gate": [asdict(v) for v in self.gate] if self.gate is not None else None,
            "total_cost_usd": self.total_cost_usd,
        }
