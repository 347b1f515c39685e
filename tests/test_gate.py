"""Aggregates, the CI gate and the stored run, on records written by hand: every branch with its numbers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from pytest_hepagent.matrix.baseline import load_baseline_cells
from pytest_hepagent.matrix.cells import (
    Cell,
    Verdict,
    cells_from_records,
    chain_cells,
    run_summary,
)
from pytest_hepagent.matrix.gate import ALL_STEPS, family_size, gate, gate_line, run_exit_status
from pytest_hepagent.records import (
    RecordError,
    ResultsStore,
    TrialRecord,
    append_jsonl,
    latest_records,
    read_jsonl,
    read_records,
    read_run,
    record_from_json,
    record_to_json,
    write_json,
)
from pytest_hepagent.sequential.boundaries import drop_pvalue, margin_pvalue, single_look
from pytest_hepagent.stats import wilson_interval


def raw(model: str, step: str, trial: int, outcome: str, **extra: Any) -> dict[str, Any]:
    """A trial record as stored: the JSON object of one line of results.jsonl."""
    return {
        "schema_version": 1,
        "run_id": "run",
        "key": f"{model}|{step}|{trial}",
        "model": model,
        "step": step,
        "trial": trial,
        "outcome": outcome,
        "api_calls": 3,
        "agent_work": 1.0,
        "tokens": {"input": 10, "output": 5},
        "cost_usd": 0.01,
    } | extra


def record(model: str, step: str, trial: int, outcome: str, **extra: Any) -> TrialRecord:
    return record_from_json(raw(model, step, trial, outcome, **extra))


def cell(
    passed: int,
    failed: int,
    model: str = "m",
    step: str = "categorization",
    errors: int = 0,
    looks: tuple[tuple[int, int], ...] = (),
    most: int | None = None,
) -> Cell:
    return Cell(model, step, passed, failed, errors, 3.0, 1.0, 0, 0.0, looks=looks, max_trials=most)


STEPS = ("root_inspection", "ntuple_conversion", "preprocessing", "sb_separation", "categorization")


# ---------------------------------------------------------------- cells


def test_cells_count_outcomes_and_average_only_judged_trials() -> None:
    records = [
        record("m", "preprocessing", 1, "passed", api_calls=2, agent_work=1.0),
        record("m", "preprocessing", 2, "failed", api_calls=6, agent_work=3.0, cost_usd=0.5),
        record("m", "preprocessing", 3, "error", api_calls=50, agent_work=9.0, tokens={"input": 7, "output": 0}),
        record("m", "root_inspection", 1, "passed"),
        record("a", "categorization", 1, "failed"),
    ]
    cells = cells_from_records(records)
    # models in name order, steps in the analysis' order
    assert [(c.model, c.step) for c in cells] == [
        ("a", "categorization"),
        ("m", "root_inspection"),
        ("m", "preprocessing"),
    ]
    pre = cells[2]
    assert (pre.passed, pre.failed, pre.errors, pre.total, pre.started) == (1, 1, 1, 2, 3)
    assert pre.mean_api_calls == 4.0  # the error's 50 calls say nothing about the model
    assert pre.mean_agent_work == 2.0
    assert pre.tokens == 15 + 15 + 7
    assert pre.cost_usd == pytest.approx(0.52)
    assert pre.fraction == 0.5
    assert pre.fraction_errors_failed == pytest.approx(1 / 3)
    d = pre.to_json()
    assert d["wilson_95"] == pytest.approx(list(stats.binomtest(1, 2).proportion_ci(method="wilson")[:]), abs=1e-12)
    assert d["binomial_error"] == pytest.approx(0.5 / 2**0.5)
    assert (d["total"], d["started"], d["fraction"]) == (2, 3, 0.5)
    assert d["fraction_errors_as_failures"] == pytest.approx(1 / 3)


def test_first_attempt_success_and_what_self_correction_adds() -> None:
    records = [
        record("m", "preprocessing", 1, "passed", iterations=1),
        record("m", "preprocessing", 2, "passed", iterations=3),  # rescued by the third attempt
        record("m", "preprocessing", 3, "passed", iterations=2),
        record("m", "preprocessing", 4, "failed", iterations=1),  # the reviewer accepted wrong outputs
        record("m", "preprocessing", 5, "failed", iterations=3),
        record("m", "preprocessing", 6, "error", iterations=1),  # not judged
    ]
    (c,) = cells_from_records(records)
    assert (c.passed, c.first_passed, c.total) == (3, 1, 5)
    assert c.first_fraction == pytest.approx(0.2)
    gain, low, high = c.self_correction
    assert gain == pytest.approx(0.4)  # 60% final against 20% first: two of five trials rescued
    assert (low, high) == pytest.approx(wilson_interval(2, 5))
    d = c.to_json()
    assert d["first_passed"] == 1 and d["first_attempt_fraction"] == pytest.approx(0.2)
    assert d["self_correction"] == {
        "difference": pytest.approx(0.4),
        "wilson_95": pytest.approx(list(wilson_interval(2, 5))),
    }


def test_a_cell_stores_its_small_n_statistics() -> None:
    records = [record("m", "categorization", t, "passed" if t <= 4 else "failed", cost_usd=0.25) for t in range(1, 6)]
    records.append(record("m", "categorization", 6, "error", cost_usd=0.5))
    (c,) = cells_from_records(records)
    d = c.to_json()
    assert d["clopper_pearson_95"] == pytest.approx(list(stats.binomtest(4, 5).proportion_ci(method="exact")[:]))
    assert d["rule_of_three_95"] is None
    # pass@k = 1 - C(1, k) / C(5, k); pass^k = C(4, k) / C(5, k); no k above the 5 judged trials
    assert d["pass_at_k"] == {"1": pytest.approx(0.8), "3": 1.0, "5": 1.0}
    assert d["pass_hat_k"] == {"1": pytest.approx(0.8), "3": pytest.approx(0.4), "5": 0.0}
    assert d["cost_per_success_usd"] == pytest.approx((5 * 0.25 + 0.5) / 4)  # the error's spend counts too
    assert d["fraction_errors_as_failures"] == pytest.approx(4 / 6)
    assert d["wilson_95_errors_as_failures"] == pytest.approx(list(wilson_interval(4, 6)))
    (none,) = cells_from_records(
        [record("m", "categorization", 1, "failed"), record("m", "categorization", 2, "failed")]
    )
    d = none.to_json()
    assert d["rule_of_three_95"] == [0.0, 1.0]  # 3/2 is capped at 1
    assert d["pass_at_k"] == {"1": 0.0} and d["cost_per_success_usd"] is None
    (every,) = cells_from_records([record("m", "categorization", t, "passed") for t in range(1, 11)])
    assert every.to_json()["rule_of_three_95"] == pytest.approx([0.7, 1.0])


def test_the_statistics_table_shows_each_number() -> None:
    from pytest_hepagent.matrix.report_text import cell_table, statistics_table

    records = [
        record("m", "categorization", t, "passed" if t <= 4 else "failed", iterations=1 if t <= 2 else 2)
        for t in range(1, 6)
    ] + [record("m", "preprocessing", t, "failed") for t in range(1, 4)]
    lines = statistics_table(cells_from_records(records))
    header, _, pre, cat, legend = lines
    assert header.split()[:9] == ["model", "step", "n", "rule", "of", "3", "pass@3", "pass@5", "pass^3"]
    assert pre.split() == [
        "m",
        "preprocessing",
        "3",
        "0%",
        "-",
        "0%",
        "-",
        "0%",
        "+0%",
        "[0%,",
        "56%]",
        "-",
    ]
    assert cat.split() == [
        "m",
        "categorization",
        "5",
        "100%",
        "100%",
        "40%",
        "0%",
        "40%",
        "+40%",
        "[12%,",
        "77%]",
        "0.0125",
    ]
    assert legend.startswith("pass@k, pass^k")
    four = statistics_table(cells_from_records([record("m", "preprocessing", t, "failed") for t in range(1, 5)]))
    assert four[2].split()[3:5] == ["<=", "75%"]  # the rule of three says something from n = 4 on
    exact = cell_table(cells_from_records(records), "clopper-pearson")
    assert "95% C-P" in exact[0]
    low, high = stats.binomtest(4, 5).proportion_ci(method="exact")
    assert f"[{low:4.0%}, {high:4.0%}]" in exact[3]


def test_a_cell_of_errors_only_has_no_fraction_and_no_means() -> None:
    (c,) = cells_from_records([record("m", "categorization", 1, "error")])
    assert (c.total, c.started, c.fraction, c.fraction_errors_failed) == (0, 1, 0.0, 0.0)
    assert (c.mean_api_calls, c.mean_agent_work) == (0.0, 0.0)
    assert c.interval == (0.0, 1.0)


def test_a_step_of_unknown_name_comes_after_the_analysis_steps() -> None:
    cells = cells_from_records([record("m", "aaa", 1, "passed"), record("m", "categorization", 1, "passed")])
    assert [c.step for c in cells] == ["categorization", "aaa"]


def test_the_last_record_of_a_trial_wins() -> None:
    first = record("m", "categorization", 1, "error")
    again = record("m", "categorization", 1, "passed")
    assert latest_records([first, again]) == [again]
    assert latest_records([again, first]) == [first]
    (c,) = cells_from_records([first, again])
    assert (c.passed, c.errors) == (1, 0)


def test_chain_cells_count_whole_chains_and_where_they_broke() -> None:
    def link(trial: int, step: str, outcome: str, passed: bool, broken_at: str | None) -> TrialRecord:
        chain = {"id": f"m|chain|{trial}", "position": 1, "steps": [step], "passed": passed, "broken_at": broken_at}
        return record("m", step, trial, outcome, key=f"m|{step}|chain|{trial}", chain=chain)

    records = [
        link(1, "root_inspection", "passed", True, None),
        link(1, "categorization", "passed", True, None),
        link(2, "root_inspection", "passed", False, "preprocessing"),
        link(2, "preprocessing", "failed", False, "preprocessing"),
        link(3, "root_inspection", "failed", False, "root_inspection"),
        link(5, "root_inspection", "failed", False, "root_inspection"),
        link(4, "root_inspection", "error", False, None),  # an infrastructure error is no chain result
        record("m", "categorization", 9, "passed"),  # not chained
    ]
    (c,) = chain_cells(records)
    assert (c.model, c.passed, c.total) == ("m", 1, 4)
    assert c.broken_at == {"preprocessing": 1, "root_inspection": 2}


def test_a_chain_that_ended_in_an_infrastructure_error_is_left_out() -> None:
    steps = ["preprocessing", "categorization"]

    def link(trial: int, step: str, outcome: str, passed: bool, broken_at: str | None) -> TrialRecord:
        position = steps.index(step) + 1
        chain = {
            "id": f"m|chain|{trial}",
            "position": position,
            "steps": steps,
            "passed": passed,
            "broken_at": broken_at,
        }
        return record("m", step, trial, outcome, key=f"m|{step}|chain|{trial}", chain=chain)

    records = [
        link(1, "preprocessing", "passed", True, None),
        link(1, "categorization", "passed", True, None),
        link(2, "preprocessing", "passed", False, "categorization"),
        link(2, "categorization", "error", False, "categorization"),  # the API went down: no verdict on the chain
        link(3, "preprocessing", "failed", False, "preprocessing"),
    ]
    (c,) = chain_cells(records)
    assert (c.passed, c.total, c.errors, c.broken_at) == (1, 2, 1, {"preprocessing": 1})
    from pytest_hepagent.matrix.report_text import chain_lines

    assert chain_lines([c]) == [
        "end-to-end m: 1/2 chains passed (broken at preprocessing); 1 ended in an infrastructure error, left out"
    ]


# ---------------------------------------------------------------- the gate


def test_a_step_collapsing_from_9_to_3_of_10_is_regressed_and_fails_the_run() -> None:
    """The issue's first case: 10 trials per cell over 5 steps, one step falls from 9/10 to 3/10. Fisher's one-sided
    test gives p = 0.0099, above the 0.05/6 a lone drop needed under the former rule (which passed this run); the
    exact unconditional test shows the drop."""
    fisher = stats.fisher_exact([[3, 7], [9, 1]], alternative="less").pvalue
    assert fisher == pytest.approx(0.0099, abs=1e-4) and fisher > 0.05 / 6  # the former rule: OK, exit 0
    now = [cell(9, 1, step=s) for s in STEPS[:4]] + [cell(3, 7, step="categorization")]
    verdicts = gate(now, [cell(9, 1, step=s) for s in STEPS])
    collapsed = next(v for v in verdicts if v.step == "categorization")
    assert collapsed.verdict == "REGRESSED"
    assert collapsed.p_value == pytest.approx(drop_pvalue(3, 10, 9, 10)) and collapsed.p_value <= 0.99 * 0.05 / 6
    assert collapsed.regressed_at_most == single_look(10, 10, 0.05 / 6, 0.0, drop=True)[9] == 3
    assert collapsed.reason.startswith("a drop is shown: 3/10 against 9/10 is at or below the boundary 3/10 ")
    status = run_exit_status(0, verdicts, 0)
    assert status == 1
    assert gate_line(verdicts, status).startswith(
        "gate: FAIL (exit 1): 1 REGRESSED (m categorization (3/10 against 9/10)); 4 UNDECIDED ("
    )


def test_ok_is_never_not_significant_and_needs_the_margin_ruled_out() -> None:
    """2/3 against 3/3 is compatible with a 60-point drop: not OK (the former rule said OK), and the reason says
    how many trials would be."""
    (v,) = gate([cell(2, 1)], [cell(3, 0)])
    assert v.verdict == "UNDECIDED"
    assert v.ok_from is None and v.trials_to_decide is not None and v.trials_to_decide > 3
    assert f"rules out a 35% drop from {v.trials_to_decide} trials" in v.reason
    (ok,) = gate([cell(18, 2)], [cell(27, 3)])
    assert ok.verdict == "OK" and ok.target_drop == 0.35
    assert ok.reason == f"a drop of 35% or more is ruled out: 18/20 against 27/30 reaches {ok.ok_from}/20"


@pytest.mark.parametrize(("base", "total"), [(9, 10), (27, 30), (5, 10), (10, 10), (0, 12)])
def test_one_look_decides_exactly_as_its_exact_p_values(base: int, total: int) -> None:
    """A run of one look: REGRESSED when the one-sided exact unconditional p-value of a drop is within the level
    (as spent by the boundary, 0.99 of it), OK when that of a 35-point drop is and the baseline allows OK, at every
    count of a 20-trial run."""
    from pytest_hepagent.sequential.design import ok_reachable

    level = 0.05
    reachable = ok_reachable(base, total, 20, level, 0.35)
    for passed in range(21):
        (v,) = gate([cell(passed, 20 - passed)], [cell(base, total - base)])
        drop = drop_pvalue(passed, 20, base, total) <= 0.99 * level
        ok = reachable and margin_pvalue(passed, 20, base, total, 0.35) <= 0.99 * level
        expected = "REGRESSED" if drop else ("OK" if ok else "UNDECIDED")
        assert v.verdict == expected, (passed, v.reason)


def test_the_family_is_every_cell_and_each_model_over_its_steps() -> None:
    """Bonferroni over the cells and the models: at most one of a cell's two hypotheses can be true, so alpha over
    that count keeps the chance of any wrong verdict at alpha; the count does not depend on how far the run got."""
    baseline = [cell(9, 1, step=s) for s in STEPS] + [cell(5, 5, model="o", step=s) for s in STEPS[:2]]
    assert family_size([], baseline) == 5 + 1 + 2 + 1
    assert family_size([cell(1, 0)], baseline, steps=["categorization"]) == 1  # one cell of m; o has none
    assert family_size([], baseline, steps=["categorization", "preprocessing"]) == 3  # m: 2 cells + its steps
    assert family_size([cell(1, 0, model="o", step="ntuple_conversion")], baseline, steps=["categorization"]) == 2
    verdicts = gate([cell(9, 1, step=s) for s in STEPS], baseline[:5])
    assert [v.level for v in verdicts] == [pytest.approx(0.05 / 6)] * 6
    assert verdicts[0].p_adjusted == pytest.approx(min(1.0, 6 * verdicts[0].p_value))
    alone = gate([cell(9, 1, step=s) for s in STEPS], baseline[:5], adjust="none")
    assert {v.level for v in alone if v.level is not None} == {0.05}


def test_a_model_over_its_steps_is_tested_on_the_first_rounds() -> None:
    """1/3 against 10/10 in each of five steps: the exact stratified test over the steps shows the drop; a gated
    run's model test uses each cell's first round, whose size the design fixed."""
    verdicts = gate([cell(1, 2, step=s) for s in STEPS], [cell(10, 0, step=s) for s in STEPS])
    overall = verdicts[-1]
    assert (overall.step, overall.verdict, overall.passed, overall.total, overall.base_total) == (
        ALL_STEPS,
        "REGRESSED",
        5,
        15,
        50,
    )
    from pytest_hepagent.stats import stratified_drop_pvalue

    assert overall.p_value == pytest.approx(stratified_drop_pvalue([(1, 3, 10, 10)] * 5))
    # the same counts reached in rounds: only the first round (1/3) enters the model's test
    rounds = [cell(9, 11, step=s, looks=((1, 3), (9, 20)), most=20) for s in STEPS]
    again = gate(rounds, [cell(10, 0, step=s) for s in STEPS])[-1]
    assert again.p_value == overall.p_value and "(first rounds)" in again.reason
    (no_drop,) = [
        v
        for v in gate([cell(3, 0, step=s) for s in STEPS[:2]], [cell(3, 0, step=s) for s in STEPS[:2]])
        if v.step == ALL_STEPS
    ]
    assert no_drop.verdict == "NO DROP" and no_drop.reason.startswith("no drop shown over the steps together")


def test_a_cell_in_rounds_is_decided_at_its_first_crossing() -> None:
    """Looks after each round: the first look that crosses a boundary decides; trials after it do not count."""
    looks = ((0, 3), (1, 5), (8, 10))  # 0/3 and 1/5 cross nothing against 12/12 in a 20-trial design? see below
    (v,) = gate([cell(8, 2, looks=looks, most=20)], [cell(12, 0)])
    from pytest_hepagent.sequential.boundaries import boundaries

    found = boundaries(12, (3, 5, 10), 20, 0.05, 0.35)
    first = next(k for k, (x, _) in enumerate(looks) if x <= found.regressed[k][12])
    assert v.verdict == "REGRESSED" and v.round == first + 1
    assert (v.passed, v.total) == looks[first]
    assert v.reason.startswith(
        f"a drop is shown: {looks[first][0]}/{looks[first][1]} against 12/12 after round {first + 1}"
    )


def test_an_undecided_cell_says_what_would_decide_it() -> None:
    (v,) = gate([cell(14, 6)], [cell(27, 3)])
    assert v.verdict == "UNDECIDED" and v.trials_to_decide is not None
    n = v.trials_to_decide
    x = round(0.7 * n)
    assert x <= single_look(30, n, 0.05, 0.35, drop=True)[27] or x >= single_look(30, n, 0.05, 0.35, drop=False)[27]
    assert v.reason.endswith(f"at this success about {n} trials would decide it (REGRESSED)")


def test_a_baseline_too_uncertain_for_ok_says_how_many_baseline_trials_would_do() -> None:
    """5/10: no unchanged run of 50 trials can rule out a 35-point drop at the level of five cells; the count
    given is the fewest baseline trials at 50% with which one could (a fixed design), one fewer could not."""
    from pytest_hepagent.sequential.design import ok_reachable

    level = 0.05 / 6
    now = [cell(25, 25, step=s, looks=((25, 50),), most=50) for s in STEPS]
    verdicts = gate(now, [cell(5, 5, step=s) for s in STEPS])
    v = verdicts[0]
    assert v.verdict == "UNDECIDED" and v.baseline_needed is not None
    n = v.baseline_needed
    assert ok_reachable(round(n / 2), n, 50, level, 0.35) and not ok_reachable(
        round((n - 1) / 2), n - 1, 50, level, 0.35
    )
    assert v.reason.endswith(
        f"and the baseline's 5/10 is too uncertain for OK: no run as good as it can rule out a 35% drop; {n} baseline "
        "trials at this success would"
    )
    # a run far better than its baseline is still not OK there: the baseline cannot support it
    better = gate([cell(50, 0, step=s, looks=((50, 50),), most=50) for s in STEPS], [cell(5, 5, step=s) for s in STEPS])
    assert {b.verdict for b in better[:5]} == {"UNDECIDED"}


@pytest.mark.parametrize(
    ("baseline", "reason"),
    [
        ([], "no baseline for this cell"),
        ([cell(3, 0, model="a"), cell(3, 0, model="b")], "no baseline for this cell"),
        ([cell(0, 0, errors=3)], "the baseline's trials of this cell all ended in errors"),
    ],
)
def test_a_cell_without_baseline_trials_is_new(baseline: list[Cell], reason: str) -> None:
    v = gate([cell(2, 1)], baseline)[0]
    assert v == Verdict("m", "categorization", "NEW", 2, 3, 0, 0, 1.0, reason)


def test_a_baseline_cell_the_run_lacks_is_missing_and_fails_the_gate() -> None:
    """A skipped step (a spent --hep-max-usd, a forgotten --hep-steps) must not pass unseen."""
    baseline = [cell(10, 0, step="preprocessing"), cell(10, 0, step="categorization"), cell(9, 1, model="other")]
    verdicts = gate([cell(10, 0, step="preprocessing")], baseline)
    missing = [(v.model, v.step, v.verdict) for v in verdicts if v.verdict == "MISSING"]
    assert missing == [("m", "categorization", "MISSING"), ("other", "categorization", "MISSING")]
    reason = "no trial of this cell in this run (not run, or skipped); the baseline has 10/10"
    assert verdicts[1] == Verdict("m", "categorization", "MISSING", 0, 0, 10, 10, 1.0, reason)
    assert run_exit_status(0, verdicts, 0) == 1
    assert run_exit_status(0, verdicts, 0, "pass") == 1  # missing fails whatever the undecided policy
    asked = gate([cell(10, 0, step="preprocessing")], baseline[:2], steps=["preprocessing"])
    assert [v.step for v in asked] == ["preprocessing"]


def test_one_model_against_another_is_compared() -> None:
    """A replay of a model's cassettes (recorded as hepagent/replay) against that model's live baseline."""
    (v,) = gate([cell(0, 10, model="hepagent/replay")], [cell(10, 0, model="openai/o3")])
    assert (v.model, v.verdict, v.base_passed) == ("hepagent/replay", "REGRESSED", 10)


def test_a_baseline_that_never_passed_cannot_drop_and_is_ok_only_with_enough_trials() -> None:
    (few,) = gate([cell(0, 20)], [cell(0, 5)])
    assert few.verdict == "UNDECIDED" and few.regressed_at_most == -1
    (many,) = gate([cell(0, 20)], [cell(0, 200)])  # 0/200: the baseline's success is surely below 35%
    assert many.verdict == "OK"


def test_the_floor_holds_for_a_new_cell_too() -> None:
    (below,) = gate([cell(0, 10)], [cell(0, 0, errors=3)], floor=0.9)
    assert below.verdict == "REGRESSED"
    assert below.reason == (
        "the baseline's trials of this cell all ended in errors; below the floor 0.90 (95% Wilson upper bound 0.28)"
    )
    (across,) = gate([cell(9, 1)], [], floor=0.8)
    assert across.verdict == "UNDECIDED" and across.reason.startswith("no baseline for this cell; the floor 0.80")
    assert gate([cell(10, 0)], [], floor=0.5)[0].verdict == "NEW"
    (errors,) = gate([cell(0, 0, errors=10)], [], floor=0.5)
    assert errors.verdict == "UNDECIDED"
    assert errors.reason == "no baseline for this cell; no judged trial to hold against the floor 0.50"


def test_the_floor_regresses_below_it_and_leaves_a_cell_undecided_across_it() -> None:
    # 150/300 against 150/300: OK at the margin; Wilson [0.44, 0.56]
    below = gate([cell(150, 150)], [cell(150, 150)], floor=0.9)[0]
    assert below.verdict == "REGRESSED" and below.reason.endswith("below the floor 0.90 (95% Wilson upper bound 0.56)")
    across = gate([cell(150, 150)], [cell(150, 150)], floor=0.5)[0]
    assert across.verdict == "UNDECIDED"
    assert across.reason.endswith(
        "the floor 0.50 lies inside the 95% interval [0.44, 0.56]; "
        "no number of trials up to 2,000 at this success rate would put it outside"
    )
    near = gate([cell(180, 120)], [cell(150, 150)], floor=0.55)[0]
    more = int(near.reason.rsplit("; ", 1)[1].split()[0])
    n = 300 + more
    assert wilson_interval(round(0.6 * n), n)[0] >= 0.55 > wilson_interval(round(0.6 * (n - 1)), n - 1)[0]
    exact = gate([cell(150, 150)], [cell(150, 150)], floor=0.9, interval="clopper-pearson")[0]
    assert exact.reason.endswith("below the floor 0.90 (95% Clopper-Pearson upper bound 0.56)")
    assert gate([cell(150, 150)], [cell(150, 150)], floor=0.3)[0].verdict == "OK"
    low, high = cell(150, 150).interval
    assert gate([cell(150, 150)], [cell(150, 150)], floor=high)[0].verdict == "UNDECIDED"
    assert gate([cell(150, 150)], [cell(150, 150)], floor=low)[0].verdict == "OK"


def test_a_drop_is_reported_before_the_floor() -> None:
    (v,) = gate([cell(2, 18)], [cell(18, 2)], floor=0.9)
    assert v.verdict == "REGRESSED" and v.reason.startswith("a drop is shown")


def test_a_cell_of_mostly_infrastructure_errors_is_not_decided() -> None:
    """One judged trial and 99 errors against 100/100: the API was down, not the model good."""
    (v,) = gate([cell(40, 0, errors=99)], [cell(100, 0)])
    assert v.verdict == "UNDECIDED"
    assert v.reason.startswith("most trials ended in infrastructure errors (99 of 139)")
    assert gate([cell(40, 0, errors=40)], [cell(100, 0)])[0].verdict == "OK"  # half and half: judged
    (none,) = gate([cell(0, 0, errors=4)], [cell(100, 0)])
    assert none.verdict == "UNDECIDED" and none.reason.startswith("no judged trial: all 4 ended in infrastructure")


def test_a_cell_outside_the_asked_steps_is_still_judged() -> None:
    """A resumed run holds cells of steps it was not asked for this time: they are judged, never NEW."""
    baseline = [cell(5, 0, step="preprocessing"), cell(5, 0, step="categorization")]
    now = [cell(5, 0, step="preprocessing"), cell(0, 5, step="categorization")]
    verdicts = gate(now, baseline, steps=["preprocessing"])
    assert {v.step: v.verdict for v in verdicts}["categorization"] == "REGRESSED"


def test_a_complete_resumed_run_is_decided_by_the_gate() -> None:
    """pytest exits 5 when a resumed run has nothing left to run; with a baseline the gate still decides."""
    assert run_exit_status(5, [verdict("OK")], 0) == 0
    assert run_exit_status(5, [verdict("MISSING")], 0) == 1
    assert run_exit_status(5, None, 0) == 5


def test_every_cell_gets_its_verdict_after_a_new_one() -> None:
    verdicts = gate([cell(2, 1, model="new"), cell(60, 0, step="preprocessing")], [cell(60, 0, step="preprocessing")])
    assert [(v.model, v.step, v.verdict) for v in verdicts] == [
        ("new", "categorization", "NEW"),
        ("m", "preprocessing", "OK"),
    ]


# ---------------------------------------------------------------- the exit status and the verdict line


def verdict(name: str, step: str = "categorization") -> Verdict:
    return Verdict("m", step, name, 1, 1, 1, 1, 1.0, "", target_drop=0.35)


@pytest.mark.parametrize(
    ("status", "verdicts", "unsaved", "policy", "expected"),
    [
        (0, None, 0, "fail", 0),  # no gate: pytest's own status
        (1, None, 0, "fail", 1),
        (2, None, 0, "fail", 2),
        (1, [verdict("OK"), verdict("NEW")], 0, "fail", 0),  # the gate says OK: single failed trials do not count
        (0, [verdict("OK"), verdict("REGRESSED")], 0, "fail", 1),
        (0, [verdict("UNDECIDED")], 0, "fail", 1),
        (0, [verdict("UNDECIDED")], 0, "pass", 0),
        (0, [verdict("INCONCLUSIVE")], 0, "fail", 1),  # an older summary's word for it
        (0, [verdict("REGRESSED"), verdict("UNDECIDED")], 0, "pass", 1),
        (0, [verdict("MISSING")], 0, "pass", 1),
        (0, [verdict("NO DROP", ALL_STEPS)], 0, "fail", 0),
        (0, [], 0, "fail", 0),
        (2, [verdict("OK")], 0, "fail", 2),  # interrupted: the gate did not see the run
        (4, [verdict("REGRESSED")], 0, "fail", 4),  # a usage error stands
        (0, [verdict("OK")], 1, "fail", 3),  # records lost: never a pass
        (0, None, 2, "fail", 3),
    ],
)
def test_run_exit_status(status: int, verdicts: list[Verdict] | None, unsaved: int, policy: str, expected: int) -> None:
    assert run_exit_status(status, verdicts, unsaved, policy) == expected  # type: ignore[arg-type]


def test_the_verdict_line_names_what_decided_and_the_policy() -> None:
    verdicts = [verdict("OK", s) for s in STEPS[:3]] + [
        verdict("UNDECIDED", "sb_separation"),
        verdict("NO DROP", ALL_STEPS),
    ]
    assert gate_line(verdicts, 1) == (
        "gate: FAIL (exit 1): 1 UNDECIDED (m sb_separation (1/1 against 1/1)); 3 of 4 cells OK (a drop of 35% or more "
        "ruled out); undecided cells fail (--hep-undecided fail)"
    )
    assert gate_line(verdicts, 0, "pass").endswith("undecided cells pass (--hep-undecided pass)")
    many = [verdict("REGRESSED", s) for s in STEPS] + [verdict("MISSING", "x")]
    line = gate_line(many, 1, notes=["replay: ..."])
    assert line.startswith("gate: FAIL (exit 1): 5 REGRESSED (m root_inspection (1/1 against 1/1), ")
    assert ", 2 more); 1 MISSING (m x (1/1 against 1/1)); 0 of 6 cells OK" in line and line.endswith("; replay: ...")
    assert gate_line([verdict("OK")], 0).startswith("gate: PASS (exit 0): 1 of 1 cells OK")


# ---------------------------------------------------------------- the summary and baselines


def test_the_summary_holds_the_cells_the_gate_and_the_total_cost() -> None:
    cells = [cell(2, 1), Cell("m", "preprocessing", 1, 0, 0, 3.0, 1.0, 10, 0.25)]
    verdicts = gate(cells, cells)
    dataset = {"kind": "synthetic", "path": "/data"}
    summary = run_summary("run-1", cells, verdicts, {"dataset": dataset}).to_json()
    assert summary["schema_version"] == 1
    assert summary["run_id"] == "run-1"
    assert summary["dataset"] == dataset
    assert summary["total_cost_usd"] == 0.25
    assert [c["step"] for c in summary["cells"]] == ["categorization", "preprocessing"]
    assert summary["cells"][0]["passed"] == 2 and summary["cells"][0]["wilson_95"] == list(cells[0].interval)
    assert [g["verdict"] for g in summary["gate"]] == ["UNDECIDED", "UNDECIDED", "NO DROP"]  # 3 and 1 trials
    assert summary["gate"][2]["step"] == "all steps"
    assert run_summary("run-1", cells, None, {}).to_json()["gate"] is None


def test_cells_carry_their_rounds_from_the_records() -> None:
    records = [
        record("m", "categorization", t, "passed" if t != 2 else "failed", round=1 if t <= 3 else 2, max_trials=10)
        for t in range(1, 6)
    ] + [record("m", "categorization", 6, "error", round=3, max_trials=10)]
    (c,) = cells_from_records(records)
    assert c.looks == ((2, 3), (4, 5)) and c.max_trials == 10  # the error adds no look
    (plain,) = cells_from_records([record("m", "s", 1, "passed")])
    assert plain.looks == () and plain.max_trials is None


def test_a_baseline_reads_the_same_from_results_summary_and_run_folder(tmp_path: Path) -> None:
    records = [record("m", "categorization", i, "passed" if i < 7 else "failed") for i in range(10)]
    records += [record("m", "preprocessing", 1, "error"), record("x", "categorization", 1, "passed")]
    store = ResultsStore(tmp_path / "run")
    for r in records:
        store.append(r)
    cells = cells_from_records(records)
    store.write_summary(run_summary("run", cells, None, {}))
    from_results = load_baseline_cells(store.results_path)
    from_summary = load_baseline_cells(store.summary_path)
    assert from_results == cells
    assert from_summary == cells
    assert load_baseline_cells(store.folder) == cells
    changed = run_summary("run", cells_from_records(records[:3]), None, {})
    store.write_summary(changed)  # a folder holding both: the records decide
    assert load_baseline_cells(store.folder) == cells
    store.write_summary(run_summary("run", cells, None, {}))
    store.results_path.unlink()  # a folder with a summary only
    assert load_baseline_cells(store.folder) == cells
    assert [(c.model, c.step, c.passed, c.failed, c.errors) for c in cells] == [
        ("m", "preprocessing", 0, 0, 1),
        ("m", "categorization", 7, 3, 0),
        ("x", "categorization", 1, 0, 0),
    ]


# ---------------------------------------------------------------- the store


def test_records_are_appended_one_line_each_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "a" / "deep" / "results.jsonl"
    append_jsonl(path, raw("m", "s", 1, "passed"))
    append_jsonl(path, raw("m", "s", 2, "failed"))
    assert path.read_text().count("\n") == 2
    assert [n for n, _ in read_jsonl(path)] == [1, 2]
    assert [r.trial for r in read_records(path)] == [1, 2]


def test_a_torn_line_is_skipped_and_the_next_record_starts_a_fresh_line(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    append_jsonl(path, raw("m", "s", 1, "passed"))
    with path.open("a") as f:
        f.write('{"key": "m|s|2", "tor')
    append_jsonl(path, raw("m", "s", 3, "passed"))
    assert [(n, r["trial"]) for n, r in read_jsonl(path)] == [(1, 1), (3, 3)]


def test_blank_lines_and_non_objects_are_not_records(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text('\n[1, 2]\n"text"\n' + json.dumps(raw("m", "s", 1, "passed")) + "\n\n")
    assert [n for n, _ in read_jsonl(path)] == [2, 3, 4]
    with caplog.at_level("WARNING"):
        assert [r.trial for r in read_records(path)] == [1]
    assert [m.rsplit(": ", 1)[-1] for m in caplog.messages] == [
        "not a JSON object but list",
        "not a JSON object but str",
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"trial": "1"}, "trial: Input should be a valid integer"),
        ({"trial": True}, "trial: Input should be a valid integer"),
        ({"trial": 1.5}, "trial: Input should be a valid integer"),
        ({"cost_usd": None}, "cost_usd: Input should be a valid number"),
        ({"outcome": "skipped"}, "outcome: Input should be 'passed', 'failed' or 'error'"),
        ({"tokens": {"input": 1, "output": 2.5}}, "tokens.output: Input should be a valid integer"),
        ({"category": {"final": "bad luck"}}, "category.final: Input should be 'all data weights = 0'"),
        ({"chain": {"id": "c"}}, "chain.position: Field required"),
    ],
)
def test_an_unusable_record_names_the_field(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match="^" + problem.replace("(", r"\(")) as info:
        record_from_json(raw("m", "s", 1, "passed") | change)
    assert "\n" not in str(info.value)


def test_a_missing_field_and_a_non_record() -> None:
    r = raw("m", "s", 1, "passed")
    del r["model"]
    with pytest.raises(ValueError, match=r"^model: Field required"):
        record_from_json(r)
    with pytest.raises(ValueError, match=r"^not a JSON object but list$"):
        record_from_json([1])
    assert record_from_json(raw("m", "s", 1, "passed") | {"added_later": 1}).model == "m"  # a new field is no problem


@pytest.mark.parametrize("version", [2, 0, None, "1", True])
def test_a_record_of_an_unknown_schema_version_is_a_one_line_error(tmp_path: Path, version: Any) -> None:
    path = tmp_path / "results.jsonl"
    append_jsonl(path, raw("m", "s", 1, "passed"))
    append_jsonl(path, raw("m", "s", 2, "passed", schema_version=version))
    with pytest.raises(RecordError) as info:
        read_records(path)
    assert str(info.value) == (
        f"{path}:2: schema_version {version!r} is not one this harness reads (1 to 1); read it with the "
        "pytest-hepagent version that wrote it, or upgrade"
    )


def test_a_record_round_trips_through_its_json(tmp_path: Path) -> None:
    chain = {"id": "m|chain|1", "position": 2, "steps": ["a", "b"], "passed": False, "broken_at": "b"}
    category = {"rule": "semantic error", "final": "other", "judge": "other", "evidence": ["x"], "disagree": True}
    r = record("m", "s", 1, "failed", chain=chain, category=category, hashes={"dataset": "0"})
    data = record_to_json(r)
    assert json.loads(json.dumps(data)) == data  # plain JSON: what pytest-xdist can send
    assert record_from_json(data) == r
    ResultsStore(tmp_path).append(r)
    assert read_records(tmp_path / "results.jsonl") == [r]


def test_read_run_keeps_the_latest_record_and_names_a_folder_that_is_no_run(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    store.append(record("m", "s", 1, "error"))
    store.append(record("m", "s", 1, "passed"))
    append_jsonl(store.results_path, raw("m", "s", 2, "lost"))  # unusable: skipped
    assert [(r.trial, r.outcome) for r in read_run(tmp_path)] == [(1, "passed")]
    with pytest.raises(FileNotFoundError, match=r"results.jsonl: no results.jsonl; give a run folder"):
        read_run(tmp_path / "nothing")


def test_write_json_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "summary.json"
    write_json(path, {"b": 1, "a": [1, 2]})
    write_json(path, {"c": Path("x")})
    assert json.loads(path.read_text()) == {"c": "x"}
    assert path.read_text().endswith("\n")
    assert [p.name for p in path.parent.iterdir()] == ["summary.json"]  # no temporary file left


def test_json_is_written_sorted_and_indented_by_one(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write_json(path, {"b": 1, "a": [1, 2]})
    assert path.read_text() == '{\n "a": [\n  1,\n  2\n ],\n "b": 1\n}\n'


def test_a_record_is_one_sorted_line_in_a_file_others_can_read(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    previous = os.umask(0o022)
    try:
        append_jsonl(path, {"b": 1, "a": Path("x")})
    finally:
        os.umask(previous)
    assert path.read_text() == '{"a": "x", "b": 1}\n'
    assert path.stat().st_mode & 0o777 == 0o644
    path.write_text('{"a": 1}')  # a last line without its newline: the next record starts a fresh line
    append_jsonl(path, {"c": 2})
    assert path.read_text() == '{"a": 1}\n{"c": 2}\n'


def test_the_store_reads_nothing_from_a_run_without_results(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "run")
    assert store.records() == []
    store.append(record("m", "s", 1, "passed"))
    assert [r.trial for r in store.records()] == [1]
    assert store.results_path == tmp_path / "run" / "results.jsonl"
    assert store.summary_path == tmp_path / "run" / "summary.json"


def test_undecodable_bytes_and_skipped_lines_are_reported_by_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "results.jsonl"
    good = json.dumps(raw("m", "s", 1, "passed")).encode()
    bad = json.dumps(raw("m", "s", 2, "lost")).encode()
    path.write_bytes(bad + b"\n" + b'{"key": "\xff torn\n' + good.replace(b'"m"', b'"m\xff"', 1) + b"\n")
    with caplog.at_level("WARNING"):
        records = read_records(path)
    assert [(r.model, r.trial) for r in records] == [("m\ufffd", 1)]  # kept, the byte replaced
    assert caplog.messages == [
        f"{path}:2: skipping an incomplete line (a run was killed while writing it)",
        f"{path}:1: skipping a record the report cannot use: outcome: Input should be 'passed', 'failed' or 'error'",
    ]


@pytest.mark.parametrize(
    ("passed", "total", "floor", "method"),
    [(9, 10, 0.95, "wilson"), (9, 10, 0.95, "clopper-pearson"), (10, 10, 0.8, "wilson"), (3, 10, 0.2, "wilson")],
)
def test_the_trials_that_settle_a_floor_are_the_fewest_whose_interval_leaves_it(
    passed: int, total: int, floor: float, method: str
) -> None:
    """The floor's INCONCLUSIVE says how many more trials at the cell's success rate put the interval off the floor:
    checked against statsmodels' intervals, at that number and one fewer."""
    from statsmodels.stats.proportion import proportion_confint

    from pytest_hepagent.matrix.gate import _floor_trials

    def settled(n: int) -> bool:
        low, high = proportion_confint(round(passed / total * n), n, method="beta" if method != "wilson" else "wilson")
        return bool(high < floor or low >= floor)

    n = _floor_trials(passed, total, floor, method)  # type: ignore[arg-type]
    assert n is not None and n > total
    assert settled(n) and not any(settled(m) for m in range(total + 1, n))
