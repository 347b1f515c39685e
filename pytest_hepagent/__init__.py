"""pytest-hepagent: benchmark LLM agents on the ATLAS Open Data H->yy analysis."""

from __future__ import annotations

from importlib import metadata

from pytest_hepagent.errors import DataError, GoldenError, HepAgentError, SpecError

try:
    __version__ = metadata.version("pytest-hepagent")
except metadata.PackageNotFoundError:  # a source checkout that is not installed
    __version__ = "0.0.0"

__all__ = ["DataError", "GoldenError", "HepAgentError", "SpecError", "__version__"]
