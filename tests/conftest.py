"""Configuration and shared fixtures of the project's own test suite."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from pytest_hepagent.data import Dataset, GeneratorConfig, ensure_synthetic
from pytest_hepagent.resources import cache_root

# pytester points HOME at each test's folder: pin the cache, or every in-process run would regenerate the data and
# goldens there (and import scikit-learn inside a run whose modules pytester then unloads).
os.environ.setdefault("HEPAGENT_CACHE", str(cache_root()))

# Shared machines are noisy: property tests check behaviour, not speed.
settings.register_profile("ci", deadline=None, max_examples=200, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

SMALL = GeneratorConfig(seed=7, mc_scale=0.05, data_scale=0.02)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """A tiny synthetic dataset (a few thousand events per file) for tests of mechanics, not physics."""
    return ensure_synthetic(tmp_path_factory.mktemp("small-data"), SMALL)


@pytest.fixture(scope="session")
def raw(hepagent_solution: Path) -> dict[str, np.ndarray]:
    """The golden step-2 arrays of the default dataset, by sample name."""
    return {p.name.removesuffix("_raw.npy"): np.load(p) for p in (hepagent_solution / "arrays").glob("*_raw.npy")}
