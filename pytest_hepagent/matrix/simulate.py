"""The gate's operating characteristics, simulated: how often it fails a run, calls the changed cell REGRESSED or
passes the run, and how many trials its cells take, for runs whose trials are Bernoulli draws at chosen rates.

Each simulated run goes through the gate's own code: a cell's rounds stop where a pytest run's would
(`CellGate.cell_stop_reason`), and the run's verdicts and exit status come from `gate` and `run_exit_status`.
`benchmarks/bench_gate.py` prints the table; the tests run a reduced version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pytest_hepagent.matrix.gate import family_size, gate, run_exit_status
from pytest_hepagent.matrix.rounds import CellGate, RoundPlan
from pytest_hepagent.records import Cell
from pytest_hepagent.sequential.design import DEFAULT_MARGIN, DEFAULT_MAX_TRIALS, DEFAULT_ROUND_TRIALS
from pytest_hepagent.stats import ALPHA

__all__ = [
    "SCENARIOS",
    "CellCharacteristics",
    "Design",
    "Result",
    "Scenario",
    "exact_cell",
    "fixed_power",
    "fixed_trials_for",
    "null_scenarios",
    "simulate",
]

STEPS = ("root_inspection", "ntuple_conversion", "preprocessing", "sb_separation", "categorization")


@dataclass(frozen=True)
class Scenario:
    name: str
    base_rates: tuple[float, ...]
    """Each cell's true baseline success (one cell per step of one model)."""
    rates: tuple[float, ...]
    """Each cell's true success in the gated run."""
    base_trials: int
    base_passed: tuple[int, ...] | None = None
    """The baseline's observed passes per cell (the baseline as given); None: drawn anew for every run."""
    changed: int | None = None
    """The cell whose success changed, if one did."""


@dataclass(frozen=True)
class Design:
    first: int = 3
    max_trials: int = DEFAULT_MAX_TRIALS
    round_trials: int = DEFAULT_ROUND_TRIALS
    margin: float = DEFAULT_MARGIN
    alpha: float = ALPHA

    @property
    def plan(self) -> RoundPlan | None:
        return RoundPlan(self.first, self.max_trials, self.round_trials) if self.max_trials > self.first else None


@dataclass(frozen=True)
class Result:
    runs: int
    fail: float
    """Runs whose exit status is not 0 (under the fail policy for undecided cells)."""
    passed: float
    """Runs with every cell OK and exit 0."""
    regressed_changed: float
    """Runs where the changed cell is REGRESSED (0 without one)."""
    false_regressed: float
    """Runs with a REGRESSED where the success did not drop (a cell at or above its baseline's true success, or a
    model whose cells all are)."""
    false_ok: float
    """Runs with an OK where the success dropped by the margin or more."""
    ok_unchanged: float
    """Runs where some cell whose success did not change is OK."""
    trials: tuple[int, ...]
    """Trials of every cell of every run."""
    changed_trials: tuple[int, ...]
    """Trials of the changed cell in every run."""

    def mean(self, changed: bool = False) -> float:
        return float(np.mean(self.changed_trials if changed else self.trials))

    def quantile(self, q: float, changed: bool = False) -> float:
        return float(np.quantile(self.changed_trials if changed else self.trials, q))


def _cell(step: str, passed: int, total: int, looks: Sequence[tuple[int, int]] = (), most: int | None = None) -> Cell:
    return Cell("model", step, passed, total - passed, 0, 0.0, 0.0, 0, 0.0, looks=tuple(looks), max_trials=most)


