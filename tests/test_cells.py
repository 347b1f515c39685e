"""Cells, chains and their loading, and `compare_cells`' options, on records and cells built here: fast enough for
the mutation run (the end-to-end runs are in test_compare_runs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from record_builders import cells as _cells
from record_builders import chain_link
from record_builders import record as _record

from pytest_hepagent.errors import ConfigError
from pytest_hepagent.matrix.baseline import load_baseline_cells, load_run_cells
from pytest_hepagent.matrix.cells import (
    Cell,
    cells_from_records,
    chain_cells,
    chains_by_model,
)
from pytest_hepagent.matrix.comparison import compare_cells
from pytest_hepagent.matrix.propagation import propagation
from pytest_hepagent.records import RecordError, TrialRecord, append_record
from pytest_hepagent.stats import newcombe_difference

STEPS = ("ntuple_conversion", "preprocessing", "categorization")


def _link(model: str, step: str, trial: int, outcome: str, broken: str | None) -> TrialRecord:
    return chain_link(model, step, trial, outcome, STEPS, broken)


def test_a_cell_counts_its_unchained_trials_when_it_has_both_and_its_chained_ones_alone() -> None:
    records = [
        _record("m", "preprocessing", 1, "passed", iterations=1),
        _record("m", "preprocessing", 2, "passed", iterations=2),
        _record("m", "preprocessing", 3, "failed", iterations=3),
        _link("m", "preprocessing", 1, "failed", "preprocessing"),  # a chained trial of the same cell: left out
        _link("m", "ntuple_conversion", 1, "passed", "preprocessing"),  # the only trials of this cell: counted
    ]
    cells = {c.step: c for c in cells_from_records(records)}
    assert [c.step for c in cells_from_records(records)] == ["ntuple_conversion", "preprocessing"]  # analysis order
    pre = cells["preprocessing"]
    assert (pre.passed, pre.failed, pre.first_passed) == (2, 1, 1)  # the second pass needed a second script
    assert (cells["ntuple_conversion"].passed, cells["ntuple_conversion"].total) == (1, 1)


def test_chains_are_ordered_by_position_and_errored_ones_counted_per_model() -> None:
    records = [
        # written out of order: the chain's last link is its categorization, not the first record read
        _link("a", "categorization", 1, "failed", "categorization"),
        _link("a", "ntuple_conversion", 1, "passed", "categorization"),
        _link("a", "preprocessing", 1, "passed", "categorization"),
        _link("a", "ntuple_conversion", 2, "error", None),
        _link("b", "ntuple_conversion", 1, "error", None),  # b's only chain ended in an error
        _link("b", "ntuple_conversion", 2, "error", None),
    ]
    chains, errors = chains_by_model(records)
    assert [[r.step for r in links] for links in chains["a"]] == [list(STEPS)]
    assert errors == {"a": 1, "b": 2} and "b" not in chains
    cells = {c.model: c for c in chain_cells(records)}
    assert (cells["a"].passed, cells["a"].total, cells["a"].errors, cells["a"].broken_at) == (
        0,
        1,
        1,
        {"categorization": 1},
    )
    assert (cells["b"].passed, cells["b"].total, cells["b"].errors) == (0, 0, 2)  # listed, with nothing judged
    only_judged = {c.model: c for c in chain_cells(records[:3])}
    assert only_judged["a"].errors == 0
    flows = {p.model: p for p in propagation(records)}
    assert (flows["a"].chains, flows["a"].errors, flows["b"].chains, flows["b"].errors) == (1, 1, 0, 2)
    assert flows["b"].steps == () and propagation(records[:3])[0].errors == 0


def test_propagation_without_isolated_trials_of_a_step_still_counts_the_later_steps() -> None:
    """A step the isolated run lacks has no comparison, and the product of the isolated successes stops there; the
    steps after it are still counted (chains reaching and passing them)."""
    records = [
        *(_link("m", s, 1, "passed", None) for s in STEPS),
        *(_link("m", s, 2, "passed", None) for s in STEPS),
        _link("m", "ntuple_conversion", 3, "passed", "preprocessing"),
        _link("m", "preprocessing", 3, "failed", "preprocessing"),
    ]
    isolated = [
        _record("m", "ntuple_conversion", 1, "passed"),
        _record("m", "ntuple_conversion", 2, "failed"),
        _record("m", "categorization", 1, "passed"),
    ]
    (p,) = propagation(records, isolated)
    first, second, third = p.steps
    assert (first.step, first.reached, first.passed, first.whole) == ("ntuple_conversion", 3, 3, 3)
    assert (first.isolated_passed, first.isolated_total, first.expected_whole) == (1, 2, 0.5)
    assert (first.difference, first.low, first.high) == pytest.approx(newcombe_difference(3, 3, 1, 2))
    assert (second.step, second.reached, second.passed, second.whole) == ("preprocessing", 3, 2, 2)
    assert second.isolated_total is None and second.difference is None and second.expected_whole is None
    assert (third.step, third.reached, third.passed, third.whole) == ("categorization", 2, 2, 2)
    assert third.isolated_total == 1 and third.expected_whole is None  # no product past a step without isolation
    assert third.difference == pytest.approx(0.0) and third.p_value == pytest.approx(1.0)


def test_a_step_no_chain_reached_has_no_difference() -> None:
    records = [
        _link("m", "ntuple_conversion", 1, "failed", "ntuple_conversion"),
        _link("m", "ntuple_conversion", 2, "failed", "ntuple_conversion"),
    ]
    isolated = [_record("m", s, 1, "passed") for s in STEPS]
    (p,) = propagation(records, isolated)
    later = p.steps[1]
    assert (later.reached, later.passed, later.isolated_total) == (0, 0, 1)
    assert later.difference is later.low is later.high is later.p_value is None


def _results(folder: Path, records: list[TrialRecord]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.jsonl"
    path.touch()
    for record in records:
        append_record(path, record)
    return path


def test_a_baseline_is_read_strictly_and_a_run_given_by_the_user_names_what_is_wrong(tmp_path: Path) -> None:
    good = [_record("m", "preprocessing", t, "passed") for t in (1, 2)]
    path = _results(tmp_path / "run", good)
    (cell,) = load_baseline_cells(tmp_path / "run")
    assert (cell.passed, cell.total) == (2, 2) and load_run_cells(path, "--x") == [cell]
    with path.open("a") as f:
        f.write('{"torn": \n')
    with pytest.raises(RecordError, match=r"results.jsonl:3: not valid JSON \(a torn or edited line\)"):
        load_baseline_cells(path)
    with pytest.raises(ConfigError, match=r"^--x: .*results.jsonl:3: not valid JSON"):
        load_run_cells(path, "--x")
    with pytest.raises(ConfigError, match=r"^--x: .*nowhere does not exist; give the results.jsonl or summary.json"):
        load_run_cells(tmp_path / "nowhere", "--x")
    empty = _results(tmp_path / "empty", [])
    with pytest.raises(ConfigError, match=r"^RUN_A: .*results.jsonl holds no trial of any model and step; give"):
        load_run_cells(empty, "RUN_A")
    (tmp_path / "reports" / "b").mkdir(parents=True)
    _results(tmp_path / "reports" / "a", good)
    (tmp_path / "reports" / "b" / "summary.json").write_text("{}")
    with pytest.raises(ConfigError) as caught:
        load_run_cells(tmp_path / "reports", "RUN_B")
    assert str(caught.value) == (
        f"RUN_B: {tmp_path / 'reports'} is a folder of 2 run(s), not a run; name one, e.g. {tmp_path / 'reports' / 'b'}"
    )
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "results.jsonl").mkdir()  # a folder where the records should be: neither file is there
    with pytest.raises(ConfigError, match=r"^--x: .*odd cannot be read as a run \(FileNotFoundError\); give"):
        load_run_cells(tmp_path / "odd", "--x")


def test_compare_cells_pairs_the_named_models_and_passes_its_options_to_the_gate() -> None:
    baseline = _cells("a", {"preprocessing": (10, 10), "categorization": (10, 10)}) + _cells(
        "x", {"preprocessing": (0, 10)}
    )
    current = _cells("b", {"preprocessing": (4, 10), "categorization": (9, 10)}) + _cells(
        "a", {"preprocessing": (10, 10)}
    )
    c = compare_cells(baseline, current, baseline_name="old", current_name="new", models=("a", "b"))
    assert (c.baseline, c.current) == ("old", "new")
    assert [(x.model, x.step, x.verdict.base_passed, x.verdict.passed) for x in c.cells] == [
        ("b", "preprocessing", 10, 4),
        ("b", "categorization", 10, 9),
    ]
    assert c.cells[0].verdict.verdict == "REGRESSED" and c.exit_status == 1
    # one model on each side: paired without being told
    alone = compare_cells(_cells("a", {"preprocessing": (10, 10)}), _cells("b", {"preprocessing": (4, 10)}))
    assert [(x.model, x.verdict.verdict) for x in alone.cells] == [("b", "REGRESSED")]
    # steps: only those are compared, and a baseline step outside them is not MISSING
    some = compare_cells(baseline, current, models=("a", "b"), steps=("categorization",))
    assert [x.step for x in some.cells] == ["categorization"] and not some.of_kind("MISSING")
    assert compare_cells(baseline, current, models=("a", "b"), steps=("sb_separation",)).cells == ()
    # the options reach the gate and are kept for the page
    strict = compare_cells(baseline, current, models=("a", "b"), floor=0.95, interval="clopper-pearson")
    cat = next(v for v in strict.verdicts if v.step == "categorization")
    assert cat.verdict == "UNDECIDED" and "the floor 0.95 lies inside the 95% interval [0.55, 1.00]" in cat.reason
    wilson = compare_cells(baseline, current, models=("a", "b"), floor=0.95)
    assert "[0.60, 0.98]" in next(v for v in wilson.verdicts if v.step == "categorization").reason
    assert (strict.interval, strict.adjust, strict.policy) == ("clopper-pearson", "bonferroni", "fail")
    loose = compare_cells(baseline, current, models=("a", "b"), alpha=0.001, adjust="none", detect_drop=0.5)
    assert (loose.alpha, loose.detect_drop, loose.adjust) == (0.001, 0.5, "none")
    pre = next(v for v in loose.verdicts if v.step == "preprocessing")
    default = next(v for v in c.verdicts if v.step == "preprocessing")
    assert pre.target_drop == 0.5 and default.target_drop == 0.35
    larger = next(
        v
        for v in compare_cells(baseline, current, models=("a", "b"), detect_drop=0.5).verdicts
        if v.step == "preprocessing"
    )
    assert larger.trials_needed is not None and default.trials_needed is not None
    assert larger.trials_needed < default.trials_needed  # a larger drop shows with fewer trials
    assert pre.p_adjusted == pre.p_value and default.p_adjusted > default.p_value  # --adjust none vs bonferroni
    lenient = compare_cells(baseline, current, models=("a", "b"), policy="pass")
    assert lenient.policy == "pass" and lenient.line.endswith("undecided cells pass (--hep-undecided pass)")


def test_a_baseline_cell_of_errors_only_is_no_comparison() -> None:
    baseline = [Cell("m", "preprocessing", 0, 0, 3, 0.0, 0.0, 0, 0.0), *_cells("m", {"categorization": (5, 5)})]
    current = _cells("m", {"preprocessing": (1, 1), "categorization": (1, 1)})
    c = compare_cells(baseline, current)
    assert [x.step for x in c.cells] == ["categorization"]
    assert {v.step: v.verdict for v in c.verdicts}["preprocessing"] == "NEW"
    (overall,) = c.overall  # one model: its own line, no "all models" line
    assert overall.model == "m" and overall.result.strata == 1
