"""`--hep-max-usd` when trials run concurrently: start no trial the budget cannot be expected to cover.

Sequentially the rule is simple: start no new trial once the recorded spend reaches the budget. Concurrent trials
have not recorded what they will spend, so a trial starts only while the spend so far plus what the running trials
may cost (the dearest finished trial, each) stays below the budget, and no more trials run at once than have
finished (a slow start: a cheap first trial must not open the door to many dear ones). Until one has finished there
is no estimate, so the first trial runs alone. The spend can pass the budget by at most what the trials running
when it was reached cost, as sequentially by one trial's. Runs of models that cost nothing (offline) never wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

__all__ = ["Budget"]


class Budget:
    def __init__(
        self, max_usd: float, recorded: Callable[[], Iterable[tuple[str, float]]], *, free: bool = False
    ) -> None:
        """`recorded()` gives (record key, cost) of what the run has recorded so far (other processes included);
        `free`: every model of the run costs nothing (the offline ones), so no trial waits."""
        self.max_usd = max_usd
        self.free = free
        self._recorded = recorded
        self._finished: dict[str, float] = {}
        self._running = 0
        self._cond = threading.Condition()

    def _costs(self) -> dict[str, float]:
        return {key: cost for key, cost in self._recorded() if key not in self._finished} | self._finished

    def admit(self) -> str | None:
        """Wait until a new trial may start (None), or return why it may not (the budget is spent). A trial that
        was admitted must be `finish`ed."""
        with self._cond:
            while True:
                costs = self._costs()
                spent = sum(costs.values())
                if spent >= self.max_usd:
                    return f"budget spent: {spent:.4f} USD recorded, --hep-max-usd is {self.max_usd:g}"
                if self._running == 0 or self.free:
                    break
                # A first trial that cost nothing (an error) says nothing of the next: the slow start still holds.
                dearest = max(costs.values(), default=0.0)
                if self._running < len(costs) and spent + self._running * dearest < self.max_usd:
                    break
                self._cond.wait()  # a running trial's cost decides
            self._running += 1
            return None

    def finish(self, costs: dict[str, float]) -> None:
        """An admitted trial ended, with what each of its records cost (none when it did not get that far)."""
        with self._cond:
            self._running -= 1
            self._finished.update(costs)
            self._cond.notify_all()
