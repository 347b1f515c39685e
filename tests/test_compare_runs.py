"""`hepagent compare`, the comparison page and the chained runs' error propagation, on real runs of the default
benchmark (the oracle against the failure cassettes) and on records built here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pytest_hepagent.cli import cli
from pytest_hepagent.matrix.gate import trials_needed
from pytest_hepagent.resources import failure_cassette_dir
from pytest_hepagent.sequential.boundaries import drop_pvalue, single_look
from pytest_hepagent.sequential.design import run_trials_for_ok
from pytest_hepagent.stats import fisher_pvalue, holm, newcombe_difference, stratified_difference

FAILURES = failure_cassette_dir()
STEPS = ("preprocessing", "categorization")
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def _pytest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _pytest_anywhere(root, f"--hep-steps={','.join(STEPS)}", *args)


def _only_run(folder: Path) -> Path:
    (run,) = folder.iterdir()
    return run


def _as_replay(run: Path, path: Path) -> Path:
    """The run's records as if hepagent/replay had made them: a baseline of the same model name that passed."""
    path.write_text((run / "results.jsonl").read_text().replace('"hepagent/oracle"', '"hepagent/replay"'))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, hepagent_solution: Path) -> dict[str, Any]:
    """An oracle run (5 trials per step) and a run replaying three failure cassettes per step; the failures again
    with the oracle's records as their baseline (renamed to the replay model, as if a prompt change had broken it),
    and the oracle again with itself as baseline: pytest's gate decides their exit status."""
    root = tmp_path_factory.mktemp("compare-runs")
    cassettes = root / "cassettes"
    cassettes.mkdir()
    for step in STEPS:
        chosen = sorted(p for p in FAILURES.glob("*.yaml") if f"step: {step}" in p.read_text())[:3]
        for trial, path in enumerate(chosen, 1):
            (cassettes / f"{step}-trial{trial}.yaml").write_text(path.read_text())
    oracle = _pytest(root, "--hep-model=hepagent/oracle", "--hep-trials=5", f"--hep-report-dir={root / 'oracle'}")
    assert oracle.returncode == 0, oracle.stdout[-2000:]
    replay = ["--hep-model=hepagent/replay", f"--hep-replay={cassettes}"]
    failures = _pytest(root, *replay, f"--hep-report-dir={root / 'failures'}")
    assert failures.returncode == 1, failures.stdout[-2000:]
    oracle_run, failures_run = _only_run(root / "oracle"), _only_run(root / "failures")
    renamed = _as_replay(oracle_run, root / "passing-before.jsonl")
    gated = _pytest(root, *replay, f"--hep-report-dir={root / 'gated'}", f"--hep-baseline={renamed}")
    paired = _pytest(root, *replay, f"--hep-report-dir={root / 'paired'}", f"--hep-baseline={oracle_run}")
    again = _pytest(
        root,
        "--hep-model=hepagent/oracle",
        "--hep-trials=5",
        f"--hep-report-dir={root / 'again'}",
        f"--hep-baseline={oracle_run}",
    )
    return {
        "root": root,
        "cassettes": cassettes,
        "oracle": oracle_run,
        "failures": failures_run,
        "renamed": renamed,
        "gated": (_only_run(root / "gated"), gated.returncode),
        "again": (_only_run(root / "again"), again.returncode),
        "paired": (_only_run(root / "paired"), paired.returncode, paired.stdout),
    }


def _compare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_hepagent", "compare", *args], capture_output=True, text=True, check=False
    )


def _rows(stdout: str) -> dict[str, list[str]]:
    """step -> the fields of its row in the compare table."""
    return {
        fields[1]: fields
        for line in stdout.splitlines()
        if (fields := line.split()) and len(fields) > 2 and fields[1] in STEPS and re.match(r"\d+/\d+", fields[2])
    }


