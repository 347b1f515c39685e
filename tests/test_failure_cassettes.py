"""Every shipped failure cassette replays through the harness and fails for the reason it was written for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pytest_hepagent.llm.cassette import load_cassette
from pytest_hepagent.records import Category
from pytest_hepagent.resources import failure_cassette_dir
from pytest_hepagent.trial import TrialEnvironment, TrialRequest, TrialResult, run_trial

CASSETTES = sorted(failure_cassette_dir().glob("*.yaml"))


@pytest.fixture(scope="module")
def env(hepagent_dataset, hepagent_solution: Path) -> TrialEnvironment:  # type: ignore[no-untyped-def]
    return TrialEnvironment.create(hepagent_dataset)


def test_at_least_three_labelled_cassettes_per_category() -> None:
    labels = [load_cassette(p).label for p in CASSETTES]
    for category in Category:
        assert labels.count(category) >= 3, category
    assert set(labels) <= set(Category)


def _errors(result: TrialResult) -> str:
    assert result.agent is not None
    return "\n".join(
        (a.execution.reason + "\n" + a.execution.stderr) if a.execution else "no code" for a in result.agent.attempts
    )


def _ran(result: TrialResult) -> bool:
    assert result.agent is not None
    return any(a.execution is not None and a.execution.succeeded for a in result.agent.attempts)


def _check(label: str, result: TrialResult) -> None:
    errors = _errors(result)
    code = "\n".join(a.code for a in result.agent.attempts)  # type: ignore[union-attr]
    if label == "all data weights = 0":
        assert _ran(result)
        bkgd = np.load(result.work_dir / "arrays/bkgd.npy")
        assert len(bkgd) > 0 and np.all(bkgd[:, 6] == 0)
    elif label == "dummy data created":
        assert _ran(result) and "random" in code
    elif label == "function-calling error":
        assert not _ran(result)
        assert "TypeError" in errors or "ValueError" in errors
        helpers = ("place_boundary", "load_datasets", "get_significance", "train_and_score", "Scores")
        assert any(helper in errors for helper in helpers)  # the error is about calling a provided helper
    elif label == "incorrect branch name":
        assert not _ran(result) and ("has no branch" in errors or "not found" in errors.lower())
        assert "KeyInFileError" in errors
    elif label == "intermediate file not found":
        assert not _ran(result) and "FileNotFoundError" in errors
    elif label == "semantic error":
        assert _ran(result) and "random" not in code
        assert result.validation is not None and any(o.status in ("values", "shape") for o in result.validation.outputs)
    else:  # other
        assert not _ran(result)
        assert any(s in errors for s in ("ModuleNotFoundError", "SyntaxError", "no code"))


@pytest.mark.parametrize("path", CASSETTES, ids=[p.stem for p in CASSETTES])
def test_failure_cassette_fails_for_its_reason(path: Path, env: TrialEnvironment, tmp_path: Path) -> None:
    cassette = load_cassette(path)
    result = run_trial(TrialRequest(cassette.step, "hepagent/replay", cassette=path), env, tmp_path / "trial")
    assert result.outcome == "failed", result.error
    assert result.agent is not None and len(result.agent.calls) == len(cassette.calls)  # replayed to the end
    assert cassette.label is not None
    _check(cassette.label, result)
