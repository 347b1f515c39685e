"""Deterministic rules: the category of a failed trial from its evidence, with the evidence that decided it.

The trial's result is what its last executed attempt left behind, so the rules look at that attempt first:

- it ran cleanly: the outputs are wrong. All weights zero -> `all data weights = 0`; numbers drawn at random (or a
  constant placeholder) where the outputs should come from the inputs -> `dummy data created`; otherwise the code
  did the wrong thing -> `semantic error`.
- it raised: a missing branch or tree -> `incorrect branch name`; a missing file -> `intermediate file not found`; a
  TypeError/ValueError/... at a call of a provided helper -> `function-calling error`; anything else (imports,
  syntax, timeouts, the coder's own bugs) -> `other`.

A trial that reached one of its limits (tokens, cost, wall time, the context window) is `other` with the limit
named, before any of the above: the limit ended it, not the last attempt.

Infrastructure errors are not model failures and get no category.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from error_classifier.evidence import HELPERS, AttemptEvidence, Evidence, ExceptionInfo
from pytest_hepagent.records import Category, Outcome

__all__ = ["RULES_VERSION", "RuleVerdict", "classify_by_rules"]

RULES_VERSION = 2
"""Bump when a rule changes, so re-classified runs say which rules decided."""

LOW_OVERLAP = 0.1
"""An output sharing fewer of its distinct values with the reference than this was not derived from the inputs."""

_MISSING_FILE = re.compile(
    r"No such file or directory|does not exist|not found: ['\"]?[^'\"]*\.(?:npy|root|json)", re.IGNORECASE
)
_HELPER_CALL = re.compile(rf"\b(?:{'|'.join(HELPERS)})\s*\(")
_HELPER_MODULE = ("pytest_hepagent/analysis/", "/utils.py")
_CALL_ERRORS = ("TypeError", "ValueError", "AttributeError", "KeyError", "IndexError", "AssertionError")


@dataclass(frozen=True)
class RuleVerdict:
    category: Category
    rule: str
    """Which rule decided (a short name, stable across versions of a rule)."""
    evidence: tuple[str, ...]
    """Human-readable facts the rule used, most decisive first."""


def _where(exc: ExceptionInfo) -> str:
    own = [f for f in exc.frames if "generated_code/" in f.file]
    if not own:
        return ""
    frame = own[-1]
    return f"at {frame.file.rsplit('generated_code/', 1)[-1]} line {frame.line}: {frame.source}".rstrip(": ")


def _is_branch_error(exc: ExceptionInfo) -> bool:
    if exc.short_type == "KeyInFileError":
        return True
    text = exc.message.lower()
    return exc.short_type in ("KeyError", "ValueError") and ("branch" in text or "ttree" in text)


def _is_missing_file(exc: ExceptionInfo) -> bool:
    return exc.short_type == "FileNotFoundError" or bool(_MISSING_FILE.search(exc.message))


def _helper_misuse(exc: ExceptionInfo) -> str | None:
    """Which provided helper was called wrongly, if the exception arose at such a call."""
    if exc.short_type not in _CALL_ERRORS:
        return None
    named = next((h for h in HELPERS if re.search(rf"\b{h}\b", exc.message)), None)
    if named:
        return named
    inside = [i for i, f in enumerate(exc.frames) if any(m in f.file for m in _HELPER_MODULE)]
    own = [i for i, f in enumerate(exc.frames) if "generated_code/" in f.file]
    if inside and own and own[-1] < inside[0]:  # raised inside a helper, called from the trial's code
        match = _HELPER_CALL.search(exc.frames[own[-1]].source)
        return match.group(0).rstrip("( ") if match else exc.frames[inside[0]].function
    if own:
        match = _HELPER_CALL.search(exc.frames[own[-1]].source)
        if match:
            return match.group(0).rstrip("( ")
    return None


def _clean_run(final: AttemptEvidence, evidence: Evidence) -> RuleVerdict:
    head = f"attempt {final.iteration} ran cleanly (exit 0)"
    zero = [o.path for o in evidence.outputs if o.all_weights_zero]
    if zero:
        return RuleVerdict(
            Category.ALL_DATA_WEIGHTS_ZERO, "weights-zero", (f"every weight in {', '.join(zero)} is 0", head)
        )
    wrong = [o for o in evidence.outputs if o.status != "pass"]
    constant = [o.path for o in wrong if o.constant]
    if constant:
        return RuleVerdict(
            Category.DUMMY_DATA_CREATED, "constant-output", (f"{', '.join(constant)} hold(s) one repeated value", head)
        )
    if final.fabricates_data:
        unrelated = [o for o in wrong if o.overlap is not None and o.overlap < LOW_OVERLAP]
        facts = ["the code draws random numbers"]
        if unrelated:
            facts += [f"{o.path}: {o.overlap:.0%} of its values occur in the reference" for o in unrelated]
        if not final.reads_inputs:
            facts.append("the code never refers to its input files")
        if unrelated or not final.reads_inputs:
            return RuleVerdict(Category.DUMMY_DATA_CREATED, "fabricated-output", (*facts, head))
    if wrong:
        facts = [f"{o.path}: {o.status}" + (f" ({o.message})" if o.message else "") for o in wrong[:5]]
        return RuleVerdict(Category.SEMANTIC_ERROR, "wrong-output", (*facts, head))
    return RuleVerdict(Category.OTHER, "no-mismatch", ("no output mismatch recorded", head))


def _failed_run(final: AttemptEvidence) -> RuleVerdict:
    head = f"attempt {final.iteration} failed" + (f": {final.reason}" if final.reason else "")
    exc = final.exception
    if exc is None:
        return RuleVerdict(Category.OTHER, "no-exception", (head, "no Python exception in the output"))
    facts = tuple(x for x in (exc.first_line, _where(exc), head) if x)
    if _is_branch_error(exc):
        return RuleVerdict(Category.INCORRECT_BRANCH_NAME, "missing-branch", facts)
    if _is_missing_file(exc):
        return RuleVerdict(Category.INTERMEDIATE_FILE_NOT_FOUND, "missing-file", facts)
    helper = _helper_misuse(exc)
    if helper:
        return RuleVerdict(Category.FUNCTION_CALLING_ERROR, "helper-call", (f"raised at a call of {helper}()", *facts))
    return RuleVerdict(Category.OTHER, f"exception-{exc.short_type}", facts)


def classify_by_rules(evidence: Evidence) -> RuleVerdict | None:
    """The category of a failed trial; None for a trial that passed or ended in an infrastructure error."""
    if evidence.outcome not in (Outcome.FAILED, ""):
        return None
    if evidence.limit:  # the harness's verdict, whatever the code did before it
        return RuleVerdict(
            Category.OTHER, f"limit-{evidence.limit}", (evidence.error or f"{evidence.limit} limit reached",)
        )
    final = evidence.final
    if final is None:
        reason = "no attempt produced code to run" if evidence.attempts else "the trial has no recorded attempts"
        return RuleVerdict(Category.OTHER, "no-code", (reason, *evidence.notes))
    if final.succeeded:
        return _clean_run(final, evidence)
    return _failed_run(final)