def test_compare_prints_each_cells_numbers_and_exits_by_the_gates_rule(runs: dict[str, Any]) -> None:
    done = _compare(str(runs["oracle"]), str(runs["failures"]))
    assert done.returncode == 1, done.stdout + done.stderr
    rows = _rows(done.stdout)
    assert set(rows) == set(STEPS)
    p = fisher_pvalue(0, 3, 5, 5)
    difference, low, high = newcombe_difference(0, 3, 5, 5)
    # the gate's family: two cells and the model over both steps; 0/3 against 5/5 is within the drop boundary
    level = 0.05 / 3
    assert single_look(5, 3, level, 0.0, drop=True)[5] == 0
    for fields in rows.values():
        assert fields[2:4] == ["5/5", "0/3"]
        assert fields[4:7] == [f"{difference:+.0%}", f"[{low:+.0%},", f"{high:+.0%}]"]
        assert fields[7:9] == [f"{p:.3g}", f"{holm([p, p])[0]:.3g}"]
        assert fields[-1] == "REGRESSED"
    assert (
        f"a drop is shown: 0/3 against 5/5 is at or below the boundary 0/3 (one-sided exact p = "
        f"{drop_pvalue(0, 3, 5, 5):.3g} for this look alone; level 0.0167 = 0.05/3)"
    ) in done.stdout
    overall = stratified_difference([(0, 3, 5, 5), (0, 3, 5, 5)])
    assert overall is not None and overall.high < 0
    assert f"CMH chi2 = {overall.statistic:.3g}, p = {overall.p_value:.3g} (2 steps)" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("gate: FAIL (exit 1): 3 REGRESSED (hepagent/replay preprocessing")
    # one model in each run, of different names: compared with each other, said so in the header
    assert "[hepagent/oracle]" in done.stdout and "[hepagent/replay]" in done.stdout


def test_too_few_trials_say_how_many_would_decide(runs: dict[str, Any], tmp_path: Path) -> None:
    """Three passes before, five now in each step: no drop, and five trials are too few to rule out a 35-point
    drop against a baseline of three: UNDECIDED, with the trials an unchanged run needs; the run fails the gate
    under the default policy and passes it under --undecided pass."""
    three = tmp_path / "three.jsonl"
    kept = [
        line
        for line in runs["oracle"].joinpath("results.jsonl").read_text().splitlines()
        if re.search(r'"trial": [123],', line)
    ]
    three.write_text("".join(line + "\n" for line in kept))
    done = _compare(str(three), str(runs["oracle"]))
    assert done.returncode == 1
    assert {fields[-1] for fields in _rows(done.stdout).values()} == {"UNDECIDED"}
    needed = run_trials_for_ok(3, 3, 0.05 / 3, 0.35)
    assert needed is not None and needed > 5
    assert (
        f"no drop shown (5/5 against 3/3; REGRESSED at most 0), and 5 trials are too few for OK: a run as good as the "
        f"baseline rules out a 35% drop from {needed} trials"
    ) in done.stdout
    assert done.stdout.splitlines()[-1] == (
        "gate: FAIL (exit 1): 2 UNDECIDED (hepagent/oracle preprocessing (5/5 against 3/3), hepagent/oracle "
        "categorization (5/5 against 3/3)); 0 of 2 cells OK (a drop of 35% or more ruled out); undecided cells fail "
        "(--hep-undecided fail)"
    )
    lenient = _compare(str(three), str(runs["oracle"]), "--undecided", "pass")
    assert lenient.returncode == 0
    assert lenient.stdout.splitlines()[-1].startswith("gate: PASS (exit 0): 2 UNDECIDED (")
    assert lenient.stdout.splitlines()[-1].endswith("undecided cells pass (--hep-undecided pass)")
    # the gate's exact test over both steps sees what a cell of three trials cannot: 0/6 against 6/6
    drop = _compare(str(three), str(runs["failures"]))
    assert "gate over the steps together: REGRESSED, success dropped over the steps together: exact stratified " in (
        drop.stdout
    )


@pytest.mark.parametrize(
    ("baseline", "current", "status"), [("renamed", "gated", 1), ("oracle", "again", 0), ("oracle", "paired", 1)]
)
def test_the_pytest_gate_decides_as_compare_does(
    runs: dict[str, Any], baseline: str, current: str, status: int
) -> None:
    """The same two runs through `--hep-baseline` and through `hepagent compare`: the same exit status, the same
    verdict and reason cell by cell, and the report of the gated run holds the comparison page."""
    run, pytest_status = runs[current][:2]
    done = _compare(str(runs[baseline]), str(run))
    assert pytest_status == done.returncode == status, done.stdout
    summary = json.loads((run / "summary.json").read_text())
    rows = _rows(done.stdout)
    cells = {v["step"]: v["verdict"] for v in summary["gate"] if v["step"] != "all steps"}
    assert cells == {step: fields[-1] for step, fields in rows.items()}
    for v in summary["gate"]:
        if v["step"] == "all steps":
            assert f"gate over the steps together: {v['verdict']}, {v['reason']}" in done.stdout
        else:
            assert f"{v['step']}: {v['reason']}" in done.stdout or v["verdict"] == "OK"
    page = (run / "compare.html").read_text()
    assert page.count('class="compare-row"') == len(STEPS)
    assert 'id="compare-link" href="compare.html"' in (run / "index.html").read_text()
    again = CliRunner().invoke(cli, ["report", str(run)])  # rendered again from the records: the link stays
    assert again.exit_code == 0 and 'id="compare-link"' in (run / "index.html").read_text()


