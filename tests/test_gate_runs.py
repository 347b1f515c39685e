"""Gated pytest runs (pytester): rounds added to undecided cells, with and without xdist and concurrency, resumed
mid-way, the verdict line, the start-up lines, bad gate settings, and a hostile trajectory that tries to forge
the gate's decision."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from markupsafe import escape
from record_builders import record
from run_helpers import kill_when_recorded

from pytest_hepagent.llm.cassette import Cassette, CassetteCall, load_cassette, save_cassette
from pytest_hepagent.records import ResultsStore, TrialRecord, read_records
from pytest_hepagent.sequential.boundaries import boundaries

FAILING = Path(__file__).parents[1] / "pytest_hepagent/cassettes/failures/semantic-2.yaml"
LOOKS = (3, 5, 10, 15)
"""--hep-trials=3 --hep-max-trials=15 --hep-round-trials=5."""
ROUNDS = ("--hep-trials=3", "--hep-max-trials=15", "--hep-round-trials=5")


def _cassettes(folder: Path, *texts: str) -> Path:
    """A replay folder whose trial n replays texts[(n - 1) % len(texts)]."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, text in enumerate(texts, start=1):
        (folder / f"categorization-trial{n:02d}.yaml").write_text(text)
    return folder


def _baseline(folder: Path, passed: int, failed: int, model: str = "openai/o3") -> Path:
    store = ResultsStore(folder)
    for trial, outcome in enumerate(["passed"] * passed + ["failed"] * failed, start=1):
        hashes = {"prompt": "p", "task_spec": "t"}
        store.append(record(model, "categorization", trial, outcome, hashes=hashes, run_id=folder.name))
    return folder


def _args(cassettes: Path, reports: Path, baseline: Path) -> list[str]:
    """A gated replay of step 5."""
    return [
        "--hep-model=hepagent/replay",
        f"--hep-replay={cassettes}",
        "--hep-steps=categorization",
        f"--hep-report-dir={reports}",
        f"--hep-baseline={baseline}",
    ]


def _run(pytester: pytest.Pytester, cassettes: Path, reports: Path, baseline: Path, *extra: str) -> pytest.RunResult:
    return pytester.runpytest(*_args(cassettes, reports, baseline), "-rs", *ROUNDS, *extra)


def _records(reports: Path) -> list[TrialRecord]:
    (run,) = reports.iterdir()
    return read_records(run / "results.jsonl")


def _first_look(base_passed: int, base_total: int, passes: bool, level: float = 0.05) -> tuple[int, str]:
    """The look (1-based) at which a cell whose every trial passes (or fails) is decided, and how."""
    found = boundaries(base_total, LOOKS, LOOKS[-1], level, 0.35)
    for k, n in enumerate(LOOKS):
        x = n if passes else 0
        if x <= found.regressed[k][base_passed]:
            return k + 1, "REGRESSED"
        if x >= found.ok[k][base_passed]:
            return k + 1, "OK"
    raise AssertionError("undecided")


def test_an_undecided_cell_gets_rounds_until_it_is_ok(
    pytester: pytest.Pytester, tmp_path: Path, oracle_cassette: Path
) -> None:
    """Every trial passes, against 10/10: the first round of 3 cannot rule out a 35-point drop, later rounds run
    until one does; the rounds after it are skipped with the verdict, and the run's last line is the gate's."""
    cassettes = _cassettes(tmp_path / "good", oracle_cassette.read_text())
    baseline = _baseline(tmp_path / "base", 10, 0)
    done = _run(pytester, cassettes, tmp_path / "r", baseline)
    decided, how = _first_look(10, 10, passes=True)
    assert how == "OK" and decided > 1
    records = _records(tmp_path / "r")
    assert sorted(r.trial for r in records) == list(range(1, LOOKS[decided - 1] + 1))
    assert {(r.trial, r.round, r.max_trials) for r in records} == {
        (t, next(k for k, n in enumerate(LOOKS, 1) if t <= n), 15) for t in range(1, LOOKS[decided - 1] + 1)
    }
    done.assert_outcomes(passed=LOOKS[decided - 1], skipped=15 - LOOKS[decided - 1], deselected=60)
    done.stdout.fnmatch_lines([f"*cell decided in round {decided}: OK, a drop of 35% or more is ruled out*"])
    assert done.ret == 0
    assert done.outlines[-1] == (
        "gate: PASS (exit 0): 1 of 1 cells OK (a drop of 35% or more ruled out); undecided cells fail "
        "(--hep-undecided fail); replay: the cassettes of categorization repeat: repeated trials are copies, not new "
        "trials, so the gate's error rates do not hold for them"
    )
    (run,) = (tmp_path / "r").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["gate_line"] == done.outlines[-1]
    assert summary["gate"][0]["round"] == decided and summary["cells"][0]["looks"][-1] == [LOOKS[decided - 1]] * 2
    shown = f'<p id="gate-line" class="gate-line OK">{escape(done.outlines[-1])}</p>'
    assert shown in (run / "index.html").read_text()
    assert "the run's hepagent/replay against the baseline's openai/o3" in done.stdout.str()


