"""The classification policy: rules always; with a judge model, the judge's verdict is final and the rules' kept."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from error_classifier.evidence import Evidence, evidence_from_trial
from error_classifier.judge import JudgeVerdict, run_judge
from error_classifier.rules import RULES_VERSION, RuleVerdict, classify_by_rules
from pytest_hepagent.errors import HepAgentError
from pytest_hepagent.records import Category, CategoryVerdict

__all__ = ["Classification", "classify_trial", "trial_classifier"]

_RESPONSE_CHARS = 2_000
"""Judge answers are stored up to this length (a well-behaved judge answers in a few tokens)."""


@dataclass
class Classification:
    rule: RuleVerdict
    judge: JudgeVerdict | None = None
    judge_error: str = ""
    """The judge could not be asked (an infrastructure error): the rules decide, and this says why."""

    @property
    def final(self) -> Category:
        return self.judge.category if self.judge is not None else self.rule.category

    @property
    def disagree(self) -> bool:
        return self.judge is not None and self.judge.category != self.rule.category

    def verdict(self) -> CategoryVerdict:
        """The record's `category` field."""
        judge = self.judge
        return CategoryVerdict(
            rule=self.rule.category,
            judge=judge.category if judge else None,
            final=self.final,
            disagree=self.disagree,
            decided_by="judge" if judge else "rules",
            rule_id=self.rule.rule,
            rules_version=RULES_VERSION,
            evidence=tuple(self.rule.evidence),
            judge_model=judge.model if judge else None,
            judge_parse_failed=judge.parse_failed if judge else False,
            judge_responses=tuple(r[:_RESPONSE_CHARS] for r in judge.responses) if judge else (),
            judge_cost_usd=judge.cost_usd if judge else 0.0,
            judge_error=self.judge_error,
        )


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _key_lines(evidence: Evidence, rule: RuleVerdict) -> str:
    final = evidence.final
    lines = list(rule.evidence)
    if final is not None and final.exception is not None:
        lines.insert(0, final.exception.first_line)
    return "\n".join(dict.fromkeys(lines))


def classify_trial(
    trial_dir: Path,
    *,
    result: Mapping[str, Any] | None = None,
    solution_dir: Path | None = None,
    judge_model: str | None = None,
    gateway: Any = None,
    judge_cassette: Path | None = None,
    api_base: str | None = None,
) -> Classification | None:
    """Classify the failed trial in `trial_dir`; None when it did not fail as a model (passed, or infrastructure).

    `result` is the trial's result dict when at hand (else its `logs/transcript.json` is read). With `judge_model`
    the judge is asked through `gateway` (a new default gateway when None).
    """
    trial_dir = Path(trial_dir)
    evidence = evidence_from_trial(trial_dir, solution_dir, result)
    rule = classify_by_rules(evidence)
    if rule is None:
        return None
    classification = Classification(rule)
    if judge_model and not evidence.limit:  # a reached limit is a fact, not a judgement
        from pytest_hepagent.llm.gateway import Gateway

        logs = trial_dir / "logs"
        try:
            classification.judge = run_judge(
                gateway or Gateway(),
                judge_model,
                _read(logs / "comprehensive.log"),
                _read(logs / "validation.log"),
                step=evidence.step,
                key_lines=_key_lines(evidence, rule),
                cassette=judge_cassette,
                api_base=api_base,
            )
        except HepAgentError as exc:  # the API failed, or refused what the logs hold: the rules decide
            classification.judge_error = str(exc)
    return classification


def trial_classifier(
    *,
    solution_dir: Path | None = None,
    judge_model: str | None = None,
    gateway: Any = None,
    api_base: str | None = None,
) -> Callable[[Path, dict[str, Any]], CategoryVerdict | None]:
    """The function a benchmark run classifies its failed trials with (`matrix.execute.Classifier`): the rules, and
    the judge `judge_model` through `gateway` when given."""

    def classify(trial_dir: Path, result: dict[str, Any]) -> CategoryVerdict | None:
        classification = classify_trial(
            trial_dir,
            result=result,
            solution_dir=solution_dir,
            judge_model=judge_model,
            gateway=gateway,
            api_base=api_base,
        )
        return classification.verdict() if classification is not None else None

    return classify
