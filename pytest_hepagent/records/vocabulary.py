"""The words every record uses: a trial's outcome and the paper's seven error categories (section V.C, Table I)."""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = ["Category", "Outcome"]


class Outcome(StrEnum):
    """How a trial ended. Only passed and failed trials count in a success rate: an error is the harness's."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    """An infrastructure error, reported only through the harness's side channel (never by the code under test)."""

    @property
    def judged(self) -> bool:
        """Whether the trial says something about the model (passed or failed, not an infrastructure error)."""
        return self is not Outcome.ERROR


class Category(StrEnum):
    """The seven error categories of the paper, valued by exactly its names (lower case)."""

    ALL_DATA_WEIGHTS_ZERO = "all data weights = 0"
    DUMMY_DATA_CREATED = "dummy data created"
    FUNCTION_CALLING_ERROR = "function-calling error"
    INCORRECT_BRANCH_NAME = "incorrect branch name"
    INTERMEDIATE_FILE_NOT_FOUND = "intermediate file not found"
    SEMANTIC_ERROR = "semantic error"
    OTHER = "other"

    @property
    def definition(self) -> str:
        return _DEFINITIONS[self]

    @classmethod
    def parse(cls, name: str) -> Category | None:
        """The category whose name matches `name` up to case and spacing, or None."""
        wanted = _norm(name)
        return next((c for c in cls if _norm(c.value) == wanted), None)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


_DEFINITIONS: dict[Category, str] = {
    Category.ALL_DATA_WEIGHTS_ZERO: "The code ran but every event weight it produced for a sample is zero (e.g. data "
    "weighted with the MC formula, whose inputs are 0 in data files).",
    Category.DUMMY_DATA_CREATED: "The code fabricated inputs or outputs (random, constant or placeholder arrays) "
    "instead of deriving them from the provided files.",
    Category.FUNCTION_CALLING_ERROR: "A provided helper (utils.py) was called with wrong arguments, in the wrong "
    "order, or its return value was misused.",
    Category.INCORRECT_BRANCH_NAME: "The code asked a ROOT tree for a branch or tree name that does not exist in the "
    "files.",
    Category.INTERMEDIATE_FILE_NOT_FOUND: "The code read or expected a file at a path that does not exist (wrong "
    "directory, name or step).",
    Category.SEMANTIC_ERROR: "The code ran and wrote its outputs, but they differ from the reference because the task "
    "was misunderstood or implemented with wrong logic.",
    Category.OTHER: "Any failure that fits none of the categories above.",
}
