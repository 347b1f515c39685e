"""Pooled baselines (`--hep-baseline` repeated or a folder of runs, `hepagent baseline add`) and the rounds of a
gated run, on records written by hand."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from record_builders import record

from pytest_hepagent.errors import ConfigError
from pytest_hepagent.matrix.baseline import add_to_baseline, load_baseline, load_run_cells
from pytest_hepagent.matrix.cells import cells_from_records, run_summary
from pytest_hepagent.matrix.rounds import CellGate, RoundPlan
from pytest_hepagent.records import Cell, ResultsStore, TrialRecord

HASHES = {"prompt": "p" * 64, "task_spec": "t" * 64, "dataset": "d" * 64, "golden": "g" * 64}


def _run(folder: Path, passed: int, failed: int, *, step: str = "categorization", **hashes: str) -> Path:
    """A run folder whose results hold `passed` and `failed` trials of model m (and an error, which has no
    prompt)."""
    store = ResultsStore(folder)
    outcomes = ["passed"] * passed + ["failed"] * failed
    for trial, outcome in enumerate(outcomes, start=1):
        store.append(record("m", step, trial, outcome, hashes=HASHES | hashes, run_id=folder.name))
    store.append(record("m", step, len(outcomes) + 1, "error", hashes={}, run_id=folder.name))
    return folder


def test_runs_of_one_prompt_and_spec_pool(tmp_path: Path) -> None:
    first = _run(tmp_path / "base" / "run-1", 9, 1)
    _run(tmp_path / "base" / "run-2", 17, 3)
    _run(tmp_path / "base" / "run-3", 4, 0, step="preprocessing")
    pooled = load_baseline([tmp_path / "base"])
    cells = {c.step: c for c in pooled.cells}
    assert (cells["categorization"].passed, cells["categorization"].total, cells["categorization"].errors) == (
        26,
        30,
        2,
    )
    assert (cells["preprocessing"].passed, cells["preprocessing"].total) == (4, 4)
    assert pooled.describe() == f"3 runs pooled from {tmp_path / 'base'}"
    # the same runs named one by one, as files or folders, pool the same
    named = load_baseline([first / "results.jsonl", tmp_path / "base" / "run-2", tmp_path / "base" / "run-3"])
    assert named.cells == pooled.cells
    assert load_baseline([first]).describe() == str(first)


@pytest.mark.parametrize("name", ["prompt", "task_spec", "dataset", "golden"])
def test_runs_that_disagree_on_a_hash_are_refused_in_one_line(tmp_path: Path, name: str) -> None:
    _run(tmp_path / "base" / "run-1", 9, 1)
    _run(tmp_path / "base" / "run-2", 9, 1, **{name: "x" * 64})
    with pytest.raises(ConfigError) as info:
        load_baseline([tmp_path / "base"])
    message = str(info.value)
    assert message.startswith(f"--hep-baseline: the runs mix {name.replace('_', ' ')}s of m categorization (")
    assert "xxxxxxxxxxxx" in message and message.endswith(
        "pool only runs of one prompt and task spec (move the others out)"
    )
    assert "\n" not in message


def test_a_run_named_twice_counts_once_and_a_copy_of_a_run_is_refused(tmp_path: Path) -> None:
    """Its trials would count twice: a baseline of 5/10 would look like one of 10/20."""
    run = _run(tmp_path / "base" / "run-1", 5, 5)
    twice = load_baseline([run, run / "results.jsonl", tmp_path / "base"])
    assert (twice.cells[0].passed, twice.cells[0].total) == (5, 10) and len(twice.runs) == 1
    shutil.copytree(run, tmp_path / "base" / "run-1-copy")
    with pytest.raises(ConfigError) as info:
        load_baseline([tmp_path / "base"])
    assert str(info.value) == (
        f"--hep-baseline: run run-1 is in {run / 'results.jsonl'} and in "
        f"{tmp_path / 'base' / 'run-1-copy' / 'results.jsonl'}: its trials would count twice; keep one copy"
    )
    add_to_baseline(tmp_path / "base" / "run-1-copy", tmp_path / "other")  # fine alone ...
    with pytest.raises(ConfigError, match="its trials would count twice"):
        add_to_baseline(run, tmp_path / "other")  # ... but not beside its copy


def test_a_run_without_a_hash_hides_no_mix_of_the_others(tmp_path: Path) -> None:
    """A summary.json carries no prompt hash: pooled first, it must not stand between two runs that disagree."""
    records = [record("m", "categorization", t, "passed", hashes=HASHES) for t in range(1, 6)]
    summary = run_summary("a", cells_from_records(records), None, {"hashes": {"task_spec:categorization": "t" * 64}})
    (tmp_path / "base" / "a-run").mkdir(parents=True)
    ResultsStore(tmp_path / "base" / "a-run").write_summary(summary)
    _run(tmp_path / "base" / "b-run", 9, 1, prompt="a" * 64)
    _run(tmp_path / "base" / "c-run", 9, 1, prompt="b" * 64)
    with pytest.raises(ConfigError, match="the runs mix prompts of m categorization"):
        load_baseline([tmp_path / "base"])


def test_a_baseline_larger_than_the_exact_tests_take_is_one_line(tmp_path: Path) -> None:
    records = [record("m", "categorization", t, "passed", hashes=HASHES) for t in range(1, 3)]
    summary = run_summary("huge", cells_from_records(records), None, {}).to_json()
    summary["cells"][0] |= {"passed": 90_000_000, "failed": 10_000_000}
    (tmp_path / "huge").mkdir()
    (tmp_path / "huge" / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ConfigError) as info:
        load_baseline([tmp_path / "huge"])
    assert str(info.value) == (
        "--hep-baseline: m categorization has 100,000,000 baseline trials, more than the 1,000 the gate's exact "
        "tests take; pool fewer runs (the latest)"
    )
    with pytest.raises(ConfigError, match=r"m categorization has 100,000,000 judged trials, more than the 1,000"):
        load_run_cells(tmp_path / "huge", "RUN_B")


def test_a_summary_pools_on_the_hashes_it_has(tmp_path: Path) -> None:
    """A summary.json has no prompt hash but the task spec's: it pools with records of the same spec, and a
    different spec is refused."""
    records = [record("m", "categorization", t, "passed", hashes=HASHES) for t in range(1, 6)]
    summary = run_summary("s", cells_from_records(records), None, {"hashes": {"task_spec:categorization": "t" * 64}})
    (tmp_path / "a").mkdir()
    ResultsStore(tmp_path / "a").write_summary(summary)
    _run(tmp_path / "b", 3, 2)
    pooled = load_baseline([tmp_path / "a" / "summary.json", tmp_path / "b"])
    assert (pooled.cells[0].passed, pooled.cells[0].total) == (8, 10)
    other = run_summary("s", cells_from_records(records), None, {"hashes": {"task_spec:categorization": "u" * 64}})
    ResultsStore(tmp_path / "a").write_summary(other)
    with pytest.raises(ConfigError, match="the runs mix task specs of m categorization"):
        load_baseline([tmp_path / "a" / "summary.json", tmp_path / "b"])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "nothing", "does not exist; give the results.jsonl or summary.json"),
        (lambda p: p, "holds no run (no results.jsonl or summary.json in it or its folders)"),
    ],
)
def test_a_path_that_is_no_baseline_is_one_line(tmp_path: Path, make: Any, message: str) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as info:
        load_baseline([make(tmp_path / "empty")])
    assert message in str(info.value) and "\n" not in str(info.value)


def test_an_accepted_run_is_added_to_a_baseline_folder(tmp_path: Path) -> None:
    run = _run(tmp_path / "reports" / "20261203-1", 9, 1)
    (run / "config.json").write_text("{}\n")
    target = add_to_baseline(run, tmp_path / "baselines" / "m")
    assert target == tmp_path / "baselines" / "m" / "20261203-1"
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "results.jsonl"]
    assert (target / "results.jsonl").read_bytes() == (run / "results.jsonl").read_bytes()
    with pytest.raises(ConfigError, match="exists already; the run is in the baseline"):
        add_to_baseline(run, tmp_path / "baselines" / "m")
    other = _run(tmp_path / "reports" / "20261203-2", 5, 5, prompt="q" * 64)
    with pytest.raises(ConfigError, match="the runs mix prompts of m categorization"):
        add_to_baseline(other, tmp_path / "baselines" / "m")
    assert not (tmp_path / "baselines" / "m" / "20261203-2").exists()  # nothing copied
    with pytest.raises(ConfigError, match="is no run"):
        add_to_baseline(tmp_path / "reports", tmp_path / "baselines" / "m")


def test_the_baseline_command_adds_and_shows(tmp_path: Path) -> None:
    from pytest_hepagent.cli import cli

    run = _run(tmp_path / "reports" / "r1", 9, 1)
    _run(tmp_path / "reports" / "r2", 8, 2)
    runner = CliRunner()
    added = runner.invoke(cli, ["baseline", "add", str(run), str(tmp_path / "base")])
    assert added.exit_code == 0, added.output
    runner.invoke(cli, ["baseline", "add", str(tmp_path / "reports" / "r2"), str(tmp_path / "base")])
    shown = runner.invoke(cli, ["baseline", "show", str(tmp_path / "base")])
    assert shown.exit_code == 0
    assert f"baseline: 2 runs pooled from {tmp_path / 'base'}" in shown.output
    assert "m                            categorization          17/20" in shown.output


def test_a_baseline_must_hold_one_of_the_runs_models(tmp_path: Path) -> None:
    from pytest_hepagent.matrix.config import BenchmarkConfig

    store = ResultsStore(tmp_path / "base")
    for model in ("a", "b"):
        store.append(record(model, "categorization", 1, "passed", hashes=HASHES))
    bench = BenchmarkConfig(models=("hepagent/oracle",), baselines=(tmp_path / "base",), report_dir=tmp_path)
    with pytest.raises(ConfigError) as info:
        bench.check()
    assert str(info.value) == (
        f"--hep-baseline: {tmp_path / 'base'} holds a, b, none of this run's models (hepagent/oracle); give a "
        "baseline of the models the run runs"
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"trials": 10, "max_trials": 5}, "--hep-max-trials: 5 is below --hep-trials 10, the first round"),
        ({"max_trials": 1001}, "--hep-max-trials: 1,001 trials per cell is more than the 1,000 the gate's exact"),
        ({"detect_drop": 0.0}, "--hep-detect-drop: a drop in success above 0 and at most 1, got 0"),
        ({"detect_drop": 1.5}, "--hep-detect-drop: a drop in success above 0 and at most 1, got 1.5"),
    ],
)
def test_bad_gate_settings_are_one_line(tmp_path: Path, settings: dict[str, Any], message: str) -> None:
    from pytest_hepagent.matrix.config import BenchmarkConfig

    _run(tmp_path / "base", 5, 0)
    bench = BenchmarkConfig(baselines=(tmp_path / "base",), report_dir=tmp_path, **settings)
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")):
        bench.check()


# ---------------------------------------------------------------- rounds


def _gate(base: Cell, floor: float | None = None) -> CellGate:
    return CellGate({(base.model, base.step): base}, 0.05, 1, 0.35, floor, "wilson")


def _trials(outcomes: str, plan: RoundPlan) -> list[TrialRecord]:
    return [
        record(
            "m",
            "categorization",
            t,
            {"p": "passed", "f": "failed", "e": "error"}[o],
            round=plan.round_of(t),
            max_trials=plan.max_trials,
        )
        for t, o in enumerate(outcomes, start=1)
    ]


def test_a_round_runs_while_its_cell_is_undecided() -> None:
    plan = RoundPlan(3, 20, 5)
    assert plan.looks == (3, 5, 10, 15, 20)
    assert [plan.round_of(t) for t in (1, 3, 4, 5, 6, 20)] == [1, 1, 2, 2, 3, 5]
    gate = _gate(Cell("m", "categorization", 12, 0, 0, 0, 0, 0, 0))
    # round 1 all failed against 12/12: the drop is shown, round 2 need not run
    why = gate.stop_reason(_trials("fff", plan), "m", "categorization", plan, 2)
    assert why is not None and why.startswith("cell decided in round 1: REGRESSED, a drop is shown: 0/3 against 12/12")
    # passes: nothing is decided at 3 trials; at 10 passes of 10, OK is (a 35-point drop from 12/12 is ruled out)
    assert gate.stop_reason(_trials("ppp", plan), "m", "categorization", plan, 2) is None
    decided = gate.stop_reason(_trials("p" * 15, plan), "m", "categorization", plan, 5)
    assert decided is not None and decided.startswith("cell decided in round ") and ": OK, " in decided
    # only the earlier rounds count: round 3's failures are not looked at when asking about round 3
    later = _trials("ppp" + "pp" + "f" * 5, plan)
    assert gate.stop_reason(later, "m", "categorization", plan, 3) is None
    shown = gate.stop_reason(later, "m", "categorization", plan, 4)
    assert shown is not None and shown.startswith("cell decided in round 3: REGRESSED, a drop is shown: 5/10")
    # errors only: keep trying
    assert gate.stop_reason(_trials("eee", plan), "m", "categorization", plan, 2) is None


def test_a_round_does_not_run_for_a_cell_no_later_round_could_decide() -> None:
    plan = RoundPlan(10, 15, 5)
    gate = CellGate(
        {("m", "categorization"): Cell("m", "categorization", 5, 5, 0, 0, 0, 0, 0)}, 0.05 / 6, 6, 0.35, None, "wilson"
    )
    why = gate.stop_reason(_trials("p" * 5 + "f" * 5, plan), "m", "categorization", plan, 2)
    assert why is not None and why.startswith("cell undecided after round 1, and no later round could decide it")


def test_a_cell_without_baseline_gets_one_round_unless_a_floor_asks_for_more() -> None:
    plan = RoundPlan(3, 20, 5)
    gate = _gate(Cell("m", "preprocessing", 5, 0, 0, 0, 0, 0, 0))
    assert (
        gate.stop_reason(_trials("ppp", plan), "m", "categorization", plan, 2) == "no baseline for this cell: one round"
    )
    floored = _gate(Cell("m", "preprocessing", 5, 0, 0, 0, 0, 0, 0), floor=0.5)
    assert floored.stop_reason(_trials("ppp", plan), "m", "categorization", plan, 2) is None
