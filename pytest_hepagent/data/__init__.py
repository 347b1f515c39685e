"""The ATLAS Open Data 2020 GamGam data: schema, synthetic generator, real-data access and download.

The re-exports load lazily, so naming a dataset does not import awkward and uproot.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BRANCHES": "schema",
    "LUMI_PB": "schema",
    "MC_SAMPLES": "schema",
    "SAMPLES": "schema",
    "TREE_NAME": "schema",
    "Sample": "schema",
    "DEFAULT_CONFIG": "config",
    "GeneratorConfig": "config",
    "Dataset": "dataset",
    "default_data_dir": "dataset",
    "ensure_synthetic": "dataset",
    "generate": "generate",
}
__all__ = [
    "BRANCHES",
    "DEFAULT_CONFIG",
    "LUMI_PB",
    "MC_SAMPLES",
    "SAMPLES",
    "TREE_NAME",
    "Dataset",
    "GeneratorConfig",
    "Sample",
    "default_data_dir",
    "ensure_synthetic",
    "generate",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"pytest_hepagent.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
