"""The gate's operating characteristics (a reduced `benchmarks/bench_gate.py`): the targets of docs/ci-gate.md,
computed exactly where the baseline is given and simulated through the gate's own code where it is drawn."""

from __future__ import annotations

import math

import pytest

from pytest_hepagent.matrix.simulate import (
    SCENARIOS,
    Design,
    exact_cell,
    fixed_power,
    fixed_trials_for,
    null_scenarios,
    simulate,
)
from pytest_hepagent.sequential.boundaries import boundaries

DESIGN = Design()
TESTS = 6
"""Five cells and the model over its steps."""


def test_a_collapsed_step_is_regressed_early_and_fails_the_run() -> None:
    """Baseline 10 trials/cell at 9/10, one step drops to 0.3: REGRESSED in >= 80% of runs within the default
    most trials, exit non-zero in >= 95%, median <= 20 trials in that cell."""
    cell = exact_cell(9, 10, 0.3, DESIGN, TESTS)
    assert cell.regressed >= 0.8 and cell.median <= 20
    assert cell.ok < 1e-6  # an OK is the only way such a run could exit 0
    simulated = simulate(SCENARIOS["collapse"], DESIGN, 200, seed=7)
    assert simulated.fail >= 0.95
    assert abs(simulated.regressed_changed - cell.regressed) < 4 * math.sqrt(
        cell.regressed * (1 - cell.regressed) / 200
    )


def test_an_unchanged_run_passes_from_three_trials() -> None:
    """Baseline 30 trials/cell at 27/30, no change, from 3 trials: PASS in >= 90% of runs, median <= 20 trials."""
    cell = exact_cell(27, 30, 0.9, DESIGN, TESTS)
    assert cell.ok**5 >= 0.9 and cell.median <= 20
    simulated = simulate(SCENARIOS["unchanged-30"], DESIGN, 200, seed=7)
    assert simulated.passed >= 0.9 and simulated.quantile(0.5) <= 20


def test_a_baseline_too_small_for_ok_is_never_ok() -> None:
    cell = exact_cell(5, 10, 0.5, DESIGN, TESTS)
    assert cell.ok == 0.0
    simulated = simulate(SCENARIOS["unchanged-5of10"], DESIGN, 100, seed=7)
    assert simulated.ok_unchanged == 0.0 and simulated.fail == 1.0  # UNDECIDED fails under the default policy


def test_the_sequential_design_takes_at_most_60_percent_of_a_fixed_design_of_equal_power() -> None:
    dropped = exact_cell(9, 10, 0.3, DESIGN, TESTS)
    kept = exact_cell(27, 30, 0.9, DESIGN, TESTS)
    n_drop = fixed_trials_for(SCENARIOS["collapse"], DESIGN, dropped.regressed, passing=False)
    n_keep = fixed_trials_for(SCENARIOS["unchanged-30"], DESIGN, kept.ok**5, passing=True)
    assert n_drop is not None and n_keep is not None
    assert dropped.mean <= 0.6 * n_drop and kept.mean <= 0.6 * n_keep
    # the fixed design one trial shorter is short of the power: the count is the fewest
    assert fixed_power(SCENARIOS["collapse"], n_drop - 1, DESIGN)[0] < dropped.regressed


def test_no_change_gives_a_false_regressed_in_at_most_alpha_of_runs() -> None:
    """Exactly, each test's size over every rate is at most alpha / 6, so the run's at most alpha; simulated with
    drawn baselines at several rates, the false REGRESSED stay there (within three standard errors of 300 runs)."""
    for base in (10, 30):
        found = boundaries(base, (3, *range(5, 51, 5)), 50, DESIGN.alpha / TESTS, DESIGN.margin)
        assert TESTS * max(found.size_regressed[-1], found.size_ok[-1]) <= DESIGN.alpha
    runs = 300
    slack = 3 * math.sqrt(0.05 * 0.95 / runs)
    for scenario in null_scenarios()[1::3]:
        result = simulate(scenario, DESIGN, runs, seed=11)
        assert result.false_regressed <= DESIGN.alpha + slack, scenario.name


@pytest.mark.parametrize("key", ["collapse", "unchanged-30"])
def test_the_simulation_agrees_with_the_exact_characteristics(key: str) -> None:
    """The simulated runs (through the gate's code) and the exact distribution (carried round by round) agree on
    the mean trials of a cell."""
    scenario = SCENARIOS[key]
    assert scenario.base_passed is not None
    i = scenario.changed if scenario.changed is not None else 0
    cell = exact_cell(scenario.base_passed[i], scenario.base_trials, scenario.rates[i], DESIGN, TESTS)
    simulated = simulate(scenario, DESIGN, 300, seed=3)
    trials = simulated.changed_trials or simulated.trials
    mean = sum(trials) / len(trials)
    spread = (sum((t - mean) ** 2 for t in trials) / len(trials)) ** 0.5
    assert abs(mean - cell.mean) < 4 * spread / len(trials) ** 0.5


def test_a_run_identical_to_a_three_trial_baseline_passes_once_rounds_rule_out_the_margin() -> None:
    """3/3 against 3/3 could never be decided in one look (the former rule failed every such run as INCONCLUSIVE,
    and one look still leaves it UNDECIDED); rounds add trials until a 35-point drop is ruled out."""
    from pytest_hepagent.matrix.simulate import Scenario

    identical = Scenario("identical", (1.0,) * 5, (1.0,) * 5, 3, (3,) * 5)
    one_look = simulate(identical, Design(first=3, max_trials=3), 20, seed=5)
    assert one_look.fail == 1.0 and one_look.passed == 0.0
    rounds = simulate(identical, Design(first=3), 20, seed=5)
    assert rounds.fail == 0.0 and rounds.passed == 1.0
    assert max(rounds.trials) < 50  # decided before the most trials
