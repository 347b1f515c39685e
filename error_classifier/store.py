"""Classifications of a stored run: re-classifying without re-running, and the paper's Table I.

A run's `results.jsonl` is never rewritten. Re-classification appends one line per failed trial to
`classifications.jsonl` beside it (who classified, when, with which rules and judge); readers take, per trial,
the latest line there, else the category the run itself recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from error_classifier.categories import CATEGORIES
from error_classifier.classify import classify_trial

__all__ = ["CLASSIFICATIONS", "TableOne", "current_categories", "reclassify_run", "table_one", "table_one_counts"]

CLASSIFICATIONS = "classifications.jsonl"
CLASSIFICATION_VERSION = 1


def _solution_dir(record: Mapping[str, Any]) -> Path | None:
    """The cached golden outputs of the run's dataset, when this machine has them (for output overlap)."""
    from pytest_hepagent.golden.regenerate import cached_solution_dir

    dataset = (record.get("hashes") or {}).get("dataset")
    return cached_solution_dir(dataset) if dataset else None


def current_categories(run_dir: Path, records: Iterable[Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Per trial key, its category dict: the latest re-classification, else what the run recorded."""
    from pytest_hepagent.bench.store import read_jsonl, read_run

    run_dir = Path(run_dir)
    if records is None:
        records = read_run(run_dir)
    current = {str(r["key"]): dict(r.get("category") or {}) for r in records if r.get("outcome") == "failed"}
    path = run_dir / CLASSIFICATIONS
    if path.is_file():
        for _, line in read_jsonl(path):
            if line.get("key") in current:
                current[str(line["key"])] = dict(line.get("category") or {})
    return current


def reclassify_run(
    run_dir: Path,
    *,
    judge_model: str | None = None,
    gateway: Any = None,
    api_base: str | None = None,
    judge_cassettes: Path | None = None,
) -> list[dict[str, Any]]:
    """Classify every failed trial of the stored run again; append and return the new classification lines.

    `judge_cassettes` (with `hepagent/replay`) holds one judge cassette per trial, named like its trial folder.
    """
    from pytest_hepagent.bench.store import append_jsonl, read_run

    run_dir = Path(run_dir)
    records = read_run(run_dir)
    stamp = datetime.now(UTC).isoformat()
    lines = []
    for record in records:
        if record.get("outcome") != "failed":
            continue
        trial_dir = Path(str(record.get("trial_dir") or ""))
        if not trial_dir.is_dir():  # a run copied from elsewhere: its trials sit under the run folder
            trial_dir = run_dir / "trials" / str(record.get("step")) / trial_dir.name
        cassette = judge_cassettes / f"{trial_dir.name}.yaml" if judge_cassettes else None
        classification = classify_trial(
            trial_dir,
            solution_dir=_solution_dir(record),
            judge_model=judge_model,
            gateway=gateway,
            judge_cassette=cassette,
            api_base=api_base,
        )
        category = (
            classification.to_dict()
            if classification is not None
            else {"rule": None, "judge": None, "final": None, "note": f"{trial_dir}: no failed trial to classify"}
        )
        line = {
            "schema_version": CLASSIFICATION_VERSION,
            "key": record["key"],
            "run_id": record.get("run_id"),
            "classified_at": stamp,
            "category": category,
        }
        append_jsonl(run_dir / CLASSIFICATIONS, line)
        lines.append(line)
    return lines


@dataclass(frozen=True)
class TableOne:
    """The paper's Table I for a run: failure counts by category (rows) x step (columns)."""

    steps: list[str]
    rows: list[tuple[str, list[int]]]
    totals: list[int]


def table_one_counts(
    records: Iterable[Mapping[str, Any]],
    categories: Mapping[str, Mapping[str, Any]],
    steps: Sequence[str] | None = None,
) -> TableOne:
    """Counts of failed trials by current category and step; `steps` defaults to those with failures."""
    from pytest_hepagent.steps import STEP_NAMES

    failed = [r for r in records if r.get("outcome") == "failed"]
    if steps is None:
        steps = [s for s in STEP_NAMES if any(r.get("step") == s for r in failed)]
    counts: dict[tuple[str, str], int] = {}
    for r in failed:
        final = (categories.get(str(r["key"])) or {}).get("final") or "unclassified"
        counts[final, str(r["step"])] = counts.get((final, str(r["step"])), 0) + 1
    names = [c.name for c in CATEGORIES]
    if any(k[0] == "unclassified" for k in counts):
        names.append("unclassified")
    rows = [(name, [counts.get((name, s), 0) for s in steps]) for name in names]
    totals = [sum(v for (_, st), v in counts.items() if st == s) for s in steps]
    return TableOne(list(steps), rows, totals)


def table_one(records: Iterable[Mapping[str, Any]], categories: Mapping[str, Mapping[str, Any]]) -> list[str]:
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
