"""Plain-text tables for the terminal summary."""

from __future__ import annotations

from collections.abc import Iterable

from pytest_hepagent.matrix.baseline import Baseline
from pytest_hepagent.matrix.cells import Cell, ChainCell, Verdict
from pytest_hepagent.matrix.comparison import RunComparison
from pytest_hepagent.matrix.gate import ALL_STEPS, failing
from pytest_hepagent.matrix.propagation import Propagation
from pytest_hepagent.records import PASS_K
from pytest_hepagent.stats import Interval

__all__ = [
    "baseline_lines",
    "cell_table",
    "chain_lines",
    "comparison_lines",
    "gate_table",
    "propagation_lines",
    "statistics_table",
]

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
        rule = (
            "" if bound is None or c.total <= 3 else (f"<= {bound[1]:.0%}" if c.passed == 0 else f">= {bound[0]:.0%}")
        )
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
        left = f"; {c.errors} ended in an infrastructure error, left out" if c.errors else ""
        lines.append(f"end-to-end {c.model}: {c.passed}/{c.total} chains passed{where}{left}")
    return lines


def gate_table(verdicts: Iterable[Verdict]) -> list[str]:
    """Per cell (and model over its steps): the verdict, the counts it rests on, the round that decided it."""
    lines = [f"{'model':<28s} {'step':<18s} {'verdict':<10s} {'run':>8s} {'baseline':>9s} {'round':>5s}  reason"]
    for v in verdicts:
        decided = str(v.round) if v.round is not None else "-"
        lines.append(
            f"{v.model[:28]:<28s} {v.step:<18s} {v.verdict:<10s} {v.passed:>3d}/{v.total:<4d} "
            f"{v.base_passed:>4d}/{v.base_total:<4d} {decided:>5s}  {v.reason}"
        )
    return lines


def _signed(value: float) -> str:
    return f"{value:+.0%}".replace("+0%", "0%").replace("-0%", "0%")


def comparison_lines(comparison: RunComparison) -> list[str]:
    """`hepagent compare`'s output: the cells, the overall differences and the verdict."""
    c = comparison
    lines = [
        f"baseline (A): {c.baseline}",
        f"current  (B): {c.current}",
        "",
        (
            f"{'model':<28s} {'step':<18s} {'A':>7s} {'B':>7s} {'B - A [95% Newcombe]':>23s} {'p exact':>8s} "
            f"{'p Holm' if c.adjust != 'none' else 'p adj':>7s} {'detects':>7s} {'needs':>5s}  verdict"
        ),
    ]
    lines.append("-" * len(lines[-1]))
    for cell in c.cells:
        v = cell.verdict
        interval = f"{_signed(cell.difference)} [{_signed(cell.low)}, {_signed(cell.high)}]"
        detects = f"{v.detectable_drop:.0%}" if v.detectable_drop is not None else "-"
        needs = str(v.trials_needed) if v.trials_needed is not None else "-"
        lines.append(
            f"{v.model[:28]:<28s} {v.step:<18s} {f'{v.base_passed}/{v.base_total}':>7s} "
            f"{f'{v.passed}/{v.total}':>7s} {interval:>23s} {cell.p_value:>8.3g} {cell.p_holm:>7.3g} "
            f"{detects:>7s} {needs:>5s}  {v.verdict}"
        )
    compared = {(cell.model, cell.step) for cell in c.cells}
    for v in c.verdicts:
        if v.step != ALL_STEPS and (v.model, v.step) not in compared:
            counts = f"{v.passed}/{v.total}" if v.verdict != "MISSING" else "-"
            base = f"{v.base_passed}/{v.base_total}" if v.base_total else "-"
            lines.append(f"{v.model[:28]:<28s} {v.step:<18s} {base:>7s} {counts:>7s}  {v.verdict}: {v.reason}")
    lines += [
        "",
        "p exact: Fisher's test, two-sided"
        + (
            f"; p Holm: adjusted over the {len(c.cells)} cells"
            if c.adjust != "none"
            else ", not adjusted (--adjust none)"
        )
        + " (descriptive: the verdict is the gate's, from its two one-sided tests)",
        f"verdict: REGRESSED, a drop shown; OK, a drop of {c.detect_drop:.0%} or more ruled out; UNDECIDED, neither;",
        "detects: the drop from A's success that B's trials show as REGRESSED with 80% power (one look);",
        f"needs: trials per cell, in both runs, that show a drop of {c.detect_drop:.0%} with 80% power (one look)",
    ]
    if c.overall:
        lines += ["", "overall, stratified by step (Mantel-Haenszel difference, stratified score interval, CMH test):"]
        for o in c.overall:
            r = o.result
            lines.append(
                f"  {o.model[:28]:<28s} B - A = {_signed(r.difference)} [{_signed(r.low)}, {_signed(r.high)}], "
                f"CMH chi2 = {r.statistic:.3g}, p = {r.p_value:.3g} ({r.strata} {'step' if r.strata == 1 else 'steps'})"
            )
    for v in c.models_overall:
        lines.append(f"  {v.model[:28]:<28s} gate over the steps together: {v.verdict}, {v.reason}")
    lines.append("")
    for v in c.verdicts:
        if v.step != ALL_STEPS and v.verdict in failing("fail"):
            lines.append(f"{v.verdict} {v.model} {v.step}: {v.reason}")
    lines.append(c.line)
    return lines


def propagation_lines(models: Iterable[Propagation]) -> list[str]:
    """Per model with chains: each step in the chain beside in isolation, and where the chains broke."""
    lines: list[str] = []
    for p in models:
        lines += [
            f"error propagation, {p.model} ({p.chains} chains"
            + (f"; {p.errors} ended in an infrastructure error, left out" if p.errors else "")
            + "):",
            (
                f"  {'step':<18s} {'in chain':>9s} {'isolated':>9s} {'chain - isolated [95%]':>24s} {'p exact':>8s} "
                f"{'broke here':>10s} {'whole':>7s} {'if independent':>14s}"
            ),
        ]
        for s in p.steps:
            isolated = f"{s.isolated_passed}/{s.isolated_total}" if s.isolated_total else "-"
            difference = (
                f"{_signed(s.difference)} [{_signed(s.low or 0.0)}, {_signed(s.high or 0.0)}]"
                if s.difference is not None
                else "-"
            )
            p_value = f"{s.p_value:.3g}" if s.p_value is not None else "-"
            expected = f"{s.expected_whole:.0%}" if s.expected_whole is not None else "-"
            whole = f"{s.whole}/{p.chains}"
            lines.append(
                f"  {s.step:<18s} {f'{s.passed}/{s.reached}':>9s} {isolated:>9s} {difference:>24s} {p_value:>8s} "
                f"{s.broken:>10d} {whole:>7s} {expected:>14s}"
            )
    return lines


def baseline_lines(baseline: Baseline) -> list[str]:
    """A pooled baseline: what it pooled, and per model and step its trials and success with the Wilson interval."""
    lines = [f"baseline: {baseline.describe()}"]
    lines += [f"  {run}" for run in baseline.runs] if len(baseline.runs) > 1 else []
    lines.append(f"{'model':<28s} {'step':<18s} {'passed':>10s} {'success [95% Wilson]':>22s}")
    for c in baseline.cells:
        low, high = c.interval
        lines.append(
            f"{c.model[:28]:<28s} {c.step:<18s} {f'{c.passed}/{c.total}':>10s} "
            f"{f'{c.fraction:.0%} [{low:.0%}, {high:.0%}]':>22s}"
        )
    return lines
