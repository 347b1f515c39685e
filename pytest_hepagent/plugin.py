"""The pytest plugin (entry point `hepagent`): options and session fixtures over the engine.

Thin on purpose: every piece of logic lives in modules that do not import pytest.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_hepagent.data.dataset import Dataset

DATA_OPTION = "--hep-data"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hep", "LLM-agent benchmark of the ATLAS H->yy analysis")
    group.addoption(
        DATA_OPTION,
        action="store",
        default=None,
        metavar="DIR",
        help="Folder of real or generated 2020 GamGam files (default: the synthetic stand-in)",
    )
    parser.addini("hep_data", type="string", default="", help="Default for --hep-data")


def pytest_configure(config: pytest.Config) -> None:
    data = _data_dir(config)
    if data is not None:  # a wrong folder stops the run before any test starts
        from pytest_hepagent.data.dataset import Dataset
        from pytest_hepagent.errors import DataError

        try:
            Dataset(data).check()
        except DataError as exc:
            raise pytest.UsageError(f"{DATA_OPTION}: {exc}") from None


def _data_dir(config: pytest.Config) -> Path | None:
    value = config.getoption(DATA_OPTION) or config.getini("hep_data")
    return Path(value) if value else None


@pytest.fixture(scope="session")
def hepagent_dataset(pytestconfig: pytest.Config) -> Dataset:
    """The dataset of this session: `--hep-data`, or the synthetic stand-in (generated once, then cached)."""
    from pytest_hepagent.data.dataset import Dataset, ensure_synthetic

    data = _data_dir(pytestconfig)
    return Dataset(data) if data is not None else ensure_synthetic()


@pytest.fixture(scope="session")
def hepagent_solution(hepagent_dataset: Dataset) -> Path:
    """A folder with every golden output of the session's dataset, verified against the shipped manifest."""
    from pytest_hepagent.golden import ensure_solution
    from pytest_hepagent.resources import golden_dir

    return ensure_solution(hepagent_dataset, golden_dir())
