from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_hepagent.data import Dataset


def test_options_are_in_the_hep_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*LLM-agent benchmark of the ATLAS H->yy analysis*", "*--hep-data=DIR*"])


def test_hep_data_selects_the_dataset(pytester: pytest.Pytester, small_dataset: Dataset) -> None:
    pytester.makepyfile(f"""
        def test_dataset(hepagent_dataset):
            assert str(hepagent_dataset.root) == {str(small_dataset.root)!r}
            assert hepagent_dataset.kind == "synthetic"
    """)
    pytester.runpytest(f"--hep-data={small_dataset.root}").assert_outcomes(passed=1)


def test_hep_data_from_the_ini_file(pytester: pytest.Pytester, small_dataset: Dataset) -> None:
    pytester.makeini(f"[pytest]\nhep_data = {small_dataset.root}\n")
    pytester.makepyfile(f"""
        def test_dataset(hepagent_dataset):
            assert str(hepagent_dataset.root) == {str(small_dataset.root)!r}
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_missing_data_folder_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_dataset(hepagent_dataset):\n    pass\n")
    result = pytester.runpytest("--hep-data=/no/such/folder")
    result.stderr.fnmatch_lines(["*--hep-data: /no/such/folder: data folder not found; create it with*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


INI = """
[pytest]
hep_benchmark = true
hep_models =
    openai/gpt-4o
    anthropic/claude-3-5-sonnet-20240620
hep_steps = preprocessing, categorization
hep_trials = 3
hep_max_iterations = 5
hep_report_dir = ini-reports
hep_max_usd = 2.5
hep_chain = false
hep_sandbox = none
hep_concurrency = 4
hep_max_connections = 7
hep_max_output_tokens = 1000
hep_call_timeout = 12.5
hep_token_limit = 5000
hep_cost_limit = 0.75
hep_time_limit = 99
"""


def _settings(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:  # type: ignore[type-arg]
    run = pytester.runpytest("--collect-only", "-q", "-p", "no:xdist", *args)
    (config,) = pytester.path.glob("*/*/config.json")
    return run, json.loads(config.read_text())


def test_every_ini_key_sets_its_option(pytester: pytest.Pytester, hepagent_solution: Path) -> None:
    pytester.makeini(INI)
    run, settings = _settings(pytester)
    assert run.ret == 0, run.stdout.str()
    run.stdout.fnmatch_lines(["*12/30 tests collected (18 deselected)*"])  # 2 models x 2 of 5 steps x 3 trials
    assert settings["models"] == ["openai/gpt-4o", "anthropic/claude-3-5-sonnet-20240620"]
    assert settings["steps"] == ["preprocessing", "categorization"]
    assert (settings["trials"], settings["max_iterations"], settings["max_usd"]) == (3, 5, 2.5)
    assert (settings["sandbox"], settings["chain"]) == ("none", False)
    assert (settings["concurrency"], settings["max_connections"]) == (4, 7)
    assert (settings["max_output_tokens"], settings["call_timeout_s"]) == (1000, 12.5)
    assert settings["limits"] == {"tokens": 5000, "cost_usd": 0.75, "time_s": 99.0}
    assert (pytester.path / "ini-reports" / settings["run_id"]).is_dir()


def test_options_win_over_the_ini_file(pytester: pytest.Pytester, hepagent_solution: Path) -> None:
    pytester.makeini(INI)
    run, settings = _settings(
        pytester,
        "--hep-model=hepagent/oracle",
        "--hep-supervisor-model=openai/gpt-4o",
        "--hep-steps=root_inspection",
        "--hep-trials=2",
        "--hep-max-iterations=1",
        "--hep-report-dir=cli-reports",
        "--hep-max-usd=9",
        "--hep-sandbox=bwrap",
        "--hep-concurrency=1",
        "--hep-max-output-tokens=none",
        "--hep-time-limit=none",
        "--hep-chain",
    )
    assert run.ret == 0, run.stdout.str()
    assert settings["models"] == ["hepagent/oracle"]
    assert settings["supervisor_model"] == "openai/gpt-4o"
    assert (settings["steps"], settings["trials"], settings["max_iterations"]) == (["root_inspection"], 2, 1)
    assert (settings["max_usd"], settings["sandbox"], settings["concurrency"], settings["chain"]) == (
        9.0,
        "bwrap",
        1,
        True,
    )
    assert settings["max_output_tokens"] is None
    assert settings["limits"]["time_s"] is None and settings["limits"]["tokens"] == 5000  # the ini's, not overridden
    assert (pytester.path / "cli-reports" / settings["run_id"]).is_dir()
    assert not (pytester.path / "ini-reports").exists()


def test_record_supervisor_model_and_max_iterations_reach_the_trials(
    pytester: pytest.Pytester, hepagent_solution: Path
) -> None:
    from fake_openai import FakeOpenAI, oracle_responder, serve

    from pytest_hepagent.llm.cassette import load_cassette
    from pytest_hepagent.records import read_run
    from pytest_hepagent.resources import failure_cassette_dir

    cassettes, reports = pytester.path / "cassettes", pytester.path / "r"
    with serve(FakeOpenAI(respond=oracle_responder())) as fake:
        run = pytester.runpytest(
            "--hep-model=openai/coder-model", "--hep-supervisor-model=openai/supervisor-model",
            f"--hep-api-base={fake.url}", "--hep-steps=categorization", f"--hep-record={cassettes}",
            f"--hep-report-dir={reports}", "-p", "no:xdist",
        )  # fmt: skip
    run.assert_outcomes(passed=1)
    # the supervisor's calls went to the supervisor model, the coder's to the coder model
    assert [r["body"]["model"] for r in fake.requests] == ["supervisor-model", "coder-model", "supervisor-model"]
    (recorded,) = cassettes.glob("*/*.yaml")  # <model>/<step>-trial<n>.yaml
    cassette = load_cassette(recorded)
    assert cassette.step == "categorization"
    assert [c.role for c in cassette.calls] == ["supervisor", "coder", "reviewer"]
    (record,) = read_run(next(reports.iterdir()))
    assert (record.model, record.supervisor_model) == ("openai/coder-model", "openai/supervisor-model")
    assert (record.api_calls, record.max_iterations) == (3, 3)

    # a trajectory that needs every attempt it gets: with one, the coder is asked once
    failing = failure_cassette_dir() / "function-calling-1.yaml"  # three attempts at categorization
    attempts = sum(c.role == "coder" for c in load_cassette(failing).calls)
    assert attempts > 1
    run = pytester.runpytest(
        "--hep-model=hepagent/replay", f"--hep-replay={failing}", "--hep-steps=categorization",
        "--hep-max-iterations=1", f"--hep-report-dir={pytester.path / 'one'}", "-p", "no:xdist",
    )  # fmt: skip
    run.assert_outcomes(failed=1)
    (record,) = read_run(next((pytester.path / "one").iterdir()))
    assert (record.iterations, record.max_iterations) == (1, 1)
