"""The CI gate: is a run worse than its baseline, no worse, or not yet known? It decides the exit status of a run
with `--hep-baseline` and of `hepagent compare`.

Per model x step, two one-sided exact tests against the baseline (`pytest_hepagent.sequential`): REGRESSED when a
drop is shown, OK when a drop of the margin (`--hep-detect-drop`) or more is ruled out, UNDECIDED when neither is;
a gated run adds trials to undecided cells in rounds, and the tests' boundaries spend their level over those looks.
Per model over its steps, the exact stratified (conditional Cochran-Mantel-Haenszel) test on the first round, whose
size the design fixes, sees a drop spread thinly over every step.

All these tests are one family. At most one of a cell's two hypotheses can be true (the success cannot be both no
lower than the baseline's and lower by the margin), so testing every hypothesis at alpha over the number of cells
and models (Bonferroni) keeps the chance of any wrong REGRESSED or OK in a run at alpha, whatever the cells' true
rates. A baseline cell the run has no trial of is MISSING (a skipped step must not pass unseen). REGRESSED and
MISSING fail the gate; UNDECIDED fails it too unless `--hep-undecided pass`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol, cast

from pytest_hepagent.records import Cell, Verdict
from pytest_hepagent.sequential.boundaries import MOST_TRIALS, drop_pvalue, regression_power
from pytest_hepagent.sequential.design import (
    DEFAULT_MARGIN,
    CellDecision,
    decide,
    trials_to_decide,
    what_allows_ok,
)
from pytest_hepagent.stats import ALPHA, INTERVAL_NAMES, POWER, Interval, interval, stratified_drop_pvalue

__all__ = [
    "ALL_STEPS",
    "DEFAULT_MARGIN",
    "FAILING",
    "Adjust",
    "Undecided",
    "cell_verdict",
    "detectable_drop",
    "failing",
    "family_size",
    "gate",
    "gate_line",
    "model_pair",
    "paired_models",
    "run_exit_status",
    "trials_needed",
]

ALL_STEPS = "all steps"
"""The step of a model's overall verdict."""
Adjust = Literal["bonferroni", "none"]
"""How the gate corrects for testing many cells."""
Undecided = Literal["fail", "pass"]
"""What an UNDECIDED cell does to the exit status."""
FAILING = ("REGRESSED", "UNDECIDED", "INCONCLUSIVE", "MISSING")
"""The verdicts that fail the gate under the default policy (INCONCLUSIVE: UNDECIDED in older summaries)."""
_LARGEST_N = 2_000


def failing(policy: Undecided = "fail") -> tuple[str, ...]:
    """The verdicts that fail the gate under `policy`."""
    return FAILING if policy == "fail" else ("REGRESSED", "MISSING")


def model_pair(before: Iterable[str], now: Iterable[str]) -> tuple[str, str] | None:
    """(baseline's model, run's model) when each side has exactly one model and they differ: the two are compared
    (a replay of a model's cassettes against its live baseline, or a new model against the old); None otherwise."""
    before, now = set(before), set(now)
    if len(before) == len(now) == 1 and before != now:
        return next(iter(before)), next(iter(now))
    return None


def paired_models(baseline: Sequence[Cell], cells: Sequence[Cell]) -> tuple[str, str] | None:
    """`model_pair` of the models of the baseline's cells and the run's."""
    return model_pair((c.model for c in baseline), (c.model for c in cells))


def _in_scope(cells: Sequence[Cell], baseline: Sequence[Cell], steps: Sequence[str] | None) -> list[Cell]:
    """The baseline cells the gate tests: those with judged trials, of the steps asked (all, without `steps`), and
    any other the run has trials of (a resumed run's other steps)."""
    present = {(c.model, c.step) for c in cells}
    return [b for b in baseline if b.total > 0 and (steps is None or b.step in steps or (b.model, b.step) in present)]


