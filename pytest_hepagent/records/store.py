"""The one reader and writer of stored records: `results.jsonl`, `summary.json`, `classifications.jsonl` and a
trial's `logs/transcript.json`.

Lines are appended with a single `write` on a file opened in append mode, then flushed and fsynced, so a run killed
at any moment keeps every line written before and at worst leaves one torn last line, which the readers skip (with a
warning) instead of failing. A record this version cannot read (a newer `schema_version`, or none) is a one-line
error that names the file and line: silently dropping a newer run's trials would misstate its results.

Validation (pydantic, against the dataclasses of `trial.py` and `summary.py`) is imported on first read: writing, all
a worker does, costs no import.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from pytest_hepagent.errors import HepAgentError
from pytest_hepagent.records.summary import SUMMARY_VERSION, RunSummary
from pytest_hepagent.records.trial import (
    CLASSIFICATION_VERSION,
    RECORD_VERSION,
    CategoryVerdict,
    ClassificationLine,
    TrialRecord,
)

__all__ = [
    "CLASSIFICATIONS",
    "RESULTS",
    "SUMMARY",
    "TRANSCRIPT_VERSION",
    "RecordError",
    "ResultsStore",
    "append_jsonl",
    "append_record",
    "current_categories",
    "latest_records",
    "read_classifications",
    "read_jsonl",
    "read_record",
    "read_records",
    "read_run",
    "read_summary",
    "read_transcript",
    "record_from_json",
    "record_to_json",
    "write_json",
    "write_record",
    "write_summary",
    "write_transcript",
]

log = logging.getLogger(__name__)

RESULTS = "results.jsonl"
SUMMARY = "summary.json"
CLASSIFICATIONS = "classifications.jsonl"
TRANSCRIPT_VERSION = 1

T = TypeVar("T")


class RecordError(HepAgentError):
    """A stored record cannot be read by this version of the harness."""


@cache
def _adapter(kind: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(kind)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _plain(value: Any) -> Any:
    """`value` with every lone surrogate in its strings replaced by U+FFFD. The code under test can put them in what
    reaches a record (an exception message through the sandbox's side channel, a file name): JSON escapes them, but
    a strict reader refuses them, and a record that cannot be read would take its trial out of the results."""
    if isinstance(value, str):
        return value if value.isascii() else _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _check_version(data: dict[str, Any], newest: int, where: str) -> None:
    if "schema_version" not in data:
        raise ValueError("no schema_version: not a record of this harness")
    version = data["schema_version"]
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= newest:
        raise RecordError(
            f"{where}: schema_version {version!r} is not one this harness reads (1 to {newest}); "
            "read it with the pytest-hepagent version that wrote it, or upgrade"
        )


def _problem(exc: Any) -> str:
    """The first problem pydantic found (a ValidationError), on one line: where in the object, and what."""
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"]) + f": {first['msg']}"


def _parse(kind: type[T], data: Any, newest: int, where: str) -> T:
    """`data` as a `kind`, or RecordError on a version this harness does not read, ValueError on any other problem."""
    if not isinstance(data, dict):
        raise ValueError(f"not a JSON object but {type(data).__name__}")  # noqa: TRY004 - one error for any bad record
    _check_version(data, newest, where)
    from pydantic import ValidationError

    try:
        # JSON mode, strictly: a whole number stays one (no "3" or true for 3), an outcome is one of its words.
        adapter = _adapter(kind)  # type: ignore[arg-type]  # a class is hashable; mypy's TypeVar is not
        return adapter.validate_json(json.dumps(_plain(data)), strict=True)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ValueError(_problem(exc)) from None


def record_to_json(record: Any) -> dict[str, Any]:
    """A record (trial record, classification line) as the JSON object it is stored as: plain dicts, lists,
    strings and numbers (what pytest-xdist can send between processes)."""
    return json.loads(json.dumps(_plain(asdict(record)), default=str))  # type: ignore[no-any-return]


def record_from_json(data: Any, where: str = "record") -> TrialRecord:
    """A trial record from its JSON object (as stored, or as sent from an xdist worker); ValueError when invalid."""
    return _parse(TrialRecord, data, RECORD_VERSION, where)


_STRICT_FIX = "a baseline must be read whole: restore the file, or give the results.jsonl of a run as it was written"


def read_jsonl(path: Path, *, strict: bool = False) -> list[tuple[int, Any]]:
    """(line number, value) of every complete line of a JSONL file (a torn line from a killed run is skipped, or with
    `strict` a RecordError)."""
    found = []
    for number, line in enumerate(_text(path).split("\n"), 1):
        if not line.strip():
            continue
        try:
            found.append((number, json.loads(line)))
        except ValueError:
            if strict:
                raise RecordError(f"{path}:{number}: not valid JSON (a torn or edited line); {_STRICT_FIX}") from None
            log.warning("%s:%d: skipping an incomplete line (a run was killed while writing it)", path, number)
    return found


def _text(path: Path) -> str:
    """A stored file's text as UTF-8; an invalid byte becomes U+FFFD (the record is still read, the spot marked)."""
    return Path(path).read_bytes().decode("utf-8", errors="replace")


def _read_lines(path: Path, kind: type[T], newest: int, strict: bool = False) -> list[T]:
    out = []
    for number, data in read_jsonl(path, strict=strict):
        try:
            out.append(_parse(kind, data, newest, f"{path}:{number}"))
        except ValueError as exc:
            if strict:
                raise RecordError(f"{path}:{number}: {exc}; {_STRICT_FIX}") from None
            log.warning("%s:%d: skipping a record the report cannot use: %s", path, number, exc)
    return out


def read_records(path: Path, *, strict: bool = False) -> list[TrialRecord]:
    """Every usable trial record of a results.jsonl, in the order written: a torn line, or a record the readers cannot
    use, is skipped with a warning that names its line (nothing is rewritten). With `strict` (a run the gate
    judges: a skipped line could be exactly its failures) either is a one-line RecordError."""
    return _read_lines(path, TrialRecord, RECORD_VERSION, strict)


def read_classifications(path: Path) -> list[ClassificationLine]:
    """Every usable line of a classifications.jsonl (none when the file does not exist)."""
    return _read_lines(path, ClassificationLine, CLASSIFICATION_VERSION) if Path(path).is_file() else []


def latest_records(records: Iterable[TrialRecord]) -> list[TrialRecord]:
    """One record per trial key, the last one written winning (a resumed run may re-run errored trials)."""
    return list({record.key: record for record in records}.values())


def read_run(run_dir: Path) -> list[TrialRecord]:
    """The latest record of every trial of a stored run; a one-line error when `run_dir` is not a run folder."""
    results = Path(run_dir) / RESULTS
    if not results.is_file():
        raise FileNotFoundError(f"{results}: no results.jsonl; give a run folder such as reports/<run-id>")
    return latest_records(read_records(results))


def current_categories(run_dir: Path, records: Iterable[TrialRecord]) -> dict[str, CategoryVerdict]:
    """Per failed trial key, its current category: the latest re-classification (`classifications.jsonl`), else
    what the run recorded."""
    current = {r.key: r.category for r in records if r.failed}
    for line in read_classifications(Path(run_dir) / CLASSIFICATIONS):
        if line.key in current:
            current[line.key] = line.category
    return current


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_text(path))
    except ValueError as exc:
        raise RecordError(f"{path}: not valid JSON ({exc}); the file is damaged, re-run or restore it") from None


