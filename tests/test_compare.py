from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pytest_hepagent.compare import compare_arrays, compare_summaries, validate_step
from pytest_hepagent.specs import OutputCheck, load_specs

STRICT = OutputCheck("arrays/x.npy", rtol=1e-6, atol=1e-9)
ANY_ORDER = OutputCheck("arrays/x.npy", rtol=1e-6, atol=1e-9, row_order="any")


def test_identical_and_within_tolerance_pass() -> None:
    ref = np.array([[1.0, np.nan], [3.0, 4.0]])
    assert compare_arrays(ref.copy(), ref, STRICT).passed
    assert compare_arrays(ref * (1 + 5e-7), ref, STRICT).passed
    assert not compare_arrays(ref * (1 + 5e-6), ref, STRICT).passed


def test_atol_covers_values_near_zero() -> None:
    ref = np.array([0.0, 1e-12])
    assert compare_arrays(ref + 5e-10, ref, STRICT).passed
    assert not compare_arrays(ref + 5e-9, ref, STRICT).passed


def test_shape_must_match() -> None:
    result = compare_arrays(np.zeros(5), np.zeros(4), STRICT)
    assert result.status == "shape" and "(5,) vs reference (4,)" in result.message


def test_nan_masks_must_match() -> None:
    ref = np.array([1.0, np.nan, 3.0])
    result = compare_arrays(np.array([1.0, 0.0, 3.0]), ref, STRICT)
    assert result.status == "nan_mask" and not result.nan_mask_equal and result.mismatches == 1
    assert compare_arrays(np.array([1.0, np.nan, 3.0]), ref, STRICT).passed


def test_infinities_compare_equal_only_with_the_same_sign() -> None:
    ref = np.array([np.inf, -np.inf])
    assert compare_arrays(ref.copy(), ref, STRICT).passed
    assert not compare_arrays(-ref, ref, STRICT).passed


def test_row_order_insensitive_mode() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(50, 3))
    ref[3, 1] = np.nan
    shuffled = ref[rng.permutation(50)]
    assert compare_arrays(shuffled, ref, ANY_ORDER).passed
    assert not compare_arrays(shuffled, ref, STRICT).passed
    changed = shuffled.copy()
    changed[0, 0] += 1.0
    assert not compare_arrays(changed, ref, ANY_ORDER).passed


def test_diagnostics_report_first_mismatches_and_columns() -> None:
    ref = np.arange(60, dtype=float).reshape(20, 3)
    gen = ref.copy()
    gen[2, 1] += 0.5
    gen[7, 1] += 2.0
    gen[9, 2] = -1.0
    result = compare_arrays(gen, ref, STRICT, column_names=("a", "b", "c"))
    assert result.mismatches == 3
    assert [m.index for m in result.first] == [(2, 1), (7, 1), (9, 2)]
    assert result.first[1].generated == 24.0 and result.first[1].reference == 22.0
    assert [(c.name, c.mismatches, c.max_diff) for c in result.columns] == [("b", 2, 2.0), ("c", 1, 30.0)]
    assert result.max_diff == 30.0 and result.mean_diff == pytest.approx((0.5 + 2.0 + 30.0) / 60)


def _summary(branches: list[tuple[str, str]], entries: int = 10) -> dict[str, object]:
    tree = {"name": "mini", "entries": entries, "branches": [{"name": n, "type": t} for n, t in branches]}
    return {"files": [{"file": "a.root", "trees": [tree]}]}


SUMMARY = OutputCheck("summary/root_summary.json", kind="root_summary")


def test_summary_compare_ignores_order_and_extra_keys() -> None:
    ref = _summary([("x", "float"), ("y", "int32_t")])
    gen = _summary([("y", "int32_t"), ("x", "float")])
    gen["files"][0]["size_bytes"] = 123  # type: ignore[index]
    assert compare_summaries(gen, ref, SUMMARY).passed


def test_summary_compare_reports_each_structural_difference() -> None:
    ref = _summary([("x", "float"), ("y", "int32_t")])
    gen = _summary([("x", "double"), ("z", "bool")], entries=9)
    result = compare_summaries(gen, ref, SUMMARY)
    assert result.status == "structure"
    assert set(result.details) == {
        "a.root:mini: entries 9 vs reference 10",
        "a.root:mini: missing branch 'y'",
        "a.root:mini: unexpected branch 'z'",
        "a.root:mini:x: type 'double' vs reference 'float'",
    }
    assert not compare_summaries({"files": "nope"}, ref, SUMMARY).passed
    assert not compare_summaries([1, 2], ref, SUMMARY).passed


