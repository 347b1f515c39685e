"""Per model x step aggregates of a run: its cells and its chains (reading a run back: `matrix.baseline`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pytest_hepagent.records import (
    Cell,
    Outcome,
    RunSummary,
    SuccessRate,
    TrialRecord,
    Verdict,
    latest_records,
)
from pytest_hepagent.steps import STEP_NAMES

__all__ = [
    "Cell",
    "ChainCell",
    "Verdict",
    "cells_from_records",
    "chain_cells",
    "chains_by_model",
    "run_summary",
]


def cells_from_records(records: Iterable[TrialRecord]) -> list[Cell]:
    """One cell per model x step. A run holding both chained and unchained trials of a cell (a chained run resumed
    without --hep-chain, or the reverse) counts the unchained ones: the chained step's success is conditional on
    the earlier steps (see `propagation`)."""
    groups: dict[tuple[str, str], list[TrialRecord]] = {}
    for record in latest_records(records):
        groups.setdefault((record.model, record.step), []).append(record)
    for key, rs in groups.items():  # a step's success in a chain is conditional on the earlier steps: kept apart
        alone = [r for r in rs if r.chain is None]
        groups[key] = alone or rs
    order = {name: i for i, name in enumerate(STEP_NAMES)}
    cells = []
    for (model, step), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99), kv[0][1])):
        judged = [r for r in rs if r.judged]
        cells.append(
            Cell(
                model,
                step,
                passed=sum(r.outcome is Outcome.PASSED for r in rs),
                failed=sum(r.outcome is Outcome.FAILED for r in rs),
                errors=sum(r.outcome is Outcome.ERROR for r in rs),
                mean_api_calls=sum(r.api_calls for r in judged) / len(judged) if judged else 0.0,
                mean_agent_work=sum(r.agent_work for r in judged) / len(judged) if judged else 0.0,
                tokens=sum(r.tokens.total for r in rs),
                cost_usd=sum(r.cost_usd for r in rs),
                first_passed=sum(r.passed and r.iterations == 1 for r in rs),
                looks=_looks(judged),
                max_trials=max((r.max_trials for r in rs if r.max_trials is not None), default=None),
            )
        )
    return cells


def _looks(judged: list[TrialRecord]) -> tuple[tuple[int, int], ...]:
    """(passed, judged) after each round of a gated run's sequential trials, cumulative; () outside them. A trial
    without a round in such a cell (resumed from an ungated run) counts in the first."""
    if all(r.round is None for r in judged):
        return ()
    rounds: dict[int, list[bool]] = {}
    for r in judged:
        rounds.setdefault(r.round or 1, []).append(r.passed)
    looks, passed, total = [], 0, 0
    for number in sorted(rounds):
        passed, total = passed + sum(rounds[number]), total + len(rounds[number])
        looks.append((passed, total))
    return tuple(looks)


@dataclass(frozen=True)
class ChainCell(SuccessRate):
    """A model's chained (end-to-end) runs: how many passed every step, and where the others first broke."""

    model: str
    passed: int
    total: int
    """Chains with a judged end: passed every step, or failed one."""
    broken_at: dict[str, int]
    errors: int = 0
    """Chains that ended in an infrastructure error: left out of the end-to-end success, as errors are everywhere."""


def chains_by_model(records: Iterable[TrialRecord]) -> tuple[dict[str, list[list[TrialRecord]]], dict[str, int]]:
    """Each model's chains, each as its records in step order, and per model the number of chains left out because
    they ended in an infrastructure error (their last record is an error)."""
    grouped: dict[str, dict[str, list[TrialRecord]]] = {}
    for r in latest_records(records):
        if r.chain is not None:
            grouped.setdefault(r.model, {}).setdefault(r.chain.id, []).append(r)
    chains: dict[str, list[list[TrialRecord]]] = {}
    errors: dict[str, int] = {}
    for model, by_id in sorted(grouped.items()):
        for links in by_id.values():
            links.sort(key=lambda r: r.chain.position if r.chain else 0)
            if links[-1].judged:
                chains.setdefault(model, []).append(links)
            else:
                errors[model] = errors.get(model, 0) + 1
    return chains, errors


def chain_cells(records: Iterable[TrialRecord]) -> list[ChainCell]:
    chains, errors = chains_by_model(records)
    cells = []
    for model in sorted(set(chains) | set(errors)):
        judged = chains.get(model, [])
        broken: dict[str, int] = {}
        for links in judged:
            link = links[-1].chain
            if link is not None and link.broken_at:
                broken[link.broken_at] = broken.get(link.broken_at, 0) + 1
        passed = sum(links[-1].chain is not None and links[-1].chain.passed for links in judged)
        cells.append(ChainCell(model, passed, len(judged), broken, errors.get(model, 0)))
    return cells


def run_summary(run_id: str, cells: list[Cell], verdicts: list[Verdict] | None, extra: dict[str, Any]) -> RunSummary:
    """The run's summary.json; `extra` holds the settings, hashes and dataset (`matrix.execute.summary_extra`)."""
    return RunSummary(run_id, tuple(cells), tuple(verdicts) if verdicts is not None else None, **extra)
