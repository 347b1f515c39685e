"""Rendering the report of a 1,000-trial run (20 models x 5 steps x 10 trials): time and index size.

Targets: under 10 s to render everything (index and 1,000 trial pages), index.html under 5 MB. The run is
generated (`pytest_hepagent.report.demo`), with a transcript and logs per trial as a real run leaves them.

    python benchmarks/bench_report.py [--models 20] [--trials 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from pytest_hepagent.report import render_report
from pytest_hepagent.report.demo import write_generated_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = write_generated_run(Path(tmp) / "generated", models=args.models, trials=args.trials)
        times = [render_report(run_dir).seconds for _ in range(args.repeats)]
        index = run_dir / "index.html"
        pages = sum(p.stat().st_size for p in (run_dir / "pages").glob("*.html"))
        n = args.models * 5 * args.trials
        print(
            f"== report of {n} trials: render {min(times):.2f} s best of {args.repeats} (target < 10 s, "
            f"{10 / min(times):.1f}x under); index.html {index.stat().st_size / 1e6:.2f} MB (target < 5 MB); "
            f"trial pages {pages / 1e6:.1f} MB in {n} files =="
        )


if __name__ == "__main__":
    main()
