"""The trial folder: what the code works in, and what only the harness writes.

    <trial>/work/                       the code's working folder, seen inside the sandbox as /trial
        data/Data/*.root, data/MC/*     ROOT inputs (steps 1-2)                 read-only
        solution/arrays/..., ...        outputs of earlier steps (the inputs)   read-only
        utils.py                        the helpers (`from utils import *`)     read-only
        generated_code/<step>.py        the coder's script                      read-only
        arrays/, summary/, logs/, tmp/  where the code writes
    <trial>/logs/                       comprehensive log, transcript, validation log: never in the sandbox

`work/` is the paper's layout, so a recorded trajectory (`solution/arrays/signal.npy`, `arrays/boundaries.npy`,
`from utils import *`) runs unchanged. The harness treats `work/` as hostile once code has run in it: it goes
through `trial_files` only.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from pytest_hepagent.data.dataset import Dataset
from pytest_hepagent.data.schema import SAMPLES
from pytest_hepagent.errors import InfrastructureError
from pytest_hepagent.specs import TaskSpec

__all__ = ["OUTPUT_FOLDERS", "READONLY", "TrialFolder", "prepare_trial_dir"]

OUTPUT_FOLDERS = ("arrays", "summary", "logs", "tmp")
READONLY = ("data", "solution", "generated_code", "utils.py")
"""Entries of the work folder the code cannot change."""
_BY_FILENAME = {s.filename: s for s in SAMPLES}
_UTILS = Path(__file__).resolve().parent.parent / "analysis" / "utils.py"
"""The standalone helpers module, copied into each trial as `utils.py`."""


@dataclass(frozen=True)
class TrialFolder:
    root: Path

    @property
    def work(self) -> Path:
        """The code's working folder (hostile once code ran in it)."""
        return self.root / "work"

    @property
    def logs(self) -> Path:
        """The harness's logs, out of the code's reach."""
        return self.root / "logs"


def _source(rel: str, dataset: Dataset, solution_dir: Path) -> Path:
    if rel.startswith("data/"):
        name = Path(rel).name
        if name not in _BY_FILENAME:
            raise InfrastructureError(f"input {rel}: not a file of the GamGam release")
        return dataset.path(_BY_FILENAME[name])
    return Path(solution_dir) / rel.removeprefix("solution/")


def _place(source: Path, target: Path, link: bool) -> None:
    """A hard link where that is safe (the sandbox mounts inputs read-only) and the code's uid can read the
    original; else a copy it can read."""
    if link and source.stat().st_mode & stat.S_IROTH:
        try:
            os.link(source, target)
            return
        except OSError:  # another filesystem: copy
            pass
    shutil.copyfile(source, target)
    target.chmod(0o644)


def prepare_trial_dir(
    trial_dir: Path,
    spec: TaskSpec,
    dataset: Dataset,
    solution_dir: Path,
    *,
    link: bool = False,
    owner: int | None = None,
) -> TrialFolder:
    """Lay out a fresh trial folder with the step's inputs.

    Inputs are copies, unless `link`: hard links, which are only safe where the sandbox mounts them read-only,
    since a link shares the original's inode. With `owner` (a root harness running the code as another uid), the
    work folder and its output folders belong to that uid and everything else stays the harness's.
    """
    folder = TrialFolder(Path(trial_dir))
    if folder.root.exists() and any(folder.root.iterdir()):
        raise InfrastructureError(f"{folder.root}: trial folder exists and is not empty; use a new run folder")
    work = folder.work
    for name in ("data", "solution", "generated_code", *OUTPUT_FOLDERS):
        (work / name).mkdir(parents=True, exist_ok=True)
    folder.logs.mkdir(parents=True, exist_ok=True)
    for rel in spec.inputs:
        source = _source(rel, dataset, solution_dir)
        if not source.is_file():
            raise InfrastructureError(f"input {rel}: {source} is missing; regenerate the goldens (hepagent golden)")
        target = work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        _place(source, target, link)
    shutil.copyfile(_UTILS, work / "utils.py")
    (work / "utils.py").chmod(0o644)
    for path in (work, *(p for p in work.rglob("*") if p.is_dir())):  # traversable whatever the harness's umask
        path.chmod(0o755)
    if owner is not None:
        for path in (work, *(work / name for name in OUTPUT_FOLDERS)):
            os.chown(path, owner, owner)
    return folder
