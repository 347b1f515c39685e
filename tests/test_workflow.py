"""Chained runs and the Snakemake workflow: the DAG reproduces the goldens, chains break where they should, and the
matrix on Snakemake's local executor gives the records a pytest run of the same matrix gives."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pytest_hepagent.golden.manifest import sha256_file
from pytest_hepagent.records import TrialRecord, read_record, read_records
from pytest_hepagent.resources import failure_cassette_dir, golden_dir
from pytest_hepagent.trial import TrialEnvironment, TrialRequest, run_trial

FAILURES = failure_cassette_dir()
needs_snakemake = pytest.mark.skipif(
    importlib.util.find_spec("snakemake") is None and not os.environ.get("HEPAGENT_REQUIRE_WORKFLOW"),
    reason="Snakemake is not installed: pip install 'pytest-hepagent[workflow]'",
)


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*args], cwd=cwd, capture_output=True, text=True, check=False)


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(cwd, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args)


def _hepagent(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(cwd, sys.executable, "-m", "pytest_hepagent", *args)


@pytest.fixture(scope="module")
def cassettes(tmp_path_factory: pytest.TempPathFactory, hepagent_dataset, hepagent_solution: Path) -> Path:  # type: ignore[no-untyped-def]
    """Oracle recordings of steps 1-2, failures for steps 3-5: a chain that breaks at preprocessing."""
    folder = tmp_path_factory.mktemp("cassettes")
    env = TrialEnvironment.create(hepagent_dataset)
    for step in ("root_inspection", "ntuple_conversion"):
        run_trial(TrialRequest(step, "hepagent/oracle", record_to=folder / f"{step}.yaml"), env, folder / "rec" / step)
    shutil.rmtree(folder / "rec")
    for step, failure in (
        ("preprocessing", "file-not-found-1"),
        ("sb_separation", "other-3"),
        ("categorization", "semantic-2"),
    ):
        shutil.copyfile(FAILURES / f"{failure}.yaml", folder / f"{step}.yaml")
    return folder


def _matches_manifest(out: Path) -> list[str]:
    manifest = json.loads((golden_dir() / "manifest.json").read_text())
    return [rel for rel, entry in manifest["outputs"].items() if sha256_file(out / rel) != entry["sha256"]]


# ----------------------------------------------------------------------------------------------- chained pytest runs
def test_a_chained_oracle_run_passes_end_to_end(tmp_path: Path, hepagent_solution: Path) -> None:
    run = _pytest(tmp_path, "--hep-model=hepagent/oracle", "--hep-chain", f"--hep-report-dir={tmp_path / 'r'}")
    assert "1 passed" in run.stdout, run.stdout[-3000:]
    assert "end-to-end hepagent/oracle: 1/1 chains passed" in run.stdout
    (run_dir,) = (tmp_path / "r").iterdir()
    records = read_records(run_dir / "results.jsonl")
    assert [r.step for r in sorted(records, key=lambda r: r.chain.position)] == [
        "root_inspection", "ntuple_conversion", "preprocessing", "sb_separation", "categorization"
    ]  # fmt: skip
    assert all(r.outcome == "passed" and r.chain.passed and r.chain.broken_at is None for r in records)
    index = (run_dir / "index.html").read_text()
    assert 'class="chain-row" data-model="hepagent/oracle" data-passed="1" data-total="1"' in index


def test_a_chain_breaks_at_the_first_failing_step(tmp_path: Path, cassettes: Path) -> None:
    run = _pytest(
        tmp_path, "--hep-model=hepagent/replay", f"--hep-replay={cassettes}", "--hep-chain", "--hep-trials=2",
        f"--hep-report-dir={tmp_path / 'r'}",
    )  # fmt: skip
    assert "2 failed" in run.stdout, run.stdout[-3000:]
    assert "chain broken at preprocessing" in run.stdout
    assert "end-to-end hepagent/replay: 0/2 chains passed (broken at preprocessing)" in run.stdout
    (run_dir,) = (tmp_path / "r").iterdir()
    records = read_records(run_dir / "results.jsonl")
    assert len(records) == 6  # steps 1-3 of two chains; nothing ran after the break
    assert {r.chain.broken_at for r in records} == {"preprocessing"}
    broken = [r for r in records if r.step == "preprocessing"]
    assert all(r.outcome == "failed" and r.category.final == "intermediate file not found" for r in broken)
    # resuming the run redoes no chain
    again = _pytest(
        tmp_path, "--hep-model=hepagent/replay", f"--hep-replay={cassettes}", "--hep-chain", "--hep-trials=2",
        f"--hep-report-dir={tmp_path / 'r'}", f"--hep-resume={run_dir.name}",
    )  # fmt: skip
    assert "2 deselected" in again.stdout and len(read_records(run_dir / "results.jsonl")) == 6


def test_a_chain_after_preprocessing_in_another_row_order_passes(tmp_path: Path, hepagent_solution: Path) -> None:
    """Step 3's row order is free: the reference step 4 on a reordered step 3 must not break the chain."""
    from pytest_hepagent.llm.cassette import Cassette, CassetteCall, save_cassette
    from pytest_hepagent.ruler import MUTANTS, mutant_script

    folder = tmp_path / "c"
    env = TrialEnvironment.create()
    for step in ("root_inspection", "ntuple_conversion", "sb_separation", "categorization"):
        run_trial(TrialRequest(step, "hepagent/oracle", record_to=folder / f"{step}.yaml"), env, tmp_path / step)
    (shuffled,) = (m for m in MUTANTS if m.name == "rows-shuffled")
    calls = (
        CassetteCall("supervisor", "## Worker Prompt\nDo it."),
        CassetteCall("coder", f"```python\n{mutant_script(shuffled)}```"),
        CassetteCall("reviewer", "Supervisor is satisfied with current results"),
    )
    save_cassette(Cassette("preprocessing", calls), folder / "preprocessing.yaml")
    run = _pytest(
        tmp_path,
        "--hep-model=hepagent/replay",
        f"--hep-replay={folder}",
        "--hep-chain",
        f"--hep-report-dir={tmp_path / 'r'}",
    )
    assert "1 passed" in run.stdout, run.stdout[-3000:]
    assert "end-to-end hepagent/replay: 1/1 chains passed" in run.stdout
    # the later steps read the agent's shuffled arrays, not the goldens: the inputs in their own trial folders,
    # traced to what the step before wrote by their hashes
    (run_dir,) = (tmp_path / "r").iterdir()
    trials = {r.step: Path(r.trial_dir) / "work" for r in read_records(run_dir / "results.jsonl")}
    for name in ("signal.npy", "bkgd.npy"):
        written = sha256_file(trials["preprocessing"] / "arrays" / name)
        assert written != sha256_file(hepagent_solution / "arrays" / name)  # shuffled: not the golden bytes
        for later in ("sb_separation", "categorization"):
            assert sha256_file(trials[later] / "solution" / "arrays" / name) == written
    scores = sha256_file(trials["sb_separation"] / "arrays" / "signal_scores.npy")
    assert sha256_file(trials["categorization"] / "solution" / "arrays" / "signal_scores.npy") == scores


