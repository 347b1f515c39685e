"""What one trial's page shows, from its record and the files the trial left (transcript, logs, code).

Everything here came from a model or a trial, so it is only ever handed to templates as text (Jinja2 escapes it)
or through Pygments, which escapes what it highlights.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, PythonLexer

from pytest_hepagent.errors import HepAgentError
from pytest_hepagent.records import CategoryVerdict, TrialRecord, read_transcript

__all__ = ["HIGHLIGHT_CSS", "trial_context"]

_FORMATTER = HtmlFormatter(cssclass="hl", nowrap=False)
HIGHLIGHT_CSS: str = _FORMATTER.get_style_defs(".hl")  # type: ignore[no-untyped-call]
_MAX_TEXT = 200_000
"""Characters of one log or stream shown on a page (the rest stays in the trial folder)."""


def _clip(value: Any) -> str:
    text: str = value if isinstance(value, str) else ""
    if len(text) > _MAX_TEXT:
        return text[:_MAX_TEXT] + f"\n[... {len(text) - _MAX_TEXT} more characters in the trial folder ...]"
    return text


def _read(path: Path) -> str:
    try:
        return _clip(path.read_bytes().decode("utf-8", errors="replace"))
    except OSError:
        return ""


def _transcript(record: TrialRecord) -> tuple[dict[str, Any], Path | None]:
    candidates = [record.logs["transcript"]] if record.logs.get("transcript") else []
    if record.trial_dir:
        candidates.append(str(Path(record.trial_dir) / "logs" / "transcript.json"))
    for candidate in candidates:
        path = Path(candidate)
        try:
            return read_transcript(path), path.parent
        except (OSError, HepAgentError):
            continue
    return {}, None


def _code(text: str) -> Markup:
    return Markup(highlight(_clip(text), PythonLexer(), _FORMATTER))  # Pygments escapes its input


def _diff(before: str, after: str, a: int, b: int) -> Markup:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"attempt {a}", f"attempt {b}"
    )
    text = "".join(lines) or "(no change)\n"
    return Markup(highlight(_clip(text), DiffLexer(), _FORMATTER))  # Pygments escapes its input


def trial_context(record: TrialRecord, category: CategoryVerdict | None) -> dict[str, Any]:
    """The template context of a trial page."""
    transcript, logs_dir = _transcript(record)
    agent: dict[str, Any] = transcript["agent"] if isinstance(transcript.get("agent"), dict) else {}
    calls: list[dict[str, Any]] = []
    for call in agent.get("calls") or []:
        if not isinstance(call, dict):
            continue
        calls.append(
            {
                "index": call.get("index"),
                "role": str(call.get("role", "")),
                "model": str(call.get("model", "")),
                "messages": [
                    {"role": str(m.get("role", "")), "content": _clip(m.get("content"))}
                    for m in call.get("messages") or []
                    if isinstance(m, dict)
                ],
                "response": _clip(call.get("response")),
                "input_tokens": call.get("input_tokens", 0),
                "output_tokens": call.get("output_tokens", 0),
                "latency_s": float(call.get("latency_s") or 0.0),
                "cost_usd": float(call.get("cost_usd") or 0.0),
                "truncated": call.get("finish_reason") == "length",
                "max_output_tokens": call.get("max_output_tokens"),
            }
        )
    attempts: list[dict[str, Any]] = []
    previous: tuple[int, str] | None = None
    for attempt in agent.get("attempts") or []:
        if not isinstance(attempt, dict):
            continue
        code = attempt.get("code") if isinstance(attempt.get("code"), str) else ""
        iteration = int(attempt.get("iteration") or len(attempts) + 1)
        execution = attempt.get("execution") if isinstance(attempt.get("execution"), dict) else None
        attempts.append(
            {
                "iteration": iteration,
                "code": _code(code) if code else None,
                "diff": _diff(previous[1], code, previous[0], iteration) if previous and code else None,
                "execution": {
                    "exit_code": execution.get("exit_code"),
                    "reason": str(execution.get("reason") or ""),
                    "duration_s": float(execution.get("duration_s") or 0.0),
                    "sandbox": str(execution.get("sandbox") or execution.get("isolation") or ""),
                    "stdout": _clip(execution.get("stdout")),
                    "stderr": _clip(execution.get("stderr")),
                }
                if execution
                else None,
            }
        )
        if code:
            previous = (iteration, code)
    validation_log = _read(logs_dir / "validation.log") if logs_dir else ""
    return {
        "record": record,
        "category": category or CategoryVerdict(),
        "calls": calls,
        "attempts": attempts,
        "validation_log": validation_log or record.validation,
        "user_prompt": _clip(agent.get("user_prompt")),
        "logs_found": logs_dir is not None,
    }
