"""The H->yy benchmark: one test per step, which the hepagent plugin parametrizes over models x trials.

Each item's `hep_trial` fixture runs one trial (agent loop, confined execution, validation): an infrastructure
error is a pytest error; a model failure fails here with the compact validation summary. With `--hep-chain` the
items are `test_chain[<model>-trial<n>]` instead, each running every step on the agent's own outputs.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_hepagent.records import Outcome


def _message(result: Any) -> str:
    message: str = result.validation.summary() if result.validation else result.error
    category = result.category
    if category is not None and category.final:
        by = f"judge {category.judge_model}" if category.decided_by == "judge" else "rules"
        message += f"\nerror category: {category.final} ({by})"
        if category.disagree:
            message += f"; the rules say {category.rule}"
    return message


def _check(result: Any) -> None:
    if result.outcome != Outcome.PASSED:
        pytest.fail(_message(result), pytrace=False)


@pytest.mark.hep_step("root_inspection")
def test_root_inspection(hep_trial: Any) -> None:
    _check(hep_trial)


@pytest.mark.hep_step("ntuple_conversion")
def test_ntuple_conversion(hep_trial: Any) -> None:
    _check(hep_trial)


@pytest.mark.hep_step("preprocessing")
def test_preprocessing(hep_trial: Any) -> None:
    _check(hep_trial)


@pytest.mark.hep_step("sb_separation")
def test_sb_separation(hep_trial: Any) -> None:
    _check(hep_trial)


@pytest.mark.hep_step("categorization")
def test_categorization(hep_trial: Any) -> None:
    _check(hep_trial)


def test_chain(hep_chain: Any) -> None:
    """`--hep-chain`: the steps in order on the agent's own outputs; fails at the first step that broke the chain."""
    if hep_chain.broken_at is not None:
        broken = hep_chain.results[-1]
        pytest.fail(f"chain broken at {hep_chain.broken_at}\n" + _message(broken), pytrace=False)
