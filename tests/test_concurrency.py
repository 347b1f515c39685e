"""--hep-concurrency: trials run at once in one process (and in each xdist worker), with records, resume, budget and
the gate exactly as in sequential runs, and the per-model call limiter shared by the trials."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fake_openai import FakeOpenAI, oracle_responder, serve

from pytest_hepagent.agent.limits import LimitTracker, TrialLimits
from pytest_hepagent.llm.cassette import Cassette, CassetteCall, load_cassette, save_cassette
from pytest_hepagent.llm.gateway import Gateway, GatewaySettings
from pytest_hepagent.llm.limiter import CallLimiter
from pytest_hepagent.matrix.budget import Budget
from pytest_hepagent.matrix.cells import cells_from_records
from pytest_hepagent.matrix.gate import gate
from pytest_hepagent.records import read_records
from pytest_hepagent.sandbox.runner import _environment

FAILURES = Path(__file__).parents[1] / "pytest_hepagent/cassettes/failures"


def _records(report_dir: Path) -> list[dict[str, Any]]:
    (run,) = report_dir.iterdir()
    return read_records(run / "results.jsonl")


def _facts(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What must not depend on how the trials were scheduled."""
    return sorted((r.key, r.outcome, r.category.final, r.api_calls, r.iterations, r.tokens) for r in records)


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory, hepagent_solution: Path) -> Path:
    """Four trajectories of step 5 (the oracle's and three failures) that wait 0.3 s per call, as a provider does."""
    from pytest_hepagent.trial import TrialEnvironment, TrialRequest, run_trial

    folder = tmp_path_factory.mktemp("replays")
    recorded = folder.parent / "oracle.yaml"
    run_trial(
        TrialRequest("categorization", "hepagent/oracle", record_to=recorded),
        TrialEnvironment.create(),
        folder.parent / "recording",
    )
    sources = [recorded, *(FAILURES / f"{n}.yaml" for n in ("semantic-2", "dummy-data-3", "function-calling-1"))]
    for i, source in enumerate(sources, 1):
        save_cassette(replace(load_cassette(source), latency_s=0.3), folder / f"categorization-{i}.yaml")
    return folder


def _overlapping(records: list[dict[str, Any]]) -> int:
    """Most trials that ran at the same moment, from the records' start times and durations."""
    spans = [(datetime.fromisoformat(r.started_at).timestamp(), r.duration_s) for r in records]
    return max(sum(s <= start < s + d for s, d in spans) for start, _ in spans)


def test_concurrent_trials_record_what_a_sequential_run_records(pytester: pytest.Pytester, replays: Path) -> None:
    common = ["--hep-model=hepagent/replay", f"--hep-replay={replays}", "--hep-trials=6", "-v"]
    runs: dict[str, list[dict[str, Any]]] = {}
    orders: dict[str, list[str]] = {}
    for name, mode in {
        "sequential": ["-p", "no:xdist"],
        "concurrent": ["-p", "no:xdist", "--hep-concurrency=4"],
        "xdist+concurrent": ["-n", "2", "--hep-concurrency=3"],
    }.items():
        reports = pytester.path / name
        run = pytester.runpytest(*common, f"--hep-report-dir={reports}", *mode)
        run.assert_outcomes(passed=2, failed=4)  # trials 1 and 5 replay the oracle
        runs[name] = _records(reports)
        orders[name] = [line.split()[0] for line in run.outlines if " PASSED" in line or " FAILED" in line]
    assert _facts(runs["concurrent"]) == _facts(runs["sequential"])
    assert _facts(runs["xdist+concurrent"]) == _facts(runs["sequential"])
    assert orders["concurrent"] == orders["sequential"]  # items still report one by one, in order
    assert _overlapping(runs["sequential"]) == 1
    assert _overlapping(runs["concurrent"]) >= 3
    assert _overlapping(runs["xdist+concurrent"]) >= 3
    verdicts = {name: gate(cells_from_records(r), cells_from_records(runs["sequential"])) for name, r in runs.items()}
    assert [v.verdict for v in verdicts["concurrent"]] == [v.verdict for v in verdicts["sequential"]]


