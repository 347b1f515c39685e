"""The pytest plugin (entry point `hepagent`): options, fixtures and hooks over the engine.

Thin on purpose: the benchmark session lives in `plugin_session.py`, every piece of logic in modules that do not
import pytest. Nothing heavy is imported at plugin load.

Benchmark mode is on when `--hep-model` is given, or when the ini key `hep_benchmark = true` is set and pytest was
started without paths: then pytest collects the benchmark module (one test per step, parametrized over models x
trials) instead of the project's tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_hepagent.options import BENCHMARK_INI, add_pytest_options, data_dir, option

if TYPE_CHECKING:
    from pytest_hepagent.data.dataset import Dataset

SESSION_NAME = "hepagent-session"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_pytest_options(parser, parser.getgroup("hep", "LLM-agent benchmark of the ATLAS H->yy analysis"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hep_step(name): the analysis step a benchmark test runs")
    data = data_dir(config)
    if data is not None:  # a wrong folder stops the run before any test starts
        from pytest_hepagent.data.dataset import Dataset
        from pytest_hepagent.errors import DataError

        try:
            Dataset(data).check()
        except DataError as exc:
            raise pytest.UsageError(f"{option('data').pytest_flag}: {exc}") from None
    if _benchmark_mode(config):
        from pytest_hepagent.plugin_session import HepBenchmarkSession

        session = HepBenchmarkSession.from_config(config)
        config.pluginmanager.register(session, SESSION_NAME)


def _benchmark_mode(config: pytest.Config) -> bool:
    if config.getoption(option("model").pytest_flag):
        return True
    if hasattr(config, "workerinput"):
        return "hepagent_run_dir" in config.workerinput
    return bool(config.getini(BENCHMARK_INI)) and config.args_source != pytest.Config.ArgsSource.ARGS


@pytest.fixture(scope="session")
def hepagent_config() -> dict[str, Any]:
    """Overrides for the benchmark's settings (override this fixture in a conftest.py).

    Keys: `limits` (a `pytest_hepagent.sandbox.limits.Limits`: one execution's), `trial_limits` (a
    `pytest_hepagent.agent.limits.TrialLimits`: the whole trial's tokens, cost and time), `max_output_tokens` (an
    int, or per role: `{"coder": 8192, "reviewer": 1024}`), `gateway` (a
    `pytest_hepagent.llm.gateway.GatewaySettings`, replacing the one the options make). Under --hep-concurrency
    trials start ahead of their items with the settings of the item that queued them: an override that differs
    from item to item makes the items it cannot honour errors.
    """
    return {}


def _session(request: pytest.FixtureRequest) -> Any:
    session = request.config.pluginmanager.get_plugin(SESSION_NAME)
    if session is None:
        pytest.skip("not a benchmark run (give --hep-model)")
    return session


@pytest.fixture
def hep_trial(request: pytest.FixtureRequest, hepagent_config: dict[str, Any]) -> Any:
    """Runs the trial of this benchmark item and returns its `TrialResult`."""
    return _session(request).run_item(request, hepagent_config)


@pytest.fixture
def hep_chain(request: pytest.FixtureRequest, hepagent_config: dict[str, Any]) -> Any:
    """Runs the chained trial (every step on the agent's own outputs) of this item; returns its `ChainResult`."""
    return _session(request).run_chain_item(request, hepagent_config)


@pytest.fixture(scope="session")
def hepagent_dataset(pytestconfig: pytest.Config) -> Dataset:
    """The dataset of this session: `--hep-data`, or the synthetic stand-in (generated once, then cached)."""
    from pytest_hepagent.data.dataset import Dataset, ensure_synthetic

    data = data_dir(pytestconfig)
    return Dataset(data) if data is not None else ensure_synthetic()


@pytest.fixture(scope="session")
def hepagent_solution(hepagent_dataset: Dataset) -> Path:
    """A folder with every golden output of the session's dataset, verified against the shipped manifest."""
    from pytest_hepagent.golden import ensure_solution
    from pytest_hepagent.resources import golden_dir

    return ensure_solution(hepagent_dataset, golden_dir())
