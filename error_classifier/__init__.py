"""Sorting failed trials into the paper's seven error categories (usable without pytest, on stored runs)."""

from __future__ import annotations

from error_classifier.categories import CATEGORIES, Category, category_by_name

__all__ = ["CATEGORIES", "Category", "category_by_name"]
