"""The gate's sequential design: the rounds a cell's trials come in, and a cell's verdict at its looks.

A cell against its baseline is REGRESSED when its passes fall to the drop boundary at some look (a drop is shown),
OK when they reach the margin boundary (a drop of `margin` or more is ruled out), and UNDECIDED otherwise; the first
look that decides stands, and trials after it are not used. Each side is tested at `level`, one test's share of the
family-wise level (`boundaries`).

OK also needs a baseline that can support it: a run of `max_trials` trials passing exactly as often as the baseline
must be able to rule out the margin (as a fixed design at `level`). Otherwise the baseline alone is too uncertain
for any run as good as it to be called OK, and the cell can only be REGRESSED or UNDECIDED, with the number of
baseline trials that would do; an OK there could only come from a run that beat its baseline by luck. This can only
lower the chance of a false OK.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pytest_hepagent.sequential.boundaries import MOST_BASELINE, MOST_TRIALS, boundaries, single_look

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_MAX_TRIALS",
    "DEFAULT_ROUND_TRIALS",
    "CellDecision",
    "baseline_needed",
    "can_decide_later",
    "decide",
    "ok_reachable",
    "round_of",
    "run_trials_for_ok",
    "schedule",
    "trials_to_decide",
    "what_allows_ok",
]

DEFAULT_MARGIN = 0.35
"""The drop OK must rule out, unless `--hep-detect-drop` says otherwise (docs/ci-gate.md: why this value)."""
DEFAULT_MAX_TRIALS = 50
"""The most trials a gated cell gets, unless `--hep-max-trials` says otherwise."""
DEFAULT_ROUND_TRIALS = 5
"""After the first round, undecided cells get trials up to the next multiple of this."""
_SEARCHED = MOST_TRIALS
"""`run_trials_for_ok` and `trials_to_decide` look no further (`baseline_needed`: MOST_BASELINE)."""

Decision = Literal["REGRESSED", "OK", "UNDECIDED"]


def schedule(first: int, max_trials: int, round_trials: int = DEFAULT_ROUND_TRIALS) -> tuple[int, ...]:
    """A cell's trials after each round: `first`, then each multiple of `round_trials` above it, up to
    `max_trials` (always the last)."""
    if first < 1 or max_trials < first or round_trials < 1:
        raise ValueError(f"no schedule from {first} to {max_trials} trials in rounds of {round_trials}")
    looks = [first]
    while looks[-1] < max_trials:
        looks.append(min(max_trials, (looks[-1] // round_trials + 1) * round_trials))
    return tuple(looks)


def round_of(trial: int, looks: Sequence[int]) -> int:
    """The round (1-based) that trial number `trial` belongs to."""
    for number, last in enumerate(looks, start=1):
        if trial <= last:
            return number
    raise ValueError(f"trial {trial} is beyond the schedule's {looks[-1]} trials")


@dataclass(frozen=True)
class CellDecision:
    verdict: Decision
    look: int
    """The look (0-based) that decided, or the last one."""
    passed: int
    total: int
    """The current trials at that look."""
    regressed_at_most: int
    """At that look, the most passes that are REGRESSED (-1: none can be)."""
    ok_from: int | None
    """At that look, the fewest passes that are OK (None: none can be)."""
    ok_blocked: bool
    """The baseline cannot support OK at this margin (see the module's docstring)."""


def _looks_taken(looks: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The looks that are looks: a round that added no judged trial (errors only) is none."""
    kept: list[tuple[int, int]] = []
    for passed, total in looks:
        if total > (kept[-1][1] if kept else 0):
            kept.append((passed, total))
    return kept


@functools.lru_cache(maxsize=4096)
def ok_reachable(base_passed: int, base_total: int, max_trials: int, level: float, margin: float) -> bool:
    """Whether a run of `max_trials` trials at the baseline's own success could rule out `margin` (fixed design)."""
    passes = round(max_trials * base_passed / base_total)
    return single_look(base_total, max_trials, level, margin, drop=False)[base_passed] <= passes


def decide(
    looks: Sequence[tuple[int, int]],
    base_passed: int,
    base_total: int,
    *,
    max_trials: int,
    level: float,
    margin: float,
) -> CellDecision:
    """The verdict of a cell whose (passes, judged trials) at each look, cumulative, are `looks`."""
    kept = _looks_taken(looks)
    if not kept:
        raise ValueError("a decision needs at least one judged trial")
    max_trials = max(max_trials, kept[-1][1])
    found = boundaries(base_total, tuple(t for _, t in kept), max_trials, level, margin)
    blocked = not ok_reachable(base_passed, base_total, max_trials, level, margin)
    for k, (passed, total) in enumerate(kept):
        at_most, ok_from = found.regressed[k][base_passed], found.ok[k][base_passed]
        ok = None if blocked or ok_from > total else ok_from
        verdict: Decision | None = None
        if passed <= at_most:  # a drop shown stands, even when small: REGRESSED before OK
            verdict = "REGRESSED"
        elif ok is not None and passed >= ok:
            verdict = "OK"
        if verdict is not None or k == len(kept) - 1:
            return CellDecision(verdict or "UNDECIDED", k, passed, total, at_most, ok, blocked)
    raise AssertionError("unreachable")


def can_decide_later(
    looks: Sequence[tuple[int, int]],
    planned: Sequence[int],
    base_passed: int,
    base_total: int,
    *,
    max_trials: int,
    level: float,
    margin: float,
) -> bool:
    """Whether the rounds still `planned` (trials per cell after each) could decide a cell now at `looks`: some
    outcome of them reaches a boundary (every new trial failing, for REGRESSED; passing, for OK). A cell that
    cannot be decided gets no more trials."""
    kept = [t for _, t in _looks_taken(looks)]
    passed, total = looks[-1]
    future = [n for n in planned if n > total and n <= max_trials]
    if not future:
        return False
    found = boundaries(base_total, (*kept, *future), max_trials, level, margin)
    blocked = not ok_reachable(base_passed, base_total, max_trials, level, margin)
    for k, n in enumerate(future, start=len(kept)):
        if passed <= found.regressed[k][base_passed]:
            return True
        if not blocked and passed + (n - total) >= found.ok[k][base_passed]:
            return True
    return False


@functools.lru_cache(maxsize=4096)
def baseline_needed(base_passed: int, base_total: int, max_trials: int, level: float, margin: float) -> int | None:
    """The fewest baseline trials, at the baseline's success, with which a run as good as it could be OK (None:
    more than 1,000)."""
    rate = base_passed / base_total

    def enough(n: int) -> bool:
        return ok_reachable(round(rate * n), n, max_trials, level, margin)

    low, high = base_total, base_total
    while not enough(high):
        if high >= MOST_BASELINE:
            return None
        low, high = high, min(2 * high, MOST_BASELINE)
    while low + 1 < high:  # enough(high), not enough(low) (or low is where we started)
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high


@functools.lru_cache(maxsize=4096)
def run_trials_for_ok(base_passed: int, base_total: int, level: float, margin: float) -> int | None:
    """The fewest trials with which a run as good as the baseline could be OK (fixed design; None: more than
    1,000, so the baseline, not the run, is what is too small)."""
    low, high = 0, 1
    while not ok_reachable(base_passed, base_total, high, level, margin):
        if high >= _SEARCHED:
            return None
        low, high = high, min(2 * high, _SEARCHED)
    while low + 1 < high:
        middle = (low + high) // 2
        low, high = (low, middle) if ok_reachable(base_passed, base_total, middle, level, margin) else (middle, high)
    return high


def what_allows_ok(
    base_passed: int, base_total: int, max_trials: int, level: float, margin: float
) -> tuple[int | None, int | None]:
    """For a baseline that keeps a run as good as it from OK within `max_trials`: (the run trials that would allow
    it, None) when more trials of the run are enough, else (None, the baseline trials that would; None past
    1,000)."""
    run = run_trials_for_ok(base_passed, base_total, level, margin)
    if run is not None:
        return run, None
    return None, baseline_needed(base_passed, base_total, max_trials, level, margin)


@functools.lru_cache(maxsize=4096)
def trials_to_decide(
    passed: int, total: int, base_passed: int, base_total: int, level: float, margin: float, *, ok_blocked: bool
) -> tuple[int, Decision] | None:
    """About how many trials in all, at this cell's success, would decide it, and how (a fixed design's count: the
    rounds spend a little of the level early, so a sequential run may need a few more); None past 1,000."""
    rate = passed / total

    def verdict(n: int) -> Decision | None:
        x = round(rate * n)
        if x <= single_look(base_total, n, level, margin, drop=True)[base_passed]:
            return "REGRESSED"
        if not ok_blocked and x >= single_look(base_total, n, level, margin, drop=False)[base_passed]:
            return "OK"
        return None

    low, high = total, total + 1
    while verdict(high) is None:
        if high >= _SEARCHED:
            return None
        low, high = high, min(2 * high, _SEARCHED)
    while low + 1 < high:
        middle = (low + high) // 2
        low, high = (low, middle) if verdict(middle) is not None else (middle, high)
    found = verdict(high)
    assert found is not None
    return high, found