def family_size(cells: Sequence[Cell], baseline: Sequence[Cell], steps: Sequence[str] | None = None) -> int:
    """The tests of the gate's family: one per baseline cell in scope (its two sides share it: at most one of them
    can be wrong) and one per model with two or more of them (its steps together). It depends on the baseline and
    the steps asked, not on how far the run got, so every round of a run is judged at the same level."""
    scoped = _in_scope(cells, baseline, steps)
    models: dict[str, int] = {}
    for b in scoped:
        models[b.model] = models.get(b.model, 0) + 1
    return max(1, len(scoped) + sum(n > 1 for n in models.values()))


def gate(
    cells: Iterable[Cell],
    baseline: Iterable[Cell],
    alpha: float = ALPHA,
    floor: float | None = None,
    *,
    margin: float = DEFAULT_MARGIN,
    interval: Interval = "wilson",
    adjust: Adjust = "bonferroni",
    steps: Sequence[str] | None = None,
    tests: int | None = None,
    planning: bool = True,
) -> list[Verdict]:
    """The verdicts of `cells` against `baseline`: one per cell of the run (REGRESSED, OK, UNDECIDED or NEW), one
    per baseline cell in scope the run lacks (MISSING), and one per model with two or more cells compared (its
    steps together: REGRESSED or NO DROP). `tests`: the family's size, when a run fixed it at its start; `planning`:
    False leaves out what would decide a cell (the power and the trials needed), which takes a little time."""
    cells, baseline = list(cells), list(baseline)
    pair = paired_models(baseline, cells)
    if pair is not None:
        baseline = [replace(c, model=pair[1]) for c in baseline]
    base = {(c.model, c.step): c for c in baseline}
    if tests is None:
        tests = family_size(cells, baseline, steps)
    tests = tests if adjust == "bonferroni" else 1
    judge = _Judge(alpha, alpha / tests, tests, floor, margin, interval, lean=not planning)
    verdicts = []
    compared: dict[str, list[tuple[Cell, Cell]]] = {}
    for cell in cells:
        b = base.get((cell.model, cell.step))
        if b is None or b.total == 0:
            verdicts.append(judge.new(cell, b))
        else:
            verdicts.append(judge.cell(cell, b))
            compared.setdefault(cell.model, []).append((cell, b))
    present = {(c.model, c.step) for c in cells}
    for b in _in_scope(cells, baseline, steps):
        if (b.model, b.step) not in present:
            reason = f"no trial of this cell in this run (not run, or skipped); the baseline has {b.passed}/{b.total}"
            verdicts.append(Verdict(b.model, b.step, "MISSING", 0, 0, b.passed, b.total, 1.0, reason))
    for model, pairs in compared.items():
        if len(pairs) > 1:
            verdicts.append(judge.overall(model, pairs))
    return verdicts


class _Settings(Protocol):
    @property
    def level(self) -> float: ...
    @property
    def tests(self) -> int: ...
    @property
    def margin(self) -> float: ...
    @property
    def floor(self) -> float | None: ...
    @property
    def interval(self) -> str: ...


def cell_verdict(cell: Cell, b: Cell, settings: _Settings) -> Verdict:
    """One cell's verdict against its baseline cell `b` (which has judged trials), at `settings.level`, without
    the planning figures of its reason (how many trials would decide it): what a run's rounds ask."""
    judge = _Judge(
        settings.level * settings.tests,
        settings.level,
        settings.tests,
        settings.floor,
        settings.margin,
        cast("Interval", settings.interval),
        lean=True,
    )
    return judge.cell(cell, b)


def _first_round(cell: Cell) -> tuple[int, int]:
    """(passed, judged) of the cell's first round: a size the design fixed, whatever later rounds did."""
    return cell.looks[0] if cell.looks else (cell.passed, cell.total)


