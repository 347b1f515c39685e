"""Per-trial limits on what the agent may use in all, the policy Inspect applies to a sample.

A trial may use at most `tokens` (input and output of every call together), `cost_usd` and `time_s` of wall time
(calls, executions and the harness's own work between them). Tokens and cost are checked after each call, so the
call that crosses a limit is kept in the record; time is checked before each call and execution, and cuts both
short (a call's timeout and an execution's wall time never reach past the deadline). Reaching a limit ends the
trial as a model failure (`LimitReached`, category `other` with the limit named); the outputs it left are still
validated and shown.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from pytest_hepagent.errors import LimitReached

__all__ = ["DEFAULT_TIME_LIMIT_S", "LimitTracker", "TrialLimits"]

DEFAULT_TIME_LIMIT_S = 3600.0
"""An hour: three attempts of the slowest step's code (15 min each) and seven calls still fit."""


@dataclass(frozen=True)
class TrialLimits:
    tokens: int | None = None
    """Input plus output tokens of all the trial's calls (None: no limit)."""
    cost_usd: float | None = None
    """What the trial's calls may cost (None: no limit)."""
    time_s: float | None = DEFAULT_TIME_LIMIT_S
    """Wall time of the whole trial (None: no limit)."""

    def check(self) -> None:
        """`ValueError` naming the limit that is not a positive, finite number."""
        for name, value in (("tokens", self.tokens), ("cost_usd", self.cost_usd), ("time_s", self.time_s)):
            if value is not None and (isinstance(value, bool) or not 0 < value < math.inf):
                raise ValueError(f"{name} must be a positive number (or none), got {value!r}")

    def describe(self) -> dict[str, float | int | None]:
        return {"tokens": self.tokens, "cost_usd": self.cost_usd, "time_s": self.time_s}


class LimitTracker:
    """Counts a trial's use against its limits; raises `LimitReached` when one is reached."""

    def __init__(self, limits: TrialLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self.started = clock()
        self.waiting_s = 0.0
        self.tokens = 0
        self.cost_usd = 0.0

    @property
    def deadline(self) -> float | None:
        """When the trial's time is up (a `clock()` value), or None."""
        time_s = self.limits.time_s
        return self.started + self.waiting_s + time_s if time_s is not None else None

    def waited(self, seconds: float) -> None:
        """Time spent waiting for the provider's capacity (a call slot, a rate-limit pause, a retry's backoff) is
        not working time: the deadline moves on by as much, as Inspect's working limit does."""
        self.waiting_s += max(0.0, seconds)

    def time_left(self) -> float | None:
        deadline = self.deadline
        return None if deadline is None else deadline - self._clock()

    def check_time(self) -> None:
        left = self.time_left()
        if left is not None and left <= 0:
            raise LimitReached("time", f"time limit reached: the trial ran {self.limits.time_s:g} s")

    def spent(self, tokens: int, cost_usd: float) -> None:
        """Count one call's tokens and cost; raise when a limit is now reached."""
        self.tokens += tokens
        self.cost_usd += cost_usd
        limits = self.limits
        if limits.tokens is not None and self.tokens >= limits.tokens:
            raise LimitReached(
                "tokens", f"token limit reached: {self.tokens:,} tokens used, the limit is {limits.tokens:,}"
            )
        if limits.cost_usd is not None and self.cost_usd >= limits.cost_usd:
            raise LimitReached(
                "cost", f"cost limit reached: {self.cost_usd:.4f} USD spent, the limit is {limits.cost_usd:g} USD"
            )
