"""The comparison of two runs and the chains' error propagation, on records built here (the end-to-end runs are in
test_compare_runs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from record_builders import cells as _cells
from record_builders import chain_link as _link
from record_builders import record as _record

from pytest_hepagent.matrix.comparison import ALL_MODELS, compare_cells
from pytest_hepagent.matrix.propagation import propagation
from pytest_hepagent.matrix.report_text import comparison_lines
from pytest_hepagent.sequential.boundaries import drop_pvalue
from pytest_hepagent.stats import fisher_pvalue, holm, newcombe_difference, stratified_difference

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def test_holm_runs_across_every_compared_cell_and_overall_spans_models() -> None:
    baseline = _cells("a", {"preprocessing": (9, 10), "categorization": (10, 10)}) + _cells(
        "b", {"preprocessing": (5, 10)}
    )
    current = _cells("a", {"preprocessing": (2, 10), "categorization": (9, 10)}) + _cells(
        "b", {"preprocessing": (6, 10), "sb_separation": (1, 1)}
    )
    c = compare_cells(baseline, current)
    pairs = [(2, 10, 9, 10), (9, 10, 10, 10), (6, 10, 5, 10)]
    raw = [fisher_pvalue(*p) for p in pairs]
    found = {(x.model, x.step): x for x in c.cells}
    assert [
        found["a", "preprocessing"].p_value,
        found["a", "categorization"].p_value,
        found["b", "preprocessing"].p_value,
    ] == pytest.approx(raw)
    assert [x.p_holm for x in c.cells] == pytest.approx(holm([x.p_value for x in c.cells]))
    assert [(v.model, v.step) for v in c.of_kind("NEW")] == [("b", "sb_separation")]
    assert [(v.model, v.verdict) for v in c.models_overall] == [("a", "REGRESSED")]  # b has one cell compared
    overall = {o.model: o.result for o in c.overall}
    assert set(overall) == {"a", "b", ALL_MODELS}
    every = stratified_difference(pairs)
    assert every is not None and overall[ALL_MODELS].difference == pytest.approx(every.difference)
    assert found["a", "preprocessing"].verdict.verdict == "REGRESSED" and c.exit_status == 1
    expected = drop_pvalue(2, 10, 9, 10)  # the gate's exact one-sided test, for this look alone
    assert found["a", "preprocessing"].verdict.p_value == pytest.approx(expected)
    assert c.line.startswith("gate: FAIL (exit 1): 2 REGRESSED (a preprocessing (2/10 against 9/10), a all steps")
    assert max(x.p_holm - x.p_value for x in c.cells) > 0.01  # the adjustment is there to be switched off
    unadjusted = compare_cells(baseline, current, adjust="none")
    assert [x.p_holm for x in unadjusted.cells] == [x.p_value for x in unadjusted.cells] == [x.p_value for x in c.cells]
    lines = comparison_lines(unadjusted)
    assert (
        "p adj" in lines[3]
        and "p exact: Fisher's test, two-sided, not adjusted (--adjust none) (descriptive: the verdict is the gate's, "
        "from its two one-sided tests)"
        in lines
    )
    assert (
        "p exact: Fisher's test, two-sided; p Holm: adjusted over the 3 cells (descriptive: the verdict is the "
        "gate's, from its two one-sided tests)" in comparison_lines(c)
    )
    assert lines[-1] == unadjusted.line


def test_a_cell_only_in_the_baseline_is_missing_and_fails() -> None:
    c = compare_cells(
        _cells("a", {"preprocessing": (3, 3), "categorization": (3, 3)}), _cells("a", {"preprocessing": (3, 3)})
    )
    assert [(v.model, v.step) for v in c.of_kind("MISSING")] == [("a", "categorization")]
    assert c.exit_status == 1


def test_the_comparison_page_escapes_model_names(tmp_path: Path) -> None:
    from pytest_hepagent.report.compare_page import render_comparison

    c = compare_cells(_cells(HOSTILE, {"preprocessing": (3, 3)}), _cells(HOSTILE, {"preprocessing": (0, 3)}))
    page = render_comparison(c, tmp_path / "compare.html").read_text()
    assert "<script>window.__pwned" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.__pwned" in page


def test_the_propagation_matrix_counts_chains_step_by_step() -> None:
    steps = ("ntuple_conversion", "preprocessing", "categorization")
    records = [
        *(_link("m", s, 1, "passed", steps, None) for s in steps),
        _link("m", "ntuple_conversion", 2, "passed", steps, "preprocessing"),
        _link("m", "preprocessing", 2, "failed", steps, "preprocessing"),
        _link("m", "ntuple_conversion", 3, "failed", steps, "ntuple_conversion"),
        _link("m", "ntuple_conversion", 4, "passed", steps, "categorization"),
        _link("m", "preprocessing", 4, "passed", steps, "categorization"),
        _link("m", "categorization", 4, "failed", steps, "categorization"),
        _link("m", "ntuple_conversion", 5, "error", steps, None),  # no judged outcome: not a chain result
    ]
    isolated = [
        _record("m", step, t, "passed" if t <= passes else "failed")
        for step, passes in (("ntuple_conversion", 4), ("preprocessing", 3), ("categorization", 4))
        for t in range(1, 5)
    ]
    (p,) = propagation(records, isolated)
    assert (p.model, p.chains) == ("m", 4)
    rows = {s.step: s for s in p.steps}
    assert [(s.step, s.passed, s.reached, s.broken, s.whole) for s in p.steps] == [
        ("ntuple_conversion", 3, 4, 1, 3),
        ("preprocessing", 2, 3, 1, 2),
        ("categorization", 1, 2, 1, 1),
    ]
    pre = rows["preprocessing"]
    assert (pre.isolated_passed, pre.isolated_total) == (3, 4)
    assert (pre.difference, pre.low, pre.high) == pytest.approx(newcombe_difference(2, 3, 3, 4))
    assert pre.p_value == pytest.approx(fisher_pvalue(2, 3, 3, 4))
    assert rows["categorization"].expected_whole == pytest.approx(1.0 * 0.75 * 1.0)  # the isolated successes
    # without a companion run the run's own unchained trials are the isolated ones; here there are none
    (alone,) = propagation(records)
    assert all(s.isolated_total is None and s.expected_whole is None for s in alone.steps)
    (mixed,) = propagation(records + isolated)
    assert mixed.steps[1].isolated_total == 4
