"""The benchmark session: collection, running trials, the results store, the terminal summary and the CI gate.

Registered by `plugin.py` in benchmark mode only. The same code path runs with and without xdist: workers attach
each trial's record to the test report (`user_properties`), and whoever receives the reports (the controller, or
the only process with `-p no:xdist`/`-n 0`) appends them to `reports/<run-id>/results.jsonl`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_hepagent.errors import ConfigError
from pytest_hepagent.items import BENCHMARK_MODULE
from pytest_hepagent.llm.offline import REPLAY, is_offline
from pytest_hepagent.matrix.config import BenchmarkConfig, new_run_id, safe_name
from pytest_hepagent.options import DEFAULTS, NOT_GIVEN, OPTIONS, OptionError, pytest_value
from pytest_hepagent.records import Outcome
from pytest_hepagent.steps import STEP_NAMES

if TYPE_CHECKING:
    from pytest_hepagent.matrix.gated_run import GatedRun
    from pytest_hepagent.records import Cell, TrialRecord

log = logging.getLogger(__name__)

RECORD_PROPERTY = "hepagent_record"
CRASHED = "hepagent_crashed"
"""Set on the report xdist makes for an item whose worker died (it gets no teardown report)."""


def _build(config: pytest.Config) -> BenchmarkConfig:
    """The run's settings from the options table: each option from the command line, else the ini file."""
    kwargs: dict[str, Any] = {}
    try:
        for o in OPTIONS:
            value = pytest_value(config, o.name)
            if value is not NOT_GIVEN:
                kwargs[o.config_field] = value
    except OptionError as exc:
        raise pytest.UsageError(str(exc)) from None
    report_dir = Path(kwargs.get("report_dir", DEFAULTS["report_dir"]))
    kwargs["report_dir"] = report_dir if report_dir.is_absolute() else config.rootpath / report_dir
    resume = kwargs.get("resume")
    if hasattr(config, "workerinput"):
        kwargs["run_id"] = config.workerinput["hepagent_run_id"]
    else:
        kwargs["run_id"] = resume or new_run_id()
    try:
        return BenchmarkConfig(**kwargs).check()
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