@dataclass(frozen=True)
class _Judge:
    """The verdict of one cell, or of a model over its steps, with the gate's settings."""

    alpha: float
    level: float
    """One test's share of alpha."""
    tests: int
    floor: float | None
    margin: float
    method: Interval
    lean: bool = False
    """Leave out the planning figures (the trials or baseline that would decide a cell): faster."""

    def _level_text(self) -> str:
        return f"level {self.level:.3g} = {self.alpha}/{self.tests}" if self.tests > 1 else f"level {self.alpha}"

    def _floor(self, cell: Cell) -> tuple[str, str] | None:
        """The floor's verdict and reason when it fails the cell (below it, or not known to be above it)."""
        if self.floor is None:
            return None
        if cell.total == 0:
            return "UNDECIDED", f"no judged trial to hold against the floor {self.floor:.2f}"
        low, high = cell.interval_by(self.method)
        name = INTERVAL_NAMES[self.method]
        if high < self.floor:
            return "REGRESSED", f"below the floor {self.floor:.2f} (95% {name} upper bound {high:.2f})"
        if low < self.floor:
            more = _floor_trials(cell.passed, cell.total, self.floor, self.method)
            return "UNDECIDED", f"the floor {self.floor:.2f} lies inside the 95% interval [{low:.2f}, {high:.2f}]; " + (
                f"{more - cell.total} more trials at this success rate would put it outside"
                if more is not None
                else "no number of trials up to 2,000 at this success rate would put it outside"
            )
        return None

    def new(self, cell: Cell, b: Cell | None) -> Verdict:
        """No baseline to compare with: only the floor, when there is one, can fail the cell."""
        reason = "no baseline for this cell" if b is None else "the baseline's trials of this cell all ended in errors"
        base_passed, base_total = (b.passed, b.total) if b is not None else (0, 0)
        verdict, why = self._floor(cell) or ("NEW", "")
        reason = f"{reason}; {why}" if why else reason
        return Verdict(cell.model, cell.step, verdict, cell.passed, cell.total, base_passed, base_total, 1.0, reason)

    def cell(self, cell: Cell, b: Cell) -> Verdict:
        if cell.total == 0:
            reason = (
                f"no judged trial: all {cell.errors} ended in infrastructure errors, which say nothing about the "
                f"model; re-run them (--hep-resume)"
            )
            return Verdict(cell.model, cell.step, "UNDECIDED", 0, 0, b.passed, b.total, 1.0, reason)
        n_max = cell.max_trials or cell.total
        looks = cell.looks or ((cell.passed, cell.total),)
        d = decide(looks, b.passed, b.total, max_trials=n_max, level=self.level, margin=self.margin)
        # (a run's rounds ask only whether the cell is decided: the p-value of a look is for people)
        p = drop_pvalue(d.passed, d.total, b.passed, b.total) if not self.lean or d.verdict == "REGRESSED" else 1.0
        needed: int | None = None
        found: tuple[int, str] | None = None
        if (
            d.verdict == "UNDECIDED" and d.ok_blocked and not self.lean
        ):  # the run's trials are too few, or the baseline's
            run, needed = what_allows_ok(b.passed, b.total, n_max, self.level, self.margin)
            found = (run, "OK") if run is not None else None
        elif d.verdict == "UNDECIDED" and not self.lean:
            found = trials_to_decide(d.passed, d.total, b.passed, b.total, self.level, self.margin, ok_blocked=False)
        verdict: str = d.verdict
        reason = self._reason(cell, b, d, p, n_max, needed, found)
        if verdict == "OK" and cell.errors > cell.total:
            verdict = "UNDECIDED"
            reason = (
                f"most trials ended in infrastructure errors ({cell.errors} of {cell.started}): they say nothing about "
                f"the model; re-run them (--hep-resume) before deciding"
            )
        if verdict != "REGRESSED" and (floored := self._floor(cell)) is not None:
            verdict, why = floored
            reason = f"{reason}; {why}"
        return Verdict(
            cell.model,
            cell.step,
            verdict,
            d.passed,
            d.total,
            b.passed,
            b.total,
            p,
            reason,
            p_adjusted=min(1.0, p * self.tests),
            detectable_drop=None if self.lean else detectable_drop(d.total, b.total, b.fraction, self.level),
            target_drop=self.margin,
            trials_needed=None if self.lean else trials_needed(self.margin, b.fraction, self.level),
            round=d.look + 1 if cell.looks else None,
            level=self.level,
            regressed_at_most=d.regressed_at_most,
            ok_from=d.ok_from,
            baseline_needed=needed,
            trials_to_decide=found[0] if found is not None and verdict == "UNDECIDED" else None,
        )

    def _reason(
        self,
        cell: Cell,
        b: Cell,
        d: CellDecision,
        p: float,
        n_max: int,
        needed: int | None,
        found: tuple[int, str] | None,
    ) -> str:
        counts = f"{d.passed}/{d.total} against {b.passed}/{b.total}"
        where = f" after round {d.look + 1}" if cell.looks else ""
        if d.verdict == "REGRESSED":
            return (
                f"a drop is shown: {counts}{where} is at or below the boundary {d.regressed_at_most}/{d.total} "
                f"(one-sided exact p = {p:.3g} for this look alone; {self._level_text()})"
            )
        if d.verdict == "OK":
            return f"a drop of {self.margin:.0%} or more is ruled out: {counts}{where} reaches {d.ok_from}/{d.total}"
        regressed = f"REGRESSED at most {d.regressed_at_most}" if d.regressed_at_most >= 0 else "no REGRESSED"
        if self.lean:
            out_of_reach = ", and OK is out of reach for this baseline" if d.ok_blocked else ""
            return f"neither a drop shown nor a {self.margin:.0%} drop ruled out: {counts}{where}{out_of_reach}"
        if d.ok_blocked and found is not None:
            return (
                f"no drop shown ({counts}{where}; {regressed}), and {n_max} trials are too few for OK: a run as "
                f"good as the baseline rules out a {self.margin:.0%} drop from {found[0]} trials (--hep-max-trials)"
            )
        if d.ok_blocked:
            more = (
                f"{needed} baseline trials at this success would"
                if needed is not None
                else "no baseline of up to 1,000 trials at this success would"
            )
            return (
                f"no drop shown ({counts}{where}; {regressed}), and the baseline's {b.passed}/{b.total} is too "
                f"uncertain for OK: no run as good as it can rule out a {self.margin:.0%} drop; {more}"
            )
        decides = (
            f"at this success about {found[0]} trials would decide it ({found[1]})"
            if found is not None
            else "at this success no number of trials up to 1,000 would decide it"
        )
        ok = f"OK from {d.ok_from}" if d.ok_from is not None else "no OK"
        return f"neither a drop shown nor a {self.margin:.0%} drop ruled out: {counts}{where} ({regressed}, {ok}); {decides}"

    def overall(self, model: str, pairs: Sequence[tuple[Cell, Cell]]) -> Verdict:
        """A model's drop over its steps together (the exact stratified test, on each cell's first round)."""
        firsts = [(*_first_round(c), b.passed, b.total) for c, b in pairs]
        p = stratified_drop_pvalue(firsts)
        passed, total = sum(s[0] for s in firsts), sum(s[1] for s in firsts)
        base_passed, base_total = sum(b.passed for _, b in pairs), sum(b.total for _, b in pairs)
        rounds = " (first rounds)" if any(c.looks for c, _ in pairs) else ""
        test = f"exact stratified test over {len(pairs)} steps{rounds}: p = {p:.3g}, {self._level_text()}"
        if p <= self.level:
            verdict, reason = "REGRESSED", f"success dropped over the steps together: {test}"
        else:
            verdict, reason = "NO DROP", f"no drop shown over the steps together ({test})"
        return Verdict(
            model,
            ALL_STEPS,
            verdict,
            passed,
            total,
            base_passed,
            base_total,
            p,
            reason,
            p_adjusted=min(1.0, p * self.tests),
            level=self.level,
        )