def test_a_run_as_good_as_its_baseline_passes_once_it_has_enough_trials(runs: dict[str, Any]) -> None:
    """Five trials against the same five are too few to rule out a 35-point drop (UNDECIDED); the gated run that
    added rounds until it could passes."""
    itself = _compare(str(runs["oracle"]), str(runs["oracle"] / "results.jsonl"))
    assert itself.returncode == 1
    assert {fields[-1] for fields in _rows(itself.stdout).values()} == {"UNDECIDED"}
    again, status = runs["again"]
    assert status == 0
    done = _compare(str(runs["oracle"]), str(again))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("gate: PASS (exit 0): 2 of 2 cells OK")
    assert all(fields[-1] == "OK" for fields in _rows(done.stdout).values())
    rounds = {json.loads(line)["round"] for line in (again / "results.jsonl").read_text().splitlines()}
    assert min(rounds) == 1 and max(rounds) > 1  # it took more than its first round
    # a summary.json compares as its run folder does
    summary = _compare(str(runs["oracle"] / "summary.json"), str(again))
    assert summary.returncode == 0 and _rows(summary.stdout) == _rows(done.stdout)


def test_two_models_of_one_run_compare_step_by_step(runs: dict[str, Any], tmp_path: Path) -> None:
    merged = tmp_path / "results.jsonl"
    merged.write_text((runs["oracle"] / "results.jsonl").read_text() + (runs["failures"] / "results.jsonl").read_text())
    result = CliRunner().invoke(
        cli, ["compare", str(merged), str(merged), "--model-a", "hepagent/oracle", "--model-b", "hepagent/replay"]
    )
    assert result.exit_code == 1, result.output
    assert set(_rows(result.output)) == set(STEPS)
    one = CliRunner().invoke(cli, ["compare", str(merged), str(merged), "--model-a", "hepagent/oracle"])
    assert one.exit_code == 2 and "--model-a and --model-b go together" in one.output
    unknown = CliRunner().invoke(cli, ["compare", str(merged), str(merged), "--model-a", "x", "--model-b", "y"])
    assert unknown.exit_code == 2
    assert "RUN_A has no trials of 'x'; its models are hepagent/oracle, hepagent/replay" in unknown.output


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "nothing", "RUN_A: {path} does not exist; give the results.jsonl or summary.json"),
        (lambda p: _write(p / "empty.jsonl", ""), "RUN_A: {path} holds no trial of any model and step"),
        (lambda p: _write(p / "x.json", "{"), "RUN_A: {path}: not valid JSON"),
    ],
)
def test_a_bad_run_is_a_one_line_error_naming_it(runs: dict[str, Any], tmp_path: Path, make: Any, message: str) -> None:
    path = make(tmp_path)
    done = _compare(str(path), str(runs["oracle"]))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message.format(path=path) in done.stderr


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_the_detect_drop_and_interval_options(runs: dict[str, Any]) -> None:
    done = _compare(str(runs["oracle"]), str(runs["failures"]), "--detect-drop", "0.5")
    assert "--detect-drop" not in done.stderr
    needed = trials_needed(0.5, 1.0, 0.05 / 3)  # at one test's share of the level, of three tests
    assert re.search(rf"preprocessing +5/5 +0/3 .* {needed}  REGRESSED", done.stdout)
    alone = _compare(str(runs["oracle"]), str(runs["failures"]), "--adjust", "none", "--detect-drop", "0.5")
    assert re.search(rf"preprocessing +5/5 +0/3 .* {trials_needed(0.5, 1.0, 0.05)}  REGRESSED", alone.stdout)
    bad = _compare(str(runs["oracle"]), str(runs["failures"]), "--detect-drop", "2")
    assert bad.returncode == 2 and "--detect-drop" in bad.stderr
    wrong = _compare(str(runs["oracle"]), str(runs["failures"]), "--interval", "wald")
    assert wrong.returncode == 2 and "unknown interval 'wald'" in wrong.stderr


