from __future__ import annotations

import json

from pytest_hepagent.records import Category, Outcome

PAPER_TABLE_I = [
    "All data weights = 0",
    "Dummy data created",
    "Function-calling error",
    "Incorrect branch name",
    "Intermediate file not found",
    "Semantic error",
    "Other",
]


def test_the_seven_categories_carry_the_papers_names() -> None:
    assert [c.value for c in Category] == [name.lower() for name in PAPER_TABLE_I]
    assert all(len(c.definition) > 40 for c in Category)
    assert len({c.definition for c in Category}) == 7


def test_lookup_tolerates_case_and_spacing_only() -> None:
    for name in PAPER_TABLE_I:
        found = Category.parse(f"  {name.upper().replace(' ', '   ')} ")
        assert found is not None and found.value == name.lower()
    assert Category.parse("weights = 0") is None
    assert Category.parse("semantic") is None


def test_the_words_are_stored_as_plain_strings() -> None:
    assert json.dumps([Category.SEMANTIC_ERROR, Outcome.ERROR]) == '["semantic error", "error"]'
    assert f"{Category.OTHER}" == "other"
    assert [o.judged for o in Outcome] == [True, True, False]
