"""The five steps' numbers, names and titles, read from the task specs (`task_specs/<step>.yaml`, the one source of
step metadata).

Read here without a YAML parser, from the specs' top-level `step`, `index` and `title` lines: the plugin, the
config and the tables need the names at start-up, and loading the specs whole (PyYAML, Jinja2) is for whoever runs
a step. `specs.load_specs` reads the same files in full, and checks these keys; a test checks that both agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pytest_hepagent.resources import spec_dir

__all__ = ["STEPS", "STEP_NAMES", "Step", "read_steps"]

_KEY = re.compile(r"^(step|index|title):[ \t]*(.*?)[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Step:
    index: int
    """1 to 5, the paper's order."""
    name: str
    title: str


def read_steps(directory: Path | None = None) -> tuple[Step, ...]:
    """The steps of a folder of task specs (default: the shipped `task_specs/`), in their order."""
    steps = []
    for path in sorted(Path(directory or spec_dir()).glob("*.yaml")):
        keys = {k: v.strip("'\"") for k, v in _KEY.findall(path.read_text(encoding="utf-8"))}
        if not keys.get("index", "").isdigit() or not keys.get("step"):
            continue  # not a step's spec; load_specs says what is wrong with it
        steps.append(Step(int(keys["index"]), keys["step"], keys.get("title", keys["step"])))
    return tuple(sorted(steps, key=lambda s: s.index))


STEPS: tuple[Step, ...] = read_steps()
STEP_NAMES: tuple[str, ...] = tuple(s.name for s in STEPS)