def _floor_trials(passed: int, total: int, floor: float, method: Interval) -> int | None:
    """The fewest trials at this cell's success rate whose interval no longer holds `floor` (None past 2,000)."""
    rate = passed / total if total else 0.0
    if rate == floor:  # the interval is around the floor at any n
        return None
    for n in range(total + 1, _LARGEST_N + 1):
        low, high = interval(round(rate * n), n, method)
        if high < floor or low >= floor:
            return n
    return None


@functools.lru_cache(maxsize=4096)
def detectable_drop(total: int, base_total: int, base_rate: float, level: float) -> float | None:
    """The smallest drop from `base_rate` that `total` trials against `base_total` baseline trials show as
    REGRESSED with 80% power in a single look at `level`; None when not even a drop to 0 would be, or either side
    has more than 1,000 trials (not computed)."""
    if total < 1 or base_total < 1 or max(total, base_total) > MOST_TRIALS:
        return None
    if regression_power(total, base_total, base_rate, 0.0, level) < POWER:
        return None
    from scipy.optimize import brentq

    rate = brentq(lambda q: regression_power(total, base_total, base_rate, q, level) - POWER, 0.0, base_rate)
    return base_rate - float(rate)


@functools.lru_cache(maxsize=4096)
def trials_needed(drop: float, base_rate: float, level: float) -> int | None:
    """The fewest trials per cell, in both runs, with which a single look at `level` shows a drop of `drop` from
    `base_rate` as REGRESSED with 80% power; None when the drop is impossible or needs more than 1,000."""
    rate = base_rate - drop
    if drop <= 0 or rate < -1e-12:
        return None

    def enough(n: int) -> bool:
        return regression_power(n, n, base_rate, max(rate, 0.0), level) >= POWER

    low, high = 0, 1
    while not enough(high):
        if high >= MOST_TRIALS:
            return None
        low, high = high, min(2 * high, MOST_TRIALS)
    while low + 1 < high:  # the power of a discrete test is not monotone in n: this finds a crossing, near the first
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high


