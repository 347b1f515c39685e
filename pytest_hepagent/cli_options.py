"""Click options shared by the `hepagent` commands (the main CLI and the workflow's job commands)."""

from __future__ import annotations

import click

from pytest_hepagent.sandbox.backends import DEFAULT_SANDBOX, SANDBOXES

__all__ = ["SANDBOX_OPTION"]

SANDBOX_OPTION = click.option(
    "--sandbox",
    type=click.Choice(SANDBOXES),
    default=DEFAULT_SANDBOX,
    show_default=True,
    help="Where generated code runs: bwrap (bubblewrap), or none (unconfined, with a warning)",
)