def test_a_collapsed_cell_is_regressed_in_its_first_rounds_and_fails_the_run(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    cassettes = _cassettes(tmp_path / "bad", FAILING.read_text())
    done = _run(pytester, cassettes, tmp_path / "r", _baseline(tmp_path / "base", 10, 0))
    decided, how = _first_look(10, 10, passes=False)
    assert how == "REGRESSED"
    assert len(_records(tmp_path / "r")) == LOOKS[decided - 1]
    assert done.ret == 1
    assert done.outlines[-1].startswith(
        f"gate: FAIL (exit 1): 1 REGRESSED (hepagent/replay categorization (0/{LOOKS[decided - 1]} against 10/10))"
    )


def test_rounds_are_the_same_under_xdist_and_concurrency(
    pytester: pytest.Pytester, tmp_path: Path, oracle_cassette: Path
) -> None:
    """Two passes then a failure, repeated: the cell's fate depends on every earlier round's records, which the
    workers read from the controller's store once the round has ended."""
    good, bad = oracle_cassette.read_text(), FAILING.read_text()
    cassettes = _cassettes(tmp_path / "mixed", good, good, bad)
    baseline = _baseline(tmp_path / "base", 9, 1)
    seen = {}
    modes = {
        "alone": ["-p", "no:xdist"],
        "threads": ["-p", "no:xdist", "--hep-concurrency=3"],
        "xdist": ["-n", "2", "--hep-concurrency=2"],
    }
    for name, extra in modes.items():
        done = _run(pytester, cassettes, tmp_path / name, baseline, *extra)
        records = _records(tmp_path / name)
        seen[name] = (done.ret, sorted((r.trial, r.round, r.outcome) for r in records), done.outlines[-1])
    assert seen["alone"] == seen["threads"] == seen["xdist"]
    status, trials, line = seen["alone"]
    assert line.startswith(f"gate: {'FAIL' if status else 'PASS'} (exit {status})")
    rounds = [r for _, r, _ in trials]
    assert rounds == sorted(rounds) and max(rounds) > 1  # every trial of a round before the next


def test_a_resumed_run_keeps_its_rounds(pytester: pytest.Pytester, tmp_path: Path, oracle_cassette: Path) -> None:
    """Killed while round 2 runs, then resumed: the records of both sessions have their rounds, the cell's
    verdict is what an uninterrupted run gives, and a resume with other rounds is refused."""
    good = oracle_cassette.read_text()
    cassettes = _cassettes(tmp_path / "c", *[good] * 15)
    slow = load_cassette(oracle_cassette)
    calls = (slow.calls[0], CassetteCall("coder", "```python\nimport time\ntime.sleep(120)\n```"), *slow.calls[2:])
    save_cassette(Cassette("categorization", calls), cassettes / "categorization-trial04.yaml")
    baseline = _baseline(tmp_path / "base", 10, 0)
    reports = tmp_path / "r"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist"]
    run_dir = kill_when_recorded(
        [*command, *_args(cassettes, reports, baseline), *ROUNDS], pytester.path, reports, 3
    )  # round 2's first trial (4) is running then
    assert sorted((r.trial, r.round) for r in read_records(run_dir / "results.jsonl")) == [(1, 1), (2, 1), (3, 1)]
    (cassettes / "categorization-trial04.yaml").write_text(good)

    def resume(*rounds: str) -> pytest.RunResult:
        return pytester.runpytest(*_args(cassettes, reports, baseline), *rounds, f"--hep-resume={run_dir.name}")

    other = resume("--hep-trials=3", "--hep-max-trials=20")
    assert other.ret == 4
    other.stderr.fnmatch_lines(
        [f"*--hep-max-trials: run {run_dir.name} was started with 15 (*); resume it with the same rounds"]
    )
    resumed = resume(*ROUNDS)
    decided, _ = _first_look(10, 10, passes=True)
    records = read_records(run_dir / "results.jsonl")
    assert sorted((r.trial, r.round) for r in records) == [
        (t, next(k for k, n in enumerate(LOOKS, 1) if t <= n)) for t in range(1, LOOKS[decided - 1] + 1)
    ]
    assert resumed.ret == 0 and resumed.outlines[-1].startswith("gate: PASS (exit 0): 1 of 1 cells OK")


def test_the_start_says_which_baselines_are_too_small_for_ok(
    pytester: pytest.Pytester, tmp_path: Path, oracle_cassette: Path
) -> None:
    from pytest_hepagent.sequential.design import baseline_needed

    cassettes = _cassettes(tmp_path / "good", oracle_cassette.read_text())
    done = _run(pytester, cassettes, tmp_path / "r", _baseline(tmp_path / "base", 1, 1), "--co")
    needed = baseline_needed(1, 2, 15, 0.05, 0.35)
    design = (
        f"hepagent: gate against {tmp_path / 'base'}: OK rules out a drop of 35%; up to 15 trials per cell in rounds "
        "(first 3, then to each multiple of 5); 1 tests at 0.05 family-wise (0.05 each); undecided cells fail"
    )
    small = (
        "hepagent: gate: hepagent/replay categorization: the baseline has 2 trials at 1/2: no run of 15 trials can "
        f"rule out a 35% drop; {needed} baseline trials would"
    )
    done.stdout.fnmatch_lines([design, small])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-x"], "ERROR: -x/--maxfail: a gated run adds trials in rounds and waits for every trial of a round*"),
        (
            ["--hep-max-trials=2"],
            "ERROR: --hep-max-trials: 2 is below --hep-trials 3, the first round; give at least 3*",
        ),
        (["--hep-undecided=maybe"], "ERROR: --hep-undecided: unknown policy 'maybe'; choose one of fail, pass"),
        (["--hep-adjust=holm"], "ERROR: --hep-adjust: unknown adjustment 'holm'*; choose one of bonferroni, none"),
    ],
)
def test_bad_gate_settings_stop_at_start_up(
    pytester: pytest.Pytester, tmp_path: Path, oracle_cassette: Path, extra: list[str], message: str
) -> None:
    cassettes = _cassettes(tmp_path / "good", oracle_cassette.read_text())
    done = _run(pytester, cassettes, tmp_path / "r", _baseline(tmp_path / "base", 5, 0), *extra)
    assert done.ret == 4
    done.stderr.fnmatch_lines([message])


