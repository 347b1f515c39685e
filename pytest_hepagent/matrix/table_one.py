"""The paper's Table I for a run: failed trials by error category (rows) and step (columns)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pytest_hepagent.records import Category, CategoryVerdict, TrialRecord
from pytest_hepagent.steps import STEP_NAMES

__all__ = ["TableOne", "table_one", "table_one_counts"]


@dataclass(frozen=True)
class TableOne:
    """The paper's Table I for a run: failure counts by category (rows) x step (columns)."""

    steps: list[str]
    rows: list[tuple[str, list[int]]]
    totals: list[int]


def table_one_counts(
    records: Iterable[TrialRecord],
    categories: Mapping[str, CategoryVerdict],
    steps: Sequence[str] | None = None,
) -> TableOne:
    """Counts of failed trials by current category and step; `steps` defaults to those with failures."""
    failed = [r for r in records if r.failed]
    if steps is None:
        steps = [s for s in STEP_NAMES if any(r.step == s for r in failed)]
    counts: dict[tuple[str, str], int] = {}
    for r in failed:
        verdict = categories.get(r.key)
        final = str(verdict.final) if verdict is not None and verdict.final is not None else "unclassified"
        counts[final, r.step] = counts.get((final, r.step), 0) + 1
    names = [c.value for c in Category]
    if any(k[0] == "unclassified" for k in counts):
        names.append("unclassified")
    rows = [(name, [counts.get((name, s), 0) for s in steps]) for name in names]
    totals = [sum(v for (_, st), v in counts.items() if st == s) for s in steps]
    return TableOne(list(steps), rows, totals)


def table_one(records: Iterable[TrialRecord], categories: Mapping[str, CategoryVerdict]) -> list[str]:
    """Table I as text lines, totals at the bottom."""
    table = table_one_counts(records, categories)
    width = max(len(r) for r in [*(name for name, _ in table.rows), "Error type", "Total"])
    cols = [max(len(s), 5) for s in table.steps]
    lines = ["Error type".ljust(width) + "".join(f"  {s:>{w}}" for s, w in zip(table.steps, cols, strict=True))]
    lines.append("-" * len(lines[0]))
    for name, counts in table.rows:
        lines.append(name.ljust(width) + "".join(f"  {n:>{w}}" for n, w in zip(counts, cols, strict=True)))
    lines.append("-" * len(lines[0]))
    lines.append("Total".ljust(width) + "".join(f"  {n:>{w}}" for n, w in zip(table.totals, cols, strict=True)))
    return lines
