"""Trials at once: `--hep-concurrency` in one process and `-n` workers, against a sequential run and against
pytest-xdist alone, side by side in one run.

Cassettes of the oracle's trajectories for the five steps, with `latency_s: 0.5` per call, replayed for 8 trials
each (40 trials, 120 calls); with `--code trivial` (the default) each coder answer is a script that only prints, so
what is timed is waiting on the model and the harness around it. Every run is a whole pytest session in a
subprocess:

- sequential:              `-p no:xdist`
- concurrency:             `-p no:xdist --hep-concurrency=40` (target: >= 10x faster than sequential)
- xdist:                   `-n 8` vs `-n 0`, beside the same with no harness at all (one plain test per trial that
                           only sleeps as long as a trial waits on the model): the harness's speed-up as a share of
                           what pytest-xdist itself reaches on this machine (target: >= 85%)

A first untimed run of each kind warms the bytecode and the data caches, which no later run pays for.

    python benchmarks/bench_parallel.py [--trials 8] [--workers 8] [--concurrency 40] [--latency 0.5]
                                        [--code trivial|oracle]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from pytest_hepagent.llm.cassette import load_cassette, save_cassette
from pytest_hepagent.records import read_records
from pytest_hepagent.trial import TrialEnvironment, TrialRequest, run_trial


def _timeline(reports: Path, launched: float) -> str:
    """How many records, when the first trial started and the last ended (relative to the launch), and how many
    ran at once at most."""
    records = [r for run in reports.iterdir() for r in read_records(run / "results.jsonl")]
    starts = [datetime.fromisoformat(r["started_at"]).timestamp() - launched for r in records]
    ends = [s + r["duration_s"] for s, r in zip(starts, records, strict=True)]
    overlap = max(sum(s <= start < e for s, e in zip(starts, ends, strict=True)) for start in starts)
    return (
        f"{len(records)} records; trials from {min(starts):.1f} s to {max(ends):.1f} s after launch, "
        f"up to {overlap} at once"
    )


def _pytest(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    elapsed = time.perf_counter() - start
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    return elapsed, last


def _cassettes(root: Path, code: str, latency: float) -> int:
    """Record the oracle on every step into `root/cassettes`; the number of calls per trial."""
    trial_env = TrialEnvironment.create()
    calls_per_trial = 0
    for step in trial_env.specs:
        recorded = root / "recorded" / f"{step}.yaml"
        run_trial(TrialRequest(step, "hepagent/oracle", record_to=recorded), trial_env, root / "oracle" / step)
        cassette = load_cassette(recorded)
        if code == "trivial":
            calls = tuple(
                replace(c, response="```python\nprint('done')\n```") if c.role == "coder" else c for c in cassette.calls
            )
            cassette = replace(cassette, calls=calls)
        save_cassette(replace(cassette, latency_s=latency), root / "cassettes" / f"{step}.yaml")
        calls_per_trial = max(calls_per_trial, len(cassette.calls))
    return calls_per_trial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--code", choices=("oracle", "trivial"), default="trivial")
    args = parser.parse_args()
    env = dict(os.environ)
    # Python's default (bytecode cached): with PYTHONDONTWRITEBYTECODE every worker recompiles and re-rewrites
    # every module, which is start-up cost no installed user pays.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    n_trials = 5 * args.trials
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        calls = _cassettes(root, args.code, args.latency)
        wait = calls * args.latency
        floor = root / "floor"
        floor.mkdir()
        (floor / "test_wait.py").write_text(
            f"import time, pytest\n\n@pytest.mark.parametrize('i', range({n_trials}))\n"
            f"def test_trial(i):\n    time.sleep({wait})\n"
        )
        replay = ["--hep-model=hepagent/replay", f"--hep-replay={root / 'cassettes'}", f"--hep-trials={args.trials}"]
        runs: dict[str, tuple[list[str], Path]] = {
            "sequential": ([*replay, "-p", "no:xdist"], root),
            f"concurrency {args.concurrency}": (
                [*replay, "-p", "no:xdist", f"--hep-concurrency={args.concurrency}"],
                root,
            ),
            "harness -n 0": ([*replay, "-n", "0"], root),
            f"harness -n {args.workers}": ([*replay, "-n", str(args.workers)], root),
            "xdist alone -n 0": (["-n", "0", "test_wait.py"], floor),
            f"xdist alone -n {args.workers}": (["-n", str(args.workers), "test_wait.py"], floor),
        }
        print(f"{n_trials} trials of {calls} calls, {args.latency} s per call, coder code: {args.code}")
        for warm_up in ([*replay, "-p", "no:xdist", "--hep-trials=1"], [*replay, "-n", "2", "--hep-trials=1"]):
            _pytest([*warm_up, f"--hep-report-dir={root / 'warm-up'}"], root, env)
        _pytest(["-n", "2", "test_wait.py", "--collect-only"], floor, env)
        times: dict[str, float] = {}
        for index, (name, (argv, cwd)) in enumerate(runs.items()):
            reports = root / f"reports-{index}"
            harness = cwd == root
            launched = time.time()
            times[name], last = _pytest([*argv, f"--hep-report-dir={reports}"] if harness else argv, cwd, env)
            detail = _timeline(reports, launched) if harness else f"plain tests that sleep {wait:.1f} s each"
            print(f"  {name:<24s} {times[name]:6.1f} s   {last}\n{'':27s}{detail}")
        concurrent = times["sequential"] / times[f"concurrency {args.concurrency}"]
        harness = times["harness -n 0"] / times[f"harness -n {args.workers}"]
        alone = times["xdist alone -n 0"] / times[f"xdist alone -n {args.workers}"]
        print(
            f"== --hep-concurrency={args.concurrency} vs sequential: {concurrent:.1f}x (target: >= 10x) ==\n"
            f"== -n {args.workers} vs -n 0: harness {harness:.2f}x, pytest-xdist alone on the same waits {alone:.2f}x: "
            f"{100 * harness / alone:.0f}% of it (target: >= 85%) =="
        )


if __name__ == "__main__":
    main()
