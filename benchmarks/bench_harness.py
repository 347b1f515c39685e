"""Harness overhead: a full oracle trial of each step vs the step's reference script run bare (target <= 1.5x).

The trial is everything the harness does: lay out the trial folder with its inputs, three calls through litellm
to the offline oracle, the confined execution, validation against the goldens and the logs. The bare run is
`python <reference script> --input-files ... --output-files ...` in an already prepared trial folder, unconfined.
litellm is imported once before timing (a run pays that once, not per trial).

    python benchmarks/bench_harness.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import best_of

from pytest_hepagent.analysis.scripts import script_path
from pytest_hepagent.llm.gateway import _litellm
from pytest_hepagent.sandbox.layout import prepare_trial_dir
from pytest_hepagent.trial import TrialEnvironment, TrialRequest, run_trial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env = TrialEnvironment.create()
    _litellm()
    counter = itertools.count()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print("== harness overhead: oracle trial vs bare reference script ==")
        worst = 0.0
        for step, spec in env.specs.items():
            bare_dir = prepare_trial_dir(root / f"bare-{step}", spec, env.dataset, env.solution_dir)
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
        print(f"  worst ratio {worst:.2f} (target: <= 1.5)")


if __name__ == "__main__":
    main()