def simulate(scenario: Scenario, design: Design, runs: int, seed: int = 2020) -> Result:
    """`runs` gated runs of `scenario` under `design`, each cell's rounds stopping as a pytest run's would."""
    rng = np.random.default_rng(seed)
    cells = len(scenario.rates)
    steps = STEPS[:cells]
    plan = design.plan
    looks = plan.looks if plan is not None else (design.first,)
    most = looks[-1]
    fail = passed = regressed_changed = false_regressed = false_ok = ok_unchanged = 0
    trials: list[int] = []
    changed_trials: list[int] = []
    for _ in range(runs):
        base_passed = scenario.base_passed or tuple(
            int(rng.binomial(scenario.base_trials, p)) for p in scenario.base_rates
        )
        baseline = [_cell(s, x, scenario.base_trials) for s, x in zip(steps, base_passed, strict=True)]
        tests = family_size([], baseline)
        level = design.alpha / tests
        cell_gate = CellGate({(b.model, b.step): b for b in baseline}, level, tests, design.margin, None, "wilson")
        outcomes = rng.random((cells, most)) < np.asarray(scenario.rates)[:, None]
        run_cells = []
        for i, (step, b) in enumerate(zip(steps, baseline, strict=True)):
            seen: list[tuple[int, int]] = []
            for number, n in enumerate(looks, start=1):
                seen.append((int(outcomes[i, :n].sum()), n))
                if plan is None or number == len(looks):
                    break
                cell = _cell(step, *seen[-1], seen, most)
                if b.total and cell_gate.cell_stop_reason(cell, b, plan, number + 1) is not None:
                    break
            rounds = plan is not None
            run_cells.append(_cell(step, *seen[-1], seen if rounds else (), most if rounds else None))
            trials.append(seen[-1][1])
            if i == scenario.changed:
                changed_trials.append(seen[-1][1])
        verdicts = gate(run_cells, baseline, design.alpha, margin=design.margin, tests=tests, planning=False)
        by_step = {v.step: v.verdict for v in verdicts}
        status = run_exit_status(0, verdicts, 0)
        fail += status != 0
        passed += status == 0 and all(by_step.get(s) == "OK" for s in steps)
        if scenario.changed is not None:
            regressed_changed += by_step.get(steps[scenario.changed]) == "REGRESSED"
        no_drop = [p >= q for p, q in zip(scenario.rates, scenario.base_rates, strict=True)]
        big_drop = [q - p >= design.margin for p, q in zip(scenario.rates, scenario.base_rates, strict=True)]
        false_regressed += any(
            (v.verdict == "REGRESSED" and v.step in steps and no_drop[steps.index(v.step)])
            or (v.verdict == "REGRESSED" and v.step not in steps and all(no_drop))
            for v in verdicts
        )
        false_ok += any(by_step.get(s) == "OK" and big for s, big in zip(steps, big_drop, strict=True))
        ok_unchanged += any(by_step.get(s) == "OK" and i != scenario.changed for i, s in enumerate(steps))
    return Result(
        runs,
        fail / runs,
        passed / runs,
        regressed_changed / runs,
        false_regressed / runs,
        false_ok / runs,
        ok_unchanged / runs,
        tuple(trials),
        tuple(changed_trials),
    )


def fixed_power(scenario: Scenario, n: int, design: Design) -> tuple[float, float]:
    """Exactly, for a fixed design of n trials per cell against the scenario's observed baseline: the chance that
    its changed cell is REGRESSED, and the chance that every cell is OK (the cells are independent given the
    baseline; the model's test over its steps is left out, as it rarely decides)."""
    from scipy.stats import binom

    from pytest_hepagent.sequential.boundaries import single_look
    from pytest_hepagent.sequential.design import ok_reachable

    assert scenario.base_passed is not None
    tests = family_size([], [_cell(s, 0, scenario.base_trials) for s in STEPS[: len(scenario.rates)]])
    level = design.alpha / tests
    regressed, every_ok = 0.0, 1.0
    for i, (x_b, p) in enumerate(zip(scenario.base_passed, scenario.rates, strict=True)):
        at_most = single_look(scenario.base_trials, n, level, 0.0, drop=True)[x_b]
        ok_from = single_look(scenario.base_trials, n, level, design.margin, drop=False)[x_b]
        drop = float(binom.cdf(at_most, n, p))
        ok = (
            float(binom.sf(ok_from - 1, n, p))
            if ok_reachable(x_b, scenario.base_trials, n, level, design.margin)
            else 0.0
        )
        every_ok *= max(0.0, ok - drop) if ok_from > at_most else 0.0
        if i == scenario.changed:
            regressed = drop
    return regressed, every_ok