def test_the_gate_and_resume_work_alike_with_concurrency(pytester: pytest.Pytester, replays: Path) -> None:
    reports = pytester.path / "reports"
    common = ["--hep-model=hepagent/replay", f"--hep-replay={replays}", "-p", "no:xdist", "--hep-concurrency=3"]
    first = pytester.runpytest(*common, "--hep-trials=2", f"--hep-report-dir={reports}")
    first.assert_outcomes(passed=1, failed=1)
    (run_dir,) = reports.iterdir()
    resumed = pytester.runpytest(
        *common, "--hep-trials=4", f"--hep-report-dir={reports}", f"--hep-resume={run_dir.name}"
    )
    resumed.assert_outcomes(passed=0, failed=2)  # only trials 3 and 4 run
    assert sorted(r.trial for r in read_records(run_dir / "results.jsonl")) == [1, 2, 3, 4]
    gate = [f"--hep-baseline={run_dir}", "--hep-trials=4", "--hep-max-trials=4"]  # one look
    gated = pytester.runpytest(*common, *gate, f"--hep-report-dir={pytester.path / 'again'}")
    sequential = pytester.runpytest(*common[:-1], *gate, f"--hep-report-dir={pytester.path / 'seq'}")
    verdicts = [_gate_rows(r.outlines) for r in (gated, sequential)]
    assert verdicts[0] == verdicts[1] and len(verdicts[0]) == 1
    assert verdicts[0][0].split()[2:5] == ["UNDECIDED", "1/4", "1/4"]  # the same trajectories as the baseline
    assert gated.ret == sequential.ret == 1  # UNDECIDED fails the gate, with or without concurrency
    assert gated.outlines[-1] == sequential.outlines[-1] and gated.outlines[-1].startswith("gate: FAIL (exit 1)")


def _gate_rows(lines: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(lines) if "hepagent CI gate" in line)
    return [line for line in lines[start + 2 :] if line.startswith("hepagent/")]


def test_the_budget_starts_the_trials_a_sequential_run_starts(pytester: pytest.Pytester, tmp_path: Path) -> None:
    with serve(FakeOpenAI(respond=oracle_responder())) as fake:
        run = pytester.runpytest(
            "--hep-model=openai/o3",
            f"--hep-api-base={fake.url}",
            "--hep-trials=3",
            "--hep-steps=categorization",
            "--hep-max-usd=0.000001",
            "--hep-concurrency=3",
            "-p",
            "no:xdist",
            "-rs",
            f"--hep-report-dir={tmp_path / 'r'}",
        )
    run.assert_outcomes(passed=1, skipped=2)
    run.stdout.fnmatch_lines(["*budget spent*--hep-max-usd is 1e-06*"])
    assert len(fake.requests) == 3  # one trial's calls: the others never started


class _Admission:
    """`budget.admit()` in a thread of its own: whether it has been decided yet, and how."""

    def __init__(self, budget: Budget) -> None:
        self.answer: list[str | None] = []
        self.thread = threading.Thread(target=lambda: self.answer.append(budget.admit()))
        self.thread.start()
        self.thread.join(0.2)

    def decided(self) -> list[str | None]:
        self.thread.join(0.2)
        return self.answer


def test_a_budget_admits_trials_on_what_they_are_expected_to_cost() -> None:
    budget = Budget(1.0, list)
    assert budget.admit() is None  # the first trial runs alone: nothing says yet what a trial costs
    b = _Admission(budget)
    assert b.decided() == []
    budget.finish({"a": 0.3})
    assert b.decided() == [None]  # nothing running: 0.3 < 1.0
    c = _Admission(budget)
    assert c.decided() == []  # slow start: no more running than have finished (1)
    budget.finish({"b": 0.3})
    assert c.decided() == [None]
    d = _Admission(budget)
    assert d.decided() == [None]  # 0.6 spent + 1 running x 0.3 < 1.0, 1 running < 2 finished
    e = _Admission(budget)
    assert e.decided() == []  # 2 running, 2 finished
    budget.finish({"c": 0.3})
    assert e.decided() == []  # 0.9 + 1 running x 0.3 >= 1.0
    budget.finish({"d": 0.3})
    assert e.decided() == ["budget spent: 1.2000 USD recorded, --hep-max-usd is 1"]  # 4 trials, as sequentially
    free = Budget(1.0, list, free=True)
    assert free.admit() is None
    free.finish({"x": 0.0})
    assert [free.admit() for _ in range(5)] == [None] * 5  # trials that cost nothing never wait


