"""The report's Jinja environment: its templates, autoescaped, with the number filters the pages share."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

__all__ = ["TEMPLATES", "environment"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def environment() -> Environment:
    """The report's templates, autoescaped (model names, reasons and trial output are text the harness did not
    choose)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: f"{float(v):.0%}"
    env.filters["usd"] = lambda v: f"{float(v):.4f}"
    env.filters["short"] = lambda v, n=12: str(v or "")[:n]
    env.filters["signed"] = lambda v: f"{100 * float(v):+.0f}%" if round(100 * float(v)) else "0%"
    return env
