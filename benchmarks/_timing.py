"""Side-by-side timing for the benchmarks: interleaved repeats, best of each, ratios printed in one run."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_of(
    functions: dict[str, Callable[[], Any]], repeats: int, max_repeats: dict[str, int] | None = None
) -> dict[str, float]:
    """Best wall time of each function over `repeats` interleaved rounds (interleaving spreads machine noise).

    `max_repeats` caps the rounds of slow baselines, whose relative noise is small anyway.
    """
    best = {name: float("inf") for name in functions}
    for round_ in range(repeats):
        for name, fn in functions.items():
            if max_repeats and round_ >= max_repeats.get(name, repeats):
                continue
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def report(title: str, times: dict[str, float], baseline: str, target: str) -> None:
    print(f"== {title} ==")
    for name, seconds in times.items():
        print(f"  {name:<44s} {seconds * 1e3:10.2f} ms   {times[baseline] / seconds:8.1f}x vs {baseline}")
    print(f"  target: {target}")