def test_a_first_trial_that_cost_nothing_does_not_open_the_budget() -> None:
    """A priced model's first trial ended in an error that cost nothing: the next trials may be dear."""
    budget = Budget(1.0, list)
    assert budget.admit() is None
    second = _Admission(budget)
    budget.finish({"error": 0.0})
    assert second.decided() == [None]
    third = _Admission(budget)
    assert third.decided() == []  # the slow start holds: one finished, one running
    budget.finish({"dear": 3.0})
    assert third.decided() == ["budget spent: 3.0000 USD recorded, --hep-max-usd is 1"]


def test_a_cheap_first_trial_does_not_open_the_budget_to_dear_ones() -> None:
    """Hostile: a first trial that costs next to nothing, then trials that cost three times the budget each;
    sequentially two trials run."""
    budget = Budget(1.0, list)
    assert budget.admit() is None
    second = _Admission(budget)
    budget.finish({"cheap": 0.0001})
    assert second.decided() == [None]
    third, fourth = _Admission(budget), _Admission(budget)
    assert third.decided() == [] and fourth.decided() == []  # one finished: one running at most
    budget.finish({"dear": 3.0})
    assert third.decided() == fourth.decided() == ["budget spent: 3.0001 USD recorded, --hep-max-usd is 1"]


# --------------------------------------------------------------------------------------------- the limiter
def test_the_limiter_halves_on_a_rate_limit_and_grows_back() -> None:
    limiter = CallLimiter(4)
    limiter.rate_limited(0.0)
    assert limiter.current == 2
    limiter.rate_limited(0.0)
    assert limiter.current == 1
    for _ in range(1):
        limiter.succeeded()
    assert limiter.current == 2
    for _ in range(2):
        limiter.succeeded()
    assert limiter.current == 3
    for _ in range(10):
        limiter.succeeded()
    assert limiter.current == 4  # never above the maximum
    limiter.rate_limited(0.3)
    start = time.monotonic()
    with limiter.slot():
        pass
    assert time.monotonic() - start >= 0.25  # new calls wait out the provider's pause


