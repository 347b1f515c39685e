"""Bad input to a benchmark run: a one-line error that names the option or file and the fix, a non-zero exit, and
nothing already recorded lost. Replay folders of any cassettes; resume under xdist."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_hepagent.data.dataset import Dataset
from pytest_hepagent.llm.cassette import Cassette, CassetteCall, load_cassette, save_cassette
from pytest_hepagent.records import read_records
from pytest_hepagent.resources import failure_cassette_dir

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def oracle(oracle_cassette: Path) -> Path:
    """A recorded oracle trajectory of step 5."""
    return oracle_cassette


def _usage_error(pytester: pytest.Pytester, *args: str) -> str:
    run = pytester.runpytest(*args, f"--hep-report-dir={pytester.path / 'r'}")
    assert run.ret == pytest.ExitCode.USAGE_ERROR, run.stdout.str()[-2000:]
    errors = [line for line in run.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1, run.stderr.str()
    return errors[0]


def test_a_replay_folder_without_the_step_s_cassettes_stops_the_run(pytester: pytest.Pytester, oracle: Path) -> None:
    folder = pytester.path / "c"
    folder.mkdir()
    shutil.copyfile(oracle, folder / "anything-at-all.yaml")
    line = _usage_error(pytester, "--hep-model=hepagent/replay", f"--hep-replay={folder}", "--hep-steps=preprocessing")
    assert "no cassette of step 'preprocessing' (it holds categorization (1))" in line
    empty = pytester.path / "empty"
    empty.mkdir()
    assert "no cassette" in _usage_error(pytester, "--hep-model=hepagent/replay", f"--hep-replay={empty}")


def test_a_cassette_of_another_step_is_refused(pytester: pytest.Pytester, oracle: Path) -> None:
    line = _usage_error(pytester, "--hep-model=hepagent/replay", f"--hep-replay={oracle}", "--hep-steps=sb_separation")
    assert f"--hep-replay {oracle}: no cassette of step 'sb_separation'" in line
    run = subprocess.run(
        [sys.executable, "-m", "pytest_hepagent", "trial", "sb_separation", "--model", "hepagent/replay",
         "--cassette", str(oracle), "--out", str(pytester.path / "t")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 2 and "a trajectory of step categorization, not sb_separation" in run.stderr
    assert "Traceback" not in run.stderr and run.stderr.strip().splitlines()[-1].startswith("Error: --cassette")


def test_a_folder_of_labelled_cassettes_replays_as_a_set(pytester: pytest.Pytester, hepagent_solution: Path) -> None:
    """Any names; each step's cassettes in name order; as many trials per step as it has cassettes."""
    folder = failure_cassette_dir()
    by_step: dict[str, int] = {}
    for path in folder.glob("*.yaml"):
        step = load_cassette(path).step
        by_step[step] = by_step.get(step, 0) + 1
    run = pytester.runpytest(
        "--hep-model=hepagent/replay", f"--hep-replay={folder}", f"--hep-report-dir={pytester.path / 'r'}", "-n", "2"
    )
    run.assert_outcomes(failed=sum(by_step.values()))  # every labelled trajectory is a failure
    records = read_records(next((pytester.path / "r").iterdir()) / "results.jsonl")
    assert {s: sum(r.step == s for r in records) for s in by_step} == by_step


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hep-max-usd=nan"], "--hep-max-usd: 'nan' is not a finite number; give a number of USD"),
        (["--hep-max-usd=inf"], "--hep-max-usd: 'inf' is not a finite number; give a number of USD"),
        (["--hep-max-usd=-1"], "--hep-max-usd: a finite amount of USD >= 0, got -1"),
        (["--hep-trials=0"], "--hep-trials: 0 is not above 0; give a larger number"),
        (["--hep-token-limit=lots"], "--hep-token-limit: 'lots' is not a whole number of tokens; give a whole number"),
        (["--hep-sandbox=bwrp"], "--hep-sandbox: unknown sandbox 'bwrp' (did you mean 'bwrap'?); choose one of"),
        (["--hep-steps=,"], "--hep-steps: no step named in ','; name steps separated by commas"),
    ],
)
def test_numbers_and_lists_that_mean_nothing_stop_the_run(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    assert message in _usage_error(pytester, "--hep-model=hepagent/oracle", *args)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"not": "a record"}\n', ":1: no schema_version: not a record of this harness; a baseline must be read whole"),
        ("garbage\n", ":1: not valid JSON (a torn or edited line); a baseline must be read whole"),
        ('{"cells": "oops"}', "not a run summary (no schema_version: not a record of this harness)"),
        ('{"schema_version": 1, "run_id": "r", "cells": "oops"}', "not a run summary (cells: Input should be"),
        ('{"schema_version": 9, "cells": []}', "schema_version 9 is not one this harness reads (1 to 1)"),
        ("{", "not valid JSON"),
    ],
)
def test_a_baseline_that_is_no_run_stops_the_run(pytester: pytest.Pytester, content: str, message: str) -> None:
    name = "results.jsonl" if "record" in content or "garbage" in content else "summary.json"
    baseline = pytester.path / name
    baseline.write_text(content)
    line = _usage_error(pytester, "--hep-model=hepagent/oracle", f"--hep-baseline={baseline}")
    assert f"--hep-baseline: {baseline}" in line and message in line


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input_tokens", "lots", "calls[0].input_tokens: a token count (a whole number >= 0), got 'lots'"),
        ("latency_s", -1, "latency_s: seconds to wait per call (a number >= 0), got -1"),
    ],
)
def test_a_cassette_field_of_the_wrong_type_is_one_line(
    pytester: pytest.Pytester, oracle: Path, field: str, value: object, message: str
) -> None:
    data = load_cassette(oracle).to_dict()
    if field == "latency_s":
        data[field] = value
    else:
        data["calls"][0][field] = value
    bad = pytester.path / "bad.yaml"
    bad.write_text(json.dumps(data))  # JSON is YAML
    line = _usage_error(pytester, "--hep-model=hepagent/replay", f"--hep-replay={bad}")
    assert str(bad) in line and message in line