def test_chains_and_isolation_end_to_end(runs: dict[str, Any]) -> None:
    """A chained run of the oracle and the failure cassettes against the isolated runs: `hepagent chains` prints the
    matrix, and the report of the chained run shows it."""
    root = runs["root"]
    chained = _pytest(
        root,
        "--hep-model=hepagent/oracle",
        "--hep-model=hepagent/replay",
        f"--hep-replay={runs['cassettes']}",
        "--hep-chain",
        "--hep-trials=2",
        f"--hep-report-dir={root / 'chained'}",
    )
    assert "error propagation, hepagent/oracle (2 chains):" in chained.stdout, chained.stdout[-3000:]
    run = _only_run(root / "chained")
    keys = [json.loads(line)["key"] for line in (run / "results.jsonl").read_text().splitlines()]
    assert keys and all("|chain|" in key for key in keys)  # never an unchained trial's key
    merged = root / "isolated"
    merged.mkdir()
    (merged / "results.jsonl").write_text(
        (runs["oracle"] / "results.jsonl").read_text() + (runs["failures"] / "results.jsonl").read_text()
    )
    result = CliRunner().invoke(cli, ["chains", str(run), "--isolated", str(merged)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    oracle = lines.index("error propagation, hepagent/oracle (2 chains):")
    assert lines[oracle + 2].split()[:3] == ["preprocessing", "2/2", "5/5"]  # the chain read the reference ntuples
    replay = lines.index("error propagation, hepagent/replay (2 chains):")
    assert lines[replay + 2].split()[:3] == ["preprocessing", "0/2", "0/3"]  # every chain broke at its first step
    assert lines[replay + 3].split()[:3] == ["categorization", "0/0", "0/3"]
    done = CliRunner().invoke(cli, ["report", str(run), "--isolated", str(merged)])
    assert done.exit_code == 0, done.output
    index = (run / "index.html").read_text()
    assert 'class="propagation-row" data-step="preprocessing" data-reached="2" data-passed="0"' in index
    unchained = CliRunner().invoke(cli, ["chains", str(runs["oracle"])])
    assert unchained.exit_code == 2 and "holds no chained trial; run with --hep-chain" in unchained.output


def test_first_attempt_success_is_what_the_loop_recorded_not_what_files_suggest(
    tmp_path: Path, hepagent_solution: Path
) -> None:
    """Three replayed categorization trials: the reference script accepted at once; a script that fails, then the
    fix after the debugger; and a hostile first script that writes the right outputs, then crashes, so that a
    do-nothing second script might 'pass' on them. Only the first is a first-attempt success; the second was
    rescued by the loop; the third fails, as each attempt's outputs are its own."""
    from pytest_hepagent.llm.cassette import Cassette, CassetteCall, save_cassette

    reference = (Path(__file__).parents[1] / "pytest_hepagent/analysis/scripts/categorization.py").read_text()
    accept = "Supervisor is satisfied with current results"
    supervisor = CassetteCall("supervisor", "## Worker Prompt\nDo the task.\n## Call record:\nasked", 100, 20)
    debugger = CassetteCall("debugger", "## Worker Prompt\nFix it.", 50, 10)
    coder = lambda code: CassetteCall("coder", f"```python\n{code}\n```", 50, 40)
    trajectories = [
        [supervisor, coder(reference), CassetteCall("reviewer", accept, 10, 5)],
        [supervisor, coder("import numpy as np\nnp.load('arrays/nothing.npy')"), debugger, coder(reference),
         CassetteCall("reviewer", accept, 10, 5)],
        [supervisor, coder(reference + "\nraise SystemExit('pretend to fail')"), debugger, coder("pass"),
         CassetteCall("reviewer", accept, 10, 5)],
    ]  # fmt: skip
    folder = tmp_path / "cassettes"
    folder.mkdir()
    for trial, calls in enumerate(trajectories, 1):
        save_cassette(
            Cassette("categorization", tuple(calls), recorded_with="tests"),
            folder / f"categorization-trial{trial}.yaml",
        )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hep-model=hepagent/replay",
         f"--hep-replay={folder}", f"--hep-report-dir={tmp_path / 'reports'}"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "1 failed, 2 passed" in done.stdout, done.stdout[-3000:]
    assert "arrays/boundaries.npy was not produced" in done.stdout  # the crashed attempt's files do not count
    summary = json.loads((_only_run(tmp_path / "reports") / "summary.json").read_text())
    (cell,) = summary["cells"]
    assert (cell["passed"], cell["failed"], cell["first_passed"]) == (2, 1, 1)
    assert cell["self_correction"]["difference"] == pytest.approx(1 / 3)
    row = next(line for line in done.stdout.splitlines() if line.startswith("hepagent/replay") and "+33%" in line)
    assert row.split()[-5] == "33%"  # the first-attempt column


def test_a_replay_is_gated_against_its_models_baseline(runs: dict[str, Any]) -> None:
    """The replayed run records hepagent/replay; the baseline is the oracle's: the gate compares the two and says
    so, instead of calling every cell NEW and passing."""
    run, status, stdout = runs["paired"]
    assert status == 1
    assert "the run's hepagent/replay against the baseline's hepagent/oracle" in stdout
    summary = json.loads((run / "summary.json").read_text())
    assert {v["verdict"] for v in summary["gate"]} == {"REGRESSED"}


def test_compare_given_a_folder_of_runs_pools_the_baseline_and_asks_which_run(runs: dict[str, Any]) -> None:
    """A folder of runs is a baseline (its runs pooled); as RUN_B, which run is meant is the user's to say."""
    folder = runs["oracle"].parent
    pooled = _compare(str(folder), str(runs["failures"]))
    assert pooled.returncode == 1 and "Traceback" not in pooled.stderr
    assert pooled.stdout.splitlines()[0] == f"baseline (A): {folder} [hepagent/oracle]"
    done = _compare(str(runs["failures"]), str(folder))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"RUN_B: {folder} is a folder of 1 run(s), not a run; name one, e.g. {runs['oracle']}" in done.stderr


def test_compare_names_a_bad_step_or_page_in_one_line(runs: dict[str, Any], tmp_path: Path) -> None:
    step = _compare(str(runs["oracle"]), str(runs["failures"]), "--steps", "preprocesing")
    assert step.returncode == 2 and "unknown step 'preprocesing' (did you mean 'preprocessing'?)" in step.stderr
    (tmp_path / "afile").write_text("")
    page = _compare(str(runs["oracle"]), str(runs["failures"]), "--html", str(tmp_path / "afile" / "c.html"))
    assert page.returncode == 2 and "Invalid value for '--html': cannot write" in page.stderr
    assert "Traceback" not in page.stderr
    only = _compare(str(runs["oracle"]), str(runs["failures"]), "--steps", "categorization")
    assert set(_rows(only.stdout)) == {"categorization"} and "MISSING" not in only.stdout


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not valid JSON (a torn or edited line)"),
        ('"category": {"final": "a category of a newer harness"}', "category.final"),
    ],
)
def test_a_baseline_with_a_record_it_cannot_read_is_refused(
    runs: dict[str, Any], tmp_path: Path, line: str, problem: str
) -> None:
    """A skipped line could be exactly the failures: a run the gate judges is read strictly."""
    lines = runs["renamed"].read_text().splitlines()
    if line.startswith("{"):
        lines.append(line)
    else:
        record = json.loads(lines[0])
        record["category"] = {"final": "a category of a newer harness"}
        lines[0] = json.dumps(record)
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(lines) + "\n")
    done = _compare(str(path), str(runs["failures"]))
    assert done.returncode == 2, done.stdout
    assert problem in done.stderr and "a baseline must be read whole" in done.stderr
    assert done.stderr.count("\n") == 1


