"""Harness overhead: a full oracle trial of each step vs the step's reference script run bare (target <= 1.5x),
and the sandbox's own start-up per attempt beside it.

The trial is everything the harness does: lay out the trial folder with its inputs, three calls to the offline
oracle, the sandboxed execution, validation against the goldens and the logs. The bare run is
`python <reference script> --input-files ... --output-files ...` in an already prepared work folder, unconfined.
The sandbox's start-up is `/bin/true` run through the sandbox minus `/bin/true` run directly, and Python's start
inside the sandbox beside its start outside.

    python benchmarks/bench_harness.py [--repeats 3] [--sandbox bwrap]
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import best_of

from pytest_hepagent.analysis.scripts import script_path
from pytest_hepagent.sandbox.layout import READONLY, prepare_trial_dir
from pytest_hepagent.sandbox.runner import run_confined
from pytest_hepagent.trial import TrialEnvironment, TrialRequest, run_trial


def _startup(env: TrialEnvironment, root: Path, repeats: int) -> None:
    work = root / "startup" / "work"
    work.mkdir(parents=True)
    uid = env.sandbox.trial_uid()
    if uid is not None:
        os.chown(work, uid, uid)

    def confined(*argv: str) -> None:
        result = run_confined(env.sandbox, work, list(argv), uid=uid)
        assert result.succeeded, result.reason

    def direct(*argv: str) -> None:
        subprocess.run(list(argv), check=True, capture_output=True)

    true = "/bin/true"
    times = best_of(
        {
            "true, direct": lambda: direct(true),
            "true, sandboxed": lambda: confined(true),
            "python, direct": lambda: direct(sys.executable, "-c", "pass"),
            "python, sandboxed": lambda: confined(sys.executable, "-c", "pass"),
        },
        repeats * 5,
    )
    start = times["true, sandboxed"] - times["true, direct"]
    python = times["python, sandboxed"] - times["python, direct"]
    view = env.sandbox.describe()
    print(f"== sandbox {view['backend']} {view['version']}: start-up per attempt ==")
    for name, seconds in times.items():
        print(f"  {name:<20s} {seconds * 1e3:8.1f} ms")
    print(f"  sandbox start-up {start * 1e3:.1f} ms per attempt; Python starts {python * 1e3:+.1f} ms slower inside")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sandbox", default="bwrap")
    args = parser.parse_args()
    env = TrialEnvironment.create(sandbox=args.sandbox)
    counter = itertools.count()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        Path(tmp).chmod(0o755)
        _startup(env, root, args.repeats)
        print("== harness overhead: oracle trial vs bare reference script ==")
        worst = 0.0
        for step, spec in env.specs.items():
            bare_dir = prepare_trial_dir(root / f"bare-{step}", spec, env.dataset, env.solution_dir).work
            command = [
                sys.executable,
                str(script_path(step)),
                "--input-files",
                *spec.inputs,
                "--output-files",
                *spec.output_paths,
            ]

            def bare(command: list[str] = command, cwd: Path = bare_dir) -> None:
                subprocess.run(
                    command,
                    cwd=cwd,
                    check=True,
                    capture_output=True,
                    env={"PYTHONPATH": str(cwd), "HEPAGENT_SB_BACKEND": env.sb_backend, "PATH": "/usr/bin"},
                )

            def trial(step: str = step) -> None:
                result = run_trial(TrialRequest(step, "hepagent/oracle"), env, root / f"trial-{next(counter)}")
                assert result.outcome == "passed", result.error

            times = best_of({"bare": bare, "trial": trial}, args.repeats)
            ratio = times["trial"] / times["bare"]
            worst = max(worst, ratio)
            print(f"  {step:<18s} bare {times['bare']:6.2f} s   trial {times['trial']:6.2f} s   ratio {ratio:5.2f}")
        print(f"  worst ratio {worst:.2f} (target: <= 1.5); read-only in the sandbox: {', '.join(READONLY)}")


if __name__ == "__main__":
    main()
