"""The comparison page: `hepagent compare --html` and `compare.html` in the report of a run with a baseline."""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

from pytest_hepagent.matrix.comparison import RunComparison
from pytest_hepagent.matrix.gate import ALL_STEPS, failing
from pytest_hepagent.report.environment import environment
from pytest_hepagent.report.trial_page import HIGHLIGHT_CSS

__all__ = ["COMPARE_PAGE", "render_comparison"]

COMPARE_PAGE = "compare.html"


def render_comparison(comparison: RunComparison, path: Path) -> Path:
    """Write the comparison page to `path` (self-contained, offline, like the report)."""
    undecided = [v for v in comparison.verdicts if v.verdict in failing(comparison.policy)]
    compared = {(cell.model, cell.step) for cell in comparison.cells}
    others = [v for v in comparison.verdicts if v.step != ALL_STEPS and (v.model, v.step) not in compared]
    page = (
        environment()
        .get_template("compare.html.j2")
        .render(
            css=Markup(HIGHLIGHT_CSS),
            c=comparison,
            undecided=undecided,
            others=others,
            overall_verdicts={v.model: v for v in comparison.models_overall},
        )
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8", errors="backslashreplace")
    return path
