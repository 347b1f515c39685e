"""Two runs (or two models) side by side: what `hepagent compare` prints and the report's comparison page shows.

Per model x step: the difference in success with Newcombe's interval, Fisher's exact two-sided p-value and its
Holm adjustment across the cells (descriptive), and the gate's verdicts on the current run against the baseline (the
same function as `--hep-baseline`, so compare and the gate agree on the exit status). Per model, and for the whole run when it
has several models: the difference stratified by step (Mantel-Haenszel, with the Cochran-Mantel-Haenszel test),
so that a run with more trials of an easy step is not credited for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from pytest_hepagent.matrix.cells import Cell, Verdict
from pytest_hepagent.matrix.gate import (
    ALL_STEPS,
    DEFAULT_MARGIN,
    Adjust,
    Undecided,
    gate,
    gate_line,
    paired_models,
    run_exit_status,
)
from pytest_hepagent.stats import (
    ALPHA,
    Interval,
    StratifiedDifference,
    fisher_pvalue,
    holm,
    newcombe_difference,
    stratified_difference,
)

__all__ = ["CellComparison", "OverallComparison", "RunComparison", "compare_cells"]

ALL_MODELS = "all models"


@dataclass(frozen=True)
class CellComparison:
    """One model x step of the current run against the same cell of the baseline."""

    verdict: Verdict
    """The gate's verdict (counts, one-sided p, detectable drop, trials needed, reason)."""
    difference: float
    """Current minus baseline success."""
    low: float
    high: float
    """Newcombe's 95% interval of the difference."""
    p_value: float
    """Fisher's exact test, two-sided: is there any difference?"""
    p_holm: float
    """The two-sided p-value Holm-adjusted across the compared cells (the same as `p_value` with adjust "none").
    Descriptive: the verdict is the gate's, from its boundaries."""

    @property
    def model(self) -> str:
        return self.verdict.model

    @property
    def step(self) -> str:
        return self.verdict.step


@dataclass(frozen=True)
class OverallComparison:
    """A model's (or the whole run's) difference over its steps."""

    model: str
    """The model, or ALL_MODELS for every model x step together."""
    result: StratifiedDifference


@dataclass(frozen=True)
class RunComparison:
    baseline: str
    current: str
    """What was compared: run folders or files (and models, with --model-a/--model-b)."""
    cells: tuple[CellComparison, ...]
    """Cells with trials on both sides."""
    verdicts: tuple[Verdict, ...]
    """Every verdict of the gate: the cells', NEW and MISSING ones, and each model's over its steps."""
    overall: tuple[OverallComparison, ...]
    alpha: float
    detect_drop: float
    """The margin: OK rules out a drop this large."""
    interval: Interval
    adjust: Adjust = "bonferroni"
    policy: Undecided = "fail"
    """What an UNDECIDED cell does to the exit status."""

    def of_kind(self, *verdicts: str) -> list[Verdict]:
        return [v for v in self.verdicts if v.verdict in verdicts and v.step != ALL_STEPS]

    @property
    def models_overall(self) -> list[Verdict]:
        """Each model's verdict over its steps together."""
        return [v for v in self.verdicts if v.step == ALL_STEPS]

    @property
    def exit_status(self) -> int:
        """The gate's rule: 1 when a cell REGRESSED or is MISSING (or UNDECIDED, under the fail policy), or a model
        dropped over its steps."""
        return run_exit_status(0, self.verdicts, 0, self.policy)

    @property
    def line(self) -> str:
        """The gate's one-line decision."""
        return gate_line(self.verdicts, self.exit_status, self.policy)


def compare_cells(
    baseline: Sequence[Cell],
    current: Sequence[Cell],
    *,
    baseline_name: str = "baseline",
    current_name: str = "current",
    models: tuple[str, str] | None = None,
    alpha: float = ALPHA,
    floor: float | None = None,
    detect_drop: float = DEFAULT_MARGIN,
    interval: Interval = "wilson",
    adjust: Adjust = "bonferroni",
    steps: Sequence[str] | None = None,
    policy: Undecided = "fail",
    tests: int | None = None,
) -> RunComparison:
    """Compare `current` with `baseline`, cell by cell (same model and step; a run of one model against a run of
    another compares those two). With `models` = (A, B), model A of the baseline is compared with model B of the
    current cells, step by step (two models of one run, or of two); with `steps`, only those steps."""
    if models is None:
        models = paired_models(baseline, current)
    if models is not None:
        model_a, model_b = models
        baseline = [replace(c, model=model_b) for c in baseline if c.model == model_a]
        current = [c for c in current if c.model == model_b]
    if steps is not None:
        current = [c for c in current if c.step in steps]
    verdicts = gate(
        current, baseline, alpha, floor, margin=detect_drop, interval=interval, adjust=adjust, steps=steps, tests=tests
    )
    base = {(c.model, c.step): c for c in baseline}
    now = {(c.model, c.step): c for c in current}
    pairs = [
        (v, now[v.model, v.step], base[v.model, v.step])
        for v in verdicts
        if v.step != ALL_STEPS and v.verdict != "MISSING" and (b := base.get((v.model, v.step))) and b.total > 0
    ]
    p_values = [fisher_pvalue(c.passed, c.total, b.passed, b.total) for _, c, b in pairs]
    cells = tuple(
        CellComparison(v, *newcombe_difference(c.passed, c.total, b.passed, b.total), p, adjusted)
        for (v, c, b), p, adjusted in zip(
            pairs, p_values, holm(p_values) if adjust != "none" else p_values, strict=True
        )
    )
    return RunComparison(
        baseline_name,
        current_name,
        cells,
        tuple(verdicts),
        _overall(pairs),
        alpha,
        detect_drop,
        interval,
        adjust,
        policy,
    )


def _overall(pairs: Sequence[tuple[Verdict, Cell, Cell]]) -> tuple[OverallComparison, ...]:
    by_model: dict[str, list[tuple[int, int, int, int]]] = {}
    for _, c, b in pairs:
        by_model.setdefault(c.model, []).append((c.passed, c.total, b.passed, b.total))
    out = []
    for model, strata in sorted(by_model.items()):
        found = stratified_difference(strata)
        if found is not None:
            out.append(OverallComparison(model, found))
    if len(by_model) > 1:  # every model x step is a stratum: the run as a whole
        found = stratified_difference([s for strata in by_model.values() for s in strata])
        if found is not None:
            out.append(OverallComparison(ALL_MODELS, found))
    return tuple(out)
