"""Where the shipped task specs and golden files are, in a source checkout and in an installed package alike."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["cache_root", "failure_cassette_dir", "golden_dir", "hostile_cassette_dir", "spec_dir"]

_CHECKOUT = Path(__file__).resolve().parent.parent


def _package_dir(package: str, checkout_name: str) -> Path:
    try:
        return Path(str(resources.files(package)))
    except ModuleNotFoundError:  # running from a checkout that was not pip-installed
        return _CHECKOUT / checkout_name


def spec_dir() -> Path:
    """The `task_specs/` folder."""
    return _package_dir("pytest_hepagent.task_specs", "task_specs")


def golden_dir() -> Path:
    """The `golden/` folder: the committed manifest and small golden files."""
    return _package_dir("pytest_hepagent.golden_files", "golden")


def cache_root() -> Path:
    """Where generated data and full reference outputs are cached (`HEPAGENT_CACHE` overrides)."""
    return Path(os.environ.get("HEPAGENT_CACHE", Path.home() / ".cache" / "pytest-hepagent"))


def failure_cassette_dir() -> Path:
    """The shipped failure cassettes: at least three labelled trajectories for each of the seven error categories."""
    return Path(__file__).resolve().parent / "cassettes" / "failures"


def hostile_cassette_dir() -> Path:
    """The shipped attacks of the hackability suite (`hepagent audit`)."""
    return Path(__file__).resolve().parent / "cassettes" / "hostile"
