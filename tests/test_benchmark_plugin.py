"""The benchmark through pytest itself (pytester), as pytest-xdist and pytest-randomly test themselves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import deque
from pathlib import Path

import pytest
from run_helpers import kill_when_recorded

from pytest_hepagent.llm.cassette import Cassette, CassetteCall, load_cassette, save_cassette
from pytest_hepagent.matrix.cells import cells_from_records
from pytest_hepagent.matrix.gate import gate
from pytest_hepagent.records import read_records, record_from_json
from pytest_hepagent.sandbox.backends import TRIAL_UIDS

FAILING = Path(__file__).parents[1] / "pytest_hepagent/cassettes/failures/semantic-2.yaml"


def _records(report_dir: Path) -> list[dict]:  # type: ignore[type-arg]
    (run,) = report_dir.iterdir()
    return read_records(run / "results.jsonl")


def test_the_matrix_with_and_without_xdist_gives_the_same_records(
    pytester: pytest.Pytester, hepagent_solution: Path
) -> None:
    results = {}
    for mode in (["-n", "2"], ["-p", "no:xdist"]):
        reports = pytester.path / f"reports{len(results)}"
        run = pytester.runpytest("--hep-model=hepagent/oracle", "--hep-trials=2", f"--hep-report-dir={reports}", *mode)
        run.assert_outcomes(passed=10)
        records = _records(reports)
        assert len(records) == 10
        results[mode[0]] = sorted((r.key, r.outcome, r.api_calls, r.tokens.input) for r in records)
        run.stdout.fnmatch_lines(["*hepagent benchmark*", "*hepagent/oracle*categorization   *2    0    0*100%*"])
    assert results["-n"] == results["-p"]


def test_ids_and_markers_select_items(pytester: pytest.Pytester, hepagent_solution: Path) -> None:
    run = pytester.runpytest(
        "--hep-model=hepagent/oracle",
        "--hep-trials=3",
        "--collect-only",
        "-q",
        "-k",
        "categorization and trial2",
        f"--hep-report-dir={pytester.path / 'r'}",
    )
    run.stdout.fnmatch_lines(["*test_categorization[[]oracle-trial2[]]*", "*1/15 tests collected (14 deselected)*"])
    run = pytester.runpytest(
        "--hep-model=hepagent/oracle",
        "--hep-steps=preprocessing,categorization",
        "--collect-only",
        "-q",
        f"--hep-report-dir={pytester.path / 'r'}",
    )
    run.stdout.fnmatch_lines(["*test_preprocessing[[]oracle-trial1[]]*", "*2/5 tests collected (3 deselected)*"])
    run = pytester.runpytest(
        "--hep-model=hepagent/oracle",
        "--hep-trials=2",
        "--collect-only",
        "-q",
        "-m",
        "step_sb_separation and model_hepagent_oracle",
        f"--hep-report-dir={pytester.path / 'r'}",
    )
    run.stdout.fnmatch_lines(
        [
            "*test_sb_separation[[]oracle-trial1[]]*",
            "*test_sb_separation[[]oracle-trial2[]]*",
            "*2/10 tests collected (8 deselected)*",
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--hep-model=hepagent/oracle", "--hep-steps=categorisation"],
            "*--hep-steps: unknown step 'categorisation' (did you mean 'categorization'?)*",
        ),
        (
            ["--hep-model=hepagent/oracel"],
            "*unknown offline model 'hepagent/oracel' (did you mean 'hepagent/oracle'?)*",
        ),
        (["--hep-model=gpt-5-mnii"], "*unknown model 'gpt-5-mnii' (did you mean*"),
        (["--hep-model=hepagent/replay"], "*needs --hep-replay FILE_OR_FOLDER*"),
        (["--hep-model=hepagent/oracle", "--hep-trials=0"], "*--hep-trials: 0 is not above 0; give a larger number*"),
        (["--hep-model=hepagent/oracle", "--hep-resume=nope"], "*--hep-resume: no run 'nope'*"),
        (["--hep-model=hepagent/oracle", "--hep-record=x"], "*--hep-record: recording needs a live model*"),
        (["--hep-model=hepagent/oracle", "--hep-sandbox=bwarp"], "*--hep-sandbox: unknown sandbox 'bwarp'*bwrap*"),
    ],
)
def test_usage_errors_say_what_to_do(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    run = pytester.runpytest(*args, f"--hep-report-dir={pytester.path / 'r'}")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.stderr.fnmatch_lines([message])


def test_a_model_failure_fails_and_an_infrastructure_error_errors(
    pytester: pytest.Pytester, tmp_path: Path, hepagent_solution: Path
) -> None:
    cassettes = tmp_path / "c"
    cassettes.mkdir()
    (cassettes / "categorization-trial1.yaml").write_text(FAILING.read_text())
    save_cassette(
        Cassette("categorization", (CassetteCall("coder", "out of order"),)), cassettes / "categorization-trial2.yaml"
    )
    run = pytester.runpytest(
        "--hep-model=hepagent/replay",
        f"--hep-replay={cassettes}",
        "--hep-trials=2",
        "--hep-steps=categorization",
        f"--hep-report-dir={tmp_path / 'r'}",
    )
    run.assert_outcomes(failed=1, errors=1)
    run.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_categorization[[]replay-trial2[]]*",
            "*infrastructure error, not a model failure*call 1 is a coder call*",
        ]
    )
    run.stdout.fnmatch_lines(
        [
            "*test_categorization[[]replay-trial1[]]*",
            "*Step 5 (categorization): FAIL*",
            "*error category: semantic error (rules)*",
        ]
    )
    outcomes = sorted(r.outcome for r in _records(tmp_path / "r"))
    assert outcomes == ["error", "failed"]
    (cell,) = cells_from_records(_records(tmp_path / "r"))
    assert (cell.passed, cell.total, cell.errors) == (0, 1, 1)  # the error is kept out of the success rate


def test_the_sandbox_is_in_every_record_and_unconfined_runs_say_so(
    pytester: pytest.Pytester, tmp_path: Path, oracle_cassette: Path
) -> None:
    confined = _replay_run(pytester, oracle_cassette, 1, tmp_path / "bwrap")
    confined.assert_outcomes(passed=1)
    confined.stdout.fnmatch_lines(["hepagent: sandbox bwrap *; generated code runs as *"])
    (record,) = _records(tmp_path / "bwrap")
    bwrap = subprocess.run(["bwrap", "--version"], capture_output=True, text=True, check=True).stdout.split()[-1]
    code_uid = record.sandbox.pop("code_uid")
    assert record.sandbox == {"backend": "bwrap", "version": bwrap, "confined": True}
    if os.geteuid() == 0:  # root runs the code as a uid of its own, recorded
        assert TRIAL_UIDS[0] <= code_uid < TRIAL_UIDS[0] + TRIAL_UIDS[1]
    else:
        assert code_uid == os.getuid()
    pytester.makeini("[pytest]\nhep_sandbox = none\n")  # the ini key, as a project would set it
    loose = _replay_run(pytester, oracle_cassette, 1, tmp_path / "none")
    loose.assert_outcomes(passed=1)
    loose.stdout.fnmatch_lines(["hepagent: WARNING: --hep-sandbox=none: generated code runs UNCONFINED*"])
    (record,) = _records(tmp_path / "none")
    assert record.sandbox == {"backend": "none", "version": "", "confined": False}
    (run_dir,) = (tmp_path / "none").iterdir()
    assert "none: generated code ran UNCONFINED" in (run_dir / "index.html").read_text()


def test_a_crashed_worker_still_leaves_a_record_and_counts_as_an_error(
    pytester: pytest.Pytester, tmp_path: Path, hepagent_solution: Path
) -> None:
    pytester.makeconftest(
        """
        import os, signal
        import pytest

        @pytest.fixture(autouse=True)
        def crash_trial2(request):
            if "trial2" in request.node.name and os.environ.get("PYTEST_XDIST_WORKER"):
                os.kill(os.getpid(), signal.SIGKILL)  # the worker dies in the middle of this item
        """
    )
    run = pytester.runpytest(
        "--hep-model=hepagent/oracle", "--hep-trials=3", "--hep-steps=categorization", "-n", "2",
        f"--hep-report-dir={tmp_path / 'r'}",
    )  # fmt: skip
    run.assert_outcomes(passed=2, errors=1)
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    records = {r.trial: r for r in _records(tmp_path / "r")}
    assert sorted(records) == [1, 2, 3]
    assert records[2].outcome == "error" and records[2].error.startswith("worker crashed: worker 'gw")
    run.stdout.fnmatch_lines(["*hepagent/oracle*categorization   *2    0    1*100%*67%*"])


def _replay_run(pytester: pytest.Pytester, cassettes: Path, trials: int, reports: Path, *extra: str):  # type: ignore[no-untyped-def]
    return pytester.runpytest(
        "--hep-model=hepagent/replay",
        f"--hep-replay={cassettes}",
        f"--hep-trials={trials}",
        "--hep-steps=categorization",
        f"--hep-report-dir={reports}",
        *extra,
    )


def test_the_gate(pytester: pytest.Pytester, tmp_path: Path, oracle_cassette: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "categorization.yaml").write_text(oracle_cassette.read_text())
    (bad / "categorization.yaml").write_text(FAILING.read_text())
    _replay_run(pytester, good, 8, tmp_path / "base").assert_outcomes(passed=8)
    baseline = next((tmp_path / "base").iterdir()) / "results.jsonl"
    same = _replay_run(pytester, good, 8, tmp_path / "same", f"--hep-baseline={baseline}")
    assert same.ret == 0  # rounds added until a 35-point drop is ruled out
    same.stdout.fnmatch_lines(["*hepagent CI gate*", "*categorization*OK*8/8*a drop of 35% or more is ruled out*"])
    worse = _replay_run(pytester, bad, 8, tmp_path / "worse", f"--hep-baseline={baseline}")
    assert worse.ret == 1
    worse.stdout.fnmatch_lines(["*categorization*REGRESSED*0/8*8/8*a drop is shown*"])
    tiny = _replay_run(pytester, good, 1, tmp_path / "tiny", f"--hep-baseline={baseline}", "--hep-max-trials=1")
    assert tiny.ret == 1  # too few trials to decide is not a pass
    tiny.stdout.fnmatch_lines(["*categorization*UNDECIDED*1/1*too few for OK*"])
    summary = json.loads((next((tmp_path / "worse").iterdir()) / "summary.json").read_text())
    assert summary["gate"][0]["verdict"] == "REGRESSED"


def test_gate_verdicts_follow_the_statistics() -> None:
    def records(model: str, passed: int, failed: int) -> list[dict]:  # type: ignore[type-arg]
        return [
            record_from_json(
                {
                    "schema_version": 1,
                    "run_id": "r",
                    "key": f"{model}|s|{i}",
                    "model": model,
                    "step": "s",
                    "trial": i,
                    "outcome": "passed" if i < passed else "failed",
                    "api_calls": 3,
                    "agent_work": 1.0,
                    "tokens": {"input": 1, "output": 1},
                    "cost_usd": 0.0,
                }
            )
            for i in range(passed + failed)
        ]

    base = cells_from_records(records("m", 18, 2))
    assert gate(cells_from_records(records("m", 17, 3)), base)[0].verdict == "OK"
    assert gate(cells_from_records(records("m", 8, 12)), base)[0].verdict == "REGRESSED"
    assert gate(cells_from_records(records("m", 1, 0)), base)[0].verdict == "UNDECIDED"  # one trial rules out nothing
    two_models = base + cells_from_records(records("o", 1, 1))  # one model against one other would be compared
    assert gate(cells_from_records(records("n", 1, 1)), two_models)[0].verdict == "NEW"
    floor = gate(cells_from_records(records("m", 15, 15)), cells_from_records(records("m", 15, 15)), floor=0.9)
    assert floor[0].verdict == "REGRESSED" and "floor" in floor[0].reason


def test_resume_after_a_run_killed_mid_way(pytester: pytest.Pytester, tmp_path: Path, oracle_cassette: Path) -> None:
    cassettes, reports = tmp_path / "c", tmp_path / "r"
    cassettes.mkdir()
    (cassettes / "categorization-trial1.yaml").write_text(oracle_cassette.read_text())
    slow = load_cassette(oracle_cassette)
    calls = (slow.calls[0], CassetteCall("coder", "```python\nimport time\ntime.sleep(120)\n```"), *slow.calls[2:])
    save_cassette(Cassette("categorization", calls), cassettes / "categorization-trial2.yaml")
    (cassettes / "categorization-trial3.yaml").write_text(oracle_cassette.read_text())
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--hep-model=hepagent/replay",
        f"--hep-replay={cassettes}",
        "--hep-trials=3",
        "--hep-steps=categorization",
        f"--hep-report-dir={reports}",
        "-p",
        "no:xdist",
    ]
    run_dir = kill_when_recorded(command, pytester.path, reports, 1)  # trial 2 is running then
    with (run_dir / "results.jsonl").open("a") as f:
        f.write('{"key": "torn')  # as if killed in the middle of writing a line
    assert [r.trial for r in read_records(run_dir / "results.jsonl")] == [1]
    (cassettes / "categorization-trial2.yaml").write_text(oracle_cassette.read_text())
    resumed = pytester.runpytest(
        "--hep-model=hepagent/replay",
        f"--hep-replay={cassettes}",
        "--hep-trials=3",
        "--hep-steps=categorization",
        f"--hep-report-dir={reports}",
        f"--hep-resume={run_dir.name}",
    )
    resumed.assert_outcomes(passed=2, deselected=13)  # 12 items of other steps and the trial already done
    records = read_records(run_dir / "results.jsonl")
    assert sorted(r.trial for r in records) == [1, 2, 3]
    summary = json.loads((run_dir / "summary.json").read_text())  # the whole run: the killed part and the resumed
    assert summary["run_id"] == run_dir.name
    assert [(c["step"], c["passed"], c["failed"], c["errors"]) for c in summary["cells"]] == [
        ("categorization", 3, 0, 0)
    ]


def test_budget_stops_new_trials(pytester: pytest.Pytester, tmp_path: Path, oracle_cassette: Path) -> None:
    from collections import deque

    from fake_openai import FakeOpenAI, serve

    answers = deque(c.response for c in load_cassette(oracle_cassette).calls)
    with serve(FakeOpenAI(answers=deque(list(answers) * 3))) as fake:
        run = pytester.runpytest(
            "--hep-model=openai/o3",
            f"--hep-api-base={fake.url}",
            "--hep-trials=3",
            "--hep-steps=categorization",
            "--hep-max-usd=0.000001",
            "-p",
            "no:xdist",
            "-rs",
            f"--hep-report-dir={tmp_path / 'r'}",
        )
    run.assert_outcomes(passed=1, skipped=2)
    run.stdout.fnmatch_lines(["*budget spent*--hep-max-usd is 1e-06*"])
    (record,) = _records(tmp_path / "r")
    assert record.cost_usd > 0.000001


def test_a_judge_model_decides_and_the_rules_verdict_stays_beside_it(
    pytester: pytest.Pytester, tmp_path: Path, hepagent_solution: Path
) -> None:
    from fake_openai import FakeOpenAI, serve

    cassettes = tmp_path / "c"
    cassettes.mkdir()
    (cassettes / "categorization.yaml").write_text(FAILING.read_text())
    with serve(FakeOpenAI(answers=deque(["***other***"]))) as fake:
        run = _replay_run(
            pytester, cassettes, 1, tmp_path / "r", "--hep-judge-model=openai/judge-model", f"--hep-api-base={fake.url}"
        )
    run.assert_outcomes(failed=1)
    run.stdout.fnmatch_lines(["*error category: other (judge openai/judge-model); the rules say semantic error*"])
    (record,) = _records(tmp_path / "r")
    category = record.category
    assert (category.final, category.judge, category.rule) == ("other", "other", "semantic error")
    assert category.disagree and category.decided_by == "judge" and category.judge_responses == ("***other***",)
    assert len(fake.requests) == 1  # the judge was asked once; the replayed agent made no network call


def test_the_judges_cost_counts_against_the_budget(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Replayed trials cost nothing; judging the first failure costs a little, and that alone spends the budget."""
    from fake_openai import FakeOpenAI, serve

    cassettes = tmp_path / "c"
    cassettes.mkdir()
    (cassettes / "categorization.yaml").write_text(FAILING.read_text())
    with serve(FakeOpenAI(answers=deque(["***other***"]))) as fake:
        run = _replay_run(
            pytester, cassettes, 3, tmp_path / "r", "--hep-judge-model=openai/gpt-4o", f"--hep-api-base={fake.url}",
            "--hep-max-usd=0.000001", "-p", "no:xdist",
        )  # fmt: skip
    run.assert_outcomes(failed=1, skipped=2)
    (record,) = _records(tmp_path / "r")
    assert record.cost_usd == 0.0
    assert record.category.judge_cost_usd > 0.000001


