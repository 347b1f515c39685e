"""`python -m pytest_hepagent.report reports/<run-id> [--out DIR]`: render (again) the report of a stored run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_hepagent.report.render import render_report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_hepagent.report", description=__doc__)
    parser.add_argument("run_dir", type=Path, help="A run folder, reports/<run-id>")
    parser.add_argument("--out", type=Path, default=None, help="Where to write (default: the run folder)")
    args = parser.parse_args(argv)
    try:
        result = render_report(args.run_dir, args.out)
    except OSError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write(f"{result.index} ({result.trial_pages} trial pages, {result.seconds:.1f} s)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