class HepBenchmarkSession:
    def __init__(self, config: pytest.Config, bench: BenchmarkConfig) -> None:
        from pytest_hepagent.records import ResultsStore

        self.config, self.bench = config, bench
        self.store = ResultsStore(bench.run_dir)
        self.is_worker = hasattr(config, "workerinput")
        self.unsaved = 0
        """Records the controller could not append (a full disk): the run then ends with an error."""
        self.unsaved_error = ""
        self._env: Any = None
        self._hashes: dict[str, str] | None = None
        self._seen: set[str] = set()
        self.verdicts: list[Any] | None = None
        self.gate_pair: tuple[str, str] | None = None
        given = getattr(config, "workerinput", {})
        self.done_keys: set[str] = set(given.get("hepagent_done_keys", ()))
        """Trials the resumed run already holds (the controller reads them; workers get them in workerinput)."""
        self.report_path: Path | None = None
        self.report_error = ""
        self.pool: Any = None
        """`TrialPool` of this process's concurrent trials (--hep-concurrency > 1), while items run."""
        self._all_queued = False
        self.budget: Any = None
        """`Budget` of --hep-max-usd: which trials may start (concurrent ones included)."""
        self.gated: GatedRun | None = None
        """The CI gate of a run with a baseline: its settings, the rounds of its trials, its verdict line."""
        self.gate_line = ""
        self.exit_status = 0
        if bench.baseline is not None:
            from pytest_hepagent.matrix.gated_run import GatedRun

            tests = given.get("hepagent_gate_tests")
            self.gated = GatedRun.create(bench, self._stored_cells() if tests is None else [], tests)
        if bench.max_usd is not None:
            from pytest_hepagent.matrix.budget import Budget

            models = (*bench.models, bench.supervisor_model or "", bench.judge_model or "")
            free = all(not m or is_offline(m) for m in models)  # the offline models cost nothing
            self.budget = Budget(bench.max_usd, self._spend_recorded, free=free)

    @classmethod
    def from_config(cls, config: pytest.Config) -> HepBenchmarkSession:
        bench = _build(config)
        if config.args_source != pytest.Config.ArgsSource.ARGS:
            config.args = [str(BENCHMARK_MODULE)]
        session = cls(config, bench)
        for step in STEP_NAMES:  # markers for -m: step_<name> and model_<name> (every step function is parametrized)
            config.addinivalue_line("markers", f"step_{step}: benchmark items of step {step}")
        for model in bench.models:
            config.addinivalue_line("markers", f"model_{safe_name(model)}: benchmark items of model {model}")
        if bench.baseline is not None and any(bench.plan(s) for s in bench.steps) and config.option.maxfail:
            raise pytest.UsageError(
                "-x/--maxfail: a gated run adds trials in rounds and waits for every trial of a round; stopping at a "
                "failure would leave them waiting: drop -x/--maxfail, or give --hep-max-trials equal to --hep-trials"
            )
        if not session.is_worker:
            from pytest_hepagent.sandbox.backends import SandboxUnavailable

            try:
                session.prepare()
            except SandboxUnavailable as exc:
                raise pytest.UsageError(str(exc)) from None
        if config.pluginmanager.hasplugin("xdist"):
            from pytest_hepagent.plugin_xdist import XdistHooks

            config.pluginmanager.register(XdistHooks(session), "hepagent-xdist")
        if config.pluginmanager.hasplugin("html"):
            from pytest_hepagent.report.pytest_html import HtmlReportHooks
            from pytest_hepagent.report.render import PAGES

            hooks = HtmlReportHooks(RECORD_PROPERTY, bench.run_dir / PAGES)
            config.pluginmanager.register(hooks, "hepagent-html")
        return session

    # ------------------------------------------------------------------ controller set-up
    def prepare(self) -> None:
        """Data and goldens once, before any worker starts; the run folder and its recorded settings."""
        self.environment()
        if self.bench.resume:
            from pytest_hepagent.matrix.cells import chains_by_model
            from pytest_hepagent.records import latest_records

            stored = self.store.records()
            done = [r for r in latest_records(stored) if r.judged]
            chains, _ = chains_by_model(stored)  # a chain is done when it ended judged, not in an error
            self.done_keys = {r.key for r in done if r.chain is None} | {
                links[-1].chain.id for model in chains.values() for links in model if links[-1].chain is not None
            }
        settings = self.bench.run_dir / "config.json"
        if self.bench.resume and settings.is_file():
            self._check_resumed_design(settings)
        try:
            self.bench.run_dir.mkdir(parents=True, exist_ok=True)
            if self.gated is not None:
                self.gated.reset()
            if not settings.exists():
                settings.write_text(json.dumps(self.bench.describe() | {"run_id": self.bench.run_id}, indent=1) + "\n")
        except OSError as exc:
            raise pytest.UsageError(
                f"--hep-report-dir {self.bench.report_dir}: the run folder cannot be written ({exc.strerror}); "
                f"choose a writable folder"
            ) from None

    def _check_resumed_design(self, settings: Path) -> None:
        """A resumed gated run keeps its rounds: the records' round numbers and the boundaries depend on them."""
        from pytest_hepagent.report.run import read_settings

        started, now = read_settings(settings), self.bench.describe()
        for name, flag in (
            ("trials", "--hep-trials"),
            ("max_trials", "--hep-max-trials"),
            ("round_trials", "--hep-round-trials"),
        ):
            if name in started and started[name] != now[name] and self.bench.baseline is not None:
                raise pytest.UsageError(
                    f"{flag}: run {self.bench.run_id} was started with {started[name]} ({settings}); resume it with "
                    f"the same rounds"
                )

    def _stored_cells(self) -> list[Cell]:
        """The cells the run folder already holds (a resumed run's), for the gate's family."""
        from pytest_hepagent.matrix.cells import cells_from_records

        return cells_from_records(self.store.records()) if self.bench.resume else []

    def environment(self) -> Any:
        if self._env is None:
            from pytest_hepagent.data.dataset import Dataset, ensure_synthetic
            from pytest_hepagent.trial import TrialEnvironment

            settings = self.bench.gateway_settings()
            if self.is_worker:  # the controller verified the goldens before starting us: do not hash them again
                given = self.config.workerinput  # type: ignore[attr-defined]
                self._env = TrialEnvironment.prepared(
                    given["hepagent_data_dir"],
                    given["hepagent_solution_dir"],
                    given["hepagent_golden_dir"],
                    settings,
                    self.bench.sandbox,
                )
            else:
                dataset = Dataset(self.bench.data).check() if self.bench.data else ensure_synthetic()
                self._env = TrialEnvironment.create(dataset, gateway=settings, sandbox=self.bench.sandbox)
            workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
            self._env = replace(self._env, share=max(1, workers) * self.bench.concurrency)
        return self._env

    def _all_hashes(self) -> dict[str, str]:
        """Dataset, golden-manifest and per-step task-spec hashes, computed once per session."""
        if self._hashes is None:
            from pytest_hepagent.matrix.execute import run_hashes

            self._hashes = run_hashes(self.environment())
        return self._hashes

    def hashes(self, step: str) -> dict[str, str]:
        """The hashes a trial record of `step` carries."""
        from pytest_hepagent.matrix.execute import step_hashes

        return step_hashes(self._all_hashes(), step)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        sandbox = self.environment().sandbox
        if not sandbox.confined:
            warning = (
                "hepagent: WARNING: --hep-sandbox=none: generated code runs UNCONFINED, with your user's access to "
                "this machine, its files and its network; every record says so"
            )
            return [warning]
        uid = sandbox.describe().get("code_uid")
        who = "a uid of its own per trial" if uid == "per trial" else f"uid {uid} in a user namespace"
        lines = [f"hepagent: sandbox {sandbox.name} {sandbox.version}; generated code runs as {who}"]
        return lines + (self.gated.header() if self.gated is not None else [])

    # ------------------------------------------------------------------ collection
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "hep_chain" in metafunc.fixturenames:
            chains = [
                pytest.param(
                    (model, t),
                    marks=[getattr(pytest.mark, f"model_{safe_name(model)}")],
                    id=f"{safe_name(model.removeprefix('hepagent/'))}-trial{t}",
                )
                for model in self.bench.models
                for t in range(1, self.bench.chain_trials + 1)
            ]
            metafunc.parametrize("hep_chain", chains, indirect=True)
            return
        if "hep_trial" not in metafunc.fixturenames:
            return
        marker = metafunc.definition.get_closest_marker("hep_step")
        step = marker.args[0] if marker else metafunc.function.__name__.removeprefix("test_")
        params = []
        for model in self.bench.models:
            short = safe_name(model.removeprefix("hepagent/"))
            marks = [getattr(pytest.mark, f"step_{step}"), getattr(pytest.mark, f"model_{safe_name(model)}")]
            params += [
                pytest.param((model, step, t), marks=marks, id=f"{short}-trial{t}")
                for t in range(1, self.bench.trials_for(step) + 1)
            ]
        metafunc.parametrize("hep_trial", params, indirect=True)

    def pytest_pycollect_makeitem(self, collector: pytest.Collector, name: str, obj: object) -> list[Any] | None:
        """Not even collect the other mode's benchmark tests: the step tests in a chained run, the chain test else."""
        if getattr(collector, "path", None) != BENCHMARK_MODULE or not name.startswith("test_"):
            return None
        return [] if (name == "test_chain") != self.bench.chain else None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        from pytest_hepagent.records import chain_id, trial_key

        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            params = getattr(getattr(item, "callspec", None), "params", {})
            benchmark_item = item.path == BENCHMARK_MODULE or "hep_trial" in params or "hep_chain" in params
            trial_spec, chain_spec = params.get("hep_trial"), params.get("hep_chain")
            if isinstance(trial_spec, tuple):
                model, step, trial = trial_spec
                wanted = not self.bench.chain and step in self.bench.steps
                done = trial_key(model, step, trial) in self.done_keys
            elif isinstance(chain_spec, tuple):
                model, trial = chain_spec
                wanted, done = self.bench.chain, chain_id(model, trial) in self.done_keys
            else:
                wanted, done = not benchmark_item, False
            (keep if wanted and not done else drop).append(item)
            if benchmark_item:  # provider libraries' warnings never fail a trial (see pytest_runtestloop)
                item.add_marker(pytest.mark.filterwarnings("default"))
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
        if self.gated is not None:  # a gated run's trials in rounds: round by round, every cell in each
            items[:] = self.gated.order([(item, _benchmark_param(item)) for item in items])

    # ------------------------------------------------------------------ running items
    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Iterator[None]:
        # Benchmark items run provider libraries, whose warnings are none of the run's business: the items carry
        # a `default` filter over the project's and the user's ones, and this one covers the trials that run
        # concurrently in threads between items.
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            if self.bench.concurrency > 1 and not self.is_controller_of_workers(session):
                from pytest_hepagent.matrix.pool import TrialPool

                self.pool = TrialPool(self.bench.concurrency)
            try:
                return (yield)
            finally:
                if self.gated is not None:  # trials waiting for a round that will not come give up
                    self.gated.stopping = True
                if self.pool is not None:
                    self._keep_unreported(self.pool.close())

    def _keep_unreported(self, outcomes: list[Any]) -> None:
        """Trials that ran ahead of items that never ran (`-x`, `--maxfail`, an interrupt) still spent what they
        spent: their records are kept (and `--hep-resume` counts them done). A worker's have no way to the
        controller once its session ends; they are logged."""
        from pytest_hepagent.matrix.pool import Skipped

        records = [r for o in outcomes if not isinstance(o, Skipped) for r in o[1]]
        if not records:
            return
        if self.is_worker:
            log.warning("%d trial(s) ran ahead of items this worker never ran; not recorded", len(records))
            return
        for record in records:
            self.store.append(record)

    def is_controller_of_workers(self, session: pytest.Session) -> bool:
        """The xdist controller runs no item itself."""
        return not self.is_worker and bool(getattr(session.config.option, "numprocesses", None))

    def _spend_recorded(self) -> list[tuple[str, float]]:
        return [(r.key, _spent(r)) for r in self.store.records()]

    def _item_environment(self, overrides: dict[str, Any]) -> Any:
        env = self.environment()
        settings = overrides.get("gateway")
        cap = overrides.get("max_output_tokens")
        if settings is None and cap is None:
            return env
        from pytest_hepagent.llm.gateway import Gateway

        settings = settings or env.gateway.settings
        if isinstance(cap, int):
            settings = replace(settings, max_output_tokens=cap)
        elif cap is not None:  # per role, over the run's cap
            settings = replace(settings, role_max_output_tokens=dict(cap))
        return replace(env, gateway=Gateway(settings))

    def _task(self, param: tuple[Any, ...], overrides: dict[str, Any]) -> Callable[[], Any]:
        """The work of one benchmark item (a trial, or a chain with `(model, trial)`), runnable in any thread: it
        returns `Skipped`, or the result and its records, and never calls pytest."""
        from error_classifier import trial_classifier
        from pytest_hepagent.matrix.execute import run_benchmark_trial, run_chain
        from pytest_hepagent.matrix.pool import Skipped

        bench = self.bench
        env = self._item_environment(overrides)
        classifier = trial_classifier(
            solution_dir=env.solution_dir, judge_model=bench.judge_model, gateway=env.gateway, api_base=bench.api_base
        )
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        limits, trial_limits = overrides.get("limits"), overrides.get("trial_limits")

        def task() -> Any:
            budget = self.budget
            if self.gated is not None and len(param) == 3:  # a later round's trial: is its cell still undecided?
                waits = self.is_worker or self.pool is not None  # else the earlier items have all run already
                decided = self.gated.stop_reason(*param, self.store.records, wait=waits)
                if decided is not None:
                    return Skipped(decided)
            if budget is not None and (why := budget.admit()) is not None:
                return Skipped(why)
            records: list[TrialRecord] = []
            try:
                return work(records)
            finally:
                if budget is not None:
                    budget.finish({r.key: _spent(r) for r in records})

        def work(records: list[TrialRecord]) -> Any:
            if len(param) == 2:
                model, trial = param
                chain = run_chain(
                    bench,
                    env,
                    model,
                    trial,
                    self.hashes,
                    bench.steps,
                    limits=limits,
                    trial_limits=trial_limits,
                    worker=worker,
                    classifier=classifier,
                )
                records += chain.records
                return chain, chain.records
            model, step, trial = param
            result, record = run_benchmark_trial(
                bench,
                env,
                model,
                step,
                trial,
                self.hashes(step),
                limits=limits,
                trial_limits=trial_limits,
                worker=worker,
                classifier=classifier,
            )
            if self.gated is not None:
                record = self.gated.tag(record)
            records.append(record)
            return result, [record]

        return task

    def _run(self, request: pytest.FixtureRequest, overrides: dict[str, Any]) -> tuple[Any, list[TrialRecord]]:
        """Run this item's work (in the pool, with the items queued behind it, under --hep-concurrency); skip
        the item when the budget is spent."""
        from pytest_hepagent.matrix.pool import Skipped

        if self.pool is None:
            outcome = self._task(request.param, overrides)()
        else:
            key = _work_key(request.param)

            def queue() -> None:
                for item in self._upcoming(request):
                    param = _benchmark_param(item)
                    if param is not None and self.pool is not None:
                        self.pool.submit(_work_key(param), self._task(param, overrides), overrides)

            queue()
            # queued by an item with other settings (compared by value), and already started: not this item's
            # trial, though what it spent is recorded under its key
            queued, settings = self.pool.queued_with(key)
            if queued and settings != overrides and not self.pool.cancel(key):
                self._attach(request, self.pool.wait(key))
                pytest.fail(
                    "hepagent_config gives this item other settings than an earlier item, which started its "
                    "trial ahead with its own (--hep-concurrency runs trials before their items): give every "
                    "item the same settings, or run without --hep-concurrency",
                    pytrace=False,
                )
            if key not in self.pool:  # not queued here yet (or dropped just above): run it now
                self.pool.submit(key, self._task(request.param, overrides), overrides)
            outcome = self.pool.wait(key, poll=queue if self.is_worker else None)
        if isinstance(outcome, Skipped):
            pytest.skip(outcome.reason)
        return self._attach(request, outcome)

    @staticmethod
    def attach_record(properties: list[tuple[str, object]], record: TrialRecord) -> None:
        """Carry `record` in a test report's `user_properties` (the controller appends it to the store), as plain
        JSON: what pytest-xdist can send."""
        from pytest_hepagent.records import record_to_json

        properties.append((RECORD_PROPERTY, record_to_json(record)))

    @staticmethod
    def _attach(request: pytest.FixtureRequest, outcome: Any) -> tuple[Any, list[TrialRecord]]:
        """The item's report carries the records of its work."""
        from pytest_hepagent.matrix.pool import Skipped

        if isinstance(outcome, Skipped):
            return None, []
        result, records = outcome
        for record in records:
            HepBenchmarkSession.attach_record(request.node.user_properties, record)
        return result, records

    def _upcoming(self, request: pytest.FixtureRequest) -> list[pytest.Item]:
        """The items this process will run from this one on: every item left, or under xdist the item and the
        ones the controller has already sent (the rest are not this worker's to start)."""
        if self.is_worker:
            from pytest_hepagent.plugin_xdist import queued_items

            return [request.node, *queued_items(request.config)]
        if self._all_queued:
            return []
        self._all_queued = True
        items = request.session.items
        return items[items.index(request.node) :] if request.node in items else [request.node]

    def run_item(self, request: pytest.FixtureRequest, overrides: dict[str, Any]) -> Any:
        model, step, trial = request.param
        bench = self.bench
        if model == REPLAY and bench.cassette_for(step, trial) is None:  # checked at start-up: never
            pytest.fail(f"no cassette for {step} trial {trial} in {bench.replay}", pytrace=False)
        result, _ = self._run(request, overrides)
        if result.outcome is Outcome.ERROR:  # failing in the fixture makes it a pytest error, not a test failure
            pytest.fail(f"infrastructure error, not a model failure: {result.error}", pytrace=False)
        return result

    def run_chain_item(self, request: pytest.FixtureRequest, overrides: dict[str, Any]) -> Any:
        model, trial = request.param
        bench = self.bench
        if model == REPLAY:
            missing = [s for s in bench.steps if bench.cassette_for(s, trial) is None]
            if missing:  # checked at start-up: never
                pytest.fail(f"no cassette for {', '.join(missing)} trial {trial} in {bench.replay}", pytrace=False)
        chain, _ = self._run(request, overrides)
        if chain.outcome is Outcome.ERROR:
            last = chain.results[-1]
            pytest.fail(
                f"infrastructure error in {last.request.step}, not a model failure: {last.error}", pytrace=False
            )
        return chain

    def crash_record(self, nodeid: str, message: str) -> TrialRecord | None:
        """The record of the trial a crashed worker was running (`nodeid` of a benchmark item), or None."""
        from pytest_hepagent.matrix.execute import record_from_result, trial_folder
        from pytest_hepagent.records import ChainLink, Outcome, chain_id, chain_trial_key
        from pytest_hepagent.trial import TrialRequest, TrialResult

        parsed = _parse_item_id(nodeid, self.bench.models)
        if parsed is None:
            return None
        model, step, trial = parsed
        chained = step == "chain"
        step = self.bench.steps[0] if chained else step
        result = TrialResult(
            TrialRequest(step, model, trial, self.bench.supervisor_model, self.bench.max_iterations),
            trial_folder(self.bench.run_dir, model, "chain" if chained else step, trial),
            Outcome.ERROR,
            None,
            None,
            error=f"worker crashed: {message.splitlines()[0] if message else ''}".strip(),
        )
        record = record_from_result(result, run_id=self.bench.run_id, hashes=self.hashes(step), worker="crashed")
        if self.gated is not None and not chained:
            record = self.gated.tag(record)
        if chained:
            record = replace(
                record,
                key=chain_trial_key(model, step, trial),
                chain=ChainLink(chain_id(model, trial), 1, tuple(self.bench.steps), step, False),
            )
        return record

    # ------------------------------------------------------------------ records, summary, gate
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        from pytest_hepagent.records import record_from_json

        for name, value in report.user_properties:
            if name != RECORD_PROPERTY:
                continue
            try:
                record = record_from_json(value, f"the report of {report.nodeid}")
            except ValueError as exc:  # a harness bug, not the trial's: say so, keep the run going
                self.unsaved += 1
                self.unsaved_error = f"the record of {report.nodeid} is unusable: {exc}"
                continue
            if record.key not in self._seen:
                self._seen.add(record.key)
                try:
                    self.store.append(record)
                except OSError as exc:  # a full disk: what is written stays; the run must not look complete
                    self.unsaved += 1
                    self.unsaved_error = exc.strerror or str(exc)
        if self.gated is not None and (report.when == "teardown" or getattr(report, CRASHED, False)):
            self.note_ended(report.nodeid)  # after its record is stored (a crashed item has no teardown)

    @staticmethod
    def mark_crashed(report: pytest.TestReport) -> None:
        """The report xdist made for an item whose worker died: it ends the item (no teardown report follows)."""
        setattr(report, CRASHED, True)

    def note_ended(self, nodeid: str) -> None:
        """A benchmark item ended (with or without a record): later rounds of its cell may go on."""
        from pytest_hepagent.records import trial_key

        parsed = _parse_item_id(nodeid, self.bench.models)
        if self.gated is not None and parsed is not None and parsed[1] != "chain":
            self.gated.mark_ended(trial_key(*parsed))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker:
            return
        from pytest_hepagent.matrix.cells import cells_from_records, run_summary

        cells = cells_from_records(self.store.records())
        if self.gated is not None:
            self.gate_pair = self.gated.pair(cells)
            self.verdicts = self.gated.verdicts(cells)
        from pytest_hepagent.matrix.execute import summary_extra

        hashes = self._all_hashes() if self._env is not None else {}
        extra = summary_extra(self.bench, self._env, hashes)
        pytest_status = int(session.exitstatus)
        self._decide(pytest_status)
        try:
            summary = run_summary(self.bench.run_id, cells, self.verdicts, extra)
            self.store.write_summary(replace(summary, gate_line=self.gate_line or None))
        except OSError as exc:  # the run is then not the one asked for (exit 3): the line must say so
            self.unsaved_error = self.unsaved_error or exc.strerror or str(exc)
            self.unsaved = self.unsaved or 1
            self._decide(pytest_status)
        self.report_path = self._render(cells)
        session.exitstatus = self.exit_status

    def _decide(self, pytest_status: int) -> None:
        """The run's exit status from pytest's, the gate's verdicts and the records left unwritten, and the gate's
        line saying it."""
        from pytest_hepagent.matrix.gate import gate_line, run_exit_status

        self.exit_status = run_exit_status(pytest_status, self.verdicts, self.unsaved, self.bench.undecided)
        if self.verdicts is not None and self.gated is not None:
            self.gate_line = gate_line(self.verdicts, self.exit_status, self.bench.undecided, self.gated.notes())

    def _render(self, cells: list[Cell]) -> Path | None:
        """The run's HTML report; a failure to render is reported, never fails the run (the records are safe)."""
        from pytest_hepagent.report import render_report

        if not self.store.results_path.is_file():  # nothing ran (e.g. --collect-only): nothing to show
            return None
        try:
            comparison = self.gated.comparison(cells) if self.gated is not None else None
            return render_report(self.bench.run_dir, comparison=comparison).index
        except Exception as exc:  # noqa: BLE001 - the report is a view; the run's outcome must stand
            self.report_error = f"{type(exc).__name__}: {exc}"
            return None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        from pytest_hepagent.matrix.cells import cells_from_records, chain_cells
        from pytest_hepagent.matrix.propagation import propagation
        from pytest_hepagent.matrix.report_text import (
            cell_table,
            chain_lines,
            gate_table,
            propagation_lines,
            statistics_table,
        )

        records = self.store.records()
        cells = cells_from_records(records)
        write = terminalreporter.write_line
        terminalreporter.section("hepagent benchmark")
        for line in cell_table(cells, self.bench.interval):
            write(line)
        write("")
        for line in statistics_table(cells):
            write(line)
        if self.verdicts is not None:
            terminalreporter.section("hepagent CI gate")
            if self.gate_pair is not None:
                write(f"the run's {self.gate_pair[1]} against the baseline's {self.gate_pair[0]}")
            for line in gate_table(self.verdicts):
                write(line)
        for line in chain_lines(chain_cells(records)):
            write(line)
        for line in propagation_lines(propagation(records)):
            write(line)
        write(f"run {self.bench.run_id}: {self.store.results_path}")
        if self.unsaved:
            terminalreporter.write_line(
                f"hepagent: {self.unsaved} record(s) or the summary could not be written to {self.bench.run_dir} "
                f"({self.unsaved_error}); free space, then run what is missing with --hep-resume={self.bench.run_id}",
                red=True,
            )
        if self.report_path is not None:
            write(f"report: {self.report_path}")
        elif self.report_error:
            terminalreporter.write_line(f"report not written: {self.report_error}", yellow=True)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """A gated run's last line is the gate's decision, after pytest's own counts (which say nothing of it)."""
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if self.is_worker or not self.gate_line or reporter is None:
            return
        reporter.write_line(self.gate_line, red=bool(self.exit_status), green=not self.exit_status, bold=True)


def _parse_item_id(nodeid: str, models: tuple[str, ...]) -> tuple[str, str, int] | None:
    """(model, step or "chain", trial) of a benchmark item's node id, e.g. `...::test_preprocessing[o3-trial2]`."""
    match = re.search(r"::test_(\w+)\[(.+)-trial(\d+)\]$", nodeid)
    if match is None:
        return None
    by_id = {safe_name(m.removeprefix("hepagent/")): m for m in models}
    model = by_id.get(match[2])
    if model is None or (match[1] not in STEP_NAMES and match[1] != "chain"):
        return None
    return model, match[1], int(match[3])


def _benchmark_param(item: pytest.Item) -> tuple[Any, ...] | None:
    """The `hep_trial` (model, step, trial) or `hep_chain` (model, trial) parameter of a benchmark item."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    param = params.get("hep_trial", params.get("hep_chain"))
    return param if isinstance(param, tuple) else None


def _work_key(param: tuple[Any, ...]) -> str:
    from pytest_hepagent.records import chain_id, trial_key

    return chain_id(*param) if len(param) == 2 else trial_key(*param)


def _spent(record: TrialRecord) -> float:
    """What a trial cost: the agent's calls and the judge's."""
    return record.cost_usd + record.category.judge_cost_usd
