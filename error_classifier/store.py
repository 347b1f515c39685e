"""Classifications of a stored run: re-classifying without re-running, and the paper's Table I.

A run's `results.jsonl` is never rewritten. Re-classification appends one line per failed trial to
`classifications.jsonl` beside it (who classified, when, with which rules and judge); readers take, per trial,
the latest line there, else the category the run itself recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from error_classifier.classify import classify_trial
from pytest_hepagent.records import (
    CLASSIFICATIONS,
    CategoryVerdict,
    ClassificationLine,
    Outcome,
    TrialRecord,
    append_record,
    read_run,
)

__all__ = ["reclassify_run"]


def _solution_dir(record: TrialRecord) -> Path | None:
    """The cached golden outputs of the run's dataset, when this machine has them (for output overlap)."""
    from pytest_hepagent.golden.regenerate import cached_solution_dir

    dataset = record.hashes.get("dataset")
    return cached_solution_dir(dataset) if dataset else None


def reclassify_run(
    run_dir: Path,
    *,
    judge_model: str | None = None,
    gateway: Any = None,
    api_base: str | None = None,
    judge_cassettes: Path | None = None,
) -> list[ClassificationLine]:
    """Classify every failed trial of the stored run again; append and return the new classification lines.

    `judge_cassettes` (with `hepagent/replay`) holds one judge cassette per trial, named like its trial folder.
    """
    run_dir = Path(run_dir)
    records = read_run(run_dir)
    stamp = datetime.now(UTC).isoformat()
    lines = []
    for record in records:
        if record.outcome is not Outcome.FAILED:
            continue
        trial_dir = Path(record.trial_dir)
        if not trial_dir.is_dir():  # a run copied from elsewhere: its trials sit under the run folder
            trial_dir = run_dir / "trials" / record.step / trial_dir.name
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
            classification.verdict()
            if classification is not None
            else CategoryVerdict(note=f"{trial_dir}: no failed trial to classify")
        )
        line = ClassificationLine(record.key, record.run_id, stamp, category)
        append_record(run_dir / CLASSIFICATIONS, line)
        lines.append(line)
    return lines
