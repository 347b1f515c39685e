"""Plain-text tables for the terminal summary."""

from __future__ import annotations

from collections.abc import Iterable

from pytest_hepagent.matrix.cells import Cell, ChainCell, Verdict
from pytest_hepagent.records import PASS_K
from pytest_hepagent.stats import Interval

__all__ = ["cell_table", "chain_lines", "gate_table", "statistics_table"]

_SHORT = {"wilson": "95% Wilson", "clopper-pearson": "95% C-P"}


def cell_table(cells: Iterable[Cell], interval: Interval = "wilson") -> list[str]:
    """Per model and step: passed, failed and errored trials in one row; success over the judged trials with its
    interval, and success with errors counted as failures beside it."""
    cells = list(cells)
    header = (
        f"{'model':<28s} {'step':<18s} {'pass':>4s} {'fail':>4s} {'err':>4s} {'success':>16s} "
        f"{_SHORT[interval]:>13s} {'err=fail':>8s} {'calls':>6s} {'work':>7s} {'tokens':>9s} {'cost USD':>9s}"
    )
    lines = [header, "-" * len(header)]
    for c in cells:
        low, high = c.interval_by(interval)
        lines.append(
            f"{c.model[:28]:<28s} {c.step:<18s} {c.passed:>4d} {c.failed:>4d} {c.errors:>4d} "
            f"{c.fraction:>7.0%} ± {c.error:>5.0%} [{low:4.0%}, {high:4.0%}] {c.fraction_errors_failed:>8.0%} "
            f"{c.mean_api_calls:6.1f} {c.mean_agent_work:7.2f} {c.tokens:9d} {c.cost_usd:9.4f}"
        )
    lines.append(f"total cost: {sum(c.cost_usd for c in cells):.4f} USD")
    return lines


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def statistics_table(cells: Iterable[Cell]) -> list[str]:
    """Per model and step: the rule-of-three bound at 0/n and n/n, unbiased pass@k and pass^k, first-attempt
    success and what the self-correction loop adds (with its 95% interval), and the cost of a passed trial."""
    ks = [k for k in PASS_K if k > 1]
    header = (
        f"{'model':<28s} {'step':<18s} {'n':>4s} {'rule of 3':>9s} "
        + " ".join(f"{f'pass@{k}':>6s}" for k in ks)
        + " "
        + " ".join(f"{f'pass^{k}':>6s}" for k in ks)
        + f" {'1st try':>7s} {'retries add [95%]':>20s} {'USD/pass':>9s}"
    )
    lines = [header, "-" * len(header)]
    for c in cells:
        bound = c.rule_of_three
        rule = "" if bound is None else (f"<= {bound[1]:.0%}" if c.passed == 0 else f">= {bound[0]:.0%}")
        gain, low, high = c.self_correction
        per_pass = c.cost_per_success
        lines.append(
            f"{c.model[:28]:<28s} {c.step:<18s} {c.total:>4d} {rule:>9s} "
            + " ".join(f"{_pct(c.pass_at(k)):>6s}" for k in ks)
            + " "
            + " ".join(f"{_pct(c.pass_hat(k)):>6s}" for k in ks)
            + f" {c.first_fraction:>7.0%} {f'+{gain:.0%} [{low:.0%}, {high:.0%}]':>20s} "
            + (f"{per_pass:>9.4f}" if per_pass is not None else f"{'-':>9s}")
        )
    lines.append("pass@k, pass^k: at least one, or all, of k trials pass (unbiased; - with fewer than k trials)")
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
