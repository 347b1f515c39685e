"""The HTML report: numbers against the records, escaping, pytest-html, and a real browser (headless Chromium)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_hepagent.matrix.cells import cells_from_records
from pytest_hepagent.records import read_records, record_from_json
from pytest_hepagent.report import render_report
from pytest_hepagent.report.demo import write_generated_run
from pytest_hepagent.report.run import load_run, trial_page_name
from pytest_hepagent.resources import failure_cassette_dir

FAILURES = failure_cassette_dir()
# Screenshots: where HEPAGENT_TEST_ARTIFACTS says (CI keeps them), else a temporary folder, never the checkout.
ARTIFACTS = Path(os.environ.get("HEPAGENT_TEST_ARTIFACTS") or Path(tempfile.gettempdir()) / "hepagent-test-artifacts")
HOSTILE = '<script>window.__pwned = 1</script></textarea><img src=x onerror="window.__pwned = 2">'


def _pytest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory, hepagent_solution: Path) -> Path:
    """A real run: the oracle and three failure cassettes on three steps, one of whose code is hostile HTML."""
    root = tmp_path_factory.mktemp("small-run")
    cassettes = root / "c"
    cassettes.mkdir()
    (cassettes / "categorization-trial1.yaml").write_text((FAILURES / "semantic-2.yaml").read_text())
    (cassettes / "preprocessing-trial1.yaml").write_text((FAILURES / "file-not-found-1.yaml").read_text())
    hostile = (FAILURES / "other-2.yaml").read_text().replace('print("boundaries: " + )', f"print('{HOSTILE}' + )")
    assert HOSTILE in hostile
    (cassettes / "ntuple_conversion-trial1.yaml").write_text(
        hostile.replace("step: categorization", "step: ntuple_conversion")
    )
    run = _pytest(
        root,
        "--hep-model=hepagent/oracle",
        "--hep-model=hepagent/replay",
        f"--hep-replay={cassettes}",
        "--hep-steps=ntuple_conversion,preprocessing,categorization",
        f"--hep-report-dir={root / 'reports'}",
    )
    assert "3 failed, 3 passed" in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]
    assert "report: " in run.stdout
    (run_dir,) = (root / "reports").iterdir()
    return run_dir


def test_every_run_writes_its_report_and_the_figures_show_the_records(small_run: Path) -> None:
    index = (small_run / "index.html").read_text()
    records = read_records(small_run / "results.jsonl")
    for cell in cells_from_records(records):  # Fig. 2a: one heatmap cell per model x step, with the counts
        match = re.search(
            rf'<g class="cell" data-row="{re.escape(cell.model)}" data-col="{cell.step}" '
            rf'data-passed="(\d+)" data-total="(\d+)"',
            index,
        )
        assert match is not None and (int(match[1]), int(match[2])) == (cell.passed, cell.total)
    calls = {(r.model, r.step): r.api_calls for r in records}
    for (model, step), n in calls.items():  # Fig. 4: mean API calls (one trial per cell here)
        assert f'data-group="{step}" data-series="{model}" data-value="{n:.6g}"' in index
    failed = [r for r in records if r.outcome == "failed"]
    for r in failed:  # Table I has each failure under its category and step
        category = str(r.category.final)
        assert re.search(rf'data-category="{re.escape(category)}" data-step="{r.step}">1<', index)
    assert 'id="fig-myy"' in index and 'id="fig-scores"' in index  # Fig. 6 from the golden outputs
    for r in records:
        assert (small_run / "pages" / trial_page_name(r)).is_file()


def test_rendering_again_from_the_stored_records_gives_the_same_report(small_run: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_hepagent.report", str(small_run), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "6 trial pages" in done.stdout
    assert (tmp_path / "index.html").read_text() == (small_run / "index.html").read_text()


def test_model_output_is_escaped(small_run: Path) -> None:
    page = (small_run / "pages" / "ntuple_conversion--hepagent_replay-trial1.html").read_text()
    assert "<script>window.__pwned" not in page and "</textarea><img" not in page
    assert "&lt;script&gt;" in page or "&lt;/" in page


def test_a_missing_run_folder_is_a_one_line_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_hepagent.report", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "no results.jsonl; give a run folder such as reports/<run-id>" in done.stderr


def test_the_report_shows_the_gate_against_a_baseline(small_run: Path, tmp_path: Path) -> None:
    run = load_run(small_run)
    assert run.summary is not None
    summary = run.summary.to_json()
    summary["gate"] = [
        {
            "model": "hepagent/replay",
            "step": "categorization",
            "verdict": "REGRESSED",
            "passed": 0,
            "total": 1,
            "base_passed": 10,
            "base_total": 10,
            "p_value": 0.0909,
            "reason": "drop",
        }
    ]
    copy = tmp_path / "run"
    shutil.copytree(small_run, copy)
    (copy / "summary.json").write_text(json.dumps(summary))
    render_report(copy)
    index = (copy / "index.html").read_text()
    assert 'class="gate-row" data-verdict="REGRESSED"' in index and "-100 pts" in index


def test_pytest_html_gets_the_trial_columns_and_links_under_xdist(tmp_path: Path, hepagent_solution: Path) -> None:
    cassettes = tmp_path / "c"
    cassettes.mkdir()
    (cassettes / "categorization-trial1.yaml").write_text((FAILURES / "semantic-2.yaml").read_text())
    run = _pytest(
        tmp_path,
        "--hep-model=hepagent/replay",
        "--hep-model=hepagent/oracle",
        f"--hep-replay={cassettes}",
        "--hep-steps=categorization",
        f"--hep-report-dir={tmp_path / 'reports'}",
        f"--html={tmp_path / 'html' / 'report.html'}",
        "-n",
        "2",
    )
    assert "1 failed, 1 passed" in run.stdout, run.stdout[-2000:]
    html = (tmp_path / "html" / "report.html").read_text()
    for column in ("Model", "Step", "Trial", "Category", "Cost USD"):
        assert f"<th>{column}</th>" in html
    assert "semantic error" in html and "hepagent/oracle" in html
    assert "pages/categorization--hepagent_replay-trial1.html" in html and "trial page" in html


# ---------------------------------------------------------------------------------------------- in the browser
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        if os.environ.get("HEPAGENT_REQUIRE_BROWSER"):
            pytest.fail("chromium and chromedriver are required (apt-get install chromium chromium-driver)")
        pytest.skip("no chromium/chromedriver here (apt-get install chromium chromium-driver)")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1800"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    yield driver
    driver.quit()


def _open(browser: Any, page: Path) -> list[dict[str, Any]]:
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(page.as_uri())
    return [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def _check_index(browser: Any, run_dir: Path, shot: str) -> None:
    problems = _open(browser, run_dir / "index.html")
    assert problems == [], problems
    figures = browser.execute_script(
        "return Array.from(document.querySelectorAll('figure.chart')).map(f => {"
        " const svg = f.querySelector('svg'); const box = svg.getBoundingClientRect();"
        " return [f.id, box.width, box.height, svg.querySelectorAll('rect,polyline,line').length]; });"
    )
    assert {f[0] for f in figures} >= {"fig-success", "fig-errors", "fig-work", "fig-calls", "fig-cost"}
    for fig_id, width, height, marks in figures:
        assert width > 100 and height > 30 and marks > 0, fig_id
    records = read_records(run_dir / "results.jsonl")
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("css selector", "select[data-filter=outcome]")).select_by_visible_text("failed")
    visible = browser.execute_script("return document.querySelectorAll('#trials tr.trial:not([hidden])').length")
    assert visible == sum(r.outcome == "failed" for r in records)
    model = records[0].model
    Select(browser.find_element("css selector", "select[data-filter=model]")).select_by_visible_text(model)
    visible = browser.execute_script("return document.querySelectorAll('#trials tr.trial:not([hidden])').length")
    assert visible == sum(r.outcome == "failed" and r.model == model for r in records)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / shot))
    assert (ARTIFACTS / shot).stat().st_size > 10_000


def test_the_small_report_in_chromium(browser: Any, small_run: Path) -> None:
    _check_index(browser, small_run, "report-small.png")
    for page in sorted((small_run / "pages").glob("*.html")):
        problems = _open(browser, page)
        assert problems == [], (page.name, problems)
        assert browser.execute_script("return window.__pwned === undefined")
    hostile = small_run / "pages" / "ntuple_conversion--hepagent_replay-trial1.html"
    _open(browser, hostile)
    assert "window.__pwned = 1" in browser.find_element("tag name", "body").text  # shown as text, not run
    assert browser.execute_script("return window.__pwned === undefined")


def test_a_thousand_trial_report_in_chromium(browser: Any, tmp_path: Path) -> None:
    run_dir = write_generated_run(tmp_path / "generated-1000", models=20, trials=10)
    result = render_report(run_dir)
    assert result.trial_pages == 1000
    assert result.index.stat().st_size < 5_000_000
    _check_index(browser, run_dir, "report-1000.png")
    cells = browser.execute_script("return document.querySelectorAll('#fig-success g.cell').length")
    assert cells == 100


def test_the_comparison_page_in_chromium(browser: Any, tmp_path: Path) -> None:
    """`hepagent compare --html` on two generated runs of three models: every cell's row, its interval drawn, the
    gate's verdict as the command's exit status; a screenshot for CI's artifacts."""
    from pytest_hepagent.matrix.baseline import load_baseline_cells
    from pytest_hepagent.matrix.comparison import compare_cells

    before = write_generated_run(tmp_path / "before", models=3, trials=10, seed=0)
    after = write_generated_run(tmp_path / "after", models=3, trials=10, seed=1)
    page = tmp_path / "compare.html"
    done = subprocess.run(
        [sys.executable, "-m", "pytest_hepagent", "compare", str(before), str(after), "--html", str(page)],
        capture_output=True,
        text=True,
        check=False,
    )
    expected = compare_cells(load_baseline_cells(before), load_baseline_cells(after))
    assert done.returncode == expected.exit_status, done.stdout + done.stderr
    problems = _open(browser, page)
    assert problems == [], problems
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('tr.compare-row')).map(r => {"
        " const dot = r.querySelector('svg circle'); const box = dot ? dot.getBoundingClientRect() : {width: 0};"
        " return [r.dataset.model, r.dataset.step, r.dataset.verdict, +r.dataset.difference, box.width]; });"
    )
    assert len(rows) == len(expected.cells) == 15
    for (model, step, verdict, difference, width), cell in zip(rows, expected.cells, strict=True):
        assert (model, step, verdict) == (cell.model, cell.step, cell.verdict.verdict)
        assert difference == pytest.approx(cell.difference, abs=1e-6)
        assert width > 3  # the interval's marker is drawn
    overall = browser.execute_script("return document.querySelectorAll('tr.overall-row').length")
    assert overall == 4  # each model, and all three together
    status = browser.find_element("id", "gate-status").text
    assert status == expected.line == done.stdout.splitlines()[-1]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "compare.png"))
    assert (ARTIFACTS / "compare.png").stat().st_size > 10_000


