"""The benchmark matrix with `-n 8` vs `-n 0`, replaying cassettes that wait 0.5 s per LLM call (target >= 5x).

Cassettes of the oracle's trajectories for the five steps, with `latency_s: 0.5`, replayed for 4 trials each
(20 trials, 60 calls). Both runs are whole pytest sessions in subprocesses, timed side by side. `--code trivial`
replaces each coder answer by a script that only prints, to see the harness without the steps' CPU work.

    python benchmarks/bench_xdist.py [--trials 4] [--workers 8] [--latency 0.5] [--code oracle|trivial]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from pytest_hepagent.llm.cassette import load_cassette, save_cassette
from pytest_hepagent.trial import TrialEnvironment, TrialRequest, run_trial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--code", choices=("oracle", "trivial"), default="oracle")
    args = parser.parse_args()
    env = TrialEnvironment.create()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for step in env.specs:
            recorded = root / "recorded" / f"{step}.yaml"
            run_trial(TrialRequest(step, "hepagent/oracle", record_to=recorded), env, root / "oracle" / step)
            cassette = load_cassette(recorded)
            if args.code == "trivial":
                calls = tuple(
                    replace(c, response="```python\nprint('done')\n```") if c.role == "coder" else c
                    for c in cassette.calls
                )
                cassette = replace(cassette, calls=calls)
            save_cassette(replace(cassette, latency_s=args.latency), root / "cassettes" / f"{step}.yaml")
        times = {}
        for label, extra in ((f"-n {args.workers}", ["-n", str(args.workers)]), ("-n 0", ["-n", "0"])):
            command = [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--hep-model=hepagent/replay",
                f"--hep-replay={root / 'cassettes'}",
                f"--hep-trials={args.trials}",
                f"--hep-report-dir={root / 'reports'}",
                *extra,
            ]
            start = time.perf_counter()
            done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
            times[label] = time.perf_counter() - start
            last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
            print(f"  {label:<6s} {times[label]:7.1f} s   {last}")
        ratio = times["-n 0"] / times[f"-n {args.workers}"]
        print(
            f"== {5 * args.trials} trials, {args.latency} s per LLM call: -n {args.workers} is {ratio:.1f}x faster "
            f"than -n 0 (target: >= 5x) =="
        )


if __name__ == "__main__":
    main()
