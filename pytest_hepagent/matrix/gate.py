"""The CI gate: does a run fall short of its baseline? It decides the exit status of a run with `--hep-baseline` and
of `hepagent compare`.

Per model x step, a one-sided Fisher exact test for a drop in success; per model over its steps, the exact
stratified (conditional Cochran-Mantel-Haenszel) test, which sees a drop spread thinly over every step that no
single cell shows. All of them are one family, Holm-adjusted by default, so the chance of any false REGRESSED in a
run stays at alpha however many cells it has. A baseline cell the run has no trial of is MISSING (a skipped or
forgotten step must not pass unseen); a cell that too few trials cannot decide is INCONCLUSIVE; both fail the gate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from pytest_hepagent.records import Cell, Verdict
from pytest_hepagent.stats import (
    ALPHA,
    INTERVAL_NAMES,
    Adjust,
    Interval,
    detectable_drop,
    fisher_drop_pvalue,
    holm,
    interval,
    stratified_drop_pvalue,
    trials_needed,
)

__all__ = [
    "ALL_STEPS",
    "DEFAULT_DETECT_DROP",
    "FAILING",
    "gate",
    "paired_models",
    "run_exit_status",
]

DEFAULT_DETECT_DROP = 0.2
"""The drop in success a decision should detect, unless `--hep-detect-drop` says otherwise."""
ALL_STEPS = "all steps"
"""The step of a model's overall verdict."""
FAILING = ("REGRESSED", "INCONCLUSIVE", "MISSING")
"""The verdicts that fail the gate."""


def paired_models(baseline: Sequence[Cell], cells: Sequence[Cell]) -> tuple[str, str] | None:
    """(baseline's model, run's model) when each has exactly one model and they differ: the two are compared (a
    replay of a model's cassettes against its live baseline, or a new model against the old); None otherwise."""
    before, now = {c.model for c in baseline}, {c.model for c in cells}
    if len(before) == len(now) == 1 and before != now:
        return next(iter(before)), next(iter(now))
    return None


def gate(
    cells: Iterable[Cell],
    baseline: Iterable[Cell],
    alpha: float = ALPHA,
    floor: float | None = None,
    *,
    detect_drop: float = DEFAULT_DETECT_DROP,
    interval: Interval = "wilson",
    adjust: Adjust = "holm",
    steps: Sequence[str] | None = None,
) -> list[Verdict]:
    """The verdicts of `cells` against `baseline`: one per cell of the run (OK, REGRESSED, INCONCLUSIVE or NEW),
    one per baseline cell the run lacks (MISSING; with `steps`, only the baseline's cells of those steps count), and
    one per model with two or more cells compared (its overall drop, step `all steps`).

    A cell is INCONCLUSIVE when even zero successes could not be told from the baseline at the level a drop in it
    alone must reach (alpha, or alpha over the number of tests when adjusting), or when only the floor is in
    question and its 95% interval straddles it. Each cell's verdict carries the drop its trials detect with 80%
    power and the trials per cell `detect_drop` needs, at that same level.
    """
    cells, baseline = list(cells), list(baseline)
    pair = paired_models(baseline, cells)
    if pair is not None:
        baseline = [replace(c, model=pair[1]) for c in baseline]
    base = {(c.model, c.step): c for c in baseline}
    compared = [(c, b) for c in cells if (b := base.get((c.model, c.step))) is not None and b.total > 0 and b.passed]
    by_model: dict[str, list[tuple[Cell, Cell]]] = {}
    for c, b in compared:
        by_model.setdefault(c.model, []).append((c, b))
    overall = {model: pairs for model, pairs in by_model.items() if len(pairs) > 1}
    raw = [fisher_drop_pvalue(c.passed, c.total, b.passed, b.total) for c, b in compared] + [
        stratified_drop_pvalue([(c.passed, c.total, b.passed, b.total) for c, b in pairs]) for pairs in overall.values()
    ]
    tests = max(1, len(raw)) if adjust == "holm" else 1
    adjusted = holm(raw) if tests > 1 else raw
    p_of = dict(zip([(c.model, c.step) for c, _ in compared] + [(m, ALL_STEPS) for m in overall], raw, strict=True))
    adjusted_of = dict(zip(p_of, adjusted, strict=True))
    judge = _Judge(alpha, floor, detect_drop, interval, tests)
    verdicts = []
    for cell in cells:
        b = base.get((cell.model, cell.step))
        if b is None or b.total == 0:
            verdicts.append(judge.new(cell, b))
        elif b.passed == 0:
            verdicts.append(judge.never_passed(cell, b))
        else:
            key = (cell.model, cell.step)
            verdicts.append(judge.cell(cell, b, p_of[key], adjusted_of[key]))
    present = {(c.model, c.step) for c in cells}
    for key, b in base.items():  # with `steps`, only the steps the run was asked for can be missing
        if key not in present and (steps is None or key[1] in steps):
            reason = f"no trial of this cell in this run (not run, or skipped); the baseline has {b.passed}/{b.total}"
            verdicts.append(Verdict(b.model, b.step, "MISSING", 0, 0, b.passed, b.total, 1.0, reason))
    for model, pairs in overall.items():
        key = (model, ALL_STEPS)
        verdicts.append(judge.overall(model, pairs, p_of[key], adjusted_of[key]))
    return verdicts