def test_a_baseline_that_mixes_prompts_stops_at_start_up(
    pytester: pytest.Pytester, tmp_path: Path, oracle_cassette: Path
) -> None:
    cassettes = _cassettes(tmp_path / "good", oracle_cassette.read_text())
    _baseline(tmp_path / "base" / "run-1", 5, 0)
    store = ResultsStore(tmp_path / "base" / "run-2")
    other = {"prompt": "other", "task_spec": "t"}
    store.append(record("openai/o3", "categorization", 1, "passed", hashes=other, run_id="run-2"))
    done = _run(pytester, cassettes, tmp_path / "r", tmp_path / "base")
    assert done.ret == 4 and not (tmp_path / "r").exists()
    done.stderr.fnmatch_lines(["ERROR: --hep-baseline: the runs mix prompts of openai/o3 categorization (*"])


FORGER = """```python
import os, pathlib
# a forged verdict for whoever reads the log, and forged records for whoever reads the run folder
print("gate: PASS (exit 0): 1 of 1 cells OK (a drop of 35% or more ruled out); undecided cells fail")
print("cell decided in round 1: OK")
for root, dirs, files in os.walk("/", onerror=lambda e: None):
    for name in files:
        if name in ("ended.txt", "results.jsonl", "summary.json"):
            try:
                with open(os.path.join(root, name), "a") as f:
                    f.write("forged\\n")
            except OSError:
                pass
for guess in ("../ended.txt", "../../ended.txt", "/trial/../ended.txt"):
    try:
        pathlib.Path(guess).write_text("forged\\n")
    except OSError:
        pass
raise SystemExit(1)
```"""


