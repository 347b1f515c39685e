"""Validate a step's outputs against the goldens and write the validation log (paper, appendix B.2 style)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pytest_hepagent.analysis.columns import column_names
from pytest_hepagent.compare.arrays import compare_aligned_files, compare_array_files
from pytest_hepagent.compare.result import OutputResult
from pytest_hepagent.compare.summary import compare_summary_files
from pytest_hepagent.sandbox.trial_files import UnsafeFile, open_regular
from pytest_hepagent.sandbox.untrusted import MAX_FILE_BYTES
from pytest_hepagent.specs import OutputCheck, TaskSpec

__all__ = ["StepValidation", "validate_step"]


@dataclass(frozen=True)
class StepValidation:
    """All output results of one step; passes only if every output does."""

    spec: TaskSpec
    outputs: tuple[OutputResult, ...]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)

    def summary(self) -> str:
        """One line per output: the compact form shown in a test failure."""
        lines = [f"Step {self.spec.index} ({self.spec.step}): {'PASS' if self.passed else 'FAIL'}"]
        for o in self.outputs:
            lines.append(f"  {'[OK]' if o.passed else '[X]'} {o.path}" + (f": {o.message}" if o.message else ""))
        return "\n".join(lines)

    def log(self) -> str:
        """The full validation log."""
        return _render(self)

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.spec.step, "passed": self.passed, "outputs": [o.to_dict() for o in self.outputs]}


def _exists(work: Path, check: OutputCheck) -> OutputResult:
    try:
        with open_regular(work, check.path, MAX_FILE_BYTES) as f:
            present = os.fstat(f.fileno()).st_size > 0
    except FileNotFoundError:
        present = False
    except UnsafeFile as exc:
        return OutputResult(check.path, "unreadable", str(exc))
    return OutputResult(
        check.path, "pass" if present else "missing", "" if present else f"{check.path} was not produced or is empty"
    )


@cache
def _produced_by(path: str) -> OutputCheck | None:
    """The check of the step that writes `path` (relative to an output folder)."""
    from pytest_hepagent.specs import load_specs

    return next((o for spec in load_specs().values() for o in spec.outputs if o.path == path), None)


def _validate(check: OutputCheck, work: Path, golden_dir: Path) -> OutputResult:
    reference = golden_dir / check.path
    if check.kind == "root_summary":
        return compare_summary_files(work, reference, check)
    if check.kind == "exists":
        return _exists(work, check)
    if check.aligned_with is None:
        return compare_array_files(work, reference, check, column_names(check.columns))
    rel = check.aligned_with.removeprefix("solution/")
    # A trial's work folder holds its inputs under solution/; an analysis folder (the reference's, `hepagent
    # validate`'s) holds them beside the outputs.
    given = check.aligned_with if (work / check.aligned_with).exists() else rel
    return compare_aligned_files(work, reference, check, given, golden_dir / rel, _produced_by(rel))


def validate_step(spec: TaskSpec, output_dir: Path, golden_dir: Path) -> StepValidation:
    """Compare each output of `spec` in `output_dir` (a trial's work folder: hostile) with the same relative path
    in `golden_dir`. Whatever goes wrong reading an output is that output's failure, in one line."""
    results = []
    for check in spec.outputs:
        try:
            results.append(_validate(check, Path(output_dir), Path(golden_dir)))
        except Exception as exc:  # noqa: BLE001 - a trial's output must never crash the harness or hide a failure
            first = (str(exc).splitlines() or [""])[0][:200]
            message = f"{check.path} could not be validated ({type(exc).__name__}: {first})"
            results.append(OutputResult(check.path, "unreadable", message))
    return StepValidation(spec, tuple(results))


def _render_output(o: OutputResult, lines: list[str]) -> None:
    name = Path(o.path).name
    lines.append(f"Validating {name}...")
    if o.passed:
        lines.append(
            f"[OK] {name} matches (shape {o.reference_shape}, max diff {o.max_diff:.6g})"
            if o.reference_shape is not None
            else f"[OK] {name} matches"
        )
        return
    if o.status in ("missing", "unreadable"):
        lines.append(f"[X] {o.message}")
    elif o.status == "shape":
        lines.append(f"[X] Shape mismatch: {o.generated_shape} vs {o.reference_shape}")
    elif o.status == "structure":
        lines.append(f"[X] {name} differs structurally: {o.message}")
        lines.extend(f"    {d}" for d in o.details)
    else:
        finite = o.mismatches
        lines.append(f"[X] {name} differs: NaN mask equal={o.nan_mask_equal}, mismatches={finite}/{o.total}")
        lines.append(f"diff stats: max={o.max_diff:.6g}, mean={o.mean_diff:.6g}")


def _render_details(o: OutputResult, lines: list[str], why: str = "") -> None:
    name = Path(o.path).name
    lines.append("")
    lines.append(f"Detailed analysis for {name} (rtol={o.rtol:g}, atol={o.atol:g}, row order: {o.row_order}):")
    if why:
        lines.append(f"Tolerance: {why}")
    lines.append(f"Generated shape: {o.generated_shape}, Reference shape: {o.reference_shape}")
    lines.append(f"[X] {o.mismatches} elements differ (out of {o.total} total)")
    lines.append(f"Sample numeric mismatches (first {len(o.first)} indices):")
    for m in o.first:
        index = m.index[0] if len(m.index) == 1 else m.index
        lines.append(f"Index {index}: gen={m.generated!r}, ref={m.reference!r}, diff={m.diff!r}")
    if o.generated_shape is not None and len(o.generated_shape) == 2:
        lines.append("Per-column analysis:")
        lines.extend(
            f"  column {c.column} ({c.name}): {c.mismatches} mismatches, max diff={c.max_diff:.6g}" for c in o.columns
        )
    else:
        lines.append("1D array - no column-by-column analysis needed")


def _render(v: StepValidation) -> str:
    spec = v.spec
    lines = [f"== Step {spec.index} Validation ({spec.step}) =="]
    for o in v.outputs:
        _render_output(o, lines)
    detailed = [o for o in v.outputs if o.status in ("values", "nan_mask")]
    if detailed:
        lines.append("")
        lines.append("Running detailed mismatch analysis...")
        whys = {c.path: c.why for c in spec.outputs}
        for o in detailed:
            _render_details(o, lines, whys.get(o.path, ""))
    lines += ["", "== VALIDATION SUMMARY ==", f"Step: {spec.index} ({spec.step})", "Files validated:"]
    lines.extend(f"- {Path(c.path).name} - {c.description}" for c in spec.outputs)
    lines.append("")
    lines.append(f"Step {spec.index} ({spec.step}): {'PASS' if v.passed else 'FAIL'}")
    lines.append("[OK] Validation passed" if v.passed else "[X] Validation failed")
    lines.append("")
    lines.append(f"Result: {int(v.passed)}/1 step passed")
    return "\n".join(lines) + "\n"
