"""Aggregates, the CI gate and the stored run, on records written by hand: every branch with its numbers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from pytest_hepagent.matrix.cells import (
    Cell,
    Verdict,
    cells_from_records,
    chain_cells,
    load_baseline_cells,
    run_summary,
)
from pytest_hepagent.matrix.gate import gate, run_exit_status
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
from pytest_hepagent.stats import detectable_drop, trials_needed, wilson_interval


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


def cell(passed: int, failed: int, model: str = "m", step: str = "categorization", errors: int = 0) -> Cell:
    return Cell(model, step, passed, failed, errors, 3.0, 1.0, 0, 0.0)


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


def test_a_clear_drop_regresses_with_fishers_p() -> None:
    (v,) = gate([cell(8, 12)], [cell(18, 2)])
    expected = stats.fisher_exact([[8, 12], [18, 2]], alternative="less").pvalue
    assert v.verdict == "REGRESSED"
    assert v.p_value == pytest.approx(expected)
    assert (v.passed, v.total, v.base_passed, v.base_total) == (8, 20, 18, 20)
    assert v.reason == f"success dropped: one-sided Fisher p = {expected:.3g} < 0.05"


def test_alpha_is_five_percent() -> None:
    # against 19/20: 14/20 gives p = 0.046, a drop at 5%; 15/20 gives p = 0.091, OK at 5% and a drop at 10%
    assert gate([cell(14, 6)], [cell(19, 1)])[0].verdict == "REGRESSED"
    (v,) = gate([cell(15, 5)], [cell(19, 1)])
    assert v.p_value == pytest.approx(0.0908820909, abs=1e-9)
    assert v.verdict == "OK"
    assert v.reason == "no significant drop (p = 0.0909); 20 trials detect a drop of 35% or more at 80% power"
    assert v.detectable_drop == pytest.approx(detectable_drop(20, 20, 0.95))
    assert gate([cell(15, 5)], [cell(19, 1)], alpha=0.1)[0].verdict == "REGRESSED"


def test_a_p_value_of_exactly_alpha_is_no_drop_and_too_few_trials_to_tell() -> None:
    # 0/1 against 19/19: p = 1/20 exactly; not below 5%, so no drop, and since even 0/1 cannot be told from the
    # baseline, the cell cannot be decided
    (v,) = gate([cell(0, 1)], [cell(19, 0)])
    assert v.p_value == 0.05
    assert v.verdict == "INCONCLUSIVE"
    assert v.reason == (
        "too few trials: even 0/1 would give p = 0.05; 1 trial detects no drop at 80% power; "
        "a drop of 20% needs 33 trials per cell in both runs (32 more here)"
    )
    assert (v.detectable_drop, v.target_drop, v.trials_needed) == (None, 0.2, trials_needed(0.2, 1.0))
    (v,) = gate([cell(2, 2)], [cell(12, 0)])  # 2/4 against 12/12 is p = 0.05 too; 0/4 would be a drop
    assert (v.passed, v.total, v.p_value) == (2, 4, 0.05)
    assert gate([cell(2, 2)], [cell(12, 0)])[0].verdict == "OK"


def test_too_few_trials_is_inconclusive_with_the_p_of_zero_successes() -> None:
    (v,) = gate([cell(1, 0)], [cell(18, 2)])
    lowest = stats.fisher_exact([[0, 1], [18, 2]], alternative="less").pvalue
    assert v.verdict == "INCONCLUSIVE"
    assert v.reason.startswith(f"too few trials: even 0/1 would give p = {lowest:.3g}; ")
    assert v.reason.endswith(
        f"a drop of 20% needs {trials_needed(0.2, 0.9)} trials per cell in both runs (55 more here)"
    )
    (v,) = gate([cell(1, 0)], [cell(18, 2)], detect_drop=0.5)  # the user's chosen drop
    assert v.reason.endswith(
        f"a drop of 50% needs {trials_needed(0.5, 0.9)} trials per cell in both runs (12 more here)"
    )
    (v,) = gate([cell(1, 0)], [cell(2, 8)], detect_drop=0.5)
    assert v.reason.endswith(
        f"the baseline's 20% cannot drop by 50%; a drop to 0 needs {trials_needed(0.2, 0.2)} trials per cell in both runs"
    )
    # enough trials for zero successes to be a drop: decided
    assert gate([cell(3, 0)], [cell(20, 0)])[0].verdict == "OK"


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
    assert verdicts[2] == Verdict(
        "other", "categorization", "MISSING", 0, 0, 9, 10, 1.0, reason.replace("10/10", "9/10")
    )
    assert run_exit_status(0, verdicts, 0) == 1
    # a run of some steps is gated on those steps only
    asked = gate([cell(10, 0, step="preprocessing")], baseline[:2], steps=["preprocessing"])
    assert [v.verdict for v in asked] == ["OK"] and run_exit_status(0, asked, 0) == 0


def test_one_model_against_another_is_compared() -> None:
    """A replay of a model's cassettes (recorded as hepagent/replay) against that model's live baseline."""
    (v,) = gate([cell(0, 10, model="hepagent/replay")], [cell(10, 0, model="openai/o3")])
    assert (v.model, v.verdict, v.base_passed) == ("hepagent/replay", "REGRESSED", 10)


def test_a_baseline_that_never_passed_cannot_drop() -> None:
    (v,) = gate([cell(0, 20)], [cell(0, 200)])
    assert v.verdict == "OK" and v.reason == "the baseline passed none of its 200 trials: no drop"


def test_the_floor_holds_for_a_new_cell_too() -> None:
    (below,) = gate([cell(0, 10)], [cell(0, 0, errors=3)], floor=0.9)
    assert below.verdict == "REGRESSED"
    assert below.reason == (
        "the baseline's trials of this cell all ended in errors; below the floor 0.90 (95% Wilson upper bound 0.28)"
    )
    (across,) = gate([cell(9, 1)], [], floor=0.8)
    assert across.verdict == "INCONCLUSIVE" and across.reason.startswith("no baseline for this cell; the floor 0.80")
    assert gate([cell(10, 0)], [], floor=0.5)[0].verdict == "NEW"


def test_the_floor_holds_where_there_is_no_drop_to_test() -> None:
    """An absolute floor is absolute: against a baseline that never passed, and for a new cell whose trials all
    ended in infrastructure errors (nothing to hold against the floor)."""
    (never,) = gate([cell(0, 10)], [cell(0, 10)], floor=0.5)
    assert never.verdict == "REGRESSED" and never.reason.startswith("the baseline passed none of its 10 trials")
    (errors,) = gate([cell(0, 0, errors=10)], [], floor=0.5)
    assert errors.verdict == "INCONCLUSIVE"
    assert errors.reason == "no baseline for this cell; no judged trial to hold against the floor 0.50"


def test_a_cell_of_mostly_infrastructure_errors_is_not_decided() -> None:
    """One judged trial and 99 errors against 100/100: the API was down, not the model good."""
    (v,) = gate([cell(1, 0, errors=99)], [cell(100, 0)])
    assert v.verdict == "INCONCLUSIVE"
    assert v.reason.startswith("most trials ended in infrastructure errors (99 of 100)")
    assert gate([cell(1, 0, errors=1)], [cell(100, 0)])[0].verdict == "OK"  # half and half: judged


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


def test_a_drop_spread_over_every_step_fails_the_gate() -> None:
    """1/3 against 10/10 in each of five steps: no cell alone is a significant drop after Holm, but the exact
    stratified test over the steps is."""
    steps = ("root_inspection", "ntuple_conversion", "preprocessing", "sb_separation", "categorization")
    verdicts = gate([cell(1, 2, step=s) for s in steps], [cell(10, 0, step=s) for s in steps])
    assert [v.verdict for v in verdicts[:5]] == ["OK"] * 5
    overall = verdicts[5]
    assert (overall.step, overall.verdict, overall.passed, overall.total, overall.base_total) == (
        "all steps",
        "REGRESSED",
        5,
        15,
        50,
    )
    assert overall.reason.startswith("success dropped over the steps together: exact stratified test over 5 steps")
    assert run_exit_status(0, verdicts, 0) == 1


def test_every_cell_gets_its_verdict_after_a_new_one() -> None:
    verdicts = gate([cell(2, 1, model="new"), cell(20, 0, step="preprocessing")], [cell(20, 0, step="preprocessing")])
    assert [(v.model, v.step, v.verdict) for v in verdicts] == [
        ("new", "categorization", "NEW"),
        ("m", "preprocessing", "OK"),
    ]


def test_the_floor_regresses_below_it_and_is_inconclusive_across_it() -> None:
    # 15/30 against 15/30: no drop; Wilson [0.33, 0.67]
    below = gate([cell(15, 15)], [cell(15, 15)], floor=0.9)[0]
    assert below.verdict == "REGRESSED"
    assert below.reason == "below the floor 0.90 (95% Wilson upper bound 0.67)"
    across = gate([cell(15, 15)], [cell(15, 15)], floor=0.5)[0]
    assert across.verdict == "INCONCLUSIVE"
    assert across.reason == (
        "the floor 0.50 lies inside the 95% interval [0.33, 0.67]; "
        "no number of trials up to 2,000 at this success rate would put it outside"
    )
    near = gate([cell(18, 12)], [cell(15, 15)], floor=0.5)[0]  # 60%: Wilson's low end passes 0.5 at 91 trials
    assert (
        near.reason
        == "the floor 0.50 lies inside the 95% interval [0.42, 0.75]; 61 more trials at this success rate would put it outside"
    )
    assert wilson_interval(round(0.6 * 91), 91)[0] >= 0.5 > wilson_interval(round(0.6 * 90), 90)[0]
    exact = gate([cell(15, 15)], [cell(15, 15)], floor=0.9, interval="clopper-pearson")[0]
    assert exact.reason == "below the floor 0.90 (95% Clopper-Pearson upper bound 0.69)"
    above = gate([cell(15, 15)], [cell(15, 15)], floor=0.3)[0]
    assert above.verdict == "OK"
    assert gate([cell(15, 15)], [cell(15, 15)])[0].verdict == "OK"  # no floor, no floor branch


def test_a_drop_is_reported_before_the_floor() -> None:
    (v,) = gate([cell(2, 18)], [cell(18, 2)], floor=0.9)
    assert v.verdict == "REGRESSED" and v.reason.startswith("success dropped")


def test_the_floor_exactly_at_a_bound_is_outside_the_interval() -> None:
    low, high = cell(15, 15).interval
    assert gate([cell(15, 15)], [cell(15, 15)], floor=high)[0].verdict == "INCONCLUSIVE"
    assert gate([cell(15, 15)], [cell(15, 15)], floor=low)[0].verdict == "OK"


# ---------------------------------------------------------------- the exit status


def verdict(name: str) -> Verdict:
    return Verdict("m", "categorization", name, 1, 1, 1, 1, 1.0, "")


def test_holm_keeps_the_runs_false_alarms_at_alpha() -> None:
    """Two cells at 0/3 against 5/5 (one-sided p = 1/56 each), with the model's test over both steps (p = 1/56^2):
    Holm over the three still decides the cells (2/56 < 0.05); at 0/3 against 4/4 (p = 1/35) each drop alone is
    significant, but not after adjusting, and no outcome of three trials could be: INCONCLUSIVE, with the level a
    lone drop needs; the model's drop over both steps is decided."""
    steps = ("preprocessing", "categorization")
    now = [cell(0, 3, step=s) for s in steps]
    decided = gate(now, [cell(5, 0, step=s) for s in steps])
    assert [v.verdict for v in decided] == ["REGRESSED", "REGRESSED", "REGRESSED"]
    assert decided[0].p_adjusted == pytest.approx(2 / 56)
    assert decided[2].p_value == pytest.approx(1 / 56**2) and decided[2].p_adjusted == pytest.approx(3 / 56**2)
    assert decided[0].reason == "success dropped: one-sided Fisher p = 0.0179, Holm-adjusted over 3 tests 0.0357 < 0.05"
    before = [cell(4, 0, step=s) for s in steps]
    assert [v.verdict for v in gate(now, before, adjust="none")] == ["REGRESSED"] * 3
    undecided = gate(now, before)
    assert [v.verdict for v in undecided] == ["INCONCLUSIVE", "INCONCLUSIVE", "REGRESSED"]
    assert undecided[0].reason.startswith(
        "too few trials: even 0/3 would give p = 0.0286 (a drop in one of 3 tests alone needs p < 0.0167); "
        "3 trials detect no drop at 80% power over 3 tests; a drop of 20% needs "
    )
    assert undecided[0].trials_needed == trials_needed(0.2, 1.0, alpha=0.05 / 3)