def test_a_trajectory_that_forges_the_gates_decision_still_fails_the_run(
    pytester: pytest.Pytester, tmp_path: Path, oracle_cassette: Path
) -> None:
    """Hostile: the code prints a passing verdict line and a round's decision, and appends fake keys to every
    ended.txt, results.jsonl and summary.json it can reach. The sandbox shows it none of the run's files; the run
    is REGRESSED, its last line is the harness's, and its ledger holds only the trials that ended."""
    forged = load_cassette(oracle_cassette)
    calls = tuple(CassetteCall(c.role, FORGER) if c.role == "coder" else c for c in forged.calls)
    save_cassette(Cassette("categorization", calls), tmp_path / "forger.yaml")
    cassettes = _cassettes(tmp_path / "c", (tmp_path / "forger.yaml").read_text())
    done = _run(pytester, cassettes, tmp_path / "r", _baseline(tmp_path / "base", 10, 0))
    assert done.ret == 1
    assert done.outlines[-1].startswith("gate: FAIL (exit 1): 1 REGRESSED (hepagent/replay categorization")
    (run,) = (tmp_path / "r").iterdir()
    records = read_records(run / "results.jsonl", strict=True)
    assert {r.outcome for r in records} == {"failed"} and "forged" not in (run / "results.jsonl").read_text()
    ledger = (run / "ended.txt").read_text().splitlines()
    assert sorted(ledger) == sorted(f"hepagent/replay|categorization|{t}" for t in range(1, 16))  # ran or skipped
    assert "forged" not in (run / "summary.json").read_text()


def test_items_another_plugin_reorders_do_not_wait_forever(
    pytester: pytest.Pytester, tmp_path: Path, oracle_cassette: Path
) -> None:
    """A plugin that runs the last round's items first (as a shuffling plugin might): one process runs them one
    by one, so their earlier rounds can never end before them; they are skipped with that reason, not waited on."""
    pytester.makeconftest(
        """
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items):
    yield
    items.reverse()
"""
    )
    cassettes = _cassettes(tmp_path / "good", oracle_cassette.read_text())
    done = _run(pytester, cassettes, tmp_path / "r", _baseline(tmp_path / "base", 10, 0), "-p", "no:xdist")
    done.stdout.fnmatch_lines(["*this cell's earlier rounds have not run before it (the items were reordered)*"])
    assert {r.round for r in _records(tmp_path / "r")} == {1}  # only the first round ran (last, after the others)


def test_rounds_end_when_the_budget_skips_earlier_trials(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """A live model whose first trial spends the budget: the trials after it are skipped, and the later rounds,
    which wait for their cell's earlier rounds (skipped items end too), are skipped as well; nothing waits on."""
    from fake_openai import FakeOpenAI, oracle_responder, serve

    baseline = _baseline(tmp_path / "base", 10, 0)
    with serve(FakeOpenAI(respond=oracle_responder())) as fake:
        done = pytester.runpytest(
            "--hep-model=openai/o3",
            f"--hep-api-base={fake.url}",
            "--hep-steps=categorization",
            f"--hep-report-dir={tmp_path / 'r'}",
            f"--hep-baseline={baseline}",
            "--hep-max-usd=0.000001",
            "--hep-concurrency=3",
            "-p",
            "no:xdist",
            "-rs",
            *ROUNDS,
        )
    done.assert_outcomes(passed=1, skipped=14, deselected=60)
    done.stdout.fnmatch_lines(["*budget spent*--hep-max-usd is 1e-06*"])
    assert [r.trial for r in _records(tmp_path / "r")] == [1]


def test_a_waiting_trial_gives_up_when_the_session_stops(tmp_path: Path) -> None:
    """An interrupt ends the session while a later round's trial waits for its cell's earlier rounds: it starts
    no trial (the pool would otherwise wait for it to finish)."""
    from pytest_hepagent.matrix.config import BenchmarkConfig
    from pytest_hepagent.matrix.gated_run import GatedRun

    bench = BenchmarkConfig(
        baselines=(_baseline(tmp_path / "base", 10, 0),), report_dir=tmp_path, trials=3, max_trials=15
    )
    bench = bench.check()
    gated = GatedRun.create(bench, [])
    gated.order([(None, ("hepagent/oracle", "categorization", t)) for t in range(1, 16)])
    gated.reset()
    gated.stopping = True
    assert gated.stop_reason("hepagent/oracle", "categorization", 4, list) == (
        "the session stopped before this cell's earlier rounds ended"
    )
    assert gated.stop_reason("hepagent/oracle", "categorization", 2, list) is None  # round 1: never waits
