from __future__ import annotations

from error_classifier import CATEGORIES, category_by_name

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
    assert [c.name for c in CATEGORIES] == [name.lower() for name in PAPER_TABLE_I]
    assert all(len(c.definition) > 40 for c in CATEGORIES)


def test_lookup_tolerates_case_and_spacing_only() -> None:
    for name in PAPER_TABLE_I:
        found = category_by_name(f"  {name.upper().replace(' ', '   ')} ")
        assert found is not None and found.name == name.lower()
    assert category_by_name("weights = 0") is None
    assert category_by_name("semantic") is None
