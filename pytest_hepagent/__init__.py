"""pytest-hepagent: benchmark LLM agents on the ATLAS Open Data H->yy analysis."""

from __future__ import annotations

from typing import Any

from pytest_hepagent.errors import DataError, GoldenError, HepAgentError, SpecError

__all__ = ["DataError", "GoldenError", "HepAgentError", "SpecError", "__version__"]


def __getattr__(name: str) -> Any:
    """`__version__`, looked up on first use: reading the installed metadata costs every process that loads the
    plugin a few milliseconds it rarely needs."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import metadata

    try:
        return metadata.version("pytest-hepagent")
    except metadata.PackageNotFoundError:  # a source checkout that is not installed
        return "0.0.0"
