"""The trial folder, in the paper's layout:

data/Data/*.root, data/MC/*.root   ROOT inputs (steps 1-2)             read-only
solution/arrays/..., solution/...  reference outputs of earlier steps  read-only
utils.py                           the helpers (`from utils import *`)
generated_code/<step>.py           the coder's script                  read-only while it runs
arrays/, summary/                  the step's outputs
logs/                              comprehensive log, transcript, validation log
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pytest_hepagent.data.dataset import Dataset
from pytest_hepagent.data.schema import SAMPLES
from pytest_hepagent.errors import InfrastructureError
from pytest_hepagent.specs import TaskSpec

__all__ = ["OUTPUT_FOLDERS", "prepare_trial_dir"]

OUTPUT_FOLDERS = ("arrays", "summary", "logs", "generated_code", "tmp")
_BY_FILENAME = {s.filename: s for s in SAMPLES}


_UTILS_SHIM = '''"""Helpers provided to this trial (see pytest_hepagent.analysis.utils)."""
from pytest_hepagent.analysis.utils import *  # noqa: F403
from pytest_hepagent.analysis.utils import __all__  # noqa: F401
'''
"""What `from utils import *` gives a trial: the reference helpers, re-exported."""


def _source(rel: str, dataset: Dataset, solution_dir: Path) -> Path:
    if rel.startswith("data/"):
        name = Path(rel).name
        if name not in _BY_FILENAME:
            raise InfrastructureError(f"input {rel}: not a file of the GamGam release")
        return dataset.path(_BY_FILENAME[name])
    return Path(solution_dir) / rel.removeprefix("solution/")


def _place(source: Path, target: Path, link: bool) -> None:
    if link:
        try:
            os.link(source, target)
            return
        except OSError:  # another filesystem: copy
            pass
    shutil.copyfile(source, target)


def prepare_trial_dir(
    trial_dir: Path, spec: TaskSpec, dataset: Dataset, solution_dir: Path, *, link: bool = False
) -> Path:
    """Lay out a fresh trial folder with the step's inputs.

    Inputs are copies, unless `link`: hard links, which are only safe where the sandbox mounts the inputs
    read-only (isolation level `namespaces`), since a link shares the original's inode.
    """
    trial_dir = Path(trial_dir)
    if trial_dir.exists() and any(trial_dir.iterdir()):
        raise InfrastructureError(f"{trial_dir}: trial folder exists and is not empty; use a new run folder")
    for folder in ("data", "solution", *OUTPUT_FOLDERS):
        (trial_dir / folder).mkdir(parents=True, exist_ok=True)
    for rel in spec.inputs:
        source = _source(rel, dataset, solution_dir)
        if not source.is_file():
            raise InfrastructureError(f"input {rel}: {source} is missing; regenerate the goldens (hepagent golden)")
        target = trial_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        _place(source, target, link)
    (trial_dir / "utils.py").write_text(_UTILS_SHIM)
    return trial_dir