def test_concurrent_trials_share_one_limit_per_model_and_back_off_on_429() -> None:
    settings = GatewaySettings(backoff_s=0.05, backoff_max_s=0.5, max_connections=3, timeout_s=10)
    faults = deque([("ratelimit", 0.2)])
    with serve(FakeOpenAI(answers=deque(["ok"]), always=("sleep", 0.2), faults=faults)) as fake:  # type: ignore[arg-type]
        gateway = Gateway(replace(settings, api_base=fake.url))
        model = f"openai/limited-{time.monotonic_ns()}"
        threads = [
            threading.Thread(target=gateway.complete, args=(model, [{"role": "user", "content": "x"}]))
            for _ in range(12)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    from pytest_hepagent.llm.limiter import limiter_for

    limiter = limiter_for(model, fake.url, 3)
    assert fake.peak <= 3  # never more calls in flight than the limit, across threads
    assert limiter.rate_limits == 1 and limiter.peak <= 3
    assert len(fake.requests) == 13  # every call answered, the rate-limited one retried


# ---------------------------------------------------------------------------------------- xdist scheduling
class _Config:
    """What xdist's load scheduler reads of the configuration: two workers."""

    def getvalue(self, name: str) -> list[str]:
        return ["2*popen"] if name == "tx" else []

    def getoption(self, name: str) -> None:
        return None


class _Node:
    def __init__(self, name: str) -> None:
        self.name, self.sent, self.shutting_down = name, [], False
        self.gateway = SimpleNamespace(id=name)

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices

    def shutdown(self) -> None:
        self.shutting_down = True


def test_the_window_scheduler_keeps_every_worker_that_many_items_ahead() -> None:
    from pytest_hepagent.plugin_xdist import WindowScheduling

    scheduler = WindowScheduling(_Config(), None, 3)  # type: ignore[arg-type]
    nodes = [_Node("a"), _Node("b")]
    for node in nodes:
        scheduler.add_node(node)
        scheduler.add_node_collection(node, [f"t{i}" for i in range(10)])
    scheduler.schedule()
    assert [n.sent for n in nodes] == [[0, 2, 4], [1, 3, 5]]  # dealt one at a time, up to the window
    scheduler.mark_test_complete(nodes[0], 0)
    assert nodes[0].sent == [0, 2, 4, 6] and len(scheduler.node2pending[nodes[0]]) == 3
    while scheduler.pending or any(scheduler.node2pending.values()):
        for node in nodes:
            if scheduler.node2pending[node]:
                scheduler.mark_test_complete(node, scheduler.node2pending[node][0])
    assert sorted(nodes[0].sent + nodes[1].sent) == list(range(10))  # every item once
    assert all(n.shutting_down for n in nodes)


# ------------------------------------------------------------------------------------------ cores and threads
def test_concurrent_executions_split_the_cores_and_a_lone_one_spins(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_hepagent.sandbox import runner

    monkeypatch.setattr(runner, "_cores", lambda: 8)
    alone = _environment("/w", "/s", {}, 1)
    assert alone["OMP_NUM_THREADS"] == "8" and "OMP_WAIT_POLICY" not in alone  # no passive-wait penalty
    two = _environment("/w", "/s", {}, 2)
    assert two["OMP_NUM_THREADS"] == "4" and two["OMP_WAIT_POLICY"] == "PASSIVE"
    many = _environment("/w", "/s", {}, 40)
    assert many["OMP_NUM_THREADS"] == "1" and many["OPENBLAS_NUM_THREADS"] == "1"


# ------------------------------------------------------------------------------------------------- hostile
_SNOOP = """```python
import glob, os, shutil, signal, time
found = []
deadline = time.time() + 4
own = os.getcwd()
while time.time() < deadline and not found:
    for pattern in ("{reports}/**/work/arrays/*.npy", "/proc/*/cwd/arrays/*.npy", "/proc/*/root/trial/arrays/*.npy"):
        try:
            found += [p for p in glob.glob(pattern, recursive=True) if not p.startswith(own)]
        except OSError:
            pass
    for root, dirs, files in os.walk("/"):  # every folder it can see, /proc and /sys aside
        dirs[:] = [d for d in dirs if not (root == "/" and d in ("proc", "sys"))]
        if time.time() > deadline:
            break
        if os.path.basename(root) == "arrays" and not root.startswith(own):
            found += [os.path.join(root, f) for f in files if f.endswith(".npy")]
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
    time.sleep(0.2)
os.makedirs("arrays", exist_ok=True)
for path in found:
    shutil.copy(path, "arrays/")
print("FOUND", len(found))
```"""


def test_a_trial_cannot_reach_the_trials_that_run_beside_it(
    pytester: pytest.Pytester, replays: Path, tmp_path: Path
) -> None:
    """Hostile: code that searches for a concurrent trial's outputs to copy them (knowing where the harness keeps
    them) and kills every process it can see, while an oracle trial of the same step runs beside it."""
    reports = tmp_path / "reports"
    folder = tmp_path / "pair"
    folder.mkdir()
    oracle = load_cassette(replays / "categorization-1.yaml")
    save_cassette(oracle, folder / "categorization-1.yaml")
    snoop = _SNOOP.replace("{reports}", str(reports))
    calls = (CassetteCall("supervisor", "## Worker Prompt\nlook around"), CassetteCall("coder", snoop))
    save_cassette(Cassette("categorization", calls, latency_s=0.3), folder / "categorization-2.yaml")
    run = pytester.runpytest(
        "--hep-model=hepagent/replay",
        f"--hep-replay={folder}",
        "--hep-max-iterations=1",
        "--hep-concurrency=2",
        "-p",
        "no:xdist",
        f"--hep-report-dir={reports}",
    )
    records = {r.trial: r for r in _records(reports)}
    assert records[1].outcome == "passed"  # the oracle beside it was not disturbed
    assert records[2].outcome == "failed"
    transcript = Path(records[2].logs["transcript"]).read_text()
    assert "FOUND 0" in transcript
    run.assert_outcomes(passed=1, failed=1)


# ------------------------------------------------------------------------------------ interrupted sessions
def test_trials_that_ran_ahead_of_items_never_run_keep_their_records(pytester: pytest.Pytester, replays: Path) -> None:
    """`-x` stops the session at the first failure; the trials already running ahead of their items spent what they
    spent: their records are kept, and a resumed run does not run them again."""
    reports = pytester.path / "reports"
    common = ["--hep-model=hepagent/replay", f"--hep-replay={replays}", "--hep-trials=4", "-p", "no:xdist"]
    stopped = pytester.runpytest(*common, "--hep-concurrency=4", "-x", f"--hep-report-dir={reports}")
    stopped.assert_outcomes(passed=1, failed=1)  # trial 1 passes, trial 2 fails: -x stops there
    (run_dir,) = reports.iterdir()
    assert sorted(r.trial for r in read_records(run_dir / "results.jsonl")) == [1, 2, 3, 4]
    resumed = pytester.runpytest(*common, f"--hep-report-dir={reports}", f"--hep-resume={run_dir.name}")
    resumed.assert_outcomes()  # nothing left to run
    assert len(read_records(run_dir / "results.jsonl")) == 4


def test_settings_that_differ_per_item_are_never_applied_to_another_item_s_trial(pytester: pytest.Pytester) -> None:
    """Hostile configuration: `hepagent_config` gives trial 2 a token limit; its trial must not run, and be
    recorded, with trial 1's settings."""
    pytester.makeconftest(
        """
        import pytest
        from pytest_hepagent.agent.limits import TrialLimits

        @pytest.fixture
        def hepagent_config(request):
            return {"trial_limits": TrialLimits(tokens=100)} if "trial2" in request.node.name else {}
        """
    )
    common = ["--hep-model=hepagent/oracle", "--hep-steps=root_inspection", "--hep-trials=2", "-p", "no:xdist"]
    sequential = pytester.runpytest(*common, f"--hep-report-dir={pytester.path / 's'}")
    sequential.assert_outcomes(passed=1, failed=1)  # trial 2 reaches its token limit
    concurrent = pytester.runpytest(*common, "--hep-concurrency=2", f"--hep-report-dir={pytester.path / 'c'}")
    concurrent.assert_outcomes(passed=1, errors=1)  # a configuration the run cannot honour: an error
    concurrent.stdout.fnmatch_lines(["*hepagent_config gives this item other settings than an earlier item*"])
    (run_dir,) = (pytester.path / "c").iterdir()
    recorded = read_records(run_dir / "results.jsonl")
    assert [r.trial for r in recorded] == [1, 2]  # what ran under trial 2's key is recorded: it spent
    assert recorded[1].status != "limit"  # ... and it ran with trial 1's settings, hence the error


def test_equal_settings_built_in_another_order_are_the_same_settings(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def hepagent_config(request):
            roles = [("coder", 8192), ("reviewer", 1024)]
            if "trial2" in request.node.name:
                roles.reverse()
            return {"max_output_tokens": dict(roles)}
        """
    )
    run = pytester.runpytest(
        "--hep-model=hepagent/oracle",
        "--hep-steps=root_inspection",
        "--hep-trials=3",
        "--hep-concurrency=3",
        "-p",
        "no:xdist",
        f"--hep-report-dir={pytester.path / 'r'}",
    )
    run.assert_outcomes(passed=3)


# ------------------------------------------------------------------------------------------ working time
def test_waiting_on_the_provider_s_capacity_is_not_working_time() -> None:
    """A rate-limit pause (the trial's own, or a neighbour's through the shared limiter) moves the trial's deadline
    on: sequential and concurrent trials get the same working time."""
    settings = GatewaySettings(backoff_s=0.05, backoff_max_s=2.0, timeout_s=10)
    faults = deque([None, ("ratelimit", 1.0)])
    with serve(FakeOpenAI(answers=deque(["ok"]), faults=faults)) as fake:  # type: ignore[arg-type]
        gateway = Gateway(replace(settings, api_base=fake.url))
        model, messages = f"openai/paused-{time.monotonic_ns()}", [{"role": "user", "content": "x"}]
        gateway.complete(model, messages)  # litellm's import and client: not what is measured
        completion = gateway.complete(model, messages, deadline=time.monotonic() + 0.5)
    assert completion.text == "ok" and completion.waited_s >= 0.9  # the 1 s pause outlasted the 0.5 s left
    tracker = LimitTracker(TrialLimits(time_s=10), clock=lambda: 100.0)
    assert tracker.deadline == 110.0
    tracker.waited(completion.waited_s)
    assert tracker.deadline == pytest.approx(110.0 + completion.waited_s)