def test_resume_reruns_the_trials_that_ended_in_an_error(pytester: pytest.Pytester, oracle_cassette: Path) -> None:
    from pytest_hepagent.records import append_jsonl

    reports = pytester.path / "r"
    run_dir = reports / "20261201-000000-beef"
    for trial, outcome in ((1, "error"), (2, "passed"), (3, "failed")):
        append_jsonl(
            run_dir / "results.jsonl",
            {
                "schema_version": 1, "run_id": run_dir.name,
                "key": f"hepagent/replay|categorization|{trial}", "model": "hepagent/replay", "step": "categorization",
                "trial": trial, "outcome": outcome, "api_calls": 1, "agent_work": 0.0,
                "tokens": {"input": 1, "output": 1}, "cost_usd": 0.0,
            },
        )  # fmt: skip
    resumed = _replay_run(pytester, oracle_cassette, 3, reports, f"--hep-resume={run_dir.name}", "-p", "no:xdist")
    resumed.assert_outcomes(passed=1, deselected=14)  # only trial 1: a failed trial is a result, an error is not
    records = read_records(run_dir / "results.jsonl")
    assert [(r.trial, r.outcome) for r in records][-1] == (1, "passed")
    assert len(records) == 4


def test_a_lone_surrogate_from_the_code_cannot_take_its_trial_out_of_the_results(
    pytester: pytest.Pytester, tmp_path: Path, hepagent_solution: Path
) -> None:
    """Hostile: the code raises with lone surrogates in its message, which reaches the rules' evidence and so the
    record. A record the strict reader refused would drop the failure from the run (the store also replaces any
    surrogate that gets that far: tests/test_records.py)."""
    cassettes = tmp_path / "c"
    cassettes.mkdir()
    code = '```python\nraise ValueError("\\udcff broken \\ud800")\n```\n'
    calls = (CassetteCall("supervisor", "## Worker Prompt\n\nDo the step."), CassetteCall("coder", code))
    save_cassette(Cassette("categorization", calls), cassettes / "categorization.yaml")
    run = _replay_run(pytester, cassettes, 1, tmp_path / "r", "--hep-max-iterations=1")
    run.assert_outcomes(failed=1)
    (record,) = _records(tmp_path / "r")
    assert record.outcome == "failed" and record.category.final == "other"
    assert record.category.evidence[0] == "ValueError: ? broken ?"  # the side channel's text, and the record's
    (cell,) = cells_from_records(_records(tmp_path / "r"))
    assert (cell.passed, cell.failed) == (0, 1)
    (run_dir,) = (tmp_path / "r").iterdir()
    assert json.loads((run_dir / "summary.json").read_text())["cells"][0]["failed"] == 1
