"""Per model x step aggregates of a run, and the CI gate against a baseline."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_hepagent.bench.stats import binomial_error, fisher_drop_pvalue, wilson_interval
from pytest_hepagent.bench.store import latest_records, read_records
from pytest_hepagent.steps import STEP_NAMES

__all__ = [
    "Cell",
    "ChainCell",
    "Verdict",
    "cells_from_records",
    "chain_cells",
    "gate",
    "load_baseline_cells",
    "run_exit_status",
    "summary_dict",
]


class _SuccessRate:
    """Success fraction with the paper's binomial error and a 95% Wilson interval, from `passed` of `total`."""

    if TYPE_CHECKING:  # provided by the subclasses, as a field or a property
        passed: int

        @property
        def total(self) -> int: ...

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total else 0.0

    @property
    def error(self) -> float:
        return binomial_error(self.passed, self.total)

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.passed, self.total)


@dataclass(frozen=True)
class Cell(_SuccessRate):
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
        return self.passed + self.failed

    @property
    def started(self) -> int:
        """Every trial that started: passed, failed or ended in an error."""
        return self.total + self.errors

    @property
    def fraction_errors_failed(self) -> float:
        """Success with infrastructure errors counted as failures: what a run that errors a lot really shows."""
        return self.passed / self.started if self.started else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "total": self.total,
            "fraction": self.fraction,
            "binomial_error": self.error,
            "wilson_95": list(self.interval),
            "started": self.started,
            "fraction_errors_as_failures": self.fraction_errors_failed,
        }


def cells_from_records(records: Iterable[dict[str, Any]]) -> list[Cell]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in latest_records(records):
        groups.setdefault((record["model"], record["step"]), []).append(record)
    order = {name: i for i, name in enumerate(STEP_NAMES)}
    cells = []
    for (model, step), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99), kv[0][1])):
        judged = [r for r in rs if r["outcome"] in ("passed", "failed")]
        cells.append(
            Cell(
                model,
                step,
                passed=sum(r["outcome"] == "passed" for r in rs),
                failed=sum(r["outcome"] == "failed" for r in rs),
                errors=sum(r["outcome"] == "error" for r in rs),
                mean_api_calls=sum(r["api_calls"] for r in judged) / len(judged) if judged else 0.0,
                mean_agent_work=sum(r["agent_work"] for r in judged) / len(judged) if judged else 0.0,
                tokens=sum(r["tokens"]["input"] + r["tokens"]["output"] for r in rs),
                cost_usd=sum(r["cost_usd"] for r in rs),
            )
        )
    return cells


@dataclass(frozen=True)
class ChainCell(_SuccessRate):
    """A model's chained (end-to-end) runs: how many passed every step, and where the others first broke."""

    model: str
    passed: int
    total: int
    broken_at: dict[str, int]


def chain_cells(records: Iterable[dict[str, Any]]) -> list[ChainCell]:
    chains: dict[str, dict[str, dict[str, Any]]] = {}
    for r in latest_records(records):
        if isinstance(r.get("chain"), dict) and r["outcome"] in ("passed", "failed"):
            chains.setdefault(str(r["model"]), {})[str(r["chain"]["id"])] = r["chain"]
    cells = []
    for model, by_id in sorted(chains.items()):
        broken: dict[str, int] = {}
        for c in by_id.values():
            if c.get("broken_at"):
                broken[str(c["broken_at"])] = broken.get(str(c["broken_at"]), 0) + 1
        cells.append(ChainCell(model, sum(bool(c.get("passed")) for c in by_id.values()), len(by_id), broken))
    return cells


@dataclass(frozen=True)
class Verdict:
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


def gate(
    cells: Iterable[Cell], baseline: Iterable[Cell], alpha: float = 0.05, floor: float | None = None
) -> list[Verdict]:
    """One-sided Fisher test for a drop in success rate per cell, plus an optional absolute floor.

    A cell is INCONCLUSIVE when even zero successes could not be told from the baseline at `alpha` (too few
    trials), or when only the floor is in question and its Wilson interval straddles it.
    """
    base = {(c.model, c.step): c for c in baseline}
    verdicts = []
    for cell in cells:
        b = base.get((cell.model, cell.step))
        if b is None or b.total == 0:
            verdicts.append(
                Verdict(cell.model, cell.step, "NEW", cell.passed, cell.total, 0, 0, 1.0, "no baseline for this cell")
            )
            continue
        p = fisher_drop_pvalue(cell.passed, cell.total, b.passed, b.total)
        lowest = fisher_drop_pvalue(0, cell.total, b.passed, b.total)
        low, high = cell.interval
        if p < alpha:
            verdict, reason = "REGRESSED", f"success dropped: one-sided Fisher p = {p:.3g} < {alpha}"
        elif floor is not None and high < floor:
            verdict, reason = "REGRESSED", f"below the floor {floor:.2f} (95% Wilson upper bound {high:.2f})"
        elif lowest >= alpha:
            verdict, reason = "INCONCLUSIVE", f"too few trials: even 0/{cell.total} would give p = {lowest:.3g}"
        elif floor is not None and low < floor:
            verdict, reason = (
                "INCONCLUSIVE",
                f"the floor {floor:.2f} lies inside the 95% interval [{low:.2f}, {high:.2f}]",
            )
        else:
            verdict, reason = "OK", f"no significant drop (p = {p:.3g})"
        verdicts.append(Verdict(cell.model, cell.step, verdict, cell.passed, cell.total, b.passed, b.total, p, reason))
    return verdicts


def run_exit_status(status: int, verdicts: Iterable[Verdict] | None, unsaved: int) -> int:
    """A benchmark run's exit status from pytest's own, the gate's verdicts and the records left unwritten.

    With a baseline the gate decides between 0 and 1, whatever single trials did: 1 when any cell regressed or could
    not be decided. pytest's other statuses (interrupted, usage error, ...) stand. A run whose records did not all
    reach the disk is not the run that was asked for: 3 (internal error), whatever else happened.
    """
    if verdicts is not None and status in (0, 1):
        status = 1 if any(v.verdict in ("REGRESSED", "INCONCLUSIVE") for v in verdicts) else 0
    return 3 if unsaved else status


def summary_dict(
    run_id: str, cells: list[Cell], verdicts: list[Verdict] | None, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "run_id": run_id,
        "cells": [c.to_dict() for c in cells],
        "total_cost_usd": sum(c.cost_usd for c in cells),
        "gate": [asdict(v) for v in verdicts] if verdicts is not None else None,
        **extra,
    }


def load_baseline_cells(path: Path) -> list[Cell]:
    """Cells of a baseline: a results.jsonl or a summary.json (or a run folder holding them)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.jsonl" if (path / "results.jsonl").is_file() else path / "summary.json"
    if path.suffix == ".jsonl":
        return cells_from_records(read_records(path))
    data = json.loads(path.read_text())
    fields = ("model", "step", "passed", "failed", "errors", "mean_api_calls", "mean_agent_work", "tokens", "cost_usd")
    return [Cell(**{k: c[k] for k in fields}) for c in data["cells"]]
