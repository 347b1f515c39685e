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

__all__ = ["ResultsStore", "append_jsonl", "latest_records", "read_records", "read_run", "write_json"]

log = logging.getLogger(__name__)

RESULTS = "results.jsonl"
SUMMARY = "summary.json"


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every complete record of a results.jsonl (a torn line from a killed run is skipped)."""
    records = []
    with Path(path).open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                log.warning("%s:%d: skipping an incomplete line (a run was killed while writing it)", path, number)
                continue
            if isinstance(record, dict):
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
