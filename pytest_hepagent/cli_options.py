"""What the `hepagent` commands share (the main CLI, the workflow's jobs, the classifier's and the report's):
options from the options table, the dataset of `--data`, and running a command as a program."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pytest_hepagent.options import click_option

if TYPE_CHECKING:
    from pytest_hepagent.data.dataset import Dataset

__all__ = ["DATA_OPTION", "SANDBOX_OPTION", "dataset_of", "run_command"]


def dataset_of(data: Path | None) -> Dataset:
    """The dataset a command's `--data` names, checked; the synthetic stand-in (made once) without one."""
    from pytest_hepagent.data.dataset import Dataset, ensure_synthetic

    return Dataset(data).check() if data is not None else ensure_synthetic()


SANDBOX_OPTION = click_option("sandbox")
DATA_OPTION = click_option("data")


def run_command(command: click.Command, argv: Sequence[str] | None, prog_name: str) -> int:
    """Run a click command as a program and return its exit status: 2 with a one-line message for a usage error
    or a HepAgentError (a bad input the user can fix), the command's own status otherwise."""
    from pytest_hepagent.errors import HepAgentError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        command.main(args=list(argv) if argv is not None else None, prog_name=prog_name, standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:  # --help
        return int(exc.exit_code)
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 1
    except HepAgentError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0
