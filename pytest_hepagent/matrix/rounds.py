"""Rounds of a gated run: which round each trial belongs to, and whether a cell still needs the next one.

With a baseline, every cell first gets its first round of trials; after that, a round's trials run only for the
cells the gate has not decided, in the order of the rounds, so a cell stops as soon as its verdict is known (or no
remaining round could change it). Every process of a run (pytest-xdist workers too) decides a trial's fate the same
way, from the run's stored records, once the earlier rounds' trials of its cell have ended.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from pytest_hepagent.records import Cell, TrialRecord
from pytest_hepagent.sequential.design import can_decide_later, round_of, schedule

__all__ = ["CellGate", "RoundPlan"]


@dataclass(frozen=True)
class RoundPlan:
    """A cell's rounds: `first` trials, then up to each multiple of `round_trials`, up to `max_trials`."""

    first: int
    max_trials: int
    round_trials: int

    @property
    def looks(self) -> tuple[int, ...]:
        """Trials per cell after each round."""
        return schedule(self.first, self.max_trials, self.round_trials)

    def round_of(self, trial: int) -> int:
        return round_of(trial, self.looks)


@dataclass(frozen=True)
class CellGate:
    """What the gate needs to decide one cell during a run: the baseline and the settings of the whole family."""

    baseline: Mapping[tuple[str, str], Cell]
    """The pooled baseline's cells, by (model, step) of the run (a paired baseline renamed to the run's model)."""
    level: float
    """One test's share of alpha (alpha over the family's tests)."""
    tests: int
    margin: float
    floor: float | None
    interval: str

    def stop_reason(
        self, records: Iterable[TrialRecord], model: str, step: str, plan: RoundPlan, next_round: int
    ) -> str | None:
        """Why the trials of `next_round` of this cell need not run (decided, or no longer decidable), from the
        records of its earlier rounds; None when they should run."""
        from pytest_hepagent.matrix.cells import cells_from_records

        b = self.baseline.get((model, step))
        if b is None or b.total == 0:  # nothing to decide against (NEW): one round, unless a floor needs more
            return None if self.floor is not None else "no baseline for this cell: one round"
        earlier = [
            r
            for r in records
            if r.model == model and r.step == step and r.chain is None and (r.round or 1) < next_round
        ]
        found = cells_from_records(earlier)
        if not found:
            return None
        return self.cell_stop_reason(replace(found[0], max_trials=plan.max_trials), b, plan, next_round)

    def cell_stop_reason(self, cell: Cell, b: Cell, plan: RoundPlan, next_round: int) -> str | None:
        """`stop_reason` for a cell whose rounds before `next_round` are `cell` (its looks), against `b`."""
        from pytest_hepagent.matrix.gate import cell_verdict

        if cell.total == 0:
            return None  # no judged trial yet (errors): keep trying
        verdict = cell_verdict(cell, b, self)
        if verdict.verdict in ("REGRESSED", "OK"):
            return f"cell decided in round {verdict.round or 1}: {verdict.verdict}, {verdict.reason}"
        looks = cell.looks or ((cell.passed, cell.total),)
        later = can_decide_later(
            looks, plan.looks, b.passed, b.total, max_trials=plan.max_trials, level=self.level, margin=self.margin
        )
        if not later and self.floor is None:
            return f"cell undecided after round {next_round - 1}, and no later round could decide it: {verdict.reason}"
        return None
