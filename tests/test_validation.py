"""The validation log and summary, word for word (they are what a user and the supervisor read), and the checks of
outputs that only have to exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_hepagent.compare import validation
from pytest_hepagent.compare.result import ColumnStats, Mismatch, OutputResult
from pytest_hepagent.compare.validation import StepValidation, validate_step
from pytest_hepagent.specs import load_specs

SPECS = load_specs()
CATEGORIZATION, INSPECTION, PREPROCESSING = SPECS["categorization"], SPECS["root_inspection"], SPECS["preprocessing"]
TEXT = "summary/root_summary.txt"


def _values() -> OutputResult:
    first = (Mismatch((0,), 1.5, 1.0), Mismatch((2,), 3.25, 3.0))
    return OutputResult(
        "arrays/significances.npy", "values", "2 of 3 values differ", (3,), (3,), 3, 2, True, 0.5, 0.25, 1e-6, 0.0,
        "strict", first,
    )  # fmt: skip


def test_the_summary_has_one_line_per_output() -> None:
    ok = OutputResult("arrays/boundaries.npy", "pass", "", (4,), (4,), 4)
    failed = StepValidation(CATEGORIZATION, (ok, _values()))
    assert failed.summary() == (
        "Step 5 (categorization): FAIL\n"
        "  [OK] arrays/boundaries.npy\n"
        "  [X] arrays/significances.npy: 2 of 3 values differ"
    )
    assert not failed.passed
    passed = StepValidation(CATEGORIZATION, (ok, ok))
    assert passed.passed and passed.summary().splitlines()[0] == "Step 5 (categorization): PASS"
    assert passed.to_dict() == {"step": "categorization", "passed": True, "outputs": [ok.to_dict(), ok.to_dict()]}


def test_the_log_of_a_value_mismatch_in_a_1d_array() -> None:
    ok = OutputResult("arrays/boundaries.npy", "pass", "", (4,), (4,), 4)
    boundaries, significances = CATEGORIZATION.outputs
    assert StepValidation(CATEGORIZATION, (ok, _values())).log() == (
        "== Step 5 Validation (categorization) ==\n"
        "Validating boundaries.npy...\n"
        "[OK] boundaries.npy matches (shape (4,), max diff 0)\n"
        "Validating significances.npy...\n"
        "[X] significances.npy differs: NaN mask equal=True, mismatches=2/3\n"
        "diff stats: max=0.5, mean=0.25\n"
        "\n"
        "Running detailed mismatch analysis...\n"
        "\n"
        "Detailed analysis for significances.npy (rtol=1e-06, atol=0, row order: strict):\n"
        f"Tolerance: {significances.why}\n"
        "Generated shape: (3,), Reference shape: (3,)\n"
        "[X] 2 elements differ (out of 3 total)\n"
        "Sample numeric mismatches (first 2 indices):\n"
        "Index 0: gen=1.5, ref=1.0, diff=0.5\n"
        "Index 2: gen=3.25, ref=3.0, diff=0.25\n"
        "1D array - no column-by-column analysis needed\n"
        "\n"
        "== VALIDATION SUMMARY ==\n"
        "Step: 5 (categorization)\n"
        "Files validated:\n"
        f"- boundaries.npy - {boundaries.description}\n"
        f"- significances.npy - {significances.description}\n"
        "\n"
        "Step 5 (categorization): FAIL\n"
        "[X] Validation failed\n"
        "\n"
        "Result: 0/1 step passed\n"
    )


def test_the_log_of_a_2d_array_has_a_line_per_column() -> None:
    signal = OutputResult(
        "arrays/signal.npy", "nan_mask", "NaN where the reference has none", (2, 2), (2, 2), 4, 1, False, 2.0, 2.0,
        0.0, 0.5, "any", (Mismatch((1, 0), 3.0, 1.0),),
        (ColumnStats(0, "m_yy", 1, 2.0), ColumnStats(1, "pt1/m_yy", 0, 0.0)),
    )  # fmt: skip
    shape = OutputResult("arrays/bkgd.npy", "shape", "", (3, 7), (3, 8))
    log = StepValidation(PREPROCESSING, (signal, shape)).log()
    assert "[X] signal.npy differs: NaN mask equal=False, mismatches=1/4\ndiff stats: max=2, mean=2\n" in log
    assert "[X] Shape mismatch: (3, 7) vs (3, 8)\n" in log
    assert "Detailed analysis for signal.npy (rtol=0, atol=0.5, row order: any):\n" in log
    assert "Detailed analysis for bkgd.npy" not in log  # a shape mismatch has no values to analyse
    assert "Index (1, 0): gen=3.0, ref=1.0, diff=2.0\n" in log
    assert (
        "Per-column analysis:\n"
        "  column 0 (m_yy): 1 mismatches, max diff=2\n"
        "  column 1 (pt1/m_yy): 0 mismatches, max diff=0\n"
    ) in log


def test_the_log_of_structural_and_missing_outputs() -> None:
    structure = OutputResult(
        "summary/root_summary.json", "structure", "2 structural differences", details=("files: a", "files: b")
    )
    missing = OutputResult(TEXT, "missing", f"{TEXT} was not produced or is empty")
    log = StepValidation(INSPECTION, (structure, missing)).log()
    assert log.startswith(
        "== Step 1 Validation (root_inspection) ==\n"
        "Validating root_summary.json...\n"
        "[X] root_summary.json differs structurally: 2 structural differences\n"
        "    files: a\n"
        "    files: b\n"
        "Validating root_summary.txt...\n"
        "[X] summary/root_summary.txt was not produced or is empty\n"
        "\n"
        "== VALIDATION SUMMARY ==\n"
    )
    passed = StepValidation(INSPECTION, (OutputResult(TEXT, "pass"),)).log()
    assert "[OK] root_summary.txt matches\n" in passed
    assert passed.endswith("Step 1 (root_inspection): PASS\n[OK] Validation passed\n\nResult: 1/1 step passed\n")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "summary").mkdir()
    return tmp_path


def _text_result(work: Path, golden: Path) -> OutputResult:
    return validate_step(INSPECTION, work, golden).outputs[1]


def test_an_output_that_must_exist_passes_only_with_content(work: Path, hepagent_solution: Path) -> None:
    assert _text_result(work, hepagent_solution) == OutputResult(
        TEXT, "missing", f"{TEXT} was not produced or is empty"
    )
    (work / TEXT).write_text("")
    assert _text_result(work, hepagent_solution) == OutputResult(
        TEXT, "missing", f"{TEXT} was not produced or is empty"
    )
    (work / TEXT).write_text("x")
    assert _text_result(work, hepagent_solution) == OutputResult(TEXT, "pass", "")


def test_an_output_that_must_exist_is_not_followed_out_of_the_folder(work: Path, hepagent_solution: Path) -> None:
    (work / TEXT).symlink_to(hepagent_solution / TEXT)
    result = _text_result(work, hepagent_solution)
    assert result.status == "unreadable" and "link" in result.message


def test_whatever_breaks_a_check_fails_that_output_in_one_line(
    work: Path, hepagent_solution: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(check, work, golden):  # type: ignore[no-untyped-def]
        raise ValueError("first line\nsecond line")

    monkeypatch.setattr(validation, "_validate", broken)
    result = validate_step(INSPECTION, work, hepagent_solution)
    assert [(o.path, o.status) for o in result.outputs] == [
        ("summary/root_summary.json", "unreadable"),
        (TEXT, "unreadable"),
    ]
    assert result.outputs[1].message == f"{TEXT} could not be validated (ValueError: first line)"
    monkeypatch.setattr(validation, "_validate", lambda *a: (_ for _ in ()).throw(RuntimeError("")))
    assert validate_step(INSPECTION, work, hepagent_solution).outputs[0].message == (
        "summary/root_summary.json could not be validated (RuntimeError: )"
    )


def test_an_unreadable_output_is_one_line_of_the_log() -> None:
    unreadable = OutputResult(TEXT, "unreadable", "summary/root_summary.txt: a symbolic link, not a file")
    log = StepValidation(INSPECTION, (unreadable,)).log()
    assert "Validating root_summary.txt...\n[X] summary/root_summary.txt: a symbolic link, not a file\n" in log


def test_results_name_the_output_they_belong_to(work: Path, hepagent_solution: Path) -> None:
    (work / TEXT).symlink_to(hepagent_solution / TEXT)
    (work / "summary/root_summary.json").write_text("{")
    results = validate_step(INSPECTION, work, hepagent_solution).outputs
    assert [(o.path, o.status) for o in results] == [
        ("summary/root_summary.json", "unreadable"),
        (TEXT, "unreadable"),
    ]


def test_array_mismatches_name_the_columns_of_the_step(tmp_path: Path, hepagent_solution: Path) -> None:
    import shutil

    import numpy as np

    work = tmp_path / "work"
    (work / "arrays").mkdir(parents=True)
    for name in ("signal.npy", "bkgd.npy"):
        shutil.copy(hepagent_solution / "arrays" / name, work / "arrays" / name)
    signal = np.load(work / "arrays/signal.npy")
    signal[0, 0] += 10.0  # m_yy of the first event
    np.save(work / "arrays/signal.npy", signal)
    result = validate_step(PREPROCESSING, work, hepagent_solution).outputs[0]
    assert result.path == "arrays/signal.npy" and result.status == "values"
    assert [c.name for c in result.columns] == ["m_yy"]


def test_a_long_exception_is_cut_to_200_characters(
    work: Path, hepagent_solution: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validation, "_validate", lambda *a: (_ for _ in ()).throw(ValueError("x" * 300)))
    message = validate_step(INSPECTION, work, hepagent_solution).outputs[0].message
    assert message == f"summary/root_summary.json could not be validated (ValueError: {'x' * 200})"


@pytest.mark.parametrize("layout", ["trial", "analysis"])
def test_scores_follow_their_inputs_in_either_folder_layout(
    layout: str, tmp_path: Path, hepagent_solution: Path
) -> None:
    """A trial's folder holds step 4's inputs under solution/, an analysis folder beside the outputs: in both, scores
    of reordered (and within step 3's tolerance, not bitwise equal) inputs pass when they follow their rows."""
    import numpy as np

    work = tmp_path / "work"
    inputs = work / ("solution/arrays" if layout == "trial" else "arrays")
    inputs.mkdir(parents=True)
    (work / "arrays").mkdir(exist_ok=True)
    for sample in ("signal", "bkgd"):
        rows = np.load(hepagent_solution / "arrays" / f"{sample}.npy")
        scores = np.load(hepagent_solution / "arrays" / f"{sample}_scores.npy")
        order = np.random.default_rng(0).permutation(len(rows))
        np.save(inputs / f"{sample}.npy", rows[order] * (1 + 1e-9))
        np.save(work / "arrays" / f"{sample}_scores.npy", scores[order])
    result = validate_step(SPECS["sb_separation"], work, hepagent_solution)
    assert result.passed, result.summary()