def fixed_trials_for(scenario: Scenario, design: Design, power: float, *, passing: bool) -> int | None:
    """The fewest trials per cell of a fixed design whose chance of the changed cell's REGRESSED (or, `passing`,
    of every cell OK) is at least `power` (None: more than 400)."""
    for n in range(1, 401):
        regressed, every_ok = fixed_power(scenario, n, design)
        if (every_ok if passing else regressed) >= power:
            return n
    return None


SCENARIOS: dict[str, Scenario] = {
    "collapse": Scenario(
        "baseline 10 trials/cell at 9/10, one step drops to 0.3", (0.9,) * 5, (0.9,) * 4 + (0.3,), 10, (9,) * 5, 4
    ),
    "unchanged-30": Scenario("baseline 30 trials/cell at 27/30, no change", (0.9,) * 5, (0.9,) * 5, 30, (27,) * 5),
    "unchanged-5of10": Scenario("baseline 10 trials/cell at 5/10, no change", (0.5,) * 5, (0.5,) * 5, 10, (5,) * 5),
}
"""The scenarios of the targets (docs/ci-gate.md): the baseline as observed, the run at its true rates."""


def null_scenarios() -> list[Scenario]:
    """No change at all, the baseline drawn anew for every run: the chance of a false REGRESSED."""
    found = [
        Scenario(f"no change, baseline {n} trials/cell drawn at {p:.0%}", (p,) * 5, (p,) * 5, n)
        for n in (10, 30)
        for p in (0.3, 0.5, 0.7, 0.9)
    ]
    mixed = (0.2, 0.5, 0.8, 0.95, 1.0)
    found.append(Scenario("no change, baseline 20 trials/cell drawn at 20/50/80/95/100%", mixed, mixed, 20))
    return found


@dataclass(frozen=True)
class CellCharacteristics:
    """One cell's exact operating characteristics against an observed baseline."""

    regressed: float
    ok: float
    mean: float
    """Expected trials."""
    median: int
    p90: int


def exact_cell(base_passed: int, base_total: int, rate: float, design: Design, tests: int) -> CellCharacteristics:
    """The chance that a cell at true success `rate` ends REGRESSED or OK, and the trials it takes, against
    `base_passed`/`base_total`, computed exactly: the distribution of its passes is carried from round to round,
    each outcome stopping where the gate stops it (a boundary crossed, or no later round could decide it)."""
    from scipy.stats import binom

    from pytest_hepagent.sequential.boundaries import boundaries
    from pytest_hepagent.sequential.design import can_decide_later, ok_reachable

    level = design.alpha / tests
    plan = design.plan
    looks = plan.looks if plan is not None else (design.first,)
    found = boundaries(base_total, looks, looks[-1], level, design.margin)
    blocked = not ok_reachable(base_passed, base_total, looks[-1], level, design.margin)
    mass = np.array([1.0])
    before = 0
    regressed = ok = 0.0
    stops: dict[int, float] = {}
    for k, n in enumerate(looks):
        mass = np.convolve(mass, binom.pmf(np.arange(n - before + 1), n - before, rate))
        before = n
        x = np.arange(n + 1)
        drop = x <= found.regressed[k][base_passed]
        good = (x >= found.ok[k][base_passed]) & ~drop & (not blocked)
        regressed += float(mass[drop].sum())
        ok += float(mass[good].sum())
        stop = drop | good
        if k < len(looks) - 1:  # an undecided outcome that no later round could decide stops too
            for j in np.flatnonzero(~stop & (mass > 0)):
                seen = [(0, t) for t in looks[:k]] + [(int(j), n)]
                if not can_decide_later(
                    seen, looks, base_passed, base_total, max_trials=looks[-1], level=level, margin=design.margin
                ):
                    stop[j] = True
        else:
            stop[:] = True
        stops[n] = float(mass[stop].sum())
        mass = mass * ~stop
    ns = np.array(list(stops))
    ps = np.array(list(stops.values()))
    cdf = np.cumsum(ps) / ps.sum()
    return CellCharacteristics(
        regressed, ok, float((ns * ps).sum()), int(ns[np.searchsorted(cdf, 0.5)]), int(ns[np.searchsorted(cdf, 0.9)])
    )