def run_exit_status(status: int, verdicts: Iterable[Verdict] | None, unsaved: int, policy: Undecided = "fail") -> int:
    """A benchmark run's exit status from pytest's own, the gate's verdicts and the records left unwritten.

    With a baseline the gate decides between 0 and 1, whatever single trials did (or when none ran, as in a resumed
    run already complete): 1 when a cell regressed or is missing, or is undecided under the `fail` policy. pytest's
    other statuses (interrupted, usage error, ...) stand. A run whose records did not all reach the disk is not the
    run that was asked for: 3 (internal error), whatever else happened.
    """
    if verdicts is not None and status in (0, 1, 5):  # 5: nothing ran (a resumed run already complete)
        status = 1 if any(v.verdict in failing(policy) for v in verdicts) else 0
    return 3 if unsaved else status


def _named(verdicts: Sequence[Verdict], shown: int = 3) -> str:
    names = [f"{v.model} {v.step} ({v.passed}/{v.total} against {v.base_passed}/{v.base_total})" for v in verdicts]
    if len(names) > shown:
        names = [*names[:shown], f"{len(names) - shown} more"]
    return ", ".join(names)


def gate_line(verdicts: Sequence[Verdict], status: int, policy: Undecided = "fail", notes: Sequence[str] = ()) -> str:
    """The gate's decision in one line: `gate: PASS|FAIL (exit N): ` the cells that decided it, and the policy."""
    cells = [v for v in verdicts if v.step != ALL_STEPS]
    by_kind: dict[str, list[Verdict]] = {}
    for v in verdicts:
        kind = "UNDECIDED" if v.verdict == "INCONCLUSIVE" else v.verdict
        by_kind.setdefault(kind, []).append(v)
    parts = []
    for kind in ("REGRESSED", "MISSING", "UNDECIDED"):
        found = by_kind.get(kind, [])
        if found:
            parts.append(f"{len(found)} {kind} ({_named(found)})")
    ok = len(by_kind.get("OK", []))
    margin = next((v.target_drop for v in cells if v.target_drop is not None), None)
    ruled = f" (a drop of {margin:.0%} or more ruled out)" if margin is not None else ""
    parts.append(f"{ok} of {len(cells)} cells OK{ruled}")
    if by_kind.get("NEW"):
        parts.append(f"{len(by_kind['NEW'])} NEW")
    rule = (
        "undecided cells fail (--hep-undecided fail)"
        if policy == "fail"
        else "undecided cells pass (--hep-undecided pass)"
    )
    return f"gate: {'FAIL' if status else 'PASS'} (exit {status}): " + "; ".join([*parts, rule, *notes])
