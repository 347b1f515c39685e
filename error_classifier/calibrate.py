"""How often each classifier is right: both run over the labelled failure cassettes, confusion matrix per classifier.

Each cassette is replayed through the real harness (sandboxed execution, validation), then classified from the
trial folder it leaves, exactly as a benchmark's failed trial is. The judge is the shipped replay cassettes by
default (`judge_cassettes/`, hand-written stand-in answers that exercise the path end to end); give a real model
to measure it, and `record_judge` to keep its answers as cassettes for later replays.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from error_classifier.classify import classify_trial
from error_classifier.judge import JudgeVerdict
from error_classifier.rules import RuleVerdict
from pytest_hepagent.llm.offline import REPLAY
from pytest_hepagent.records import Category

__all__ = ["JUDGE_CASSETTES", "Calibration", "CalibrationCase", "calibrate"]

JUDGE_CASSETTES = Path(__file__).resolve().parent / "judge_cassettes"
SHORT: dict[str, str] = {
    Category.ALL_DATA_WEIGHTS_ZERO: "W0",
    Category.DUMMY_DATA_CREATED: "DD",
    Category.FUNCTION_CALLING_ERROR: "FC",
    Category.INCORRECT_BRANCH_NAME: "BR",
    Category.INTERMEDIATE_FILE_NOT_FOUND: "FNF",
    Category.SEMANTIC_ERROR: "SE",
    Category.OTHER: "OT",
}


@dataclass
class CalibrationCase:
    case: str
    step: str
    label: str
    rule: RuleVerdict | None
    judge: JudgeVerdict | None = None
    judge_error: str = ""
    trial_outcome: str = ""


@dataclass
class Calibration:
    cases: list[CalibrationCase] = field(default_factory=list)
    judge_model: str | None = None

    def predictions(self, classifier: str) -> list[tuple[str, str]]:
        """(label, predicted) per case; an unclassified case predicts 'none'."""
        out = []
        for c in self.cases:
            verdict: Any = c.rule if classifier == "rules" else c.judge
            out.append((c.label, verdict.category if verdict is not None else "none"))
        return out

    def accuracy(self, classifier: str) -> float:
        pairs = self.predictions(classifier)
        return sum(t == p for t, p in pairs) / len(pairs) if pairs else 0.0

    def confusion(self, classifier: str) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for pair in self.predictions(classifier):
            counts[pair] = counts.get(pair, 0) + 1
        return counts

    def report(self) -> list[str]:
        lines = []
        classifiers = ["rules"] + (["judge"] if self.judge_model else [])
        for classifier in classifiers:
            title = "rules" if classifier == "rules" else f"judge ({self.judge_model})"
            pairs = self.predictions(classifier)
            right = sum(t == p for t, p in pairs)
            lines.append(f"== {title}: {right}/{len(pairs)} correct, accuracy {self.accuracy(classifier):.1%} ==")
            lines += _matrix(self.confusion(classifier))
            flagged = [c.case for c in self.cases if classifier == "judge" and c.judge and c.judge.parse_failed]
            errors = [c.case for c in self.cases if classifier == "judge" and c.judge_error]
            if flagged:
                lines.append(f"unreadable judge answers (counted as other): {', '.join(flagged)}")
            if errors:
                lines.append(f"judge not reachable: {', '.join(errors)}")
            lines.append("")
        wrong = [c for c in self.cases if c.rule is None or c.rule.category != c.label]
        for c in wrong:
            got = str(c.rule.category) if c.rule else f"none (trial {c.trial_outcome})"
            lines.append(f"rules wrong on {c.case}: labelled {c.label!r}, got {got!r}")
        disagreements = [c for c in self.cases if c.judge and c.rule and c.judge.category != c.rule.category]
        for c in disagreements:
            lines.append(f"judge and rules disagree on {c.case}: judge '{c.judge.category}', rules '{c.rule.category}'")  # type: ignore[union-attr]
        lines.append("legend: " + ", ".join(f"{v} = {k}" for k, v in SHORT.items()))
        return lines


def _matrix(counts: dict[tuple[str, str], int]) -> list[str]:
    names = [c.value for c in Category]
    predicted = names + (["none"] if any(p == "none" for _, p in counts) else [])
    head = "true \\ predicted".ljust(18) + "".join(f"{SHORT.get(p, p):>5}" for p in predicted)
    rows = [head]
    for true in names:
        rows.append(f"{SHORT[true]:<18}" + "".join(f"{counts.get((true, p), 0):>5}" for p in predicted))
    return rows


def calibrate(
    cassette_dir: Path | None = None,
    *,
    judge_model: str | None = REPLAY,
    judge_cassettes: Path = JUDGE_CASSETTES,
    record_judge: Path | None = None,
    api_base: str | None = None,
    workdir: Path | None = None,
    env: Any = None,
) -> Calibration:
    """Classify every labelled cassette in `cassette_dir` (default: the shipped failure cassettes)."""
    from pytest_hepagent.llm.cassette import Cassette, CassetteCall, load_cassette, save_cassette
    from pytest_hepagent.resources import failure_cassette_dir
    from pytest_hepagent.trial import TrialEnvironment, TrialRequest, run_trial

    paths = sorted(Path(cassette_dir or failure_cassette_dir()).glob("*.yaml"))
    env = env or TrialEnvironment.create()
    calibration = Calibration(judge_model=judge_model)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for path in paths:
            cassette = load_cassette(path)
            if cassette.label is None:
                continue
            trial_dir = Path(tmp) / path.stem
            result = run_trial(TrialRequest(cassette.step, REPLAY, cassette=path), env, trial_dir)
            case = CalibrationCase(path.stem, cassette.step, cassette.label, None, trial_outcome=result.outcome)
            classification = classify_trial(
                trial_dir,
                result=result.to_dict(),
                solution_dir=env.solution_dir,
                judge_model=judge_model,
                gateway=env.gateway,
                judge_cassette=judge_cassettes / path.name if judge_model == REPLAY else None,
                api_base=api_base,
            )
            if classification is not None:
                case.rule, case.judge, case.judge_error = (
                    classification.rule,
                    classification.judge,
                    classification.judge_error,
                )
            if record_judge is not None and case.judge is not None and judge_model != REPLAY:
                calls = tuple(CassetteCall("judge", r) for r in case.judge.responses)
                save_cassette(
                    Cassette(cassette.step, calls, recorded_with=judge_model or "", label=cassette.label),
                    Path(record_judge) / path.name,
                )
            calibration.cases.append(case)
    return calibration
