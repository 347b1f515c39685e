"""Sorting failed trials into the paper's seven error categories (usable without pytest, on stored runs).

`classify_trial` applies the deterministic rules (`rules.py`, over `evidence.py`) and, with a judge model, the LLM
judge of the paper's section V.C (`judge.py`). `store.py` re-classifies stored runs and makes Table I;
`calibrate.py` measures both classifiers on the labelled failure cassettes.
"""

from __future__ import annotations

from error_classifier.classify import Classification, classify_trial, trial_classifier
from error_classifier.judge import JudgeVerdict, parse_category
from error_classifier.rules import RuleVerdict, classify_by_rules
from pytest_hepagent.records import Category

__all__ = [
    "Category",
    "Classification",
    "JudgeVerdict",
    "RuleVerdict",
    "classify_by_rules",
    "classify_trial",
    "parse_category",
    "trial_classifier",
]
