"""The seven error categories of the paper (section V.C, Table I), with exactly its names."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CATEGORIES", "Category", "category_by_name"]


@dataclass(frozen=True)
class Category:
    name: str
    definition: str


CATEGORIES: tuple[Category, ...] = (
    Category(
        "all data weights = 0",
        "The code ran but every event weight it produced for a sample is zero (e.g. data weighted with the "
        "MC formula, whose inputs are 0 in data files).",
    ),
    Category(
        "dummy data created",
        "The code fabricated inputs or outputs (random, constant or placeholder arrays) instead of deriving "
        "them from the provided files.",
    ),
    Category(
        "function-calling error",
        "A provided helper (utils.py) was called with wrong arguments, in the wrong order, or its return value "
        "was misused.",
    ),
    Category(
        "incorrect branch name",
        "The code asked a ROOT tree for a branch or tree name that does not exist in the files.",
    ),
    Category(
        "intermediate file not found",
        "The code read or expected a file at a path that does not exist (wrong directory, name or step).",
    ),
    Category(
        "semantic error",
        "The code ran and wrote its outputs, but they differ from the reference because the task was "
        "misunderstood or implemented with wrong logic.",
    ),
    Category("other", "Any failure that fits none of the categories above."),
)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def category_by_name(name: str) -> Category | None:
    """The category whose name matches `name` up to case and spacing, or None."""
    wanted = _norm(name)
    return next((c for c in CATEGORIES if _norm(c.name) == wanted), None)
