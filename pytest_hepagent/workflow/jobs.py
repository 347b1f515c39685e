"""What the Snakefile needs from the engine: each step's inputs and outputs (from the task specs), the matrix's jobs
and the shell commands of its rules. No Snakemake import here, so this is testable and usable without it.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_hepagent.matrix.config import safe_name
from pytest_hepagent.steps import STEP_NAMES

__all__ = [
    "HEPAGENT",
    "data_files",
    "matrix_jobs",
    "matrix_models",
    "record_path",
    "step_command",
    "step_inputs",
    "step_outputs",
    "trial_command",
]


HEPAGENT = [sys.executable, "-m", "pytest_hepagent"]
"""The `hepagent` command of this interpreter (a job's PATH need not hold the virtual environment's scripts)."""


def _spec(step: str) -> Any:
    from pytest_hepagent.specs import load_specs

    return load_specs()[step]


def data_files(data: str | Path | None) -> list[str]:
    """The nine ROOT files of the dataset (`data`, or the synthetic stand-in, generated on first use)."""
    from pytest_hepagent.data.dataset import Dataset, ensure_synthetic
    from pytest_hepagent.data.schema import SAMPLES

    dataset = Dataset(Path(data)).check() if data else ensure_synthetic()
    return [str(dataset.path(s)) for s in SAMPLES]


def step_outputs(step: str, out: str | Path) -> list[str]:
    """The step's outputs under `out`, with the paper's file names (e.g. `out/arrays/signal.npy`)."""
    return [str(Path(out) / rel) for rel in _spec(step).output_paths]


def step_inputs(step: str, out: str | Path, data: str | Path | None) -> list[str]:
    """The step's inputs: ROOT files for `data/...`, earlier steps' outputs under `out` for `solution/...`."""
    spec = _spec(step)
    files = {Path(p).name: p for p in data_files(data)} if any(r.startswith("data/") for r in spec.inputs) else {}
    return [
        files[Path(rel).name] if rel.startswith("data/") else str(Path(out) / rel.removeprefix("solution/"))
        for rel in spec.inputs
    ]


def _join(words: list[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)


def step_command(step: str, config: Mapping[str, Any]) -> str:
    """`hepagent step ...` for one rule of the analysis DAG: the reference or an agent, as the config says."""
    how = (config.get("steps") or {}).get(step) or {"by": "reference"}
    words = [*HEPAGENT, "step", step, "--out", str(config["out"])]
    if config.get("data"):
        words += ["--data", str(config["data"])]
    if config.get("sandbox"):
        words += ["--sandbox", str(config["sandbox"])]
    if how.get("by", "reference") == "agent":
        words += ["--model", str(how["model"]), "--max-iterations", str(how.get("max_iterations", 3))]
        if how.get("cassette"):
            words += ["--cassette", str(how["cassette"])]
        if config.get("api_base"):
            words += ["--api-base", str(config["api_base"])]
    elif how.get("by", "reference") != "reference":
        raise ValueError(f"workflow config steps.{step}.by: {how.get('by')!r}; use reference or agent")
    return _join(words)


def matrix_models(matrix: Mapping[str, Any]) -> dict[str, str]:
    """Safe name (used in paths and wildcards) -> model name."""
    return {safe_name(m): str(m) for m in matrix.get("models") or ["hepagent/oracle"]}


def matrix_jobs(matrix: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """(model safe name, step, trial) of every job of the matrix."""
    steps = matrix.get("steps") or list(STEP_NAMES)
    trials = int(matrix.get("trials", 1))
    return [(m, s, t) for m in matrix_models(matrix) for s in steps for t in range(1, trials + 1)]


def record_path(run_dir: str | Path, model: str, step: str, trial: int | str) -> str:
    return str(Path(run_dir) / "records" / model / step / f"trial{trial}.json")


def trial_command(matrix: Mapping[str, Any], model: str, step: str, trial: int | str) -> str:
    """`hepagent bench-trial ...` for one job of the matrix (`model` is the safe name)."""
    run_dir = str(matrix["run_dir"])
    words = [
        *HEPAGENT, "bench-trial", run_dir,
        "--model", matrix_models(matrix)[model], "--step", step, "--trial", str(trial),
        "--out", record_path(run_dir, model, step, trial),
    ]  # fmt: skip
    for key in ("replay", "judge_model", "supervisor_model", "max_iterations", "api_base"):
        if matrix.get(key) and (key != "replay" or words[words.index("--model") + 1] == "hepagent/replay"):
            words += [f"--{key.replace('_', '-')}", str(matrix[key])]
    return _join(words)
