"""The benchmark matrix with `-n 8` vs `-n 0`, replaying cassettes that wait 0.5 s per LLM call (target >= 5x).

Cassettes of the oracle's trajectories for the five steps, with `latency_s: 0.5`, replayed for 4 trials each
(20 trials, 60 calls). Both runs are whole pytest sessions in subprocesses, timed side by side. `--code trivial`
replaces each coder answer by a script that only prints, to see the harness without the steps' CPU work.

Beside them, the same shape of work with no harness at all: one plain test per trial that only sleeps as long as
the trial waits on the model. Its ratio is what pytest-xdist itself reaches on this machine, the ceiling for ours.

    python benchmarks/bench_xdist.py [--trials 4] [--workers 8] [--latency 0.5] [--code oracle|trivial]
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

from pytest_hepagent.bench.store import read_records
from pytest_hepagent.llm.cassette import load_cassette, save_cassette
from pytest_hepagent.trial import TrialEnvironment, TrialRequest, run_trial


def _timeline(reports: Path, launched: float) -> str:
    """When the first trial started and the last ended, from the records, relative to the launch."""
    records = [r for run in reports.iterdir() for r in read_records(run / "results.jsonl")]
    starts = [datetime.fromisoformat(r["started_at"]).timestamp() - launched for r in records]
    ends = [s + r["duration_s"] for s, r in zip(starts, records, strict=True)]
    busy = sum(r["duration_s"] for r in records)
    return (
        f"{len(records)} records; first trial started at {min(starts):.1f} s, last ended at {max(ends):.1f} s; "
        f"trials took {busy:.1f} s summed"
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
    return elapsed, done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]


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
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--code", choices=("oracle", "trivial"), default="oracle")
    args = parser.parse_args()
    env = dict(os.environ)
    # Python's default (bytecode cached): with PYTHONDONTWRITEBYTECODE every worker recompiles and re-rewrites
    # every module, which is start-up cost no installed user pays.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    n_trials, modes = 5 * args.trials, (str(args.workers), "0")
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
        ratios = {}
        print(f"{n_trials} trials of {calls} calls, {args.latency} s per call, coder code: {args.code}")
        for name in ("harness", "xdist alone"):
            times = {}
            for n in modes:
                if name == "harness":
                    reports = root / f"reports-n{n}"
                    launched = time.time()
                    times[n], last = _pytest(
                        [
                            "--hep-model=hepagent/replay",
                            f"--hep-replay={root / 'cassettes'}",
                            f"--hep-trials={args.trials}",
                            f"--hep-report-dir={reports}",
                            "-n",
                            n,
                        ],
                        root,
                        env,
                    )
                    detail = _timeline(reports, launched)
                else:
                    times[n], last = _pytest(["-n", n, "test_wait.py"], floor, env)
                    detail = f"plain tests that sleep {wait:.1f} s each"
                print(f"  {name:<12s} -n {n:<2s} {times[n]:6.1f} s   {last}\n{'':22s}{detail}")
            ratios[name] = times["0"] / times[modes[0]]
        print(
            f"== -n {args.workers} vs -n 0: harness {ratios['harness']:.1f}x, pytest-xdist alone on the same waits "
            f"{ratios['xdist alone']:.1f}x (target: >= 5x; ideal with free start-up "
            f"{n_trials / -(-n_trials // args.workers):.1f}x) =="
        )


if __name__ == "__main__":
    main()