def test_a_report_folder_that_cannot_be_written_stops_the_run(pytester: pytest.Pytester) -> None:
    blocker = pytester.path / "a-file"
    blocker.write_text("not a folder")
    run = pytester.runpytest("--hep-model=hepagent/oracle", f"--hep-report-dir={blocker / 'reports'}")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.stderr.fnmatch_lines([f"ERROR: --hep-report-dir {blocker / 'reports'}: the run folder cannot be written*"])
    assert "INTERNALERROR" not in run.stdout.str() + run.stderr.str()


def test_a_truncated_root_file_is_named_in_one_line(pytester: pytest.Pytester, small_dataset: Dataset) -> None:
    data = pytester.path / "data"
    shutil.copytree(small_dataset.root, data)
    victim = next(data.rglob("data_B.GamGam.root"))
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    line = _usage_error(pytester, "--hep-model=hepagent/oracle", f"--hep-data={data}")
    assert f"--hep-data: {victim}: truncated:" in line and "hepagent download" in line


def test_a_full_disk_loses_nothing_written_and_fails_the_run(
    pytester: pytest.Pytester, oracle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_hepagent.records import store

    written = []
    real = store.append_record

    def fill_up(path: Path, record: Any) -> None:
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(record)
        real(path, record)

    monkeypatch.setattr(store, "append_record", fill_up)
    reports = pytester.path / "r"
    run = pytester.runpytest_inprocess(
        "--hep-model=hepagent/replay", f"--hep-replay={oracle}", "--hep-trials=3", "--hep-steps=categorization",
        f"--hep-report-dir={reports}", "-p", "no:xdist",
    )  # fmt: skip
    assert run.ret == pytest.ExitCode.INTERNAL_ERROR
    run.stdout.fnmatch_lines(
        ["*2 record(s) or the summary could not be written*No space left on device*--hep-resume=*"]
    )
    assert "Traceback" not in run.stdout.str()
    (run_dir,) = reports.iterdir()
    assert [r.trial for r in read_records(run_dir / "results.jsonl")] == [1]  # what was written stays


def test_a_record_the_readers_cannot_use_is_skipped_with_its_line(
    pytester: pytest.Pytester, oracle: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from pytest_hepagent.report import render_report

    reports = pytester.path / "r"
    pytester.runpytest(
        "--hep-model=hepagent/replay", f"--hep-replay={oracle}", "--hep-trials=2", f"--hep-report-dir={reports}"
    ).assert_outcomes(passed=2)
    (run_dir,) = reports.iterdir()
    good = json.loads((run_dir / "results.jsonl").read_text().splitlines()[0])
    with (run_dir / "results.jsonl").open("a") as f:
        f.write(json.dumps(good | {"key": "x|categorization|9", "model": None}) + "\n")
    render_report(run_dir)  # no crash
    assert "results.jsonl:3: skipping a record the report cannot use: model: Input should be a valid string" in (
        caplog.text
    )
    assert 'data-total="2"' in (run_dir / "index.html").read_text()


def test_resume_under_xdist_runs_exactly_what_the_run_lacks(pytester: pytest.Pytester, oracle: Path) -> None:
    reports = pytester.path / "r"
    args = ["--hep-model=hepagent/replay", f"--hep-replay={oracle}", "--hep-trials=4", f"--hep-report-dir={reports}"]
    pytester.runpytest(*args).assert_outcomes(passed=4)
    (run_dir,) = reports.iterdir()
    results = run_dir / "results.jsonl"
    lines = results.read_text().splitlines()
    results.write_text("\n".join(lines[:2]) + "\n")  # as if the run died after two trials
    resumed = pytester.runpytest(*args, f"--hep-resume={run_dir.name}", "-n", "2")
    resumed.assert_outcomes(passed=2)
    assert sorted(r.trial for r in read_records(results)) == [1, 2, 3, 4]


def test_a_trial_folder_inside_the_checkout_works(tmp_path: Path, hepagent_solution: Path) -> None:
    folder = f"t-{tmp_path.name}"
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest_hepagent", "trial", "categorization", "--out", folder],
            cwd=CHECKOUT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        assert "outcome: passed" in run.stdout
    finally:
        from pytest_hepagent.sandbox.trial_files import remove_tree

        remove_tree(CHECKOUT / folder)


def test_a_cassette_s_step_is_checked_when_it_is_replayed(tmp_path: Path, hepagent_solution: Path) -> None:
    from pytest_hepagent.trial import TrialEnvironment, TrialRequest, run_trial

    path = save_cassette(Cassette("preprocessing", (CassetteCall("supervisor", "x"),)), tmp_path / "c.yaml")
    result = run_trial(
        TrialRequest("categorization", "hepagent/replay", cassette=path), TrialEnvironment.create(), tmp_path / "t"
    )
    assert result.outcome == "error"
    assert "a trajectory of step preprocessing, not of categorization" in result.error


def test_a_record_the_controller_cannot_read_fails_the_run_and_keeps_the_others(
    pytester: pytest.Pytester, oracle: Path
) -> None:
    """A report carrying an unusable record (a harness bug, say) is counted as unsaved: exit 3 with the resume hint,
    never an INTERNALERROR, and the trial's own record is still stored."""
    pytester.syspathinsert()
    pytester.makepyfile(
        badrecord="""
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        report.user_properties.append(("hepagent_record", {"schema_version": 1, "key": "broken"}))
"""
    )
    reports = pytester.path / "r"
    run = pytester.runpytest_inprocess(
        "--hep-model=hepagent/replay", f"--hep-replay={oracle}", "--hep-trials=1", "--hep-steps=categorization",
        f"--hep-report-dir={reports}", "-p", "no:xdist", "-p", "badrecord",
    )  # fmt: skip
    assert run.ret == pytest.ExitCode.INTERNAL_ERROR
    run.stdout.fnmatch_lines(["*1 record(s) or the summary could not be written*is unusable: run_id: Field required*"])
    assert "INTERNALERROR" not in run.stdout.str()
    (run_dir,) = reports.iterdir()
    assert [r.trial for r in read_records(run_dir / "results.jsonl")] == [1]
