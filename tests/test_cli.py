from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from pytest_hepagent.cli import cli
from pytest_hepagent.data import Dataset


def test_generate_writes_a_synthetic_release(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["generate", str(tmp_path / "d"), "--seed", "3", "--mc-scale", "0.02", "--data-scale", "0.005"]
    )
    assert result.exit_code == 0, result.output
    dataset = Dataset(tmp_path / "d").check()
    assert dataset.generator is not None and dataset.generator["seed"] == 3
    assert f"synthetic dataset ready in {tmp_path / 'd'}" in result.output


def test_validate_passes_golden_outputs_and_fails_changed_ones(hepagent_solution: Path, tmp_path: Path) -> None:
    (tmp_path / "arrays").mkdir()
    for name in ("boundaries", "significances"):
        shutil.copy(hepagent_solution / f"arrays/{name}.npy", tmp_path / "arrays")
    ok = CliRunner().invoke(cli, ["validate", "categorization", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert "Step 5 (categorization): PASS" in ok.output
    z = np.load(tmp_path / "arrays/significances.npy")
    np.save(tmp_path / "arrays/significances.npy", z * 1.01)
    bad = CliRunner().invoke(cli, ["validate", "5", str(tmp_path)])
    assert bad.exit_code == 1
    assert "[X] significances.npy differs" in bad.output and "Result: 0/1 step passed" in bad.output


def test_run_is_the_reference_analysis_validated_step_by_step(hepagent_solution: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["run", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.count(": PASS") == 5
    assert f"Result: 5/5 steps passed; outputs in {tmp_path}" in result.output


def test_user_errors_are_one_line_with_exit_status_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_hepagent", "validate", "categorisation", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: unknown step 'categorisation' (did you mean 'categorization'?); steps are "
        "root_inspection, ntuple_conversion, preprocessing, sb_separation, categorization\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_hepagent", "golden", "--data", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {tmp_path / 'none'}: data folder not found; create it with")


def test_goldens_for_another_dataset_drive_run_and_validate(small_dataset: Dataset, tmp_path: Path) -> None:
    """The real-data path: goldens made for a folder of files, then the analysis validated against them."""
    golden = tmp_path / "golden"
    made = CliRunner().invoke(
        cli,
        [
            "golden",
            "--data",
            str(small_dataset.root),
            "--golden-dir",
            str(golden),
            "--solution-dir",
            str(tmp_path / "solution"),
        ],
    )
    assert made.exit_code == 0, made.output
    assert (golden / "manifest.json").is_file()
    result = CliRunner().invoke(
        cli, ["run", "--data", str(small_dataset.root), "--golden-dir", str(golden), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "Result: 5/5 steps passed" in result.output
    np.save(tmp_path / "out/arrays/bkgd.npy", np.load(tmp_path / "out/arrays/bkgd.npy")[:, :7])
    bad = CliRunner().invoke(
        cli,
        [
            "validate",
            "preprocessing",
            str(tmp_path / "out"),
            "--data",
            str(small_dataset.root),
            "--golden-dir",
            str(golden),
        ],
    )
    assert bad.exit_code == 1
    assert "[X] Shape mismatch:" in bad.output


def test_trial_runs_one_agent_trial_and_reports_it(hepagent_solution: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["trial", "categorization", "--out", str(tmp_path / "t"), "--record", str(tmp_path / "c.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "3 API calls, 1 attempts" in result.output and "outcome: passed" in result.output
    replay = CliRunner().invoke(
        cli,
        [
            "trial",
            "5",
            "--model",
            "hepagent/replay",
            "--cassette",
            str(tmp_path / "c.yaml"),
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert replay.exit_code == 0, replay.output
    replay_args = ["trial", "5", "--model", "hepagent/replay", "--cassette", str(tmp_path / "c.yaml")]
    limited = CliRunner().invoke(cli, [*replay_args, "--token-limit", "1", "--out", str(tmp_path / "l")])
    assert limited.exit_code == 1, limited.output  # a limit reached is the model's failure, not an infrastructure one
    assert "1 API calls" in limited.output and "outcome: failed (token limit reached" in limited.output
    bad = CliRunner().invoke(cli, [*replay_args, "--time-limit", "0"])
    assert bad.exit_code == 2 and "--time-limit" in bad.output
    failing = Path(__file__).parents[1] / "pytest_hepagent/cassettes/failures/semantic-1.yaml"
    failed = CliRunner().invoke(
        cli,
        [
            "trial",
            "categorization",
            "--model",
            "hepagent/replay",
            "--cassette",
            str(failing),
            "--out",
            str(tmp_path / "f"),
        ],
    )
    assert failed.exit_code == 1
    assert "[X] arrays/significances.npy" in failed.output
