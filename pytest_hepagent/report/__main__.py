"""`python -m pytest_hepagent.report reports/<run-id> [--out DIR]`: the same as `hepagent report`."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_hepagent.cli_options import run_command
from pytest_hepagent.report.command import report_command


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(report_command, argv, "python -m pytest_hepagent.report")


if __name__ == "__main__":
    raise SystemExit(main())
