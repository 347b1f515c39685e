"""The results store of a run: `reports/<run-id>/results.jsonl` (append-only) and `summary.json`.

Each record is one line, written with a single `write` on a file opened in append mode, then flushed and fsynced,
so a run killed at any moment keeps every line written before and at worst leaves one torn last line, which
`read_records` skips (with a warning) instead of failing.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "OUTCOMES",
    "ResultsStore",
    "append_jsonl",
    "latest_records",
    "read_jsonl",
    "read_records",
    "read_run",
    "record_problem",
    "write_json",
]

log = logging.getLogger(__name__)

RESULTS = "results.jsonl"
SUMMARY = "summary.json"


_FIELDS: dict[str, tuple[type, ...]] = {
    "key": (str,),
    "model": (str,),
    "step": (str,),
    "trial": (int,),
    "outcome": (str,),
    "api_calls": (int,),
    "cost_usd": (int, float),
    "agent_work": (int, float),
    "tokens": (dict,),
}
OUTCOMES = ("passed", "failed", "error")


def record_problem(record: Any) -> str:
    """What makes `record` unusable by the readers (aggregates, gate, report), or '' when nothing does."""
    if not isinstance(record, dict):
        return f"not a record but {type(record).__name__}"
    for name, kinds in _FIELDS.items():
        value = record.get(name)
        if isinstance(value, bool) or not isinstance(value, kinds):
            return f"{name} is {value!r}, not {' or '.join(k.__name__ for k in kinds)}"
    if record["outcome"] not in OUTCOMES:
        return f"outcome is {record['outcome']!r}, not one of {', '.join(OUTCOMES)}"
    if not all(isinstance(record["tokens"].get(k), int) for k in ("input", "output")):
        return "tokens lacks whole-number input and output counts"
    return ""


def read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) of every complete line of a JSONL file (a torn line from a killed run is skipped)."""
    found = []
    with Path(path).open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                log.warning("%s:%d: skipping an incomplete line (a run was killed while writing it)", path, number)
                continue
            if isinstance(value, dict):
                found.append((number, value))
    return found


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every usable trial record of a results.jsonl: a torn line, or a record the readers cannot use, is skipped
    with a warning that names its line (nothing is rewritten)."""
    records = []
    for number, record in read_jsonl(path):
        problem = record_problem(record)
        if problem:
            log.warning("%s:%d: skipping a record the report cannot use: %s", path, number, problem)
            continue
        records.append(record)
    return records


@dataclass
class ResultsStore:
    folder: Path

    @property
    def results_path(self) -> Path:
        return self.folder / RESULTS

    @property
    def summary_path(self) -> Path:
        return self.folder / SUMMARY

    def append(self, record: dict[str, Any]) -> None:
        append_jsonl(self.results_path, record)

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.results_path) if self.results_path.is_file() else []

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.summary_path, summary)


def write_json(path: Path, data: Any) -> None:
    """Write `data` as JSON through a temporary file and a rename: a kill mid-write leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


def read_run(run_dir: Path) -> list[dict[str, Any]]:
    """The latest record of every trial of a stored run; a one-line error when `run_dir` is not a run folder."""
    results = Path(run_dir) / RESULTS
    if not results.is_file():
        raise FileNotFoundError(f"{results}: no results.jsonl; give a run folder such as reports/<run-id>")
    return latest_records(read_records(results))


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append `record` as one line with a single write, then fsync (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True, default=str) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        # A torn last line (from a kill mid-write) must not swallow this one: start on a fresh line.
        size = os.fstat(fd).st_size
        if size:
            with path.open("rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    line = "\n" + line
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def latest_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per trial key, the last one written winning (a resumed run may re-run errored trials)."""
    by_key: dict[str, dict[str, Any]] = {}
    for record in records:
        by_key[str(record.get("key", id(record)))] = record
    return list(by_key.values())
