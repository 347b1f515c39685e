"""Configuration and shared fixtures of the project's own test suite."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.stats  # noqa: F401 - see below
from hypothesis import settings

from pytest_hepagent.data import Dataset, GeneratorConfig, ensure_synthetic
from pytest_hepagent.resources import cache_root
from pytest_hepagent.sandbox.cgroups import Cgroup, cgroup_owner, cgroup_parents, is_foreign

# pytester points HOME at each test's folder: pin the cache, or every in-process run would regenerate the data and
# goldens there (and import scikit-learn inside a run whose modules pytester then unloads).
os.environ.setdefault("HEPAGENT_CACHE", str(cache_root()))

# The statistics import scipy.stats on first use. pytester's in-process runs unload the modules a run imported, and
# scipy's C extensions (numpy.fft's) cannot load twice in one process: import it before any run does.

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
def oracle_cassette(tmp_path_factory: pytest.TempPathFactory, hepagent_solution: Path) -> Path:
    """A recorded oracle trajectory of step 5, for fast replays (shared: copy it before changing it)."""
    from pytest_hepagent.trial import TrialEnvironment, TrialRequest, run_trial

    folder = tmp_path_factory.mktemp("oracle-cassette")
    run_trial(
        TrialRequest("categorization", "hepagent/oracle", record_to=folder / "ok.yaml"),
        TrialEnvironment.create(),
        folder / "recording",
    )
    return folder / "ok.yaml"


@pytest.fixture(scope="session")
def raw(hepagent_solution: Path) -> dict[str, np.ndarray]:
    """The golden step-2 arrays of the default dataset, by sample name."""
    return {p.name.removesuffix("_raw.npy"): np.load(p) for p in (hepagent_solution / "arrays").glob("*_raw.npy")}


def hepagent_cgroups() -> set[Path]:
    found: set[Path] = set()
    for parent in cgroup_parents():
        with contextlib.suppress(OSError):
            found |= {p for p in parent.iterdir() if p.is_dir()}
    return found


def _made_here(folder: Path) -> bool:
    """Made by this process, or by one that no longer runs (a run that a test started and killed)."""
    return cgroup_owner(folder.name) is not None and not is_foreign(folder.name)


@pytest.fixture(autouse=True)
def _nothing_sandboxed_outlives_the_test() -> Iterator[None]:
    """Every execution removes its cgroup when it ends, and a process left running holds its cgroup: a cgroup this
    test made (or a run it killed made) and left behind fails the test, with the processes still in it."""
    before = hepagent_cgroups()
    yield
    left = sorted(f for f in hepagent_cgroups() - before if _made_here(f))
    if left:
        pids = sorted(Cgroup(tuple(left)).pids())
        for folder in left:  # the next test starts clean
            Cgroup((folder,)).remove()
        pytest.fail(f"{len(left)} cgroup(s) outlived the test (processes still in them: {pids}): {left}", pytrace=False)
