"""A stored run as the report sees it: records, current error categories, aggregates for the paper's figures."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_hepagent.bench.cells import Cell, cells_from_records
from pytest_hepagent.bench.config import safe_name
from pytest_hepagent.bench.store import SUMMARY, read_run
from pytest_hepagent.steps import STEP_NAMES

__all__ = ["RunData", "load_run", "mean_and_error", "trial_page_name"]


def trial_page_name(record: Mapping[str, Any]) -> str:
    return f"{record['step']}--{safe_name(str(record['model']))}-trial{record['trial']}.html"


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
    records: list[dict[str, Any]]
    categories: dict[str, dict[str, Any]]
    """Per failed trial key, its current category dict (latest re-classification, else the run's own)."""
    summary: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return str(self.summary.get("run_id") or self.config.get("run_id") or self.run_dir.name)

    @property
    def models(self) -> list[str]:
        return sorted({str(r["model"]) for r in self.records})

    @property
    def steps(self) -> list[str]:
        present = {str(r["step"]) for r in self.records}
        return [s for s in STEP_NAMES if s in present] + sorted(present - set(STEP_NAMES))

    @property
    def cells(self) -> list[Cell]:
        return cells_from_records(self.records)

    def category(self, record: Mapping[str, Any]) -> str:
        if record.get("outcome") != "failed":
            return ""
        return str((self.categories.get(str(record["key"])) or {}).get("final") or "unclassified")

    def per_step(self, value: str) -> dict[tuple[str, str], tuple[float, float, int]]:
        """(model, step) -> (mean, standard error, n) of a record field over judged trials."""
        groups: dict[tuple[str, str], list[float]] = {}
        for r in self.records:
            if r.get("outcome") in ("passed", "failed"):
                groups.setdefault((str(r["model"]), str(r["step"])), []).append(float(r.get(value) or 0.0))
        return {k: (*mean_and_error(v), len(v)) for k, v in groups.items()}

    def failure_counts(self, by: str) -> dict[str, dict[str, int]]:
        """`by` (model or step) -> category -> number of failed trials."""
        out: dict[str, dict[str, int]] = {}
        for r in self.records:
            if r.get("outcome") == "failed":
                row = out.setdefault(str(r[by]), {})
                category = self.category(r)
                row[category] = row.get(category, 0) + 1
        return out


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_run(run_dir: Path) -> RunData:
    """Read a run folder (`reports/<run-id>`): its records, summary, settings and re-classifications."""
    from error_classifier.store import current_categories

    run_dir = Path(run_dir)
    records = read_run(run_dir)
    return RunData(
        run_dir,
        records,
        current_categories(run_dir, records),
        _json(run_dir / SUMMARY),
        _json(run_dir / "config.json"),
    )
