"""Baselines: the runs a gated run is compared with, pooled per model and step.

A baseline is one run or several (`--hep-baseline` repeated, or a folder of runs such as `baselines/openai_o3/`,
which `hepagent baseline add` fills). Trials of the same model and step pool when they ran the same prompt, task
spec, dataset and goldens (the hashes every record carries): more baseline trials narrow what the gate can rule out.
Runs that disagree on any of those hashes measured different tasks, and pooling them is refused.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pytest_hepagent.errors import ConfigError
from pytest_hepagent.records import (
    RESULTS,
    SUMMARY,
    Cell,
    RecordError,
    TrialRecord,
    latest_records,
    read_records,
    read_summary,
)

__all__ = ["Baseline", "add_to_baseline", "load_baseline", "load_baseline_cells", "load_run_cells", "run_sources"]

_HASHES = ("prompt", "task_spec", "dataset", "golden")
"""What must agree for trials of one model and step to pool."""
_FIX = "give the results.jsonl or summary.json of an earlier run, its folder, or a folder of runs"

Key = tuple[str | None, ...]


@dataclass(frozen=True)
class Baseline:
    cells: tuple[Cell, ...]
    """Per model and step, the pooled counts of every run."""
    runs: tuple[Path, ...]
    """The runs pooled (their results.jsonl or summary.json)."""
    given: tuple[Path, ...]
    """What the user named."""

    def describe(self) -> str:
        named = ", ".join(str(p) for p in self.given)
        return named if len(self.runs) == 1 else f"{len(self.runs)} runs pooled from {named}"


def _is_run(folder: Path) -> bool:
    return (folder / RESULTS).is_file() or (folder / SUMMARY).is_file()


def _source(path: Path) -> Path:
    """The file a run is read from: the path itself, or a run folder's results.jsonl, else its summary.json."""
    if not path.is_dir():
        return path
    return path / RESULTS if (path / RESULTS).is_file() else path / SUMMARY


