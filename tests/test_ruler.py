"""The ruler: right answers pass in any valid form, wrong ones fail; mutants of the reference, and properties."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_hepagent.analysis.columns import column_names
from pytest_hepagent.compare import compare_arrays, compare_summaries, validate_step
from pytest_hepagent.ruler import KINDS, MUTANTS, Mutant, mutant_script, run_mutant
from pytest_hepagent.specs import OutputCheck, load_specs
from pytest_hepagent.trial import TrialEnvironment

SPECS = load_specs()


@pytest.fixture(scope="module")
def env(hepagent_dataset, hepagent_solution: Path) -> TrialEnvironment:  # type: ignore[no-untyped-def]
    return TrialEnvironment.create(hepagent_dataset)


@pytest.fixture(scope="module")
def golden(hepagent_solution: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.load(p) for p in (hepagent_solution / "arrays").glob("*.npy")}


def _check(step: str, path: str) -> OutputCheck:
    return next(o for o in SPECS[step].outputs if o.path == path)


# ------------------------------------------------------------------------------------------------------ mutants
def test_the_mutants_cover_every_step_and_apply() -> None:
    assert {m.step for m in MUTANTS} == set(SPECS)
    for step in SPECS:
        kinds = [m.kind for m in MUTANTS if m.step == step]
        assert kinds.count("wrong") >= 4 and kinds.count("valid") >= 1, step
    assert all(m.kind in KINDS and (m.kind != "equivalent" or m.why) for m in MUTANTS)
    for mutant in MUTANTS:
        assert mutant_script(mutant) != mutant_script(Mutant(mutant.step, "none", "valid", ()))


@pytest.mark.parametrize("mutant", MUTANTS, ids=[f"{m.step}-{m.name}" for m in MUTANTS])
def test_the_ruler_judges_the_mutant(mutant: Mutant, env: TrialEnvironment, tmp_path: Path) -> None:
    result = run_mutant(mutant, env, tmp_path)
    expected = "failed" if mutant.kind == "wrong" else "passed"
    assert result.outcome == expected, f"{mutant.kind} mutant {mutant.name}: {result.summary}"


def test_hepagent_ruler_prints_the_table(hepagent_solution: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest_hepagent", "ruler", "--step", "categorization"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[1].split()[:4] == ["categorization", "6", "0", "100%"]
    assert "equivalent categorization/min-events-zero (passed): the boundaries" in run.stdout


# -------------------------------------------------------------------------------------- row order, within tolerance
def test_step3_rows_in_any_order_within_tolerance_pass_and_one_wrong_row_fails(golden: dict[str, np.ndarray]) -> None:
    check, names = _check("preprocessing", "arrays/signal.npy"), column_names("sample")
    signal = golden["signal"]
    assert signal.shape[0] > 40_000  # the real size, where neighbours in m_yy are closer than the tolerance
    rng = np.random.default_rng(3)
    jitter = signal * (1 + rng.uniform(-3e-7, 3e-7, signal.shape))  # every element within 1e-6
    shuffled = jitter[rng.permutation(len(jitter))]
    assert compare_arrays(shuffled, signal, check, names).passed
    as_float32 = signal.astype(np.float32).astype(np.float64)[rng.permutation(len(signal))]
    assert compare_arrays(as_float32, signal, check, names).passed
    wrong = shuffled.copy()
    wrong[123, 6] *= 1 + 5e-6  # one weight beyond tolerance
    result = compare_arrays(wrong, signal, check, names)
    assert not result.passed and result.mismatches == 1
    assert result.message.startswith("1/44351 rows have no partner within tolerance")
    assert [c.name for c in result.columns] == ["weight"]


def test_boundaries_saved_as_float32_pass(golden: dict[str, np.ndarray]) -> None:
    check = _check("categorization", "arrays/boundaries.npy")
    boundaries = golden["boundaries"]
    assert compare_arrays(boundaries.astype(np.float32).astype(np.float64), boundaries, check).passed
    one_bin_off = boundaries.copy()
    one_bin_off[1] += 1e-3
    assert not compare_arrays(one_bin_off, boundaries, check).passed


def test_step4_is_judged_on_its_own_after_a_reordered_step3(
    golden: dict[str, np.ndarray], hepagent_solution: Path, tmp_path: Path
) -> None:
    """A chain: preprocessing wrote its rows in another (valid) order, then the reference step 4 ran on them."""
    from pytest_hepagent.analysis.utils import train_and_score

    rng = np.random.default_rng(4)
    ps, pb = rng.permutation(len(golden["signal"])), rng.permutation(len(golden["bkgd"]))
    work = tmp_path / "work"
    (work / "solution" / "arrays").mkdir(parents=True)
    (work / "arrays").mkdir()
    np.save(work / "solution/arrays/signal.npy", golden["signal"][ps])
    np.save(work / "solution/arrays/bkgd.npy", golden["bkgd"][pb])
    scores = train_and_score(golden["signal"][ps], golden["bkgd"][pb], backend="hgb")
    np.save(work / "arrays/signal_scores.npy", scores.signal)
    np.save(work / "arrays/bkgd_scores.npy", scores.background)
    spec = SPECS["sb_separation"]
    assert validate_step(spec, work, hepagent_solution).passed
    np.save(work / "arrays/signal_scores.npy", scores.signal[::-1])  # scores that do not belong to their events
    assert not validate_step(spec, work, hepagent_solution).passed


# ------------------------------------------------------------------------------------------------- properties
_FAST = settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FAST
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(0.0, 0.9))
def test_step3_permutations_and_perturbations_within_tolerance_pass(
    golden: dict[str, np.ndarray], seed: int, scale: float
) -> None:
    rng = np.random.default_rng(seed)
    for name in ("signal", "bkgd"):
        check = _check("preprocessing", f"arrays/{name}.npy")
        ref = golden[name]
        atol = np.array([dict(check.column_atol).get(c, check.atol) for c in column_names("sample")])
        tol = atol + check.rtol * np.abs(ref)
        gen = (ref + rng.uniform(-scale, scale, ref.shape) * tol)[rng.permutation(len(ref))]
        assert compare_arrays(gen, ref, check, column_names("sample")).passed


@_FAST
@given(seed=st.integers(0, 2**32 - 1), factor=st.floats(4.0, 100.0), column=st.integers(0, 7))
def test_step3_one_element_beyond_a_few_tolerances_fails(
    golden: dict[str, np.ndarray], seed: int, factor: float, column: int
) -> None:
    rng = np.random.default_rng(seed)
    check, ref = _check("preprocessing", "arrays/bkgd.npy"), golden["bkgd"]
    gen = ref[rng.permutation(len(ref))]
    row = int(rng.integers(len(ref)))
    atol = dict(check.column_atol).get(column_names("sample")[column], check.atol)
    gen[row, column] += factor * (atol + check.rtol * abs(gen[row, column])) * (1 if rng.random() < 0.5 else -1)
    assert not compare_arrays(gen, ref, check, column_names("sample")).passed


@_FAST
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(0.0, 0.9), factor=st.floats(4.0, 100.0))
def test_strict_outputs_pass_within_tolerance_and_fail_beyond(
    golden: dict[str, np.ndarray], seed: int, scale: float, factor: float
) -> None:
    """Steps 2, 4 and 5 (row order fixed by the task): perturbations within tolerance pass, one beyond fails."""
    rng = np.random.default_rng(seed)
    for step, path in (
        ("ntuple_conversion", "arrays/signal_WH_raw.npy"),
        ("sb_separation", "arrays/signal_scores.npy"),
        ("categorization", "arrays/boundaries.npy"),
        ("categorization", "arrays/significances.npy"),
    ):
        check, ref = _check(step, path), golden[Path(path).stem]
        tol = check.atol + check.rtol * np.abs(ref)
        names = column_names(check.columns)
        gen = np.where(np.isnan(ref), np.nan, ref + rng.uniform(-scale, scale, ref.shape) * tol)
        assert compare_arrays(gen, ref, check, names).passed, path
        finite = np.flatnonzero(np.isfinite(ref.ravel()) & (tol.ravel() > 0))
        index = np.unravel_index(int(rng.choice(finite)), ref.shape)
        gen[index] += factor * tol[index]
        assert not compare_arrays(gen, ref, check, names).passed, path


def test_a_row_permutation_fails_where_the_order_is_fixed(golden: dict[str, np.ndarray]) -> None:
    check, ref = _check("ntuple_conversion", "arrays/signal_WH_raw.npy"), golden["signal_WH_raw"]
    assert not compare_arrays(ref[::-1], ref, check, column_names("ntuple")).passed


@_FAST
@given(seed=st.integers(0, 2**32 - 1))
def test_the_root_summary_is_free_in_order_and_strict_in_content(hepagent_solution: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    check = _check("root_inspection", "summary/root_summary.json")
    reference = json.loads((hepagent_solution / "summary/root_summary.json").read_text())
    shuffled = json.loads(json.dumps(reference))
    rng.shuffle(shuffled["files"])
    for f in shuffled["files"]:
        for t in f["trees"]:
            rng.shuffle(t["branches"])
    assert compare_summaries(shuffled, reference, check).passed
    branch = shuffled["files"][0]["trees"][0]["branches"][int(rng.integers(10))]
    branch["type"] = "double" if branch["type"] != "double" else "float"
    assert not compare_summaries(shuffled, reference, check).passed
