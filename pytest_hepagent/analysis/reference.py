"""The reference solution of the five steps, writing the paper's file layout into one solution folder.

The steps themselves (numbers, names, titles, outputs) are the task specs'; this module holds how each is done.

Each step reads the outputs of the earlier steps from the same folder, so `run_reference` chains them and any
single step can be re-run from a folder that holds its inputs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pytest_hepagent.analysis import categorization, inspection, ntuple, selection, separation
from pytest_hepagent.data.dataset import Dataset
from pytest_hepagent.data.schema import MC_SAMPLES, SAMPLES
from pytest_hepagent.errors import HepAgentError, did_you_mean
from pytest_hepagent.steps import STEPS, Step

__all__ = ["ReferenceRun", "run_reference", "run_step", "step_by_name"]

log = logging.getLogger(__name__)


def step_by_name(name: str) -> Step:
    for step in STEPS:
        if name in (step.name, str(step.index)):
            return step
    names = [s.name for s in STEPS]
    raise HepAgentError(f"unknown step {name!r}{did_you_mean(name, names)}; steps are {', '.join(names)}")


@dataclass
class ReferenceRun:
    """What one reference run did: the backend of step 4 and the wall time of each step."""

    backend: str = "none"
    seconds: dict[str, float] = field(default_factory=dict)


def _save(out: Path, rel: str, array: np.ndarray) -> None:
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array)


def _inspection(dataset: Dataset, out: Path, run: ReferenceRun) -> None:
    summary = inspection.summarize(dataset.paths.values())
    (out / inspection.SUMMARY_JSON).parent.mkdir(parents=True, exist_ok=True)
    (out / inspection.SUMMARY_JSON).write_text(inspection.to_json(summary))
    (out / inspection.SUMMARY_TEXT).write_text(inspection.render_text(summary))


def _conversion(dataset: Dataset, out: Path, run: ReferenceRun) -> None:
    for sample in SAMPLES:
        _save(out, ntuple.raw_array_name(sample.name), ntuple.convert_file(dataset.path(sample)))


def _load_raw(out: Path, names: Iterable[str]) -> dict[str, np.ndarray]:
    return {name: np.load(out / ntuple.raw_array_name(name)) for name in names}


def _preprocessing(dataset: Dataset, out: Path, run: ReferenceRun) -> None:
    signal = selection.signal_sample(_load_raw(out, [s.name for s in MC_SAMPLES]))
    background = selection.background_sample(_load_raw(out, [s.name for s in SAMPLES if s.kind == "data"]))
    _save(out, "arrays/signal.npy", signal)
    _save(out, "arrays/bkgd.npy", background.array)


def _separation(dataset: Dataset, out: Path, run: ReferenceRun, backend: str = "auto") -> None:
    chosen, weights = separation.resolve_backend(backend)  # a one-line error before any work
    scores = separation.train_and_score(
        np.load(out / "arrays/signal.npy"), np.load(out / "arrays/bkgd.npy"), backend=chosen, model_path=weights
    )
    run.backend = scores.backend
    _save(out, "arrays/signal_scores.npy", scores.signal)
    _save(out, "arrays/bkgd_scores.npy", scores.background)


def _categorization(dataset: Dataset, out: Path, run: ReferenceRun) -> None:
    arrays = [np.load(out / f"arrays/{n}.npy") for n in ("signal", "bkgd", "signal_scores", "bkgd_scores")]
    boundaries, significances = categorization.categorize(*categorization.load_datasets(*arrays))
    _save(out, "arrays/boundaries.npy", boundaries)
    _save(out, "arrays/significances.npy", significances)


_RUNNERS: dict[str, Callable[..., None]] = {
    "root_inspection": _inspection,
    "ntuple_conversion": _conversion,
    "preprocessing": _preprocessing,
    "sb_separation": _separation,
    "categorization": _categorization,
}


def run_step(
    step: Step | str, dataset: Dataset, out: Path, backend: str = "auto", run: ReferenceRun | None = None
) -> ReferenceRun:
    """Run one reference step; its inputs from earlier steps must already be in `out`."""
    step = step_by_name(step) if isinstance(step, str) else step
    run = run if run is not None else ReferenceRun()
    start = time.perf_counter()
    kwargs = {"backend": backend} if step.name == "sb_separation" else {}
    _RUNNERS[step.name](dataset, Path(out), run, **kwargs)
    run.seconds[step.name] = time.perf_counter() - start
    log.info("reference step %d (%s) took %.2f s", step.index, step.name, run.seconds[step.name])
    return run


def run_reference(dataset: Dataset, out: Path, backend: str = "auto") -> ReferenceRun:
    """Run all five steps into `out` (the `solution/` folder of the paper's layout)."""
    dataset.check()
    run = ReferenceRun()
    for step in STEPS:
        run_step(step, dataset, out, backend, run)
    return run
