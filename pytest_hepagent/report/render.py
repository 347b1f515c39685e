"""Render a run folder into `index.html` and one page per trial under `pages/`: self-contained, offline."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from pytest_hepagent.matrix.cells import Cell, chain_cells
from pytest_hepagent.matrix.comparison import RunComparison
from pytest_hepagent.matrix.propagation import propagation
from pytest_hepagent.matrix.table_one import table_one_counts
from pytest_hepagent.records import PASS_K, Category, TrialRecord
from pytest_hepagent.report import svg
from pytest_hepagent.report.environment import environment
from pytest_hepagent.report.run import RunData, load_run, trial_page_name
from pytest_hepagent.report.trial_page import HIGHLIGHT_CSS, trial_context
from pytest_hepagent.stats import INTERVAL_NAMES, INTERVALS, Interval

__all__ = ["PAGES", "RenderResult", "render_report"]

PAGES = "pages"
"""Trial pages go here; `trials/` holds the trial folders themselves."""


@dataclass(frozen=True)
class RenderResult:
    index: Path
    trial_pages: int
    seconds: float


def _success_figure(run: RunData, cells: list[Cell]) -> str:
    by_cell = {
        (c.model, c.step): {
            "passed": c.passed,
            "total": c.total,
            "fraction": c.fraction,
            "error": c.error,
            "low": c.interval[0],
            "high": c.interval[1],
        }
        for c in cells
    }
    return svg.heatmap("fig-success", "Success fraction (Fig. 2a)", run.models, run.steps, by_cell)


def _bars(run: RunData, field: str, fig_id: str, title: str, unit: str = "") -> str:
    stats = run.per_step(field)
    groups = [
        (step, [svg.Bar(model, *stats[model, step][:2]) for model in run.models if (model, step) in stats])
        for step in run.steps
    ]
    return svg.bar_chart(fig_id, title, groups, unit)


def _physics_figures(run: RunData) -> list[str]:
    """Fig. 6 from the golden outputs of the run's dataset (when this machine has them cached)."""
    import numpy as np

    from pytest_hepagent.golden.regenerate import cached_solution_dir

    digest = (run.summary.hashes if run.summary else {}).get("dataset") or next(
        (r.hashes["dataset"] for r in run.records if r.hashes.get("dataset")), None
    )
    solution = cached_solution_dir(str(digest)) if digest else None
    if solution is None:
        return []
    arrays = solution / "arrays"
    figures = []
    try:
        signal, bkgd = np.load(arrays / "signal.npy"), np.load(arrays / "bkgd.npy")
        edges = np.linspace(105.0, 160.0, 56)
        series = []
        for label, sample in (("signal (Higgs MC)", signal), ("background (NTI data, SF1·SF2)", bkgd)):
            counts, _ = np.histogram(sample[:, 0], edges, weights=sample[:, 6])
            area = counts.sum() * (edges[1] - edges[0])
            series.append(svg.Series(label, list(edges[:-1]), list(counts / area if area else counts)))
        figures.append(svg.histogram("fig-myy", "m_yy after selection (Fig. 6)", series, "m_yy [GeV]"))
        s_scores, b_scores = np.load(arrays / "signal_scores.npy"), np.load(arrays / "bkgd_scores.npy")
        boundaries = np.load(arrays / "boundaries.npy") if (arrays / "boundaries.npy").is_file() else np.array([])
        edges = np.linspace(0.0, 1.0, 51)
        series = []
        for label, scores, sample in (("signal", s_scores, signal), ("background", b_scores, bkgd)):
            counts, _ = np.histogram(scores, edges, weights=sample[:, 6] if len(sample) == len(scores) else None)
            area = counts.sum() * (edges[1] - edges[0])
            series.append(svg.Series(label, list(edges[:-1]), list(counts / area if area else counts)))
        marks = [float(b) for b in boundaries[1:-1]]
        figures.append(
            svg.histogram(
                "fig-scores", "Classifier score and category boundaries (Fig. 6)", series, "S-B classifier score", marks
            )
        )
    except (OSError, ValueError, IndexError):
        return figures
    return figures


def _trial_rows(run: RunData) -> list[dict[str, Any]]:
    rows = []
    for r in sorted(
        run.records,
        key=lambda r: (r.model, run.steps.index(r.step) if r.step in run.steps else 99, r.trial),
    ):
        category = run.categories.get(r.key)
        rows.append(
            {
                "record": r,
                "page": f"{PAGES}/{trial_page_name(r)}",
                "category": run.category(r),
                "disagree": category is not None and category.disagree,
                "tokens": r.tokens.total,
            }
        )
    return rows


