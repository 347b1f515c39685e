"""A stored run as the report sees it: records, current error categories, aggregates for the paper's figures."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_hepagent.matrix.cells import Cell, cells_from_records
from pytest_hepagent.matrix.config import safe_name
from pytest_hepagent.records import (
    SUMMARY,
    CategoryVerdict,
    RunSummary,
    TrialRecord,
    current_categories,
    read_run,
    read_summary,
)
from pytest_hepagent.steps import STEP_NAMES

__all__ = ["RunData", "load_run", "mean_and_error", "read_settings", "trial_page_name"]


def trial_page_name(record: TrialRecord) -> str:
    kind = "chain" if record.chain is not None else "trial"  # a run may hold both with the same numbers
    return f"{record.step}--{safe_name(record.model)}-{kind}{record.trial}.html"


def mean_and_error(values: Sequence[float]) -> tuple[float, float]:
    """Mean and its standard error (0 for fewer than two values)."""
    n = len(values)
    if not n:
        return 0.0, 0.0
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


@dataclass
class RunData:
    run_dir: Path
    records: list[TrialRecord]
    categories: dict[str, CategoryVerdict]
    """Per failed trial key, its current category (latest re-classification, else the run's own)."""
    summary: RunSummary | None = None
    """None when the run has no summary yet (it is still running, or was killed)."""
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return (self.summary.run_id if self.summary else "") or str(self.config.get("run_id") or self.run_dir.name)

    @property
    def models(self) -> list[str]:
        return sorted({r.model for r in self.records})

    @property
    def steps(self) -> list[str]:
        present = {r.step for r in self.records}
        return [s for s in STEP_NAMES if s in present] + sorted(present - set(STEP_NAMES))

    @property
    def cells(self) -> list[Cell]:
        return cells_from_records(self.records)

    def category(self, record: TrialRecord) -> str:
        if not record.failed:
            return ""
        verdict = self.categories.get(record.key)
        return str(verdict.final) if verdict is not None and verdict.final is not None else "unclassified"

    def per_step(self, value: str) -> dict[tuple[str, str], tuple[float, float, int]]:
        """(model, step) -> (mean, standard error, n) of a record field over judged trials."""
        groups: dict[tuple[str, str], list[float]] = {}
        for r in self.records:
            if r.judged:
                groups.setdefault((r.model, r.step), []).append(float(getattr(r, value)))
        return {k: (*mean_and_error(v), len(v)) for k, v in groups.items()}

    def failure_counts(self, by: str) -> dict[str, dict[str, int]]:
        """`by` (model or step) -> category -> number of failed trials."""
        out: dict[str, dict[str, int]] = {}
        for r in self.records:
            if r.failed:
                row = out.setdefault(str(getattr(r, by)), {})
                category = self.category(r)
                row[category] = row.get(category, 0) + 1
        return out


def read_settings(path: Path) -> dict[str, Any]:
    """The run's config.json (its settings as the run started), or {} when unreadable: it labels the page, and
    tells a resumed run the rounds it started with."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_run(run_dir: Path) -> RunData:
    """Read a run folder (`reports/<run-id>`): its records, summary, settings and re-classifications."""
    run_dir = Path(run_dir)
    records = read_run(run_dir)
    summary = read_summary(run_dir / SUMMARY) if (run_dir / SUMMARY).is_file() else None
    return RunData(
        run_dir, records, current_categories(run_dir, records), summary, read_settings(run_dir / "config.json")
    )