def test_a_chain_that_ended_in_an_infrastructure_error_runs_again_on_resume(tmp_path: Path) -> None:
    from pytest_hepagent.llm.cassette import Cassette, CassetteCall, save_cassette

    scripts = Path(__file__).parents[1] / "pytest_hepagent/analysis/scripts"
    accept = CassetteCall("reviewer", "Supervisor is satisfied with current results", 10, 5)
    supervisor = CassetteCall("supervisor", "## Worker Prompt\nDo it.\n## Call record:\nasked", 10, 5)

    def passing(step: str) -> Cassette:
        code = (scripts / f"{step}.py").read_text()
        return Cassette(step, (supervisor, CassetteCall("coder", f"```python\n{code}```", 10, 5), accept))

    folder = tmp_path / "cassettes"
    folder.mkdir()
    save_cassette(passing("preprocessing"), folder / "preprocessing-trial1.yaml")
    save_cassette(Cassette("categorization", (accept,)), folder / "categorization-trial1.yaml")  # out of sync
    common = [
        "--hep-model=hepagent/replay",
        f"--hep-replay={folder}",
        "--hep-chain",
        "--hep-steps=preprocessing,categorization",
        f"--hep-report-dir={tmp_path / 'reports'}",
    ]
    first = _pytest_anywhere(tmp_path, *common)
    assert "1 ended in an infrastructure error, left out" in first.stdout, first.stdout[-3000:]
    run = _only_run(tmp_path / "reports")
    save_cassette(passing("categorization"), folder / "categorization-trial1.yaml")
    again = _pytest_anywhere(tmp_path, *common, f"--hep-resume={run.name}")
    assert "end-to-end hepagent/replay: 1/1 chains passed" in again.stdout, again.stdout[-3000:]


def _pytest_anywhere(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