def _write_step5(folder: Path, boundaries: list[float], significances: list[float]) -> None:
    (folder / "arrays").mkdir(parents=True, exist_ok=True)
    np.save(folder / "arrays/boundaries.npy", np.array(boundaries))
    np.save(folder / "arrays/significances.npy", np.array(significances))


def test_validation_log_has_the_appendix_b2_shape(tmp_path: Path) -> None:
    """The paper's example: one boundary too many and a shifted significance array."""
    _write_step5(tmp_path / "ref", [0, 0.117, 0.864, 1], [0.68595282, 0.8596105777616457, 0.898676950456262])
    _write_step5(tmp_path / "gen", [0, 0.117, 0.864, 0.978, 1], [0.68595282, 0.898676950456262, 0.935916477251495])
    result = validate_step(load_specs()["categorization"], tmp_path / "gen", tmp_path / "ref")
    log = result.log()
    assert not result.passed
    for line in (
        "== Step 5 Validation (categorization) ==",
        "Validating boundaries.npy...",
        "[X] Shape mismatch: (5,) vs (4,)",
        "[X] significances.npy differs: NaN mask equal=True, mismatches=2/3",
        "diff stats: max=0.0390664, mean=0.0254353",
        "Running detailed mismatch analysis...",
        "Index 1: gen=0.898676950456262, ref=0.8596105777616457, diff=0.039066372694616214",
        "1D array - no column-by-column analysis needed",
        "== VALIDATION SUMMARY ==",
        "- boundaries.npy - Category boundary thresholds, starting at 0 and ending at 1",
        "Step 5 (categorization): FAIL",
        "Result: 0/1 step passed",
    ):
        assert line in log.splitlines(), line
    assert result.summary().splitlines()[1] == "  [X] arrays/boundaries.npy: shape (5,) vs reference (4,)"


def test_missing_and_unreadable_outputs_fail_with_their_reason(tmp_path: Path) -> None:
    _write_step5(tmp_path / "ref", [0, 1], [1.0])
    (tmp_path / "gen/arrays").mkdir(parents=True)
    (tmp_path / "gen/arrays/boundaries.npy").write_bytes(b"not numpy")
    result = validate_step(load_specs()["categorization"], tmp_path / "gen", tmp_path / "ref")
    statuses = {o.path: o.status for o in result.outputs}
    assert statuses == {"arrays/boundaries.npy": "unreadable", "arrays/significances.npy": "missing"}
    assert "arrays/significances.npy was not produced" in result.log()


def test_object_arrays_are_refused_without_unpickling(tmp_path: Path) -> None:
    _write_step5(tmp_path / "ref", [0, 1], [1.0])
    _write_step5(tmp_path / "gen", [0, 1], [1.0])
    np.save(tmp_path / "gen/arrays/boundaries.npy", np.array([0, "x"], dtype=object), allow_pickle=True)
    result = validate_step(load_specs()["categorization"], tmp_path / "gen", tmp_path / "ref")
    assert result.outputs[0].status == "unreadable"


def test_golden_outputs_validate_against_themselves(hepagent_solution: Path) -> None:
    for spec in load_specs().values():
        assert validate_step(spec, hepagent_solution, hepagent_solution).passed, spec.step


def test_a_row_dropped_from_a_raw_array_fails_step_2(hepagent_solution: Path, tmp_path: Path) -> None:
    spec = load_specs()["ntuple_conversion"]
    for check in spec.outputs:
        target = tmp_path / check.path
        target.parent.mkdir(parents=True, exist_ok=True)
        array = np.load(hepagent_solution / check.path)
        np.save(target, array[:-1] if "data_A" in check.path else array)
    result = validate_step(spec, tmp_path, hepagent_solution)
    failed = [o.path for o in result.outputs if not o.passed]
    assert failed == ["arrays/data_A_raw.npy"]
    assert json.dumps(result.to_dict())  # the record is plain JSON
