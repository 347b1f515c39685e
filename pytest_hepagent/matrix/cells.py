"""Per model x step aggregates of a run, and the CI gate against a baseline."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_hepagent.records import (
    RESULTS,
    SUMMARY,
    Cell,
    Outcome,
    RunSummary,
    SuccessRate,
    TrialRecord,
    Verdict,
    latest_records,
    read_records,
    read_summary,
)
from pytest_hepagent.stats import (
    ALPHA,
    INTERVAL_NAMES,
    Adjust,
    Interval,
    detectable_drop,
    fisher_drop_pvalue,
    holm,
    interval,
    trials_needed,
)
from pytest_hepagent.steps import STEP_NAMES

__all__ = [
    "DEFAULT_DETECT_DROP",
    "Cell",
    "ChainCell",
    "Verdict",
    "cells_from_records",
    "chain_cells",
    "gate",
    "load_baseline_cells",
    "load_run_cells",
    "run_exit_status",
    "run_summary",
]

DEFAULT_DETECT_DROP = 0.2
"""The drop in success a decision should detect, unless `--hep-detect-drop` says otherwise."""


def cells_from_records(records: Iterable[TrialRecord]) -> list[Cell]:
    groups: dict[tuple[str, str], list[TrialRecord]] = {}
    for record in latest_records(records):
        groups.setdefault((record.model, record.step), []).append(record)
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
            )
        )
    return cells


@dataclass(frozen=True)
class ChainCell(SuccessRate):
    """A model's chained (end-to-end) runs: how many passed every step, and where the others first broke."""

    model: str
    passed: int
    total: int
    broken_at: dict[str, int]


def chain_cells(records: Iterable[TrialRecord]) -> list[ChainCell]:
    chains: dict[str, dict[str, Any]] = {}
    for r in latest_records(records):
        if r.chain is not None and r.judged:
            chains.setdefault(r.model, {})[r.chain.id] = r.chain
    cells = []
    for model, by_id in sorted(chains.items()):
        broken: dict[str, int] = {}
        for c in by_id.values():
            if c.broken_at:
                broken[c.broken_at] = broken.get(c.broken_at, 0) + 1
        cells.append(ChainCell(model, sum(c.passed for c in by_id.values()), len(by_id), broken))
    return cells


def gate(
    cells: Iterable[Cell],
    baseline: Iterable[Cell],
    alpha: float = ALPHA,
    floor: float | None = None,
    *,
    detect_drop: float = DEFAULT_DETECT_DROP,
    interval: Interval = "wilson",
    adjust: Adjust = "holm",
) -> list[Verdict]:
    """One-sided Fisher test for a drop in success rate per cell, plus an optional absolute floor.

    With `adjust` "holm" the cells' p-values are Holm-adjusted, so that the chance of any false REGRESSED in the run
    stays at `alpha` however many cells it has ("none": each cell at `alpha`). A cell is INCONCLUSIVE when even
    zero successes could not be told from the baseline (p at or above `alpha`, or `alpha` over the number of cells
    compared when adjusting: what a drop in that cell alone must reach), or when only the floor is in question and
    its 95% interval (`interval`) straddles it. Each verdict carries the drop its trials detect with 80% power and
    the trials per cell `detect_drop` needs (at that same level), and an INCONCLUSIVE one says how many more trials
    would decide it.
    """
    cells = list(cells)
    base = {(c.model, c.step): c for c in baseline}
    compared = [(c, b) for c in cells if (b := base.get((c.model, c.step))) is not None and b.total > 0]
    raw = [fisher_drop_pvalue(c.passed, c.total, b.passed, b.total) for c, b in compared]
    m = max(1, len(compared)) if adjust == "holm" else 1
    adjusted = dict(zip([(c.model, c.step) for c, _ in compared], holm(raw) if m > 1 else raw, strict=True))
    level = alpha / m  # a drop in one cell alone must reach this
    verdicts = []
    for cell in cells:
        b = base.get((cell.model, cell.step))
        if b is None or b.total == 0:
            verdicts.append(
                Verdict(cell.model, cell.step, "NEW", cell.passed, cell.total, 0, 0, 1.0, "no baseline for this cell")
            )
            continue
        p = fisher_drop_pvalue(cell.passed, cell.total, b.passed, b.total)
        p_adjusted = adjusted[cell.model, cell.step]
        lowest = fisher_drop_pvalue(0, cell.total, b.passed, b.total)
        low, high = cell.interval_by(interval)
        detectable = detectable_drop(cell.total, b.total, b.fraction, level)
        needed = trials_needed(detect_drop, b.fraction, level)
        power = _power_text(cell.total, detectable) + (f" over {m} cells" if m > 1 else "")
        holm_text = f", Holm-adjusted over {m} cells {p_adjusted:.3g}" if m > 1 else ""
        if p_adjusted < alpha:
            verdict, reason = "REGRESSED", f"success dropped: one-sided Fisher p = {p:.3g}{holm_text} < {alpha}"
        elif floor is not None and high < floor:
            verdict, reason = (
                "REGRESSED",
                f"below the floor {floor:.2f} (95% {INTERVAL_NAMES[interval]} upper bound {high:.2f})",
            )
        elif lowest >= level:
            verdict = "INCONCLUSIVE"
            alone = f" (a drop in one of {m} cells alone needs p < {level:.3g})" if m > 1 else ""
            reason = (
                f"too few trials: even 0/{cell.total} would give p = {lowest:.3g}{alone}; {power}; "
                f"{_needed_text(detect_drop, needed, cell.total, b.fraction)}"
            )
        elif floor is not None and low < floor:
            verdict = "INCONCLUSIVE"
            more = _floor_trials(cell.passed, cell.total, floor, interval)
            reason = f"the floor {floor:.2f} lies inside the 95% interval [{low:.2f}, {high:.2f}]; " + (
                f"{more - cell.total} more trials at this success rate would put it outside"
                if more is not None
                else "no number of trials up to 2,000 at this success rate would put it outside"
            )
        else:
            verdict, reason = "OK", f"no significant drop (p = {p:.3g}{holm_text}); {power}"
        verdicts.append(
            Verdict(
                cell.model,
                cell.step,
                verdict,
                cell.passed,
                cell.total,
                b.passed,
                b.total,
                p,
                reason,
                p_adjusted=p_adjusted,
                detectable_drop=detectable,
                target_drop=detect_drop,
                trials_needed=needed,
            )
        )
    return verdicts


