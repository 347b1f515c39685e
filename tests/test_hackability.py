"""The hackability suite: every shipped attack ends as a model failure and leaves the host unchanged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_hepagent.audit import CLASSES, Attack, load_attacks, run_attack
from pytest_hepagent.trial import TrialEnvironment

ATTACKS = load_attacks()


@pytest.fixture(scope="module")
def env(hepagent_dataset, hepagent_solution: Path) -> TrialEnvironment:  # type: ignore[no-untyped-def]
    return TrialEnvironment.create(hepagent_dataset)


def test_every_class_of_attack_is_in_the_suite() -> None:
    by_class = {k: [a.name for a in ATTACKS if a.klass == k] for k in CLASSES}
    assert all(len(names) >= 3 for names in by_class.values()), by_class
    assert {"symlink-to-golden", "golden-from-git", "import-reference", "copy-earlier-run", "concurrent-trial"} <= {
        a.name for a in ATTACKS
    }


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_the_attack_is_held(attack: Attack, env: TrialEnvironment) -> None:
    result = run_attack(attack, env)
    assert result.held, f"{attack.name} ({attack.summary}):\n" + "\n".join(result.problems)
    assert result.outcome == "failed"


@pytest.mark.parametrize("name", ["concurrent-trial", "network", "dev-shm", "tamper-inputs"])
def test_without_a_sandbox_the_audit_sees_the_attack_through(name: str, hepagent_dataset) -> None:  # type: ignore[no-untyped-def]
    """The checks can fail: unconfined, these attacks get what they want, and the audit says so."""
    (attack,) = load_attacks(names=[name])
    result = run_attack(attack, TrialEnvironment.create(hepagent_dataset, sandbox="none"))
    assert not result.held and result.problems


def test_hepagent_audit_reports_and_exits_by_the_verdict(hepagent_solution: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest_hepagent", "audit", "--attack", "network", "--attack", "kill-parent"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "held   escape        network" in run.stdout and "2/2 attacks held" in run.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "pytest_hepagent", "audit", "--sandbox", "none", "--attack", "network"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1 and "BROKEN" in bad.stdout and "loopback server was reached" in bad.stdout
    assert "unconfined" in bad.stderr
    unknown = subprocess.run(
        [sys.executable, "-m", "pytest_hepagent", "audit", "--attack", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: unknown attack(s) nope;")
