"""Every command's exit status: 0 done and good, 1 done and not good (a failed check, a broken attack, a regression),
2 the user's mistake (one line saying what to do), 3 an infrastructure error. Scripts and CI read these numbers."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from error_classifier.__main__ import main as classify_main
from pytest_hepagent.cli import cli
from pytest_hepagent.data import Dataset
from pytest_hepagent.report.__main__ import main as report_main
from pytest_hepagent.resources import failure_cassette_dir
from pytest_hepagent.sequential.boundaries import boundaries


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_golden_check_exits_0_on_a_bit_for_bit_match_and_1_on_any_difference(
    small_dataset: Dataset, tmp_path: Path
) -> None:
    golden, data = tmp_path / "golden", str(small_dataset.root)
    solution = ["--solution-dir", str(tmp_path / "solution")]
    assert invoke("golden", "--data", data, "--golden-dir", str(golden), *solution)[0] == 0
    code, output = invoke("golden", "--check", "--data", data, "--golden-dir", str(golden), *solution)
    assert code == 0, output
    assert f"golden outputs match {golden / 'manifest.json'} bit for bit" in output
    manifest = json.loads((golden / "manifest.json").read_text())
    manifest["outputs"][next(iter(manifest["outputs"]))]["sha256"] = "0" * 64
    (golden / "manifest.json").write_text(json.dumps(manifest))
    code, output = invoke("golden", "--check", "--data", data, "--golden-dir", str(golden), *solution)
    assert code == 1
    assert "DIFFERS " in output and "bit for bit" not in output


def test_trial_exits_3_on_an_infrastructure_error(hepagent_solution: Path, tmp_path: Path) -> None:
    from fake_openai import FakeOpenAI, serve

    with serve(FakeOpenAI(answers=["unused"], always=("status", 401))) as fake:
        code, output = invoke(
            "trial", "categorization", "--model", "openai/local", "--api-base", fake.url, "--out", str(tmp_path / "t")
        )
    assert code == 3, output
    assert "outcome: error (" in output and "not retryable" in output


def test_run_exits_1_when_a_step_fails(
    hepagent_solution: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_hepagent.analysis import reference

    real = reference.run_step

    def wrong_categorization(step, dataset, out, **kwargs):  # type: ignore[no-untyped-def]
        real(step, dataset, out, **kwargs)
        if step.name == "categorization":
            (out / "arrays" / "significances.npy").unlink()

    monkeypatch.setattr(reference, "run_step", wrong_categorization)
    code, output = invoke("run", "--out", str(tmp_path))
    assert code == 1, output
    assert f"Result: 4/5 steps passed; outputs in {tmp_path}" in output


def test_audit_exits_0_when_attacks_hold_and_1_when_one_breaks(hepagent_solution: Path) -> None:
    code, output = invoke("audit", "--attack", "network")
    assert code == 0, output
    assert "1/1 attacks held" in output
    code, output = invoke("audit", "--attack", "network", "--sandbox", "none")  # unconfined, the network is open
    assert code == 1, output
    assert "BROKEN" in output and "0/1 attacks held; 1 BROKEN" in output


def test_a_usage_error_exits_2(tmp_path: Path) -> None:
    code, output = invoke("validate", "categorization", str(tmp_path / "missing"))
    assert code == 2 and "does not exist" in output
    code, output = invoke("trial", "categorization", "--max-iterations", "x")
    assert code == 2 and "--max-iterations" in output


def test_report_and_classifier_exit_0_on_a_run_and_2_on_a_folder_that_is_no_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_hepagent.report.demo import write_generated_run

    run = write_generated_run(tmp_path / "reports" / "run", models=2, trials=2)
    assert report_main([str(run), "--out", str(tmp_path / "html")]) == 0
    assert (tmp_path / "html" / "index.html").is_file()
    assert classify_main([str(run)]) == 0
    assert classify_main([str(tmp_path / "nothing")]) == 2
    assert "no results.jsonl; give a run folder" in capsys.readouterr().err
    assert report_main([str(tmp_path / "nothing")]) == 2


def test_pytest_exits_0_when_the_gate_says_ok_though_a_trial_failed(
    pytester: pytest.Pytester, tmp_path: Path, hepagent_solution: Path
) -> None:
    from pytest_hepagent.trial import TrialEnvironment, TrialRequest, run_trial

    good = tmp_path / "good.yaml"
    run_trial(
        TrialRequest("categorization", "hepagent/oracle", record_to=good), TrialEnvironment.create(), tmp_path / "t"
    )
    base_cassettes, mixed = tmp_path / "base", tmp_path / "mixed"
    base_cassettes.mkdir()
    mixed.mkdir()
    shutil.copy(good, base_cassettes / "categorization.yaml")
    for trial in range(1, 10):
        shutil.copy(good, mixed / f"categorization-trial{trial:02d}.yaml")
    shutil.copy(failure_cassette_dir() / "semantic-2.yaml", mixed / "categorization-trial10.yaml")

    def run(cassettes: Path, trials: int, reports: str, *extra: str) -> pytest.RunResult:
        return pytester.runpytest(
            "--hep-model=hepagent/replay", f"--hep-replay={cassettes}", f"--hep-trials={trials}",
            "--hep-steps=categorization", f"--hep-report-dir={tmp_path / reports}", "-p", "no:xdist", *extra,
        )  # fmt: skip

    run(base_cassettes, 8, "b").assert_outcomes(passed=8)
    baseline = next((tmp_path / "b").iterdir())
    # every tenth trial fails; against 8/8 the rounds (4, 5, 10, 15) reach OK at 14/15
    found = boundaries(8, (4, 5, 10, 15), 15, 0.05, 0.35)
    assert found.ok[2][8] > 9 and found.ok[3][8] <= 14  # 9/10 is not yet OK, 14/15 is
    gated = run(mixed, 4, "g", f"--hep-baseline={baseline}", "--hep-max-trials=15")
    gated.assert_outcomes(passed=14, failed=1, deselected=60)
    assert gated.ret == 0
    gated.stdout.fnmatch_lines(["*categorization*OK*14/15*8/8*a drop of 35% or more is ruled out*"])
    assert gated.outlines[-1].startswith("gate: PASS (exit 0): 1 of 1 cells OK")
    ungated = run(mixed, 10, "u")
    assert ungated.ret == 1  # without a baseline, pytest's own status: a trial failed
    floored = run(mixed, 4, "f", f"--hep-baseline={baseline}", "--hep-max-trials=4", "--hep-floor=0.9")
    assert floored.ret == 1
    floored.stdout.fnmatch_lines(["*categorization*UNDECIDED*the floor 0.90 lies inside the 95% interval*"])
    lenient = run(mixed, 4, "p", f"--hep-baseline={baseline}", "--hep-max-trials=4", "--hep-undecided=pass")
    assert lenient.ret == 0 and lenient.outlines[-1].endswith("undecided cells pass (--hep-undecided pass)")


def test_main_turns_a_users_mistake_into_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_hepagent.cli import main

    monkeypatch.setattr(sys, "argv", ["hepagent", "validate", "categorisation", str(tmp_path)])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        "error: unknown step 'categorisation' (did you mean 'categorization'?); steps are "
        "root_inspection, ntuple_conversion, preprocessing, sb_separation, categorization\n"
    )


def test_an_unconfined_sandbox_is_announced_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_hepagent.cli import _warn_unconfined

    _warn_unconfined("bwrap")
    assert capsys.readouterr() == ("", "")
    _warn_unconfined("none")
    assert capsys.readouterr() == (
        "",
        "warning: --sandbox none: generated code runs unconfined, with your access to this machine\n",
    )


def test_main_prints_a_usage_error_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_hepagent.cli import main

    # the program's name is hepagent, whatever path or wrapper started it
    monkeypatch.setattr(sys, "argv", ["/opt/tools/run-it", "trial", "categorization", "--max-iterations", "x"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Usage: hepagent trial") and "'--max-iterations': 'x' is not a whole number" in err


def test_the_workflow_commands_are_part_of_the_command_line() -> None:
    assert {"step", "bench-prepare", "bench-trial", "bench-merge", "workflow"} <= set(cli.commands)


def test_a_data_folder_is_checked_and_used(small_dataset: Dataset) -> None:
    from pytest_hepagent.cli_options import dataset_of

    assert dataset_of(small_dataset.root).root == small_dataset.root