def _trials(n: int) -> str:
    return f"{n} trial" if n == 1 else f"{n} trials"


def _power_text(total: int, detectable: float | None) -> str:
    verb = "detects" if total == 1 else "detect"
    if detectable is None:
        return f"{_trials(total)} {verb} no drop at 80% power"
    return f"{_trials(total)} {verb} a drop of {detectable:.0%} or more at 80% power"


def _needed_text(drop: float, needed: int | None, total: int, base_rate: float) -> str:
    """How many trials a decision on a drop of `drop` takes, and how many more than the cell has."""
    if needed is None:
        if drop > base_rate:
            return f"the baseline's {base_rate:.0%} cannot drop by {drop:.0%}"
        return f"a drop of {drop:.0%} needs more than 2,000 trials per cell"
    more = f" ({needed - total} more here)" if needed > total else ""
    return f"a drop of {drop:.0%} needs {needed} trials per cell in both runs{more}"


def _floor_trials(passed: int, total: int, floor: float, method: Interval) -> int | None:
    """The fewest trials at this cell's success rate whose interval no longer holds `floor` (None past 2,000)."""
    rate = passed / total if total else 0.0
    if rate == floor:  # the interval is around the floor at any n
        return None
    for n in range(total + 1, 2001):
        low, high = interval(round(rate * n), n, method)
        if high < floor or low >= floor:
            return n
    return None


def run_exit_status(status: int, verdicts: Iterable[Verdict] | None, unsaved: int) -> int:
    """A benchmark run's exit status from pytest's own, the gate's verdicts and the records left unwritten.

    With a baseline the gate decides between 0 and 1, whatever single trials did: 1 when any cell regressed or could
    not be decided. pytest's other statuses (interrupted, usage error, ...) stand. A run whose records did not all
    reach the disk is not the run that was asked for: 3 (internal error), whatever else happened.
    """
    if verdicts is not None and status in (0, 1):
        status = 1 if any(v.verdict in ("REGRESSED", "INCONCLUSIVE") for v in verdicts) else 0
    return 3 if unsaved else status


def run_summary(run_id: str, cells: list[Cell], verdicts: list[Verdict] | None, extra: dict[str, Any]) -> RunSummary:
    """The run's summary.json; `extra` holds the settings, hashes and dataset (`matrix.execute.summary_extra`)."""
    return RunSummary(run_id, tuple(cells), tuple(verdicts) if verdicts is not None else None, **extra)


def load_baseline_cells(path: Path) -> list[Cell]:
    """Cells of a baseline: a results.jsonl or a summary.json (or a run folder holding them)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS if (path / RESULTS).is_file() else path / SUMMARY
    if path.suffix == ".jsonl":
        return cells_from_records(read_records(path))
    return list(read_summary(path).cells)


def load_run_cells(path: Path, where: str) -> list[Cell]:
    """`load_baseline_cells`, for a path a user gave as `where` (an option or argument): a one-line ConfigError that
    names it and the fix when the path is no run, cannot be read, or holds no cell (a wrong file would make every
    cell NEW and a gate pass unseen)."""
    from pytest_hepagent.errors import ConfigError
    from pytest_hepagent.records import RecordError

    fix = "give the results.jsonl or summary.json of an earlier run (or its folder)"
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{where}: {path} does not exist; {fix}")
    try:
        cells = load_baseline_cells(path)
    except RecordError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: {path} cannot be read as a run ({type(exc).__name__}); {fix}") from None
    if not cells:
        raise ConfigError(f"{where}: {path} holds no trial of any model and step; {fix}")
    return cells
