"""The CI gate inside a pytest run: its settings fixed at the start, trials in rounds, and the verdict line.

Used by the pytest session (`plugin_session.py`) when the run has a baseline; no pytest here. With rounds (`--hep-max-trials` above the first
round), every cell's trials 1..max are collected, ordered by round; a trial of round k > 1 first waits until every
trial of its cell's earlier rounds has ended (the controller notes each ended item in the run folder's
`ended.txt`, which every process reads), then runs only if the gate has not decided its cell from the stored
records. The order makes the waits safe: every process runs its items in collection order, so the earliest item
not yet ended can always run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_hepagent.llm.offline import REPLAY
from pytest_hepagent.matrix.gate import family_size, model_pair, paired_models
from pytest_hepagent.matrix.rounds import CellGate
from pytest_hepagent.records import trial_key
from pytest_hepagent.stats import ALPHA

if TYPE_CHECKING:
    from pytest_hepagent.matrix.comparison import RunComparison
    from pytest_hepagent.matrix.config import BenchmarkConfig
    from pytest_hepagent.records import Cell, TrialRecord, Verdict

__all__ = ["ENDED", "GatedRun"]

ENDED = "ended.txt"
"""In the run folder: the keys of the items that ended in this session, one a line (the controller writes it)."""
_POLL_S = 0.2


@dataclass
class GatedRun:
    bench: BenchmarkConfig
    cell_gate: CellGate
    ledger: Path
    keys_by_round: dict[tuple[str, str], dict[int, list[str]]]
    """Per cell, per round, the keys of the trials this session runs (after deselection)."""
    stopping: bool = False
    """Set when the session stops running items: waits give up."""

    @classmethod
    def create(cls, bench: BenchmarkConfig, run_cells: Sequence[Cell], tests: int | None = None) -> GatedRun:
        """The gate of a run of `bench` whose store already holds `run_cells` (a resumed run), with the family's
        size `tests` when the controller fixed it (a worker), else computed here."""
        assert bench.baseline is not None
        baseline = list(bench.baseline.cells)
        pair = model_pair((c.model for c in baseline), bench.models)
        if pair is not None:  # one model against one other: compared, as the gate does
            baseline = [replace(c, model=pair[1]) for c in baseline]
        if tests is None:
            tests = family_size(run_cells, baseline, bench.steps) if bench.adjust == "bonferroni" else 1
        level = ALPHA / tests if bench.adjust == "bonferroni" else ALPHA
        by_cell = {(c.model, c.step): c for c in baseline}
        cell_gate = CellGate(by_cell, level, tests, bench.detect_drop, bench.floor, bench.interval)
        return cls(bench, cell_gate, bench.run_dir / ENDED, {})

    # ---------------------------------------------------------------- collection
    def order(self, params: Sequence[tuple[Any, Any]]) -> list[Any]:
        """The items (each with its (model, step, trial) parameter, or None for other items) in round order, and
        the keys of each round noted. The sort is stable: within a round, the collection's order stays."""
        self.keys_by_round.clear()

        def round_of(param: Any) -> int:
            if not isinstance(param, tuple) or len(param) != 3:
                return 0
            plan = self.bench.plan(param[1])
            return plan.round_of(param[2]) if plan is not None else 1

        for _, param in params:
            if isinstance(param, tuple) and len(param) == 3:
                rounds = self.keys_by_round.setdefault((param[0], param[1]), {})
                rounds.setdefault(round_of(param), []).append(trial_key(*param))
        return [item for item, _ in sorted(params, key=lambda pair: round_of(pair[1]))]

    # ---------------------------------------------------------------- the ledger
    def reset(self) -> None:
        """A new session: nothing has ended yet."""
        self.ledger.parent.mkdir(parents=True, exist_ok=True)
        self.ledger.write_text("")

    def mark_ended(self, key: str) -> None:
        with self.ledger.open("a") as out:
            out.write(key + "\n")

    def _ended(self) -> set[str]:
        try:
            return set(self.ledger.read_text().splitlines())
        except OSError:
            return set()

    # ---------------------------------------------------------------- a trial's fate
    def tag(self, record: TrialRecord) -> TrialRecord:
        """The record with its round (and the run's most trials per cell), in a run with rounds."""
        plan = self.bench.plan(record.step)
        if plan is None or record.chain is not None:
            return record
        return replace(record, round=plan.round_of(record.trial), max_trials=plan.max_trials)

    def stop_reason(
        self,
        model: str,
        step: str,
        trial: int,
        records: Callable[[], Iterable[TrialRecord]],
        *,
        wait: bool = True,
    ) -> str | None:
        """Why this trial need not run (its cell is decided, or can no longer be); None when it should. Waits for
        the cell's earlier rounds to end first: every item ends, run or skipped (a spent budget too), or crashed;
        with `wait` False (one process running its items one by one, where they can only have ended already), it
        does not wait for what cannot come."""
        plan = self.bench.plan(step)
        if plan is None:
            return None
        number = plan.round_of(trial)
        if number == 1:
            return None
        rounds = self.keys_by_round.get((model, step), {})
        awaited = {key for k, keys in rounds.items() if k < number for key in keys}
        while not awaited <= self._ended():
            if not wait:  # another plugin ordered the items otherwise: waiting would never end
                return "this cell's earlier rounds have not run before it (the items were reordered)"
            if self.stopping:  # (an interrupt): no trial starts while the session ends
                return "the session stopped before this cell's earlier rounds ended"
            time.sleep(_POLL_S)
        return self.cell_gate.stop_reason(records(), model, step, plan, number)

    # ---------------------------------------------------------------- reporting
    def header(self) -> list[str]:
        """What the gate will do, and each cell whose baseline keeps it from OK (said before any trial runs)."""
        from pytest_hepagent.sequential.design import ok_reachable, what_allows_ok

        bench, g = self.bench, self.cell_gate
        assert bench.baseline is not None
        plans = {step: bench.plan(step) for step in bench.steps}
        rounds = next((p for p in plans.values() if p is not None), None)
        how = (
            f"up to {rounds.max_trials} trials per cell in rounds (first {rounds.first}, then to each multiple of "
            f"{rounds.round_trials})"
            if rounds is not None
            else "one look"
        )
        lines = [
            (
                f"hepagent: gate against {bench.baseline.describe()}: OK rules out a drop of {g.margin:.0%}; {how}; "
                f"{g.tests} tests at {ALPHA} family-wise ({g.level:.3g} each); undecided cells {bench.undecided}"
            )
        ]
        for (model, step), b in sorted(g.baseline.items()):
            if b.total == 0 or model not in bench.models or step not in bench.steps:
                continue
            plan = plans.get(step)
            most = plan.max_trials if plan is not None else bench.first_trials(step)
            if ok_reachable(b.passed, b.total, most, g.level, g.margin):
                continue
            run, needed = what_allows_ok(b.passed, b.total, most, g.level, g.margin)
            if run is not None:
                fix = f"a run as good as it needs {run} trials (--hep-max-trials)"
            else:
                fix = f"{needed} baseline trials would" if needed else "no baseline of up to 1,000 trials would"
            lines.append(
                f"hepagent: gate: {model} {step}: the baseline has {b.total} trials at {b.passed}/{b.total}: no run "
                f"of {most} trials can rule out a {g.margin:.0%} drop; {fix}"
            )
        return lines

    def notes(self) -> list[str]:
        """What the verdict line must add: replayed cassettes repeated beyond their number."""
        bench = self.bench
        if REPLAY not in bench.models:
            return []
        repeated = [s for s in bench.steps if bench.trials_for(s) > len(bench.replays.get(s, ()))]
        if not repeated:
            return []
        return [
            (
                f"replay: the cassettes of {', '.join(repeated)} repeat: repeated trials are copies, not new trials, so "
                f"the gate's error rates do not hold for them"
            )
        ]

    def _settings(self) -> dict[str, Any]:
        """The gate's settings, as `gate` and `compare_cells` take them."""
        bench = self.bench
        return {
            "floor": bench.floor,
            "interval": bench.interval,
            "adjust": bench.adjust,
            "steps": bench.steps,
            "tests": self.cell_gate.tests,
        }

    def verdicts(self, cells: Sequence[Cell]) -> list[Verdict]:
        from pytest_hepagent.matrix.gate import gate

        assert self.bench.baseline is not None
        return gate(cells, self.bench.baseline.cells, margin=self.bench.detect_drop, **self._settings())

    def comparison(self, cells: Sequence[Cell]) -> RunComparison:
        """The run against its baseline, for the report's comparison page."""
        from pytest_hepagent.matrix.comparison import compare_cells

        bench = self.bench
        assert bench.baseline is not None
        return compare_cells(
            list(bench.baseline.cells),
            cells,
            baseline_name=bench.baseline.describe(),
            current_name=str(bench.run_dir),
            detect_drop=bench.detect_drop,
            policy=bench.undecided,
            **self._settings(),
        )

    def pair(self, cells: Sequence[Cell]) -> tuple[str, str] | None:
        assert self.bench.baseline is not None
        return paired_models(list(self.bench.baseline.cells), cells)