def test_the_gate_line_heads_a_gated_runs_report_in_chromium(
    browser: Any, tmp_path: Path, hepagent_solution: Path
) -> None:
    """A gated run whose step collapsed: its report opens on the gate's line, where a reader sees it first; a
    screenshot for CI's artifacts."""
    from pytest_hepagent.records import ResultsStore

    cassettes = tmp_path / "c"
    cassettes.mkdir()
    (cassettes / "categorization.yaml").write_text((FAILURES / "semantic-2.yaml").read_text())
    store = ResultsStore(tmp_path / "base")
    for trial in range(1, 11):
        store.append(
            record_from_json(
                {
                    "schema_version": 1,
                    "run_id": "b",
                    "key": f"openai/o3|categorization|{trial}",
                    "model": "openai/o3",
                    "step": "categorization",
                    "trial": trial,
                    "outcome": "passed",
                }
            )
        )
    done = _pytest(
        tmp_path,
        "--hep-model=hepagent/replay",
        f"--hep-replay={cassettes}",
        "--hep-steps=categorization",
        "--hep-trials=3",
        "--hep-max-trials=10",
        f"--hep-baseline={tmp_path / 'base'}",
        f"--hep-report-dir={tmp_path / 'reports'}",
    )
    assert done.returncode == 1, done.stdout[-2000:]
    line = done.stdout.splitlines()[-1]
    assert line.startswith("gate: FAIL (exit 1): 1 REGRESSED (hepagent/replay categorization")
    (run_dir,) = (tmp_path / "reports").iterdir()
    problems = _open(browser, run_dir / "index.html")
    assert problems == [], problems
    shown = browser.find_element("id", "gate-line")
    assert shown.text == line
    assert shown.rect["y"] < 150 and "REGRESSED" in shown.get_attribute("class")  # above the fold, in red
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "report-gate.png"))
    assert (ARTIFACTS / "report-gate.png").stat().st_size > 10_000