def _verdict(
    cell: Cell,
    b: Cell,
    verdict: str,
    p: float,
    reason: str,
    p_adjusted: float | None = None,
    detectable: float | None = None,
    target: float | None = None,
    needed: int | None = None,
) -> Verdict:
    return Verdict(
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
        target_drop=target,
        trials_needed=needed,
    )


class _Judge:
    """The verdict of one cell, or of a model overall, with the gate's settings."""

    def __init__(self, alpha: float, floor: float | None, drop: float, method: Interval, tests: int) -> None:
        self.alpha, self.floor, self.drop, self.method, self.tests = alpha, floor, drop, method, tests
        self.level = alpha / tests
        """What a drop in one cell alone must reach."""

    def _holm(self, adjusted: float) -> str:
        return f", Holm-adjusted over {self.tests} tests {adjusted:.3g}" if self.tests > 1 else ""

    def _floor(self, cell: Cell) -> tuple[str, str] | None:
        """The floor's verdict and reason when it fails the cell (below it, or not known to be above it)."""
        if self.floor is None:
            return None
        if cell.total == 0:
            return "INCONCLUSIVE", f"no judged trial to hold against the floor {self.floor:.2f}"
        low, high = cell.interval_by(self.method)
        if high < self.floor:
            return "REGRESSED", self._below_floor(high)
        if low < self.floor:
            return "INCONCLUSIVE", self._across_floor(cell, low, high)
        return None

    def new(self, cell: Cell, b: Cell | None) -> Verdict:
        """No baseline to compare with: only the floor, when there is one, can fail the cell."""
        reason = "no baseline for this cell" if b is None else "the baseline's trials of this cell all ended in errors"
        base_passed, base_total = (b.passed, b.total) if b is not None else (0, 0)
        verdict, why = self._floor(cell) or ("NEW", "")
        reason = f"{reason}; {why}" if why else reason
        return Verdict(cell.model, cell.step, verdict, cell.passed, cell.total, base_passed, base_total, 1.0, reason)

    def never_passed(self, cell: Cell, b: Cell) -> Verdict:
        """A baseline with no pass cannot drop; the floor still holds."""
        reason = f"the baseline passed none of its {b.total} trials: no drop"
        verdict, why = self._floor(cell) or ("OK", "")
        return _verdict(cell, b, verdict, 1.0, f"{reason}; {why}" if why else reason)

    def _below_floor(self, high: float) -> str:
        return f"below the floor {self.floor:.2f} (95% {INTERVAL_NAMES[self.method]} upper bound {high:.2f})"

    def _across_floor(self, cell: Cell, low: float, high: float) -> str:
        assert self.floor is not None
        more = _floor_trials(cell.passed, cell.total, self.floor, self.method)
        return f"the floor {self.floor:.2f} lies inside the 95% interval [{low:.2f}, {high:.2f}]; " + (
            f"{more - cell.total} more trials at this success rate would put it outside"
            if more is not None
            else "no number of trials up to 2,000 at this success rate would put it outside"
        )

    def cell(self, cell: Cell, b: Cell, p: float, adjusted: float) -> Verdict:
        lowest = fisher_drop_pvalue(0, cell.total, b.passed, b.total)
        low, high = cell.interval_by(self.method)
        detectable = detectable_drop(cell.total, b.total, b.fraction, self.level)
        needed = trials_needed(self.drop, b.fraction, self.level)
        power = _power_text(cell.total, detectable, b.total) + (f" over {self.tests} tests" if self.tests > 1 else "")
        if adjusted < self.alpha:
            verdict = "REGRESSED"
            reason = f"success dropped: one-sided Fisher p = {p:.3g}{self._holm(adjusted)} < {self.alpha}"
        elif self.floor is not None and high < self.floor:
            verdict, reason = "REGRESSED", self._below_floor(high)
        elif cell.errors > cell.total:
            verdict = "INCONCLUSIVE"
            reason = (
                f"most trials ended in infrastructure errors ({cell.errors} of {cell.started}): they say nothing about "
                f"the model; re-run them (--hep-resume) before deciding"
            )
        elif lowest >= self.level:
            verdict = "INCONCLUSIVE"
            alone = f" (a drop in one of {self.tests} tests alone needs p < {self.level:.3g})" if self.tests > 1 else ""
            reason = (
                f"too few trials: even 0/{cell.total} would give p = {lowest:.3g}{alone}; {power}; "
                f"{_needed_text(self.drop, needed, cell.total, b.fraction, self.level)}"
            )
        elif self.floor is not None and low < self.floor:
            verdict, reason = "INCONCLUSIVE", self._across_floor(cell, low, high)
        else:
            verdict, reason = "OK", f"no significant drop (p = {p:.3g}{self._holm(adjusted)}); {power}"
        return _verdict(
            cell,
            b,
            verdict,
            p,
            reason,
            p_adjusted=adjusted,
            detectable=detectable,
            target=self.drop,
            needed=needed,
        )

    def overall(self, model: str, pairs: Sequence[tuple[Cell, Cell]], p: float, adjusted: float) -> Verdict:
        """A model's drop over its steps together (the exact stratified test)."""
        passed, total = sum(c.passed for c, _ in pairs), sum(c.total for c, _ in pairs)
        base_passed, base_total = sum(b.passed for _, b in pairs), sum(b.total for _, b in pairs)
        test = f"exact stratified test over {len(pairs)} steps: p = {p:.3g}{self._holm(adjusted)}"
        if adjusted < self.alpha:
            verdict, reason = "REGRESSED", f"success dropped over the steps together: {test} < {self.alpha}"
        else:
            verdict, reason = "OK", f"no significant drop over the steps together ({test})"
        return Verdict(
            model, ALL_STEPS, verdict, passed, total, base_passed, base_total, p, reason, p_adjusted=adjusted
        )