def _baseline_changes(run: RunData) -> list[dict[str, Any]]:
    rows = []
    for v in (run.summary.gate if run.summary else None) or ():
        run_f = v.passed / v.total if v.total else 0.0
        base_f = v.base_passed / v.base_total if v.base_total else None
        rows.append(
            {
                **asdict(v),
                "run_fraction": run_f,
                "base_fraction": base_f,
                "delta": run_f - base_f if base_f is not None else None,
            }
        )
    return rows


def render_report(
    run_dir: Path,
    out_dir: Path | None = None,
    *,
    comparison: RunComparison | None = None,
    isolated: Sequence[TrialRecord] | None = None,
) -> RenderResult:
    """Write `index.html` and `pages/*.html` for the run in `run_dir` (into `out_dir`, default the run folder);
    with `comparison` (this run against its baseline) also `compare.html`, linked from the index; `isolated` are a
    companion run's unchained trials, for the error propagation of a chained run."""
    start = time.perf_counter()
    run = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir)
    (out / PAGES).mkdir(parents=True, exist_ok=True)
    env = environment()
    from pytest_hepagent.report.compare_page import COMPARE_PAGE, render_comparison

    if comparison is not None:
        render_comparison(comparison, out / COMPARE_PAGE)
    compare_page = COMPARE_PAGE if (out / COMPARE_PAGE).is_file() else None  # kept when rendered again
    common = {"css": Markup(HIGHLIGHT_CSS), "run_id": run.run_id}  # Pygments' own stylesheet
    cells = run.cells
    interval = _interval(run)
    by_model = run.failure_counts("model")
    error_order = [c for c in _category_names() if any(c in row for row in by_model.values())]
    figures = [
        _success_figure(run, cells),
        svg.stacked_bars(
            "fig-errors",
            "Error categories per model (Fig. 2b)",
            run.models,
            by_model,
            error_order or _category_names(),
        ),
        _bars(run, "agent_work", "fig-work", "Agent work per step (Fig. 3)"),
        _bars(run, "api_calls", "fig-calls", "API calls per step (Fig. 4)"),
        _bars(run, "cost_usd", "fig-cost", "Cost per trial and step, USD (Fig. 5)", ""),
        *_physics_figures(run),
    ]
    index = env.get_template("index.html.j2").render(
        **common,
        run=run,
        summary=run.summary,
        config=run.config.get("config") or (run.summary.config if run.summary else None) or run.config,
        cells=cells,
        chains=chain_cells(run.records),
        propagation=propagation(run.records, isolated),
        interval_name=INTERVAL_NAMES[interval],
        intervals={(c.model, c.step): c.interval_by(interval) for c in cells},
        pass_k=[k for k in PASS_K if k > 1],
        compare_page=compare_page,
        total_cost=sum(c.cost_usd for c in cells),
        total_tokens=sum(c.tokens for c in cells),
        figures=[Markup(f) for f in figures],  # built by svg.py, which escapes every label
        table_one=table_one_counts(run.records, run.categories, run.steps),
        trials=_trial_rows(run),
        baseline=_baseline_changes(run),
        categories=_category_names(),
        definitions=_definitions(),
        sandboxes=_sandboxes(run.records),
    )
    # Everything from a model or a trial's code is text the harness did not choose: lone surrogates are escaped.
    (out / "index.html").write_text(index, encoding="utf-8", errors="backslashreplace")
    trial_template = env.get_template("trial.html.j2")
    for record in run.records:
        context = trial_context(record, run.categories.get(record.key))
        page = trial_template.render(**common, **context)
        (out / PAGES / trial_page_name(record)).write_text(page, encoding="utf-8", errors="backslashreplace")
    return RenderResult(out / "index.html", len(run.records), time.perf_counter() - start)


def _interval(run: RunData) -> Interval:
    """The interval the run asked for (`--hep-interval`), Wilson when its settings do not say."""
    settings = run.config.get("config") or (run.summary.config if run.summary else None) or run.config
    chosen = settings.get("interval") if isinstance(settings, dict) else None
    return next((i for i in INTERVALS if i == chosen), "wilson")


def _sandboxes(records: list[TrialRecord]) -> list[dict[str, Any]]:
    """The sandboxes the run's trials ran in (backend, version, confined), with how many trials each."""
    found: dict[tuple[str, str, bool], int] = {}
    for r in records:
        sb = r.sandbox
        key = (str(sb.get("backend") or "unknown"), str(sb.get("version") or ""), sb.get("confined") is not False)
        found[key] = found.get(key, 0) + 1
    return [{"backend": b, "version": v, "confined": c, "trials": n} for (b, v, c), n in found.items()]


def _definitions() -> dict[str, str]:
    return {c.value: c.definition for c in Category}


def _category_names() -> list[str]:
    return [c.value for c in Category]
