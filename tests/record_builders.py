"""Trial records and cells built in tests, with only the fields a test sets."""

from __future__ import annotations

from typing import Any

from pytest_hepagent.matrix.cells import Cell
from pytest_hepagent.records import TrialRecord, record_from_json


def record(model: str, step: str, trial: int, outcome: str, **extra: Any) -> TrialRecord:
    """A stored record of one trial: `outcome` is passed, failed or error; `extra` sets any other field."""
    return record_from_json(
        {
            "schema_version": 1,
            "run_id": "r",
            "key": f"{model}|{step}|{trial}",
            "model": model,
            "step": step,
            "trial": trial,
            "outcome": outcome,
        }
        | extra
    )


def chain_link(
    model: str, step: str, trial: int, outcome: str, steps: tuple[str, ...], broken: str | None
) -> TrialRecord:
    """The record of `step` in chain `trial` over `steps`, which broke at `broken` (None: it did not)."""
    chain = {
        "id": f"{model}|chain|{trial}",
        "position": steps.index(step) + 1,
        "steps": list(steps),
        "passed": broken is None and outcome == "passed",
        "broken_at": broken,
    }
    return record(model, step, trial, outcome, key=f"{model}|{step}|chain|{trial}", chain=chain)


def cells(model: str, counts: dict[str, tuple[int, int]]) -> list[Cell]:
    """One cell per step, from (passed, total)."""
    return [Cell(model, step, passed, total - passed, 0, 3.0, 1.0, 0, 0.0) for step, (passed, total) in counts.items()]
