"""Concurrent trials in one process: threads that run trials ahead of the test items that report them.

A trial mostly waits, on the model's API or on its sandboxed code (a child process), so threads are the right
unit: one process holds the trials, the per-model call limiter they share and one copy of everything imported.
Each trial is submitted under its key in the order its items will report; the item then waits for its own result,
so pytest still reports the items one by one, in order, as if they ran sequentially.

The trial tasks never touch pytest: what they return (a result, or `Skipped`) is turned into the item's outcome
by the caller, in the main thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

__all__ = ["Skipped", "TrialPool"]


@dataclass(frozen=True)
class Skipped:
    """A trial the pool did not start (the budget was spent): the item is skipped with this reason."""

    reason: str


class TrialPool:
    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a pool runs at least one trial at a time, got {size}")
        self.size = size
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="hepagent-trial")
        self._futures: dict[str, Future[Any]] = {}
        self._tags: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, key: str, task: Callable[[], Any], tag: Any = None) -> bool:
        """Queue `task` under `key` unless it is already queued, running or done; True when queued now. `tag`
        says what the task was made with (the item's settings), for `queued_with`."""
        with self._lock:
            if self._closed or key in self._futures:
                return False
            self._futures[key] = self._executor.submit(task)
            self._tags[key] = tag
            return True

    def queued_with(self, key: str) -> tuple[bool, Any]:
        """Whether a task is queued (or running, or done) under `key`, and the tag it was submitted with."""
        with self._lock:
            return key in self._futures, self._tags.get(key)

    def cancel(self, key: str) -> bool:
        """Drop the task under `key` if it has not started; True when dropped (or never queued)."""
        with self._lock:
            future = self._futures.get(key)
            if future is not None and not future.cancel():
                return False
            self._futures.pop(key, None)
            self._tags.pop(key, None)
            return True

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._futures

    def wait(self, key: str, poll: Callable[[], None] | None = None, interval_s: float = 0.1) -> Any:
        """The result of the task under `key` (its exception, re-raised); calls `poll` every `interval_s` while
        waiting, so the caller can queue work that arrived meanwhile."""
        with self._lock:
            future = self._futures[key]
        try:
            while True:
                try:
                    return future.result(timeout=interval_s if poll is not None else None)
                except FutureTimeout:
                    assert poll is not None
                    poll()
        finally:
            with self._lock:
                self._futures.pop(key, None)
                self._tags.pop(key, None)

    def pending(self) -> int:
        """Tasks queued or running that nobody has waited for yet."""
        with self._lock:
            return sum(not f.done() for f in self._futures.values())

    def close(self) -> list[Any]:
        """Drop the tasks not started; wait for the running ones (their sandboxes end with them). Returns what the
        tasks nobody waited for returned (their items never ran: `-x`, an interrupted session)."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            futures, self._futures = list(self._futures.values()), {}
        return [f.result() for f in futures if f.done() and not f.cancelled() and f.exception() is None]
