"""Cassettes: the ordered responses of one agent trajectory, replayable through the harness.

Format (YAML, `cassette_version: 1`):

    cassette_version: 1
    step: categorization            # the step the trajectory belongs to
    recorded_with: openai/o3        # informational
    label: semantic error           # optional: the true error category of a failure cassette
    description: ...                # optional
    latency_s: 0.5                  # optional: replay waits this long per call (to mimic a provider)
    calls:                          # in the order the agent makes them
      - role: supervisor            # supervisor (initial) | coder | debugger (after an error) | reviewer | judge
        response: |
          ...
        input_tokens: 1418
        output_tokens: 925
        finish_reason: length       # optional: `length` when the answer was cut at the output cap (else stop)

Only model responses and token counts are stored: never prompts' secrets, API keys, headers or credentials.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pytest_hepagent.errors import SpecError

__all__ = [
    "CASSETTE_VERSION",
    "ROLES",
    "Cassette",
    "CassetteCall",
    "cassettes_by_step",
    "load_cassette",
    "save_cassette",
]

CASSETTE_VERSION = 1
ROLES = ("supervisor", "coder", "debugger", "reviewer", "judge")


@dataclass(frozen=True)
class CassetteCall:
    role: str
    response: str
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Cassette:
    step: str
    calls: tuple[CassetteCall, ...]
    recorded_with: str = ""
    label: str | None = None
    description: str = ""
    source: Path | None = field(default=None, compare=False)
    latency_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cassette_version": CASSETTE_VERSION,
            "step": self.step,
            "recorded_with": self.recorded_with,
        }
        if self.label:
            out["label"] = self.label
        if self.description:
            out["description"] = self.description
        if self.latency_s:
            out["latency_s"] = self.latency_s
        out["calls"] = [{k: v for k, v in asdict(c).items() if k != "finish_reason" or v != "stop"} for c in self.calls]
        return out


def _fail(path: Path, key: str, problem: str) -> SpecError:
    return SpecError(f"{path}: {key}: {problem}; see pytest_hepagent/llm/cassette.py for the format")


@lru_cache(maxsize=256)
def load_cassette(path: Path) -> Cassette:
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read cassette ({type(exc).__name__}); check the path and YAML") from None
    if not isinstance(raw, dict):
        raise _fail(path, "top level", "must be a mapping")
    if raw.get("cassette_version") != CASSETTE_VERSION:
        raise _fail(path, "cassette_version", f"must be {CASSETTE_VERSION}, got {raw.get('cassette_version')!r}")
    if not isinstance(raw.get("step"), str):
        raise _fail(path, "step", "missing")
    if not isinstance(raw.get("calls"), list) or not raw["calls"]:
        raise _fail(path, "calls", "must be a non-empty list")
    calls = []
    for i, call in enumerate(raw["calls"]):
        if not isinstance(call, dict) or call.get("role") not in ROLES or not isinstance(call.get("response"), str):
            raise _fail(path, f"calls[{i}]", f"needs a role ({', '.join(ROLES)}) and a response text")
        input_tokens, output_tokens = (
            _count(path, f"calls[{i}].{key}", call.get(key, 0)) for key in ("input_tokens", "output_tokens")
        )
        finish = call.get("finish_reason", "stop")
        if not isinstance(finish, str) or not finish:
            raise _fail(path, f"calls[{i}].finish_reason", f"stop or length, got {finish!r}")
        finish = "length" if finish == "max_tokens" else finish  # Anthropic's name for a cut answer
        calls.append(CassetteCall(call["role"], call["response"], input_tokens, output_tokens, finish))
    latency = raw.get("latency_s", 0.0)
    if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not 0 <= latency < math.inf:
        raise _fail(path, "latency_s", f"seconds to wait per call (a number >= 0), got {latency!r}")
    return Cassette(
        raw["step"],
        tuple(calls),
        str(raw.get("recorded_with", "")),
        raw.get("label"),
        str(raw.get("description", "")),
        path,
        float(latency),
    )


def _count(path: Path, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(path, key, f"a token count (a whole number >= 0), got {value!r}")
    return value


def _natural(path: Path) -> list[Any]:
    """`a-trial2` before `a-trial10`: names in the order a person reads them."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def cassettes_by_step(path: Path) -> dict[str, tuple[Path, ...]]:
    """The cassettes at `path` by their `step`: a file is its step's only cassette; a folder's `*.yaml` cassettes,
    whatever their names, go to their step in name order. `SpecError` names an unreadable one."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.glob("*.yaml"), key=_natural)
    found: dict[str, list[Path]] = {}
    for file in files:
        found.setdefault(load_cassette(file).step, []).append(file)
    return {step: tuple(paths) for step, paths in found.items()}


class _Literal(str):
    """A string YAML writes as a `|` block, so code stays readable in cassettes."""


def save_cassette(cassette: Cassette, path: Path) -> Path:
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    _Dumper.add_representer(_Literal, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|"))
    data = cassette.to_dict()
    for call in data["calls"]:
        call["response"] = _Literal(call["response"]) if "\n" in call["response"] else call["response"]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120))
    return path
