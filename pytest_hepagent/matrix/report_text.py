"""Plain-text tables for the terminal summary."""

from __future__ import annotations

from collections.abc import Iterable

from pytest_hepagent.matrix.cells import Cell, ChainCell, Verdict

__all__ = ["cell_table", "chain_lines", "gate_table"]


def cell_table(cells: Iterable[Cell]) -> list[str]:
    """Per model and step: passed, failed and errored trials in one row; success over the judged trials with its
    interval, and success with errors counted as failures beside it."""
    cells = list(cells)
    header = (
        f"{'model':<28s} {'step':<18s} {'pass':>4s} {'fail':>4s} {'err':>4s} {'success':>16s} {'95% Wilson':>13s} "
        f"{'err=fail':>8s} {'calls':>6s} {'work':>7s} {'tokens':>9s} {'cost USD':>9s}"
    )
    lines = [header, "-" * len(header)]
    for c in cells:
        low, high = c.interval
        lines.append(
            f"{c.model[:28]:<28s} {c.step:<18s} {c.passed:>4d} {c.failed:>4d} {c.errors:>4d} "
            f"{c.fraction:>7.0%} ± {c.error:>5.0%} [{low:4.0%}, {high:4.0%}] {c.fraction_errors_failed:>8.0%} "
            f"{c.mean_api_calls:6.1f} {c.mean_agent_work:7.2f} {c.tokens:9d} {c.cost_usd:9.4f}"
        )
    lines.append(f"total cost: {sum(c.cost_usd for c in cells):.4f} USD")
    return lines


def chain_lines(chains: Iterable[ChainCell]) -> list[str]:
    """`end-to-end <model>: k/n chains passed (broken at ...)` for a chained run."""
    lines = []
    for c in chains:
        where = f" (broken at {', '.join(sorted(c.broken_at))})" if c.broken_at else ""
        lines.append(f"end-to-end {c.model}: {c.passed}/{c.total} chains passed{where}")
    return lines


def gate_table(verdicts: Iterable[Verdict]) -> list[str]:
    lines = [f"{'model':<28s} {'step':<18s} {'verdict':<13s} {'run':>8s} {'baseline':>9s}  reason"]
    for v in verdicts:
        lines.append(
            f"{v.model[:28]:<28s} {v.step:<18s} {v.verdict:<13s} {v.passed:>3d}/{v.total:<4d} "
            f"{v.base_passed:>4d}/{v.base_total:<4d}  {v.reason}"
        )
    return lines
