"""Where chained runs break, and whether a step does worse on the agent's own outputs than on the reference's.

A chain runs the steps in order, each on what the agent wrote in the earlier ones, and stops at the first step that
does not pass. Per model and step this gives how many chains reached the step and how many of those passed it: the
step's success in the chain. Beside it, the step's success in isolation (on the reference inputs: the run's own
unchained trials, or a companion run's), their difference with Newcombe's interval and Fisher's exact p, the chains
still whole after the step, and what independent steps at their isolated rates would leave whole (the product of
the isolated successes): a chain that breaks more often than that carries errors from step to step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pytest_hepagent.matrix.cells import cells_from_records, chains_by_model
from pytest_hepagent.records import Outcome, TrialRecord, latest_records
from pytest_hepagent.stats import fisher_pvalue, newcombe_difference

__all__ = ["Propagation", "StepInChain", "propagation"]


@dataclass(frozen=True)
class StepInChain:
    step: str
    reached: int
    """Chains that ran this step to a judged outcome (every earlier step passed)."""
    passed: int
    whole: int
    """Chains that passed every step up to and including this one."""
    isolated_passed: int | None = None
    isolated_total: int | None = None
    """The step's success in isolation (None: no isolated trials of this model and step)."""
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    """In chain minus in isolation, with Newcombe's 95% interval."""
    p_value: float | None = None
    """Fisher's exact two-sided test of the difference."""
    expected_whole: float | None = None
    """The share of chains independent steps at their isolated success would leave whole after this step."""

    @property
    def broken(self) -> int:
        """Chains that broke here."""
        return self.reached - self.passed

    @property
    def fraction(self) -> float:
        return self.passed / self.reached if self.reached else 0.0

    @property
    def isolated_fraction(self) -> float | None:
        if not self.isolated_total:
            return None
        return (self.isolated_passed or 0) / self.isolated_total


@dataclass(frozen=True)
class Propagation:
    model: str
    chains: int
    """Chains with a judged end."""
    steps: tuple[StepInChain, ...]
    errors: int = 0
    """Chains left out: they ended in an infrastructure error."""


def propagation(records: Iterable[TrialRecord], isolated: Iterable[TrialRecord] | None = None) -> list[Propagation]:
    """The error-propagation matrix of each model with chained trials in `records`. The isolated successes come from
    `isolated` when given (a companion run), else from the unchained trials of `records`. Chains that ended in an
    infrastructure error are left out."""
    records = list(records)
    chains, errors = chains_by_model(records)
    alone = latest_records(isolated if isolated is not None else records)
    cells = {(c.model, c.step): c for c in cells_from_records([r for r in alone if r.chain is None])}
    out = []
    for model in sorted(set(chains) | set(errors)):
        judged = chains.get(model, [])
        order = _step_order(judged)
        rows = []
        expected: float | None = 1.0
        for step in order:
            at = [r for links in judged for r in links if r.step == step and r.judged]
            passed = sum(r.outcome is Outcome.PASSED for r in at)
            whole = sum(all(_passed(links, s) for s in order[: order.index(step) + 1]) for links in judged)
            cell = cells.get((model, step))
            if cell is None or cell.total == 0:
                expected = None
                rows.append(StepInChain(step, len(at), passed, whole))
                continue
            expected = expected * cell.fraction if expected is not None else None
            difference, low, high = newcombe_difference(passed, len(at), cell.passed, cell.total)
            rows.append(
                StepInChain(
                    step,
                    len(at),
                    passed,
                    whole,
                    cell.passed,
                    cell.total,
                    difference if at else None,
                    low if at else None,
                    high if at else None,
                    fisher_pvalue(passed, len(at), cell.passed, cell.total) if at else None,
                    expected,
                )
            )
        out.append(Propagation(model, len(judged), tuple(rows), errors.get(model, 0)))
    return out


def _passed(links: Sequence[TrialRecord], step: str) -> bool:
    return any(r.step == step and r.outcome is Outcome.PASSED for r in links)


def _step_order(chains: Iterable[list[TrialRecord]]) -> list[str]:
    """The steps of the chains in their order (every chain of a run has the same steps)."""
    for links in chains:
        for r in links:
            if r.chain is not None:
                return list(r.chain.steps)
    return []
