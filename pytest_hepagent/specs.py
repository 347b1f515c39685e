"""Task specs (`task_specs/<step>.yaml`): the user prompt of each step, its inputs and outputs, how the outputs
are compared, and the system prompts of the agent (`task_specs/system/prompts.yaml`).

Specs are validated on load; every invalid spec raises a one-line `SpecError` naming the file, the key and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pytest_hepagent.analysis.columns import COLUMN_SETS, column_names
from pytest_hepagent.errors import SpecError, did_you_mean
from pytest_hepagent.resources import spec_dir

__all__ = ["OutputCheck", "SystemPrompts", "TaskSpec", "load_spec", "load_specs", "load_system_prompts"]

SPEC_VERSION = 1

Kind = Literal["array", "root_summary", "exists"]
_KINDS = ("array", "root_summary", "exists")
_ROW_ORDERS = ("strict", "any")
_COLUMN_SETS = tuple(COLUMN_SETS)
_OUTPUT_KEYS = {"kind", "description", "rtol", "atol", "row_order", "columns", "column_atol", "aligned_with", "why"}
_SPEC_KEYS = {"schema_version", "step", "index", "title", "outputs", "timeout_s", "inputs", "prompt"}
_INPUT_ROOTS = ("data/", "solution/")
_SYSTEM_ROLES = ("supervisor", "coder", "debugger", "reviewer")


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
    column_atol: tuple[tuple[str, float], ...] = ()
    """Absolute tolerances of single columns (by name in `columns`), where `atol` does not fit them all."""
    aligned_with: str | None = None
    """An input whose rows this output's rows belong to (step 4's scores, one per event of step 3's samples):
    compared as (input row, output value) pairs, so any valid row order of the input is judged the same."""
    why: str = ""
    """Why the tolerance is what it is (shown in the validation log)."""


@dataclass(frozen=True)
class TaskSpec:
    step: str
    index: int
    title: str
    outputs: tuple[OutputCheck, ...]
    timeout_s: float
    source: Path
    inputs: tuple[str, ...] = ()
    """Files the trial gets (`data/...` or `solution/...`), relative to the trial folder."""
    prompt_template: str = ""

    @property
    def output_paths(self) -> tuple[str, ...]:
        return tuple(o.path for o in self.outputs)

    def render_prompt(self) -> str:
        """The user prompt, with the spec's inputs and outputs filled in."""
        import jinja2

        template = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True).from_string(
            self.prompt_template
        )
        return template.render(inputs=list(self.inputs), outputs=list(self.output_paths))


@dataclass(frozen=True)
class SystemPrompts:
    supervisor: str
    coder: str
    debugger: str
    reviewer: str
    accept_phrase: str
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
    column_atol = raw.get("column_atol") or {}
    if not isinstance(column_atol, dict) or (column_atol and columns is None):
        raise _fail(path, f"{key}.column_atol", "a mapping of column name to atol", "name the `columns` set too")
    if column_atol:
        names = column_names(columns)
        for name in column_atol:
            _choice(path, f"{key}.column_atol.{name}", name, names)
    aligned = raw.get("aligned_with")
    if aligned is not None and not isinstance(aligned, str):
        raise _fail(path, f"{key}.aligned_with", "must be one of the step's inputs", "write e.g. solution/arrays/x.npy")
    return OutputCheck(
        path=rel,
        kind=_choice(path, f"{key}.kind", raw.get("kind", "array"), _KINDS),  # type: ignore[arg-type]
        description=str(raw.get("description", "")),
        rtol=_number(path, f"{key}.rtol", raw.get("rtol", 0.0)),
        atol=_number(path, f"{key}.atol", raw.get("atol", 0.0)),
        row_order=_choice(path, f"{key}.row_order", raw.get("row_order", "strict"), _ROW_ORDERS),  # type: ignore[arg-type]
        columns=None if columns is None else _choice(path, f"{key}.columns", columns, _COLUMN_SETS),
        column_atol=tuple((str(n), _number(path, f"{key}.column_atol.{n}", v)) for n, v in column_atol.items()),
        aligned_with=aligned,
        why=" ".join(str(raw.get("why", "")).split()),
    )


def _inputs(path: Path, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise _fail(path, "inputs", "must be a list of paths", "write one `- data/...` or `- solution/...` per line")
    for rel in raw:
        if not rel.startswith(_INPUT_ROOTS) or ".." in Path(rel).parts:
            raise _fail(path, f"inputs: {rel}", "inputs live under data/ or solution/", "fix the path")
    return tuple(raw)


def _prompt(path: Path, template: Any, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> str:
    import jinja2

    if not isinstance(template, str) or not template.strip():
        raise _fail(path, "prompt", "missing or empty", "write the step's user prompt (a Jinja2 template)")
    try:
        jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render(
            inputs=list(inputs), outputs=list(outputs)
        )
    except jinja2.TemplateSyntaxError as exc:
        raise _fail(
            path, "prompt", f"Jinja2 syntax error at template line {exc.lineno}: {exc.message}", "fix the template"
        ) from None
    except (jinja2.UndefinedError, IndexError) as exc:
        raise _fail(
            path,
            "prompt",
            f"the template uses something that is not there ({exc})",
            "use only `inputs` and `outputs`, within their lengths",
        ) from None
    return template


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
    for name in ("schema_version", "step", "index", "outputs", "prompt"):
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
    inputs = _inputs(path, raw.get("inputs", []))
    for output in outputs:
        if output.aligned_with is not None and output.aligned_with not in inputs:
            raise _fail(
                path, f"outputs.{output.path}.aligned_with", f"{output.aligned_with} is not an input", "name an input"
            )
    prompt = _prompt(path, raw.get("prompt", ""), inputs, tuple(o.path for o in outputs))
    return TaskSpec(
        inputs=inputs,
        prompt_template=prompt,
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


def load_system_prompts(path: Path | None = None) -> SystemPrompts:
    """The agent's system prompts (default: the shipped `task_specs/system/prompts.yaml`)."""
    import yaml

    path = Path(path or spec_dir() / "system" / "prompts.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read system prompts ({type(exc).__name__}); check the file") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: system prompts must be a YAML mapping; see task_specs/README.md")
    for key in (*_SYSTEM_ROLES, "accept_phrase"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _fail(path, key, "missing or empty", "write that system prompt")
    if raw["accept_phrase"] not in raw["reviewer"]:
        raise _fail(path, "reviewer", "does not contain the accept_phrase", "tell the reviewer how to accept")
    return SystemPrompts(**{k: raw[k] for k in (*_SYSTEM_ROLES, "accept_phrase")}, source=path)
