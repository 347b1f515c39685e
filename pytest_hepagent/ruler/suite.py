"""Run the mutants of the reference scripts through the harness and tell whether the ruler judged each right.

Each mutant becomes a replayed trajectory (the oracle's conversation with the mutated script) and runs as a real
trial: sandbox, validation against the goldens. A `wrong` mutant must fail (killed), a `valid` one must pass, an
`equivalent` one passes and is explained.

    env = TrialEnvironment.create()
    results = run_mutants(env)
    print("\\n".join(mutation_table(results)))
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_hepagent.errors import HepAgentError
from pytest_hepagent.llm.offline import REPLAY
from pytest_hepagent.ruler.mutants import MUTANTS, Mutant

__all__ = ["MutantResult", "mutant_script", "mutation_table", "run_mutant", "run_mutants"]

ACCEPT = "Supervisor is satisfied with current results"


@dataclass(frozen=True)
class MutantResult:
    mutant: Mutant
    outcome: str
    """passed, failed or error (an infrastructure error)."""
    summary: str = ""

    @property
    def as_expected(self) -> bool:
        """A wrong mutant killed; a valid or equivalent one passed."""
        return self.outcome == ("failed" if self.mutant.kind == "wrong" else "passed")


def mutant_script(mutant: Mutant) -> str:
    """The oracle's script of the mutant's step with its edits applied; each edit's text must occur exactly once."""
    from pytest_hepagent.analysis.scripts import script_text

    text = script_text(mutant.step)
    for old, new in mutant.edits:
        if text.count(old) != 1:
            raise HepAgentError(
                f"mutant {mutant.name}: its edit must match the {mutant.step} script once, it matches "
                f"{text.count(old)} times; update pytest_hepagent/ruler/mutants.py"
            )
        text = text.replace(old, new)
    return text


def run_mutant(mutant: Mutant, env: Any, folder: Path) -> MutantResult:
    from pytest_hepagent.llm.cassette import Cassette, CassetteCall, save_cassette
    from pytest_hepagent.trial import TrialRequest, run_trial

    calls = (
        CassetteCall("supervisor", f"## Worker Prompt\nDo the {mutant.step} step as asked.\n## Call record:\nasked"),
        CassetteCall("coder", f"```python\n{mutant_script(mutant)}```\n"),
        CassetteCall("reviewer", ACCEPT),
    )
    cassette = save_cassette(Cassette(mutant.step, calls, recorded_with="mutant"), folder / f"{mutant.name}.yaml")
    result = run_trial(
        TrialRequest(mutant.step, REPLAY, cassette=cassette, max_iterations=1), env, folder / mutant.name
    )
    failing = [o for o in (result.validation.outputs if result.validation else ()) if not o.passed]
    summary = "; ".join(f"{o.path}: {o.message or o.status}" for o in failing[:2]) or result.error
    return MutantResult(mutant, result.outcome, summary)


def run_mutants(env: Any, mutants: Iterable[Mutant] = MUTANTS) -> list[MutantResult]:
    with tempfile.TemporaryDirectory(prefix="hepagent-mutants-") as tmp:
        return [run_mutant(m, env, Path(tmp)) for m in mutants]


def mutation_table(results: Iterable[MutantResult]) -> list[str]:
    """Per step: wrong mutants killed and survived, valid variants passed and failed, equivalent mutants; then
    every equivalent mutant with why, and every result that was not as expected."""
    results = list(results)
    steps = list(dict.fromkeys(r.mutant.step for r in results))
    lines = [f"{'step':<18s} {'killed':>7s} {'survived':>9s} {'kill ratio':>11s} {'valid ok':>9s} {'equivalent':>11s}"]
    for step in steps:
        mine = [r for r in results if r.mutant.step == step]
        wrong = [r for r in mine if r.mutant.kind == "wrong"]
        killed = sum(r.outcome == "failed" for r in wrong)
        valid = [r for r in mine if r.mutant.kind == "valid"]
        equivalent = sum(r.mutant.kind == "equivalent" for r in mine)
        ratio = f"{killed / len(wrong):.0%}" if wrong else "-"
        lines.append(
            f"{step:<18s} {killed:>7d} {len(wrong) - killed:>9d} {ratio:>11s} "
            f"{sum(r.outcome == 'passed' for r in valid):>4d}/{len(valid):<4d} {equivalent:>11d}"
        )
    for r in results:
        if r.mutant.kind == "equivalent":
            lines.append(f"equivalent {r.mutant.step}/{r.mutant.name} ({r.outcome}): {r.mutant.why}")
    for r in results:
        if not r.as_expected:
            lines.append(f"NOT AS EXPECTED {r.mutant.kind} {r.mutant.step}/{r.mutant.name}: {r.outcome} {r.summary}")
    return lines
