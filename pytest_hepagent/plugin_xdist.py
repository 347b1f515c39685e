"""What the benchmark session asks of pytest-xdist: worker settings, a record for a crashed worker's trial, and, with
--hep-concurrency, a scheduler that keeps enough items queued on every worker to run that many trials at once.

Registered only when xdist is installed, so `-p no:xdist` and plain pytest work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from xdist.scheduler import LoadScheduling

if TYPE_CHECKING:
    from pytest_hepagent.plugin_session import HepBenchmarkSession

__all__ = ["WindowScheduling", "XdistHooks", "queued_items"]

WINDOW_FLAG = "hepagent_window"
"""workerinput key: the worker's queue is filled by `WindowScheduling` (nothing is ever taken back from it)."""


class WindowScheduling(LoadScheduling):  # type: ignore[misc]
    """xdist's load scheduling, but every worker is kept `window` items ahead: the trials of the items it holds run
    concurrently there while the items report one by one. Items are dealt one at a time, round robin, so a short
    run still spreads over every worker; a worker that finishes an item gets the next one pending."""

    def __init__(self, config: pytest.Config, log: Any, window: int) -> None:
        super().__init__(config, log)
        self.window = window

    def check_schedule(self, node: Any, duration: float = 0) -> None:
        if node.shutting_down:
            return
        if self.pending:
            missing = self.window - len(self.node2pending[node])
            if missing > 0:
                self._send_tests(node, missing)
        else:
            node.shutdown()

    def schedule(self) -> None:
        assert self.collection_is_completed
        scheduled: list[str] | None = getattr(self, "collection", None)
        if scheduled is not None:  # a node added later: top every node up
            for node in self.nodes:
                self.check_schedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        collection: list[str] = next(iter(self.node2collection.values()))
        self.collection = collection
        self.pending[:] = range(len(collection))
        if not collection:
            return
        for _ in range(self.window):
            for node in self.nodes:
                self._send_tests(node, 1)
        if not self.pending:
            for node in self.nodes:
                node.shutdown()


def queued_items(config: pytest.Config) -> list[pytest.Item]:
    """The items the controller has sent this worker that it has not started, in the order it will run them.

    Read from xdist's worker queue under its lock, and only when `WindowScheduling` fills it: other schedulers may
    take items back (work stealing), and a trial started ahead for an item taken back would run twice."""
    if not getattr(config, "workerinput", {}).get(WINDOW_FLAG):
        return []
    for plugin in config.pluginmanager.get_plugins():
        torun: Any = getattr(plugin, "torun", None)
        session: Any = getattr(plugin, "session", None)
        if type(plugin).__name__ != "WorkerInteractor" or not hasattr(torun, "lock") or session is None:
            continue
        with torun.lock() as queue:
            indices = [i for i in queue if isinstance(i, int)]
        following = getattr(plugin, "nextitem_index", None)
        if isinstance(following, int):
            indices.insert(0, following)
        return [session.items[i] for i in indices if 0 <= i < len(session.items)]
    return []


class XdistHooks:
    def __init__(self, session: HepBenchmarkSession) -> None:
        self.session = session

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """With --hep-concurrency > 1 and xdist's default load distribution, keep every worker that many items
        ahead (one more, for the item after them)."""
        concurrency = self.session.bench.concurrency
        if concurrency > 1 and config.getoption("dist") == "load":
            return WindowScheduling(config, log, concurrency + 1)
        return None

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        """A worker died in the middle of a trial: that trial still gets a record (an error, kept out of success
        rates and re-run on resume) and counts as a pytest error, not a pass; xdist replaces the worker."""
        record = self.session.crash_record(crashitem, str(report.longrepr or "worker crashed"))
        if record is not None:
            self.session.attach_record(report.user_properties, record)
            report.when = "setup"  # an error in the terminal's counts, like every infrastructure error
            self.session.mark_crashed(report)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        session = self.session
        node.workerinput["hepagent_run_dir"] = str(session.bench.run_dir)
        node.workerinput["hepagent_run_id"] = session.bench.run_id
        env = session.environment()
        node.workerinput["hepagent_data_dir"] = str(env.dataset.root)
        node.workerinput["hepagent_solution_dir"] = str(env.solution_dir)
        node.workerinput["hepagent_golden_dir"] = str(env.golden_dir)
        node.workerinput["hepagent_done_keys"] = sorted(session.done_keys)
        if session.gated is not None:  # every process judges a round at the level the controller fixed
            node.workerinput["hepagent_gate_tests"] = session.gated.cell_gate.tests
        concurrency = session.bench.concurrency
        node.workerinput[WINDOW_FLAG] = concurrency > 1 and node.config.getoption("dist") == "load"