def test_holm_adjusted_p_values_equal_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    now = [cell(p, 10 - p, step=s) for p, s in zip((2, 6, 9, 5), ("a", "b", "c", "d"), strict=True)]
    before = [cell(9, 1, step=s) for s in ("a", "b", "c", "d")]
    verdicts = gate(now, before)
    assert len(verdicts) == 5 and verdicts[4].step == "all steps"  # the four cells and the model over them
    expected = multipletests([v.p_value for v in verdicts], method="holm")[1]
    assert [v.p_adjusted for v in verdicts] == pytest.approx(list(expected))
    assert [v.verdict for v in verdicts] == ["REGRESSED", "OK", "OK", "OK", "REGRESSED"]
    assert verdicts[1].reason.startswith(
        f"no significant drop (p = {verdicts[1].p_value:.3g}, Holm-adjusted over 5 tests"
    )
    # a NEW cell is not one of the tests
    assert gate([*now, cell(1, 1, step="e")], before)[0].p_adjusted == verdicts[0].p_adjusted


@pytest.mark.parametrize(
    ("status", "verdicts", "unsaved", "expected"),
    [
        (0, None, 0, 0),  # no gate: pytest's own status
        (1, None, 0, 1),
        (2, None, 0, 2),
        (1, [verdict("OK"), verdict("NEW")], 0, 0),  # the gate says OK: single failed trials do not fail the run
        (0, [verdict("OK"), verdict("REGRESSED")], 0, 1),
        (0, [verdict("INCONCLUSIVE")], 0, 1),
        (1, [verdict("INCONCLUSIVE"), verdict("OK")], 0, 1),
        (0, [], 0, 0),
        (2, [verdict("OK")], 0, 2),  # interrupted: the gate did not see the run
        (4, [verdict("REGRESSED")], 0, 4),  # a usage error stands
        (0, [verdict("OK")], 1, 3),  # records lost: never a pass
        (0, None, 2, 3),
        (1, [verdict("REGRESSED")], 1, 3),
    ],
)
def test_run_exit_status(status: int, verdicts: list[Verdict] | None, unsaved: int, expected: int) -> None:
    assert run_exit_status(status, verdicts, unsaved) == expected


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
    assert [g["verdict"] for g in summary["gate"]] == ["INCONCLUSIVE", "INCONCLUSIVE", "OK"]  # 3 and 1 trials; overall
    assert summary["gate"][2]["step"] == "all steps"
    assert run_summary("run-1", cells, None, {}).to_json()["gate"] is None


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


def test_what_a_drop_needs_is_said_for_drops_the_baseline_cannot_make() -> None:
    from pytest_hepagent.matrix.gate import _needed_text
    from pytest_hepagent.stats import trials_needed

    to_zero = trials_needed(0.1, 0.1, 0.01)
    assert to_zero is not None and to_zero != trials_needed(0.1, 0.1, 0.05)  # the level is the one given
    assert _needed_text(0.2, None, 5, 0.1, 0.01) == (
        f"the baseline's 10% cannot drop by 20%; a drop to 0 needs {to_zero} trials per cell in both runs"
    )
    assert _needed_text(0.2, None, 5, 0.0, 0.01) == "the baseline's 0% cannot drop by 20%"
    assert _needed_text(0.2, None, 5, 0.5, 0.01) == "a drop of 20% needs more than 2,000 trials per cell"
    assert _needed_text(0.2, 44, 5, 0.2, 0.01) == "a drop of 20% needs 44 trials per cell in both runs (39 more here)"
    assert _needed_text(0.2, 40, 40, 1.0, 0.01) == "a drop of 20% needs 40 trials per cell in both runs"
