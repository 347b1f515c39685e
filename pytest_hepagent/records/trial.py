"""The trial record: one per trial and line of `results.jsonl`, the contract between runs, the gate and the report.

Also the category verdict it carries, and the line `hepagent classify` appends to `classifications.jsonl`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_hepagent.records.vocabulary import Category, Outcome

__all__ = [
    "CLASSIFICATION_VERSION",
    "RECORD_VERSION",
    "CategoryVerdict",
    "ChainLink",
    "ClassificationLine",
    "Tokens",
    "TrialRecord",
    "chain_id",
    "chain_trial_key",
    "trial_key",
]

RECORD_VERSION = 1
"""Bump when a field changes meaning or disappears; adding a field keeps the version."""
CLASSIFICATION_VERSION = 1


def trial_key(model: str, step: str, trial: int) -> str:
    """The identity of a trial in a run (what --hep-resume looks up)."""
    return f"{model}|{step}|{trial}"


def chain_trial_key(model: str, step: str, trial: int) -> str:
    """The identity of one step of a chained run: never the key of an unchained trial of the same number, so that a
    run (or a resumed one) can hold both."""
    return f"{model}|{step}|chain|{trial}"


def chain_id(model: str, trial: int) -> str:
    """The identity of a chained run of one model and trial (what --hep-resume looks up with --hep-chain)."""
    return f"{model}|chain|{trial}"


@dataclass(frozen=True)
class Tokens:
    """The token counts of the paper's appendix B.1 summary."""

    user: int = 0
    """Input tokens of the initial supervisor call (the user's prompt)."""
    input: int = 0
    output: int = 0
    supervisor_to_coder: int = 0
    coder_output: int = 0
    feedback_to_supervisor: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output


@dataclass(frozen=True)
class CategoryVerdict:
    """A failed trial's error category: the rules' always, the judge's when one was asked, and which is final."""

    rule: Category | None = None
    judge: Category | None = None
    final: Category | None = None
    disagree: bool = False
    decided_by: str = ""
    """rules or judge ('' when nothing classified the trial)."""
    rule_id: str = ""
    rules_version: int = 0
    evidence: tuple[str, ...] = ()
    judge_model: str | None = None
    judge_parse_failed: bool = False
    judge_responses: tuple[str, ...] = ()
    judge_cost_usd: float = 0.0
    judge_error: str = ""
    """The judge could not be asked (an infrastructure error): the rules decided, and this says why."""
    note: str = ""
    """Why there is no category (the classifier failed, or found no failed trial)."""


@dataclass(frozen=True)
class ChainLink:
    """Where a trial sits in a chained run (each step on the agent's own earlier outputs)."""

    id: str
    position: int
    steps: tuple[str, ...]
    broken_at: str | None
    """The first step that did not pass (None when none failed)."""
    passed: bool
    """Every step of the chain passed."""


@dataclass(frozen=True)
class TrialRecord:
    run_id: str
    key: str
    model: str
    step: str
    trial: int
    outcome: Outcome
    schema_version: int = RECORD_VERSION
    supervisor_model: str = ""
    error: str = ""
    status: str = ""
    """How the agent loop ended: success, max_iterations, ended, limit or infrastructure_error."""
    limit: str = ""
    """With status `limit`: tokens, cost, time or context."""
    truncated_calls: int = 0
    iterations: int = 0
    max_iterations: int = 0
    api_calls: int = 0
    tokens: Tokens = field(default_factory=Tokens)
    agent_work: float = 0.0
    """(total - user) / user tokens: the paper's measure of autonomous work."""
    cost_usd: float = 0.0
    duration_s: float = 0.0
    started_at: str = ""
    validation: str = ""
    """The validation's one-paragraph summary."""
    category: CategoryVerdict = field(default_factory=CategoryVerdict)
    hashes: dict[str, str] = field(default_factory=dict)
    """Of the prompt, task spec, dataset and golden manifest."""
    trial_dir: str = ""
    sandbox: dict[str, Any] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    worker: str = ""
    chain: ChainLink | None = None
    round: int | None = None
    """The round of a gated run's sequential trials this trial belongs to (1: the first); None outside them."""
    max_trials: int | None = None
    """With `round`: the most trials a cell of the run could get (`--hep-max-trials`), on which the gate's
    boundaries depend."""

    @property
    def judged(self) -> bool:
        return self.outcome.judged

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED


@dataclass(frozen=True)
class ClassificationLine:
    """A re-classification of a stored trial (a line of `classifications.jsonl`); the latest per key is current."""

    key: str
    run_id: str
    classified_at: str
    category: CategoryVerdict
    schema_version: int = CLASSIFICATION_VERSION