def run_sources(path: Path, where: str) -> list[Path]:
    """The runs `path` names: a results.jsonl or summary.json, a run folder (its results.jsonl, else its summary),
    or a folder whose sub-folders are runs."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{where}: {path} does not exist; {_FIX}")
    if path.is_file() or _is_run(path):
        return [_source(path)]
    runs = sorted(sub for sub in path.iterdir() if sub.is_dir() and _is_run(sub))
    if not runs:
        raise ConfigError(
            f"{where}: {path} holds no run (no results.jsonl or summary.json in it or its folders); {_FIX}"
        )
    return [_source(run) for run in runs]


def _record_keys(records: Sequence[TrialRecord]) -> dict[tuple[str, str], set[Key]]:
    keys: dict[tuple[str, str], set[Key]] = {}
    for r in records:
        if r.judged:  # an error may never have reached the agent: it has no prompt
            keys.setdefault((r.model, r.step), set()).add(tuple(r.hashes.get(h) or None for h in _HASHES))
    return keys


def _parse(source: Path) -> tuple[list[Cell], dict[tuple[str, str], set[Key]], set[str]]:
    """One run's cells, the hashes behind each, and the run ids it holds, from its results.jsonl (read strictly: a
    line skipped could be exactly the failures) or its summary.json."""
    from pytest_hepagent.matrix.cells import cells_from_records

    if source.suffix == ".jsonl":
        records = read_records(source, strict=True)
        latest = latest_records(records)
        return cells_from_records(latest), _record_keys(latest), {r.run_id for r in records}
    summary = read_summary(source)
    hashes = summary.hashes
    keys: dict[tuple[str, str], set[Key]] = {
        (c.model, c.step): {(None, hashes.get(f"task_spec:{c.step}"), hashes.get("dataset"), hashes.get("golden"))}
        for c in summary.cells
    }
    return list(summary.cells), keys, {summary.run_id}


def _read(
    source: Path, where: str, fix: str = _FIX, named: Path | None = None
) -> tuple[list[Cell], dict[tuple[str, str], set[Key]], set[str]]:
    """`_parse`, with a one-line ConfigError naming `where` (and `named`, the path the user gave) and `fix`."""
    try:
        return _parse(source)
    except RecordError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (OSError, ValueError) as exc:
        shown = named if named is not None else source
        raise ConfigError(f"{where}: {shown} cannot be read as a run ({type(exc).__name__}); {fix}") from None


def load_baseline_cells(path: Path) -> list[Cell]:
    """Cells of one run: a results.jsonl or a summary.json (or a run folder holding them); the store's errors as
    they are."""
    return _parse(_source(Path(path)))[0]


def load_run_cells(path: Path, where: str) -> list[Cell]:
    """The cells of the one run a user gave as `where` (an option or argument): a one-line ConfigError that names
    it and the fix when the path is no run (a folder of runs: which one is meant is the user's choice), cannot be
    read, holds no cell (a wrong file would make every cell NEW and a gate pass unseen), or has more trials in a
    cell than the gate's exact tests take (a hand-edited summary must not stall them)."""
    from pytest_hepagent.sequential.boundaries import MOST_TRIALS

    fix = "give the results.jsonl or summary.json of an earlier run (or its folder)"
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{where}: {path} does not exist; {fix}")
    if path.is_dir() and not _is_run(path):
        runs = sorted(run.name for run in path.iterdir() if _is_run(run))
        if runs:  # a --hep-report-dir: which of its runs is meant is the user's choice, not the newest's
            raise ConfigError(
                f"{where}: {path} is a folder of {len(runs)} run(s), not a run; name one, e.g. {path / runs[-1]}"
            )
    cells = _read(_source(path), where, fix, named=path)[0]
    if not cells:
        raise ConfigError(f"{where}: {path} holds no trial of any model and step; {fix}")
    for cell in cells:
        if cell.total > MOST_TRIALS:
            raise ConfigError(
                f"{where}: {path}: {cell.model} {cell.step} has {cell.total:,} judged trials, more than the "
                f"{MOST_TRIALS:,} the gate's exact tests take"
            )
    return cells


def _conflict(a: Key, b: Key) -> str | None:
    """The first hash two runs both know and disagree on."""
    for name, x, y in zip(_HASHES, a, b, strict=True):
        if x and y and x != y:
            return name
    return None


def _pool(cells: Sequence[Cell]) -> Cell:
    judged = sum(c.total for c in cells)
    first = cells[0]
    return replace(
        first,
        passed=sum(c.passed for c in cells),
        failed=sum(c.failed for c in cells),
        errors=sum(c.errors for c in cells),
        mean_api_calls=sum(c.mean_api_calls * c.total for c in cells) / judged if judged else 0.0,
        mean_agent_work=sum(c.mean_agent_work * c.total for c in cells) / judged if judged else 0.0,
        tokens=sum(c.tokens for c in cells),
        cost_usd=sum(c.cost_usd for c in cells),
        first_passed=sum(c.first_passed for c in cells),
        looks=(),  # a baseline is one sample: how its runs stopped is not a look of the gated run
        max_trials=None,
    )


def load_baseline(paths: Sequence[Path], where: str = "--hep-baseline") -> Baseline:
    """The pooled baseline of `paths`; a one-line ConfigError naming `where` and the fix when a path is no run,
    cannot be read, holds no cell, holds a run another path holds too (its trials would count twice), has more
    trials in a cell than the gate's exact tests take, or when runs of one model and step disagree on a hash."""
    from pytest_hepagent.sequential.boundaries import MOST_BASELINE

    sources = list(dict.fromkeys(s.resolve() for path in paths for s in run_sources(path, where)))
    if not sources:
        raise ConfigError(f"{where}: no baseline given; {_FIX}")
    by_cell: dict[tuple[str, str], list[Cell]] = {}
    seen: dict[tuple[str, str], list[tuple[Key, Path]]] = {}
    runs: dict[str, Path] = {}
    for source in sources:
        cells, keys, run_ids = _read(source, where)
        for run_id in sorted(run_ids):
            if run_id in runs:
                raise ConfigError(
                    f"{where}: run {run_id} is in {runs[run_id]} and in {source}: its trials would count twice; "
                    f"keep one copy"
                )
            runs[run_id] = source
        for cell in cells:
            by_cell.setdefault((cell.model, cell.step), []).append(cell)
        for cell_key, found in keys.items():
            for key in sorted(found, key=str):
                for other, first in seen.get(cell_key, []):  # every pair: a run without a hash hides nothing
                    name = _conflict(other, key)
                    if name is not None:
                        model, step = cell_key
                        index = _HASHES.index(name)
                        raise ConfigError(
                            f"{where}: the runs mix {name.replace('_', ' ')}s of {model} {step} ({first} has "
                            f"{(other[index] or '')[:12]}, {source} has {(key[index] or '')[:12]}); pool only runs "
                            f"of one prompt and task spec (move the others out)"
                        )
                seen.setdefault(cell_key, []).append((key, source))
    pooled = tuple(_pool(cells) for cells in by_cell.values())
    if not pooled:
        raise ConfigError(f"{where}: {', '.join(map(str, paths))} holds no trial of any model and step; {_FIX}")
    for cell in pooled:
        if cell.total > MOST_BASELINE:
            raise ConfigError(
                f"{where}: {cell.model} {cell.step} has {cell.total:,} baseline trials, more than the {MOST_BASELINE:,} "
                f"the gate's exact tests take; pool fewer runs (the latest)"
            )
    return Baseline(pooled, tuple(sources), tuple(Path(p) for p in paths))


def add_to_baseline(run: Path, folder: Path) -> Path:
    """Copy an accepted run (its records, summary and settings) into the baseline folder `folder`, as a folder
    named after the run; refused when the run is no run, is there already, or would mix hashes with the runs
    there. Returns the new folder."""
    run = Path(run)
    if run.is_file():
        run_dir = run.parent
    elif run.is_dir() and _is_run(run):
        run_dir = run
    else:
        raise ConfigError(f"RUN: {run} is no run (no results.jsonl or summary.json); give a run folder")
    target = Path(folder) / run_dir.name
    if target.exists():
        raise ConfigError(f"BASELINE_DIR: {target} exists already; the run is in the baseline")
    existing = run_sources(folder, "BASELINE_DIR") if Path(folder).is_dir() and any(Path(folder).iterdir()) else []
    load_baseline([*existing, run_dir], "hepagent baseline add")  # refuses a mix before anything is copied
    target.mkdir(parents=True)
    for name in (RESULTS, SUMMARY, "config.json"):
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, target / name)
    return target