# --------------------------------------------------------------------------------------------------- the Snakefile
@needs_snakemake
def test_the_all_reference_dag_reproduces_the_golden_manifest(tmp_path: Path, hepagent_solution: Path) -> None:
    out = tmp_path / "analysis"
    run = _hepagent(tmp_path, "workflow", "all", "--cores", "2", "--config", f"out={out}")
    assert run.returncode == 0, run.stderr[-3000:]
    assert _matches_manifest(out) == []


@needs_snakemake
def test_an_all_agent_dag_is_a_chain_and_stops_at_a_broken_step(tmp_path: Path, cassettes: Path) -> None:
    agents = {step: {"by": "agent", "model": "hepagent/oracle"} for step in
              ("root_inspection", "ntuple_conversion", "preprocessing", "sb_separation", "categorization")}  # fmt: skip
    (tmp_path / "oracle.yaml").write_text(json.dumps({"out": str(tmp_path / "oracle"), "steps": agents}))
    run = _hepagent(tmp_path, "workflow", "all", "--cores", "2", "--configfile", str(tmp_path / "oracle.yaml"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert _matches_manifest(tmp_path / "oracle") == []  # the oracle agent's chain ends where the reference does
    assert sorted(p.stem for p in (tmp_path / "oracle" / "records").glob("*.json")) == sorted(agents)

    broken = dict(agents, preprocessing={"by": "agent", "model": "hepagent/replay",
                                         "cassette": str(cassettes / "preprocessing.yaml")})  # fmt: skip
    (tmp_path / "broken.yaml").write_text(json.dumps({"out": str(tmp_path / "broken"), "steps": broken}))
    run = _hepagent(tmp_path, "workflow", "all", "--cores", "2", "--configfile", str(tmp_path / "broken.yaml"))
    assert run.returncode != 0 and "preprocessing" in run.stderr
    record = read_record(tmp_path / "broken" / "records" / "preprocessing.json")
    assert record.outcome == "failed" and record.category.final == "intermediate file not found"
    assert not (tmp_path / "broken" / "arrays" / "signal_scores.npy").exists()  # nothing ran after the break


@needs_snakemake
def test_the_matrix_on_the_local_executor_gives_the_records_of_pytest(tmp_path: Path, cassettes: Path) -> None:
    matrix = {"models": ["hepagent/oracle", "hepagent/replay"], "trials": 2, "replay": str(cassettes)}
    run_dir = tmp_path / "runs" / "wf"

    def run_matrix() -> subprocess.CompletedProcess[str]:
        config = ["--config", f"matrix_run={run_dir}", f"matrix={json.dumps(matrix)}"]
        return _hepagent(tmp_path, "workflow", "matrix", "--cores", "2", *config)

    run = run_matrix()
    assert run.returncode == 0, run.stderr[-3000:]
    workflow_records = read_records(run_dir / "results.jsonl")
    assert len(workflow_records) == 20 and (run_dir / "index.html").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["dataset"]["kind"] == "synthetic" and len(summary["cells"]) == 10 and summary["sb_backend"] == "hgb"
    done = _pytest(
        tmp_path, "--hep-model=hepagent/oracle", "--hep-model=hepagent/replay", f"--hep-replay={cassettes}",
        "--hep-trials=2", f"--hep-report-dir={tmp_path / 'pytest'}", "-n", "2",
    )  # fmt: skip
    assert "6 failed, 14 passed" in done.stdout, done.stdout[-2000:]
    (pytest_run,) = (tmp_path / "pytest").iterdir()

    def outcomes(records: list[TrialRecord]) -> list[tuple]:  # type: ignore[type-arg]
        return sorted((r.key, r.outcome, r.category.final, r.api_calls) for r in records)

    assert outcomes(workflow_records) == outcomes(read_records(pytest_run / "results.jsonl"))
    # resume after an interruption (three job records and the merge lost): only those jobs run again, and they
    # reuse the trials results.jsonl holds instead of running them
    lost = [run_dir / "records" / "hepagent_oracle" / "categorization" / f"trial{t}.json" for t in (1, 2)]
    lost.append(run_dir / "records" / "hepagent_replay" / "preprocessing" / "trial1.json")
    for path in [*lost, run_dir / "summary.json", run_dir / "index.html"]:
        path.unlink()
    folders = len(list((run_dir / "trials").rglob("transcript.json")))
    again = run_matrix()
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count(": already in ") == 3 and "0 records added, 20 in" in again.stdout
    assert all(p.is_file() for p in lost) and len(list((run_dir / "trials").rglob("transcript.json"))) == folders
    assert outcomes(read_records(run_dir / "results.jsonl")) == outcomes(workflow_records)


def test_without_snakemake_the_workflow_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_hepagent.cli import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "snakemake" else real(name, *a))
    result = CliRunner().invoke(cli, ["workflow", "all"])
    assert result.exit_code != 0 and "pip install 'pytest-hepagent[workflow]'" in result.output