def _trials(n: int) -> str:
    return f"{n} trial" if n == 1 else f"{n} trials"


def _power_text(total: int, detectable: float | None, base_total: int) -> str:
    verb = "detects" if total == 1 else "detect"
    if detectable is None and max(total, base_total) > 5_000:
        return "(the power is not computed above 5,000 trials)"
    if detectable is None:
        return f"{_trials(total)} {verb} no drop at 80% power"
    return f"{_trials(total)} {verb} a drop of {detectable:.0%} or more at 80% power"


def _needed_text(drop: float, needed: int | None, total: int, base_rate: float, level: float) -> str:
    """How many trials a decision on a drop of `drop` takes, and how many more than the cell has."""
    if needed is None:
        if drop > base_rate:
            to_zero = trials_needed(base_rate, base_rate, level) if base_rate > 0 else None
            return f"the baseline's {base_rate:.0%} cannot drop by {drop:.0%}" + (
                f"; a drop to 0 needs {to_zero} trials per cell in both runs" if to_zero is not None else ""
            )
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

    With a baseline the gate decides between 0 and 1, whatever single trials did (or when none ran, as in a resumed
    run already complete): 1 when any cell regressed, could not be decided or is missing. pytest's other statuses
    (interrupted, usage error, ...) stand. A run whose records
    did not all reach the disk is not the run that was asked for: 3 (internal error), whatever else happened.
    """
    if verdicts is not None and status in (0, 1, 5):  # 5: nothing ran (a resumed run already complete)
        status = 1 if any(v.verdict in FAILING for v in verdicts) else 0
    return 3 if unsaved else status
