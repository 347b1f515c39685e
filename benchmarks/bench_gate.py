"""The CI gate's operating characteristics: simulated runs of 5 steps against a baseline, for the sequential design
(the default: a first round, then rounds of 5 up to 50 trials per cell) and a fixed design of the trials that give
the same power, each run through the gate's own code (`pytest_hepagent.matrix.simulate`).

Targets (docs/ci-gate.md), with the default margin (35 points) and level (0.05 family-wise):
- no change, any baseline rate, any looks: a false REGRESSED in at most 5% of runs;
- baseline 10 trials/cell at 9/10, one step drops to 0.3: REGRESSED in >= 80% of runs, exit non-zero in >= 95%,
  median <= 20 trials in that cell;
- baseline 30 trials/cell at 27/30, no change, from 3 trials: PASS in >= 90% of runs, median <= 20 trials per cell;
- baseline 10 trials/cell at 5/10, no change: never OK (UNDECIDED, with the baseline trials that would do);
- the sequential design spends at most 60% of the trials of the fixed design with the same power.

    python benchmarks/bench_gate.py [--runs 2000] [--seed 2020]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from pytest_hepagent.matrix.gate import family_size, gate
from pytest_hepagent.matrix.simulate import (
    SCENARIOS,
    Design,
    Result,
    Scenario,
    exact_cell,
    fixed_trials_for,
    null_scenarios,
    simulate,
)
from pytest_hepagent.records import Cell
from pytest_hepagent.sequential.boundaries import boundaries
from pytest_hepagent.stats import wilson_interval

_HEADER = (
    f"{'scenario':<62s} {'design':<14s} {'P(FAIL)':>7s} {'P(REGR)':>7s} {'P(PASS)':>7s} {'false R':>7s} "
    f"{'mean':>5s} {'p90':>4s} {'changed: mean':>13s} {'med':>4s} {'p90':>4s}"
)


def _row(scenario: Scenario, name: str, result: Result) -> str:
    changed = (
        f"{result.mean(True):13.1f} {result.quantile(0.5, True):4.0f} {result.quantile(0.9, True):4.0f}"
        if result.changed_trials
        else f"{'-':>13s} {'-':>4s} {'-':>4s}"
    )
    regressed = f"{result.regressed_changed:7.1%}" if scenario.changed is not None else f"{'-':>7s}"
    return (
        f"{scenario.name[:62]:<62s} {name:<14s} {result.fail:7.1%} {regressed} {result.passed:7.1%} "
        f"{result.false_regressed:7.1%} {result.mean():5.1f} {result.quantile(0.9):4.0f} {changed}"
    )


def _check(ok: bool, text: str) -> str:
    return f"  [{'x' if ok else ' '}] {text}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2000, help="Simulated runs per row")
    parser.add_argument("--seed", type=int, default=2020)
    args = parser.parse_args()
    start = time.perf_counter()
    design = Design()
    tests = family_size([], [Cell("m", step, 1, 0, 0, 0, 0, 0, 0) for step in "abcde"])  # 5 cells, 1 model
    print(
        f"== CI gate: 5 steps, margin {design.margin:.0%}, alpha {design.alpha} family-wise ({tests} tests, "
        f"{design.alpha / tests:.4f} each); sequential: first round {design.first}, then rounds of "
        f"{design.round_trials} up to {design.max_trials} trials per cell; {args.runs} runs per row =="
    )
    print(_HEADER)
    print("-" * len(_HEADER))

    collapse, unchanged, weak = SCENARIOS["collapse"], SCENARIOS["unchanged-30"], SCENARIOS["unchanged-5of10"]
    seq = {key: simulate(s, design, args.runs, args.seed) for key, s in SCENARIOS.items()}
    # exactly: the collapsed cell and an unchanged one; the fixed design with the same power (the collapsed cell's
    # REGRESSED, the unchanged run's PASS, every cell OK)
    dropped = exact_cell(9, 10, 0.3, design, tests)
    kept = exact_cell(27, 30, 0.9, design, tests)
    n_collapse = fixed_trials_for(collapse, design, dropped.regressed, passing=False) or 400
    n_unchanged = fixed_trials_for(unchanged, design, kept.ok**5, passing=True) or 400
    fixed = {
        "collapse": simulate(collapse, replace(design, first=n_collapse, max_trials=n_collapse), args.runs, args.seed),
        "unchanged-30": simulate(
            unchanged, replace(design, first=n_unchanged, max_trials=n_unchanged), args.runs, args.seed
        ),
        "unchanged-5of10": simulate(
            weak, replace(design, first=n_collapse, max_trials=n_collapse), args.runs, args.seed
        ),
    }
    sizes = {"collapse": n_collapse, "unchanged-30": n_unchanged, "unchanged-5of10": n_collapse}
    for key, scenario in SCENARIOS.items():
        print(_row(scenario, "sequential", seq[key]))
        print(_row(scenario, f"fixed n={sizes[key]}", fixed[key]))
    nulls = []
    for scenario in null_scenarios():
        for first in (3, 10):
            result = simulate(scenario, replace(design, first=first), args.runs, args.seed)
            nulls.append((scenario, first, result))
            print(_row(scenario, f"seq from {first}", result))
        result = simulate(scenario, replace(design, first=10, max_trials=10), args.runs, args.seed)
        nulls.append((scenario, 10, result))
        print(_row(scenario, "fixed n=10", result))

    # the exact size of each side, over every rate, for the default design against the two baseline sizes
    print("\nexact size of one test (the largest chance over every true rate of a false verdict by the last look):")
    level = design.alpha / tests
    family = 0.0
    for base in (10, 30, 1000):
        looks = (3, *range(5, design.max_trials + 1, design.round_trials))
        found = boundaries(base, looks, design.max_trials, level, design.margin)
        print(
            f"  baseline {base} trials, looks {looks[0]}..{looks[-1]}: REGRESSED {found.size_regressed[-1]:.5f}, "
            f"OK {found.size_ok[-1]:.5f} (each at most {level:.5f}; x {tests} tests: "
            f"{tests * max(found.size_regressed[-1], found.size_ok[-1]):.4f} <= {design.alpha})"
        )
        family = max(family, tests * max(found.size_regressed[-1], found.size_ok[-1]))

    print("\nexact, per cell (the distribution of its passes carried from round to round):")
    for name, cell, n in (("9/10 -> 0.3", dropped, n_collapse), ("27/30, unchanged", kept, n_unchanged)):
        print(
            f"  {name:<17s} REGRESSED {cell.regressed:.4f}, OK {cell.ok:.4f}; trials mean {cell.mean:.1f}, median "
            f"{cell.median}, p90 {cell.p90}; the fixed design of the same power: {n} trials"
        )

    worst = max(nulls, key=lambda item: item[2].false_regressed)
    c, u, w = seq["collapse"], seq["unchanged-30"], seq["unchanged-5of10"]
    example = _undecided_example(weak, design, tests)
    print("\ntargets:")
    low, high = wilson_interval(round(worst[2].false_regressed * args.runs), args.runs)
    print(
        _check(
            family <= design.alpha and low <= design.alpha,
            f"no change, any baseline rate, any looks: false REGRESSED <= 5% of runs: exactly at most {family:.2%} "
            f"(the tests' sizes summed); simulated, worst {worst[2].false_regressed:.1%} [95% {low:.1%}, {high:.1%}] "
            f"({worst[0].name}, first round {worst[1]})",
        )
    )
    print(
        _check(
            c.regressed_changed >= 0.8 and c.fail >= 0.95 and c.quantile(0.5, True) <= 20,
            f"collapse 9/10 -> 0.3: REGRESSED {c.regressed_changed:.1%} (>= 80%), exit non-zero {c.fail:.1%} (>= 95%), "
            f"median {c.quantile(0.5, True):.0f} trials in that cell (<= 20)",
        )
    )
    print(
        _check(
            u.passed >= 0.9 and u.quantile(0.5) <= 20,
            f"unchanged against 27/30 from 3 trials: PASS {u.passed:.1%} (>= 90%), median {u.quantile(0.5):.0f} "
            f"trials per cell (<= 20)",
        )
    )
    print(
        _check(
            w.ok_unchanged == 0,
            f"unchanged against 5/10: OK in {w.ok_unchanged:.1%} of runs (never); UNDECIDED says: {example}",
        )
    )
    ratio_c = dropped.mean / n_collapse
    ratio_u = kept.mean / n_unchanged
    print(
        _check(
            ratio_c <= 0.6 and ratio_u <= 0.6,
            f"sequential <= 60% of the fixed design's trials at the same power (exact): the collapsed cell "
            f"{dropped.mean:.1f} against {n_collapse} ({ratio_c:.0%}, REGRESSED {dropped.regressed:.1%}); unchanged "
            f"cells {kept.mean:.1f} against {n_unchanged} ({ratio_u:.0%}, PASS {kept.ok**5:.1%})",
        )
    )
    print(f"({time.perf_counter() - start:.0f} s)")


def _undecided_example(scenario: Scenario, design: Design, tests: int) -> str:
    """The reason of an UNDECIDED cell of an unchanged run against a baseline too small for OK."""
    assert scenario.base_passed is not None
    n = design.max_trials
    base = [Cell("m", "s", scenario.base_passed[0], scenario.base_trials - scenario.base_passed[0], 0, 0, 0, 0, 0)]
    run = [Cell("m", "s", n // 2, n - n // 2, 0, 0, 0, 0, 0)]
    (verdict,) = gate(run, base, design.alpha, margin=design.margin, tests=tests)
    return f"{verdict.verdict}, {verdict.reason}"


if __name__ == "__main__":
    main()
