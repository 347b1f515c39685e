"""pytest-html integration: model/step/trial/category/cost columns and a link to each trial's page.

Registered only when pytest-html is active. The values come from the trial record each benchmark item carries in
its report's `user_properties`, so they reach the controller under xdist like the records do.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any

import pytest

from pytest_hepagent.records import Outcome, TrialRecord, record_from_json
from pytest_hepagent.report.run import trial_page_name

__all__ = ["HtmlReportHooks"]

_COLUMNS = ("Model", "Step", "Trial", "Category", "Cost USD")


class HtmlReportHooks:
    def __init__(self, record_property: str, pages_dir: Path) -> None:
        self.record_property = record_property
        self.pages_dir = pages_dir

    def _record(self, report: Any) -> TrialRecord | None:
        """The trial record the item's report carries (as JSON, what xdist sends), or None."""
        for name, value in getattr(report, "user_properties", ()):
            if name == self.record_property:
                return record_from_json(value)
        return None

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells[2:2] = [f"<th>{name}</th>" for name in _COLUMNS]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        record = self._record(report)
        values = (
            (record.model, record.step, record.trial, record.category.final or "", f"{record.cost_usd:.4f}")
            if record is not None
            else ("",) * len(_COLUMNS)
        )
        cells[2:2] = [f"<td>{escape(str(v))}</td>" for v in values]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        outcome = yield
        report = outcome.get_result()
        record = self._record(item)
        if record is None or report.when != ("setup" if record.outcome is Outcome.ERROR else "call"):
            return
        import pytest_html  # only registered when pytest-html is active

        html_path = item.config.getoption("htmlpath", None)
        page = self.pages_dir / trial_page_name(record)
        link = os.path.relpath(page, Path(html_path).resolve().parent) if html_path else page.as_uri()
        report.extras = [*getattr(report, "extras", []), pytest_html.extras.url(link, name="trial page")]
