"""The engine end to end: oracle trials, cassette record and replay, hostile code, infrastructure errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from pytest_hepagent.llm.cassette import Cassette, CassetteCall, load_cassette, save_cassette
from pytest_hepagent.sandbox.limits import Limits
from pytest_hepagent.trial import TrialEnvironment, TrialRequest, run_trial

STEPS = ["root_inspection", "ntuple_conversion", "preprocessing", "sb_separation", "categorization"]
ACCEPT = "Supervisor is satisfied with current results"


@pytest.fixture(scope="module")
def env(hepagent_dataset, hepagent_solution: Path) -> TrialEnvironment:  # type: ignore[no-untyped-def]
    return TrialEnvironment.create(hepagent_dataset)


@pytest.mark.parametrize("step", STEPS)
def test_the_oracle_passes_every_step(step: str, env: TrialEnvironment, tmp_path: Path) -> None:
    result = run_trial(TrialRequest(step, "hepagent/oracle"), env, tmp_path / "trial")
    assert result.outcome == "passed", result.error or result.validation.summary()  # type: ignore[union-attr]
    run = result.agent
    assert run is not None and run.status == "success"
    assert [c.role for c in run.calls] == ["supervisor", "coder", "reviewer"]
    assert run.tokens.user_prompt > 0 and run.tokens.agent_work > 0 and run.cost_usd == 0.0
    log = Path(result.files["comprehensive"]).read_text()
    assert "COMPREHENSIVE SUPERVISOR-CODER LOG" in log and "Final Status: SUCCESS" in log
    assert "Total API Calls: 3" in log
    transcript = json.loads(Path(result.files["transcript"]).read_text())
    assert transcript["outcome"] == "passed" and transcript["agent"]["api_calls"] == 3
    assert "Result: 1/1 step passed" in Path(result.files["validation"]).read_text()
    assert (tmp_path / "trial/work/generated_code" / f"{step}.py").is_file()


def _cassette(step: str, code: str, *, extra: list[CassetteCall] | None = None) -> Cassette:
    calls = [
        CassetteCall("supervisor", "## Worker Prompt\nDo the task.\n## Call record:\nasked", 100, 20),
        CassetteCall("coder", f"```python\n{code}\n```", 50, 40),
    ]
    return Cassette(step, tuple(calls + (extra or [])), recorded_with="tests")


def test_a_recorded_trajectory_replays_unchanged(env: TrialEnvironment, tmp_path: Path) -> None:
    recorded = run_trial(
        TrialRequest("categorization", "hepagent/oracle", record_to=tmp_path / "c.yaml"), env, tmp_path / "live"
    )
    cassette = load_cassette(tmp_path / "c.yaml")
    assert [c.role for c in cassette.calls] == ["supervisor", "coder", "reviewer"]
    assert "api_key" not in (tmp_path / "c.yaml").read_text().lower()
    replayed = run_trial(
        TrialRequest("categorization", "hepagent/replay", cassette=tmp_path / "c.yaml"), env, tmp_path / "replay"
    )
    assert replayed.outcome == "passed"
    assert replayed.agent is not None and recorded.agent is not None
    assert [c.response for c in replayed.agent.calls] == [c.response for c in recorded.agent.calls]
    assert replayed.agent.tokens == recorded.agent.tokens


def test_a_failing_attempt_gets_a_debugger_call_and_a_new_attempt(env: TrialEnvironment, tmp_path: Path) -> None:
    fixed = (Path(__file__).parents[1] / "pytest_hepagent/analysis/scripts/categorization.py").read_text()
    cassette = _cassette(
        "categorization",
        "import numpy as np\nnp.load('arrays/signal.npy')",
        extra=[
            CassetteCall("debugger", "## Worker Prompt\nRead the inputs from solution/arrays/.", 300, 30),
            CassetteCall("coder", f"```python\n{fixed}```", 60, 400),
            CassetteCall("reviewer", ACCEPT, 500, 8),
        ],
    )
    path = save_cassette(cassette, tmp_path / "c.yaml")
    result = run_trial(TrialRequest("categorization", "hepagent/replay", cassette=path), env, tmp_path / "t")
    assert result.outcome == "passed"
    run = result.agent
    assert run is not None and run.iterations == 2 and len(run.calls) == 5
    assert "FileNotFoundError" in run.attempts[0].execution.reason  # type: ignore[union-attr]
    assert "arrays/signal.npy" in run.calls[2].messages[1]["content"]  # the debugger saw the error
    tokens = run.tokens
    assert (tokens.user_prompt, tokens.supervisor_to_coder, tokens.coder_output) == (100, 110, 440)
    assert tokens.feedback_to_supervisor == 800 and tokens.total == 100 + 50 + 300 + 60 + 500 + 20 + 40 + 30 + 400 + 8


def test_three_failed_attempts_make_six_calls_and_a_failure(env: TrialEnvironment, tmp_path: Path) -> None:
    bad = "raise SystemExit('cannot find the boundaries')"
    debug = CassetteCall("debugger", "## Worker Prompt\nTry again.", 10, 5)
    coder = CassetteCall("coder", f"```python\n{bad}\n```", 10, 5)
    path = save_cassette(_cassette("categorization", bad, extra=[debug, coder, debug, coder]), tmp_path / "c.yaml")
    result = run_trial(TrialRequest("categorization", "hepagent/replay", cassette=path), env, tmp_path / "t")
    assert result.outcome == "failed"
    assert result.agent is not None and result.agent.status == "max_iterations"
    assert len(result.agent.calls) == 6 and result.agent.iterations == 3
    assert "Final Status: MAX_ITERATIONS" in Path(result.files["comprehensive"]).read_text()


def test_a_cassette_out_of_sync_is_an_infrastructure_error(env: TrialEnvironment, tmp_path: Path) -> None:
    path = save_cassette(Cassette("categorization", (CassetteCall("coder", "x"),)), tmp_path / "c.yaml")
    result = run_trial(TrialRequest("categorization", "hepagent/replay", cassette=path), env, tmp_path / "t")
    assert result.outcome == "error"
    assert "call 1 is a coder call but the agent made a supervisor call" in result.error
    assert "retries exhausted" not in result.error  # not retried: a retry cannot fix it


SECRET = "sk-test-do-not-leak-0123456789"

HOSTILE = {
    "reads the environment for keys": (
        (
            "import os\nfound = [k for k, v in os.environ.items() if 'sk-' in v or 'KEY' in k or 'TOKEN' in k]\n"
            "print('FOUND', found)\nassert not found, found\nraise SystemExit('no keys here')"
        ),
        "no keys here",
    ),
    "overwrites inputs and goldens": (
        "import glob, os\nfor p in glob.glob('solution/**/*.npy', recursive=True):\n    open(p, 'wb').write(b'x')",
        "Read-only file system",
    ),
    "reads golden files": (
        (
            "import shutil\nfor source in ('{solution}/arrays/boundaries.npy', '{golden}/arrays/boundaries.npy'):\n"
            "    try:\n        shutil.copy(source, 'arrays/boundaries.npy')\n    except OSError as exc:\n"
            "        print('refused:', exc)\nraise SystemExit('goldens out of reach')"
        ),
        "goldens out of reach",
    ),
    "forks without end": (
        "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)",
        "timed out",
    ),
    "allocates 50 GB": ("import numpy as np\nbig = np.ones(50 * 10**9 // 8)\nprint(big.sum())", "Unable to allocate"),
    "loops forever": ("while True:\n    pass", "timed out"),
    "writes a file over the size limit": (
        (
            "block = b'x' * (1 << 20)\nwith open('arrays/big.bin', 'wb') as f:\n    for _ in range(200):\n"
            "        f.write(block)"
        ),
        "File too large",
    ),
    "fills the disk with many files": (
        (
            "import os\nblock = os.urandom(1 << 20)\nfor i in range(10**6):\n    with open(f'arrays/part{i}.bin', 'wb') as f:\n"
            "        f.write(block)"
        ),
        "wrote more than",
    ),
    "prints gigabytes": (
        (
            "import sys\nline = 'x' * 1023 + '\\n'\nfor _ in range(2 * 1024 * 1024):\n    sys.stdout.write(line)\n"
            "raise SystemExit(3)"
        ),
        "exit code 3",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_code_is_contained(
    name: str, env: TrialEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    code, reason = HOSTILE[name]
    code = code.replace("{solution}", str(env.solution_dir)).replace("{golden}", str(env.golden_dir))
    path = save_cassette(_cassette("categorization", code), tmp_path / "c.yaml")
    golden_before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in env.solution_dir.rglob("*.npy")}
    request = TrialRequest(
        "categorization",
        "hepagent/replay",
        cassette=path,
        max_iterations=1,
        limits=Limits(
            wall_time_s=8, cpu_time_s=20, memory_bytes=4 << 30, processes=32, file_bytes=64 << 20, disk_bytes=256 << 20
        ),
    )
    result = run_trial(request, env, tmp_path / "trials" / "t")
    assert result.outcome == "failed", result.error
    execution = result.agent.attempts[0].execution  # type: ignore[union-attr]
    assert execution is not None and not execution.succeeded
    assert reason in execution.reason + execution.stderr
    assert SECRET not in execution.stdout + execution.stderr
    assert execution.stdout_bytes <= 2 * 1024**3 + 16  # counted...
    assert len(execution.stdout) < 2 * Limits().output_bytes  # ...but only a bounded part kept
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in env.solution_dir.rglob("*.npy")} == golden_before
    assert not (tmp_path / "trials/t/work/arrays/boundaries.npy").exists()
    inputs = tmp_path / "trials/t/work/solution/arrays"
    assert all(np.load(p).size > 1 for p in inputs.glob("*.npy"))


def test_the_run_goes_on_after_hostile_code(env: TrialEnvironment, tmp_path: Path) -> None:
    path = save_cassette(_cassette("categorization", HOSTILE["forks without end"][0]), tmp_path / "c.yaml")
    run_trial(
        TrialRequest(
            "categorization",
            "hepagent/replay",
            cassette=path,
            max_iterations=1,
            limits=Limits(wall_time_s=3, processes=32),
        ),
        env,
        tmp_path / "a",
    )
    result = run_trial(TrialRequest("categorization", "hepagent/oracle"), env, tmp_path / "b")
    assert result.outcome == "passed"


def test_processes_that_outlive_the_kill_end_the_trial_as_a_model_failure(
    env: TrialEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Code can queue kernel work that keeps its processes alive past SIGKILL; that must not read as the harness's
    failure (kept out of success rates), nor let anything it left be validated."""
    monkeypatch.setattr("pytest_hepagent.sandbox.runner._wait_gone", lambda *_: False)
    result = run_trial(TrialRequest("categorization", "hepagent/oracle"), env, tmp_path / "t")
    assert result.outcome == "failed" and result.validation is None
    assert "StuckProcesses: the execution's processes did not end" in result.error
