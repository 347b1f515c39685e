"""`hepagent report RUN_DIR` (also `python -m pytest_hepagent.report`): render (again) the report of a stored run."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["report_command"]


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False), default=None, help="Where to write (default: RUN_DIR)"
)
def report_command(run_dir: Path, out: Path | None) -> None:
    """Render the HTML report of the stored run RUN_DIR (reports/<run-id>): index.html and a page per trial."""
    from pytest_hepagent.report.render import render_report

    try:
        result = render_report(run_dir, out)
    except FileNotFoundError as exc:
        raise click.BadParameter(str(exc), param_hint="'RUN_DIR'") from None
    click.echo(f"{result.index} ({result.trial_pages} trial pages, {result.seconds:.1f} s)")
