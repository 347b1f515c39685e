"""How many calls one process has in flight to one model: a cap that halves on a rate limit and grows back.

Concurrent trials of a process share one `CallLimiter` per model and API base (`limiter_for`). A call holds a slot
while it waits on the provider. A rate limit (429) halves the slots and pauses new calls for the provider's
`Retry-After` (or the backoff); each later success adds slots back, one per `current` successes (additive increase,
multiplicative decrease, the way TCP shares a link), up to the configured maximum.

The first call runs alone: litellm caches one HTTP client per endpoint and settings, and concurrent first calls
would each build one, all but the cached one left for the garbage collector with their connections open.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["CallLimiter", "ProviderStalled", "limiter_for"]


class ProviderStalled(Exception):
    """Every slot is held by a call the gateway gave up on: no new call can start."""


class CallLimiter:
    def __init__(self, max_calls: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_calls < 1:
            raise ValueError(f"max_calls must be at least 1, got {max_calls}")
        self.max_calls = max_calls
        self.current = max_calls
        """Slots open now: `max_calls`, less after rate limits."""
        self.in_flight = 0
        self.peak = 0
        """Most calls seen in flight at once (for tests and reports)."""
        self.rate_limits = 0
        self.abandoned = 0
        """Calls given up on (timed out) that still hold their slot."""
        self._successes = 0
        self._paused_until = 0.0
        self._opened = False
        """Whether a first call has ended (until then calls go one at a time)."""
        self._clock = clock
        self._cond = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the open slots for the duration of a call (waits for one)."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def acquire(self) -> None:
        """Wait for an open slot and take it; `ProviderStalled` when every open slot is held by a call given up on
        (the provider holds them open without answering: waiting would never end)."""
        with self._cond:
            while True:
                if self.abandoned >= self.current:
                    raise ProviderStalled(
                        f"the provider holds {self.abandoned} call(s) open without answering, every slot of "
                        f"--hep-max-connections {self.max_calls}"
                    )
                pause = self._paused_until - self._clock()
                if pause <= 0 and self.in_flight < (self.current if self._opened else 1):
                    break
                self._cond.wait(timeout=pause if pause > 0 else None)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

    def release(self, abandoned: bool = False) -> None:
        """A call ended (`abandoned`: one `abandon`ed earlier, which held its slot until now)."""
        with self._cond:
            self.in_flight -= 1
            if abandoned:
                self.abandoned -= 1
            self._opened = True
            self._cond.notify_all()

    def abandon(self) -> None:
        """A call was given up on but still runs: it keeps its slot until it `release`s it."""
        with self._cond:
            self.abandoned += 1
            self._opened = True  # its client was made when it started
            self._cond.notify_all()

    def rate_limited(self, pause_s: float) -> None:
        """The provider answered 429: halve the slots and hold new calls for `pause_s`."""
        with self._cond:
            self.rate_limits += 1
            self.current = max(1, self.current // 2)
            self._successes = 0
            self._paused_until = max(self._paused_until, self._clock() + pause_s)
            self._cond.notify_all()

    def succeeded(self) -> None:
        """A call was answered: after `current` answers in a row, open one more slot (up to the maximum)."""
        with self._cond:
            if self.current >= self.max_calls:
                return
            self._successes += 1
            if self._successes >= self.current:
                self.current += 1
                self._successes = 0
                self._cond.notify_all()


_limiters: dict[tuple[str, str], CallLimiter] = {}
_lock = threading.Lock()


def limiter_for(model: str, api_base: str | None, max_calls: int) -> CallLimiter:
    """The process's limiter of `model` at `api_base` (made with `max_calls` on first use)."""
    with _lock:
        key = (model, api_base or "")
        limiter = _limiters.get(key)
        if limiter is None or limiter.max_calls != max_calls:
            limiter = _limiters[key] = CallLimiter(max_calls)
        return limiter
