"""`python -m error_classifier reports/<run-id>` and `python -m error_classifier calibrate`: the same as
`hepagent classify` and `hepagent calibrate`."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from error_classifier.commands import calibrate_command, classify_command
from pytest_hepagent.cli_options import run_command

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["calibrate"]:
        return run_command(calibrate_command, args[1:], "python -m error_classifier calibrate")
    return run_command(classify_command, args, "python -m error_classifier")


if __name__ == "__main__":
    raise SystemExit(main())
