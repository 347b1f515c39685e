"""The reference scripts of the five steps, as an agent would write them (run as `python <step>.py --input-files
... --output-files ...` in a trial folder). The offline oracle model answers with them."""

from __future__ import annotations

from pathlib import Path

__all__ = ["script_path", "script_text"]


def script_path(step: str) -> Path:
    return Path(__file__).with_name(f"{step}.py")


def script_text(step: str) -> str:
    return script_path(step).read_text()
