"""The ATLAS Open Data 2020 GamGam data: schema, synthetic generator, real-data access and download."""

from __future__ import annotations

from pytest_hepagent.data.dataset import Dataset, default_data_dir, ensure_synthetic
from pytest_hepagent.data.generate import DEFAULT_CONFIG, GeneratorConfig, generate
from pytest_hepagent.data.schema import BRANCHES, LUMI_PB, MC_SAMPLES, SAMPLES, TREE_NAME, Sample

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
