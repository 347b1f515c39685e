"""Task specs (`task_specs/<step>.yaml`): what each step must produce and how its outputs are compared.

This module reads and validates the `outputs` part; every invalid spec raises a one-line `SpecError` naming the
file, the key and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pytest_hepagent.errors import SpecError, did_you_mean
from pytest_hepagent.resources import spec_dir

__all__ = ["OutputCheck", "TaskSpec", "load_spec", "load_specs"]

SPEC_VERSION = 1

Kind = Literal["array", "root_summary"]
_KINDS = ("array", "root_summary")
_ROW_ORDERS = ("strict", "any")
_COLUMN_SETS = ("ntuple", "sample")
_OUTPUT_KEYS = {"kind", "description", "rtol", "atol", "row_order", "columns"}
_SPEC_KEYS = {"schema_version", "step", "index", "title", "outputs", "timeout_s"}


@dataclass(frozen=True)
class OutputCheck:
    """How one output file is compared with its golden counterpart."""

    path: str
    kind: Kind = "array"
    description: str = ""
    rtol: float = 0.0
    atol: float = 0.0
    row_order: Literal["strict", "any"] = "strict"
    """`any`: rows may come in any order (both arrays are sorted row-wise before comparing)."""
    columns: str | None = None
    """Named column set for per-column diagnostics: `ntuple` or `sample`."""


@dataclass(frozen=True)
class TaskSpec:
    step: str
    index: int
    title: str
    outputs: tuple[OutputCheck, ...]
    timeout_s: float
    source: Path


def _fail(path: Path, key: str, problem: str, fix: str) -> SpecError:
    return SpecError(f"{path}: {key}: {problem}; {fix}")


def _number(path: Path, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _fail(path, key, f"must be a non-negative number, got {value!r}", "write e.g. 1.0e-6")
    return float(value)


def _choice(path: Path, key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _fail(
            path,
            key,
            f"{value!r} is not allowed{did_you_mean(str(value), allowed)}",
            f"use one of {', '.join(allowed)}",
        )
    return str(value)


def _output(path: Path, rel: str, raw: Any) -> OutputCheck:
    key = f"outputs.{rel}"
    if not isinstance(raw, dict):
        raise _fail(path, key, "must be a mapping of settings", "see task_specs/README.md")
    for name in raw:
        if name not in _OUTPUT_KEYS:
            raise _fail(
                path,
                f"{key}.{name}",
                f"unknown setting{did_you_mean(name, _OUTPUT_KEYS)}",
                f"allowed settings are {', '.join(sorted(_OUTPUT_KEYS))}",
            )
    columns = raw.get("columns")
    return OutputCheck(
        path=rel,
        kind=_choice(path, f"{key}.kind", raw.get("kind", "array"), _KINDS),  # type: ignore[arg-type]
        description=str(raw.get("description", "")),
        rtol=_number(path, f"{key}.rtol", raw.get("rtol", 0.0)),
        atol=_number(path, f"{key}.atol", raw.get("atol", 0.0)),
        row_order=_choice(path, f"{key}.row_order", raw.get("row_order", "strict"), _ROW_ORDERS),  # type: ignore[arg-type]
        columns=None if columns is None else _choice(path, f"{key}.columns", columns, _COLUMN_SETS),
    )


def load_spec(path: Path) -> TaskSpec:
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SpecError(f"{path}: cannot read task spec ({exc.strerror}); check the path") from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", -1) + 1
        raise SpecError(f"{path}:{line}: invalid YAML; fix the syntax at that line") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a task spec must be a YAML mapping; see task_specs/README.md")
    for name in raw:
        if name not in _SPEC_KEYS:
            raise _fail(
                path,
                name,
                f"unknown key{did_you_mean(name, _SPEC_KEYS)}",
                f"allowed keys are {', '.join(sorted(_SPEC_KEYS))}",
            )
    for name in ("schema_version", "step", "index", "outputs"):
        if name not in raw:
            raise _fail(path, name, "missing", "add it (see task_specs/README.md)")
    if raw["schema_version"] != SPEC_VERSION:
        raise _fail(
            path,
            "schema_version",
            f"version {raw['schema_version']!r} is not supported",
            f"this harness reads version {SPEC_VERSION}",
        )
    if not isinstance(raw["outputs"], dict) or not raw["outputs"]:
        raise _fail(
            path,
            "outputs",
            "must be a non-empty mapping of output path to settings",
            "list each output file the step writes",
        )
    outputs = tuple(_output(path, rel, settings) for rel, settings in raw["outputs"].items())
    return TaskSpec(
        step=str(raw["step"]),
        index=int(raw["index"]),
        title=str(raw.get("title", raw["step"])),
        outputs=outputs,
        timeout_s=_number(path, "timeout_s", raw.get("timeout_s", 600)),
        source=path,
    )


def load_specs(directory: Path | None = None) -> dict[str, TaskSpec]:
    """All specs of a folder (default: the shipped `task_specs/`), keyed by step name, in step order."""
    specs = [load_spec(p) for p in sorted(Path(directory or spec_dir()).glob("*.yaml"))]
    return {s.step: s for s in sorted(specs, key=lambda s: s.index)}
