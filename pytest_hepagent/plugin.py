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

if TYPE_CHECKING:
    from pytest_hepagent.data.dataset import Dataset

DATA_OPTION = "--hep-data"
MODEL_OPTION = "--hep-model"
SESSION_NAME = "hepagent-session"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hep", "LLM-agent benchmark of the ATLAS H->yy analysis")
    group.addoption(
        MODEL_OPTION,
        action="append",
        default=None,
        metavar="MODEL",
        help="Model to benchmark (repeatable): any litellm model, hepagent/oracle or hepagent/replay",
    )
    group.addoption(
        "--hep-supervisor-model",
        default=None,
        metavar="MODEL",
        help="Supervisor model for every trial (default: the coder's model)",
    )
    group.addoption("--hep-steps", default=None, metavar="STEPS", help="Comma-separated steps (default: all five)")
    group.addoption("--hep-trials", type=int, default=None, metavar="N", help="Trials per model and step")
    group.addoption("--hep-max-iterations", type=int, default=None, metavar="N", help="Coder attempts per trial")
    group.addoption("--hep-judge-model", default=None, metavar="MODEL", help="LLM judge for failed trials")
    group.addoption(
        DATA_OPTION,
        action="store",
        default=None,
        metavar="DIR",
        help="Folder of real or generated 2020 GamGam files (default: the synthetic stand-in)",
    )
    group.addoption("--hep-report-dir", default=None, metavar="DIR", help="Where runs are stored (default: reports)")
    group.addoption(
        "--hep-baseline",
        default=None,
        metavar="PATH",
        help="results.jsonl or summary.json of a baseline run: the exit status comes from the gate",
    )
    group.addoption(
        "--hep-floor",
        type=float,
        default=None,
        metavar="FRACTION",
        help="With --hep-baseline, also fail cells whose success fraction is surely below this",
    )
    group.addoption(
        "--hep-max-usd",
        type=float,
        default=None,
        metavar="USD",
        help="Start no new trial once the run's recorded spend reaches this",
    )
    group.addoption("--hep-record", default=None, metavar="DIR", help="Write every live trajectory as a cassette")
    group.addoption(
        "--hep-replay",
        default=None,
        metavar="PATH",
        help="Cassette file or folder (<step>[-trial<n>].yaml) for --hep-model=hepagent/replay",
    )
    group.addoption(
        "--hep-resume", default=None, metavar="RUN_ID", help="Extend an earlier run: run only the trials it lacks"
    )
    group.addoption(
        "--hep-chain",
        action="store_true",
        default=None,
        help="Chained end-to-end runs: per model and trial, the steps in order, each on the agent's own outputs",
    )
    group.addoption(
        "--hep-sandbox",
        default=None,
        metavar="NAME",
        help="Where generated code runs: bwrap (default: bubblewrap) or none (unconfined, with a warning)",
    )
    group.addoption(
        "--hep-concurrency",
        default=None,
        metavar="N",
        help="Trials run at once in each pytest process, with or without -n (default: 1)",
    )
    group.addoption(
        "--hep-max-connections",
        default=None,
        metavar="N",
        help="Calls in flight at once to one model from each process; halved on a rate limit (default: 10)",
    )
    group.addoption(
        "--hep-max-output-tokens",
        default=None,
        metavar="N",
        help="Most tokens one answer may have, or none for the provider's default (default: 16384)",
    )
    group.addoption(
        "--hep-call-timeout",
        default=None,
        metavar="SECONDS",
        help="Per call; a call that times out is retried once (default: 300)",
    )
    group.addoption(
        "--hep-token-limit",
        default=None,
        metavar="N",
        help="Per trial: input plus output tokens of all its calls; reaching it fails the trial (default: none)",
    )
    group.addoption(
        "--hep-cost-limit",
        default=None,
        metavar="USD",
        help="Per trial: what its calls may cost; reaching it fails the trial (default: none)",
    )
    group.addoption(
        "--hep-time-limit",
        default=None,
        metavar="SECONDS",
        help="Per trial: wall time; reaching it fails the trial (default: 3600, or none)",
    )
    group.addoption(
        "--hep-api-base",
        default=None,
        metavar="URL",
        help="OpenAI-compatible server for openai/<name> models (vLLM, llama.cpp)",
    )
    for name, kind, help_text in (
        ("hep_benchmark", "bool", "Run the benchmark when pytest is started without paths"),
        ("hep_models", "linelist", "Default models"),
        ("hep_steps", "string", "Default steps (comma-separated)"),
        ("hep_trials", "string", "Default trials per model and step"),
        ("hep_max_iterations", "string", "Default coder attempts"),
        ("hep_data", "string", "Default for --hep-data"),
        ("hep_report_dir", "string", "Default for --hep-report-dir"),
        ("hep_max_usd", "string", "Default for --hep-max-usd"),
        ("hep_chain", "bool", "Default for --hep-chain"),
        ("hep_sandbox", "string", "Default for --hep-sandbox"),
        ("hep_concurrency", "string", "Default for --hep-concurrency"),
        ("hep_max_connections", "string", "Default for --hep-max-connections"),
        ("hep_max_output_tokens", "string", "Default for --hep-max-output-tokens"),
        ("hep_call_timeout", "string", "Default for --hep-call-timeout"),
        ("hep_token_limit", "string", "Default for --hep-token-limit"),
        ("hep_cost_limit", "string", "Default for --hep-cost-limit"),
        ("hep_time_limit", "string", "Default for --hep-time-limit"),
    ):
        parser.addini(name, type=kind, default=None, help=help_text)  # type: ignore[arg-type]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hep_step(name): the analysis step a benchmark test runs")
    data = _data_dir(config)
    if data is not None:  # a wrong folder stops the run before any test starts
        from pytest_hepagent.data.dataset import Dataset
        from pytest_hepagent.errors import DataError

        try:
            Dataset(data).check()
        except DataError as exc:
            raise pytest.UsageError(f"{DATA_OPTION}: {exc}") from None
    if _benchmark_mode(config):
        from pytest_hepagent.plugin_session import HepBenchmarkSession

        session = HepBenchmarkSession.from_config(config)
        config.pluginmanager.register(session, SESSION_NAME)


def _benchmark_mode(config: pytest.Config) -> bool:
    if config.getoption(MODEL_OPTION):
        return True
    if hasattr(config, "workerinput"):
        return "hepagent_run_dir" in config.workerinput
    return bool(config.getini("hep_benchmark")) and config.args_source != pytest.Config.ArgsSource.ARGS


def _data_dir(config: pytest.Config) -> Path | None:
    value = config.getoption(DATA_OPTION) or config.getini("hep_data")
    return Path(value) if value else None


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

    data = _data_dir(pytestconfig)
    return Dataset(data) if data is not None else ensure_synthetic()


@pytest.fixture(scope="session")
def hepagent_solution(hepagent_dataset: Dataset) -> Path:
    """A folder with every golden output of the session's dataset, verified against the shipped manifest."""
    from pytest_hepagent.golden import ensure_solution
    from pytest_hepagent.resources import golden_dir

    return ensure_solution(hepagent_dataset, golden_dir())