def read_summary(path: Path) -> RunSummary:
    """A run's summary.json; a one-line RecordError when it cannot be read."""
    data = _read_json(path)
    try:
        summary: RunSummary = _parse(RunSummary, data, SUMMARY_VERSION, str(path))
    except ValueError as exc:
        raise RecordError(f"{path}: not a run summary ({exc}); give a summary.json that a run wrote") from None
    seen = set()
    for i, cell in enumerate(summary.cells):  # what the types cannot say: counts, and one cell per model x step
        for name in ("passed", "failed", "errors", "first_passed", "tokens"):
            if getattr(cell, name) < 0:
                raise RecordError(f"{path}: cells.{i}.{name} is {getattr(cell, name)}, below 0; the file is damaged")
        if cell.first_passed > cell.passed:
            raise RecordError(f"{path}: cells.{i}.first_passed is above passed; the file is damaged")
        for (p1, n1), (p2, n2) in zip(((0, 0), *cell.looks), cell.looks, strict=False):
            if not (0 <= p2 - p1 <= n2 - n1 and n2 > n1) or n2 > cell.passed + cell.failed:
                raise RecordError(
                    f"{path}: cells.{i}.looks are not counts that grow round by round; the file is damaged"
                )
        if (cell.model, cell.step) in seen:
            raise RecordError(f"{path}: cells.{i} is a second cell of {cell.model} {cell.step}; the file is damaged")
        seen.add((cell.model, cell.step))
    return summary


def read_transcript(path: Path) -> dict[str, Any]:
    """A trial's transcript (`TrialResult.to_dict()`: the request, the agent's calls and attempts, the validation).

    Written by the harness where the code cannot write; a transcript without `schema_version` predates it (1).
    """
    data = _read_json(path)
    if not isinstance(data, dict):
        raise RecordError(f"{path}: not a transcript (a JSON object); the file is damaged, re-run the trial")
    _check_version({"schema_version": 1} | data, TRANSCRIPT_VERSION, str(path))
    return data


def write_transcript(path: Path, transcript: dict[str, Any]) -> None:
    text = json.dumps(_plain({"schema_version": TRANSCRIPT_VERSION} | transcript), indent=1, default=str)
    Path(path).write_text(text + "\n")


def write_json(path: Path, data: Any) -> None:
    """Write `data` as JSON through a temporary file and a rename: a kill mid-write leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_plain(data), indent=1, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


def write_record(path: Path, record: TrialRecord) -> None:
    """One trial record as its own JSON file (a workflow job's output), written atomically."""
    write_json(path, asdict(record))


def read_record(path: Path) -> TrialRecord:
    """A trial record written by `write_record`; a one-line RecordError when it cannot be read."""
    try:
        return record_from_json(_read_json(path), str(path))
    except ValueError as exc:
        raise RecordError(f"{path}: not a trial record ({exc}); give a record a `hepagent bench-trial` wrote") from None


def write_summary(path: Path, summary: RunSummary) -> None:
    write_json(path, summary.to_json())


def append_record(path: Path, record: TrialRecord | ClassificationLine) -> None:
    append_jsonl(path, asdict(record))


def append_jsonl(path: Path, data: dict[str, Any]) -> None:
    """Append `data` as one line with a single write, then fsync (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(_plain(data), sort_keys=True, default=str) + "\n"
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


class ResultsStore:
    """A run folder's records: `results.jsonl` (appended) and `summary.json` (rewritten whole)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @property
    def results_path(self) -> Path:
        return self.folder / RESULTS

    @property
    def summary_path(self) -> Path:
        return self.folder / SUMMARY

    def append(self, record: TrialRecord) -> None:
        append_record(self.results_path, record)

    def records(self) -> list[TrialRecord]:
        return read_records(self.results_path) if self.results_path.is_file() else []

    def write_summary(self, summary: RunSummary) -> None:
        write_summary(self.summary_path, summary)
