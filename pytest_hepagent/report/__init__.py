"""The HTML report of a run: `reports/<run-id>/index.html` and a page per trial, self-contained and offline."""

from __future__ import annotations

from pytest_hepagent.report.render import RenderResult, render_report

__all__ = ["RenderResult", "render_report"]
