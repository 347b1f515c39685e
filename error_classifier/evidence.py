"""Structured evidence about a failed trial, read from its folder: what the rules decide on.

Everything comes from files a trial leaves behind (`logs/transcript.json`, the generated code, the output arrays
in `work/`), so a stored run can be classified long after it ran, on another machine, without pytest. Logs may be
empty, huge or not UTF-8: text is decoded with replacement and only the tail of long streams is parsed. The work
folder is the code's: its arrays are read through the comparator's bounded readers.

The exception that ended an attempt is the one the interpreter reported through the sandbox's side channel
(`execution.exception`); text in stderr that looks like a traceback is never taken as the cause. Transcripts
written before that channel existed (no `exception` key) fall back to parsing stderr.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_hepagent.analysis.columns import SAMPLE_COLUMNS
from pytest_hepagent.errors import HepAgentError
from pytest_hepagent.records import read_transcript

__all__ = [
    "HELPERS",
    "AttemptEvidence",
    "Evidence",
    "ExceptionInfo",
    "Frame",
    "OutputDiagnostic",
    "evidence_from_trial",
    "exception_from_record",
    "parse_traceback",
]

HELPERS = ("load_datasets", "get_significance", "place_boundary", "train_and_score")
"""The functions of the trial's `utils.py`."""

DIAGNOSED_ELEMENTS = 50_000_000
"""The most elements of a wrong output read for diagnostics (a placeholder or a fabricated array is small)."""

TAIL_CHARS = 64_000
"""Only this much of the end of stderr/stdout is parsed: the exception that ended a run is at the end."""


_FRAME = re.compile(r'^\s*File "(?P<file>[^"]*)", line (?P<line>\d+)(?:, in (?P<func>\S+))?')
_EXCEPTION = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Iteration))(?::\s?(?P<msg>.*))?$"
)
# Drawing numbers from a distribution (not seeding or shuffling, which honest code does too).
_FABRICATION = re.compile(
    r"\b(?:np\.random|numpy\.random|rng|random|generator|default_rng\([^)]*\))\."
    r"(?:normal|uniform|rand|randn|random|beta|exponential|poisson|integers|randint|choice|gamma|standard_normal"
    r"|gauss|sample|binomial|lognormal)\s*\(|\btorch\.(?:rand|randn|randint)\s*\("
)
# Using the inputs it was given: the parsed --input-files, argv, or a literal input path.
_READS = re.compile(r"\binput_files\b|\bsys\.argv\b|[\"'](?:solution|data)/")


@dataclass(frozen=True)
class Frame:
    file: str
    line: int
    function: str
    source: str
    """The source line the traceback shows for this frame ('' when it shows none)."""


@dataclass(frozen=True)
class ExceptionInfo:
    type: str
    """As printed, e.g. `FileNotFoundError` or `uproot.exceptions.KeyInFileError`."""
    message: str
    """The whole message, which can span lines (uproot's do)."""
    frames: tuple[Frame, ...] = ()

    @property
    def short_type(self) -> str:
        return self.type.rsplit(".", 1)[-1]

    @property
    def first_line(self) -> str:
        lines = self.message.strip().splitlines()
        return f"{self.short_type}: {lines[0]}" if lines else self.short_type


@dataclass(frozen=True)
class AttemptEvidence:
    iteration: int
    code: str
    ran: bool
    """The code was executed (an attempt without a code block is not)."""
    exit_code: int | None
    reason: str
    """The runner's one-line reason for a failed run (timeout, killed, exit code ...), '' on success."""
    stdout_tail: str
    stderr_tail: str
    exception: ExceptionInfo | None

    @property
    def succeeded(self) -> bool:
        return self.ran and self.exit_code == 0 and not self.reason

    @property
    def fabricates_data(self) -> bool:
        """The code draws random numbers (the usual way agents invent data)."""
        return bool(_FABRICATION.search(self.code))

    @property
    def reads_inputs(self) -> bool:
        """The code refers to its inputs (the parsed `--input-files`, `sys.argv` or a literal input path)."""
        return bool(_READS.search(self.code))


@dataclass(frozen=True)
class OutputDiagnostic:
    path: str
    status: str
    """The comparator's verdict: pass, missing, unreadable, shape, nan_mask, values, structure."""
    message: str = ""
    rows: int | None = None
    all_weights_zero: bool | None = None
    """For sample arrays (weight column): every weight is 0. None when not applicable or unreadable."""
    constant: bool | None = None
    """Every value of the array is the same (a placeholder), where the reference is not."""
    overlap: float | None = None
    """Fraction of the output's distinct values that occur in the reference output (None when unknown)."""


@dataclass(frozen=True)
class Evidence:
    step: str
    outcome: str
    attempts: tuple[AttemptEvidence, ...]
    outputs: tuple[OutputDiagnostic, ...]
    error: str = ""
    """The trial's infrastructure error, if any, or why its conversation ended early."""
    notes: tuple[str, ...] = field(default=())
    """What could not be read (a missing transcript, unreadable arrays)."""
    limit: str = ""
    """The per-trial limit that ended the trial (tokens, cost, time, context), if one did."""

    @property
    def executed(self) -> tuple[AttemptEvidence, ...]:
        return tuple(a for a in self.attempts if a.ran)

    @property
    def final(self) -> AttemptEvidence | None:
        """The last attempt whose code ran: its result is what the validation saw."""
        executed = self.executed
        return executed[-1] if executed else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else ""


def _tail(text: str) -> str:
    return text[-TAIL_CHARS:]


def parse_traceback(stderr: str | bytes) -> ExceptionInfo | None:
    """The exception that ended a Python process, from its stderr (the last traceback or exception line)."""
    lines = _tail(_text(stderr)).replace("\r\n", "\n").split("\n")
    start = max((i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")), default=-1)
    body = lines[start + 1 :] if start >= 0 else lines
    frames: list[Frame] = []
    exc_index = -1
    for i, line in enumerate(body):
        match = _FRAME.match(line)
        if match:
            source = body[i + 1].strip() if i + 1 < len(body) and not _FRAME.match(body[i + 1]) else ""
            frames.append(Frame(match["file"], int(match["line"]), match["func"] or "", source))
            continue
        if not line.startswith((" ", "\t")) and _EXCEPTION.match(line.strip()):
            exc_index = i  # the last unindented `Type: message` line wins
    if exc_index < 0:
        return None
    match = _EXCEPTION.match(body[exc_index].strip())
    assert match is not None
    rest = [line for line in body[exc_index + 1 :] if not line.startswith("exit code")]
    message = "\n".join([match["msg"] or "", *rest]).strip()
    return ExceptionInfo(match["type"], message, tuple(frames))


def exception_from_record(raw: Any) -> ExceptionInfo | None:
    """The sandbox's record of an uncaught exception (`ExecutionResult.exception`) as `ExceptionInfo`."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("type"), str):
        return None
    frames = tuple(
        Frame(
            _text(f.get("file")),
            int(f["line"]) if isinstance(f.get("line"), int) else 0,
            _text(f.get("function")),
            _text(f.get("source")),
        )
        for f in raw.get("frames") or ()
        if isinstance(f, Mapping)
    )
    return ExceptionInfo(raw["type"], _text(raw.get("message")), frames)


def _attempt(raw: Mapping[str, Any]) -> AttemptEvidence:
    execution = raw.get("execution") or None
    code = _text(raw.get("code"))
    if not isinstance(execution, Mapping):
        return AttemptEvidence(int(raw.get("iteration", 0) or 0), code, False, None, "", "", "", None)
    stderr = _tail(_text(execution.get("stderr")))
    exit_code = execution.get("exit_code")
    failed = exit_code != 0 or bool(execution.get("reason"))
    if "exception" in execution:  # the interpreter's own report: printed text never counts
        exception = exception_from_record(execution["exception"]) if failed else None
    else:  # a transcript from before the side channel
        exception = parse_traceback(stderr) if failed else None
    return AttemptEvidence(
        int(raw.get("iteration", 0) or 0),
        code,
        True,
        exit_code if isinstance(exit_code, int) else None,
        _text(execution.get("reason")),
        _tail(_text(execution.get("stdout"))),
        stderr,
        exception,
    )


def _diagnose(work: Path, solution_dir: Path | None, raw: Mapping[str, Any]) -> OutputDiagnostic:
    """What the wrong output looks like; only the comparator's verdict when it cannot be read within bounds."""
    try:
        return _diagnose_array(work, solution_dir, raw)
    except (MemoryError, ValueError, OSError):
        return OutputDiagnostic(_text(raw.get("path")), _text(raw.get("status")), _text(raw.get("message")))


def _diagnose_array(work: Path, solution_dir: Path | None, raw: Mapping[str, Any]) -> OutputDiagnostic:
    import numpy as np

    from pytest_hepagent.sandbox.trial_files import UnsafeFile
    from pytest_hepagent.sandbox.untrusted import UnreadableOutput, read_npy

    path, status = _text(raw.get("path")), _text(raw.get("status"))
    message = _text(raw.get("message"))
    if status in ("missing", "pass", "unreadable") or not path.endswith(".npy"):
        return OutputDiagnostic(path, status, message)
    reference_path = solution_dir / path if solution_dir is not None else None
    reference = None
    if reference_path is not None and reference_path.is_file():
        with contextlib.suppress(OSError, ValueError):
            reference = np.load(reference_path, allow_pickle=False).astype(np.float64, copy=False)
    cap = 4 * reference.size + 1024 if reference is not None else DIAGNOSED_ELEMENTS
    try:
        values = read_npy(work, path, max_elements=min(cap, DIAGNOSED_ELEMENTS))
    except (OSError, UnsafeFile, UnreadableOutput, ValueError, MemoryError):
        return OutputDiagnostic(path, status, message)
    if values.size == 0:
        return OutputDiagnostic(path, status, message, rows=int(values.shape[0]) if values.ndim else None)
    rows = int(values.shape[0]) if values.ndim else 1
    weights_zero = None
    if values.ndim == 2 and values.shape[1] == len(SAMPLE_COLUMNS) and path.endswith(("signal.npy", "bkgd.npy")):
        weights_zero = bool(np.all(values[:, SAMPLE_COLUMNS.index("weight")] == 0))
    finite = values[np.isfinite(values)]
    constant = bool(finite.size > 1 and np.all(finite == finite[0]))
    overlap = None
    if reference is not None:
        ref_finite = reference[np.isfinite(reference)]
        if constant and ref_finite.size > 1 and np.all(ref_finite == ref_finite[0]):
            constant = False  # the reference is constant too: not a placeholder
        mine = np.unique(finite)
        if mine.size:
            overlap = float(np.isin(mine, np.unique(ref_finite)).mean())
    return OutputDiagnostic(path, status, message, rows, weights_zero, constant, overlap)


def evidence_from_trial(
    trial_dir: Path, solution_dir: Path | None = None, result: Mapping[str, Any] | None = None
) -> Evidence:
    """Evidence of the trial in `trial_dir`, from `result` (a TrialResult dict) or its `logs/transcript.json`.

    With `solution_dir` (the golden outputs), outputs are also compared with the reference for overlap.
    """
    trial_dir = Path(trial_dir)
    solution_dir = Path(solution_dir) if solution_dir is not None else None
    notes: list[str] = []
    if result is None:
        transcript = trial_dir / "logs" / "transcript.json"
        try:
            result = read_transcript(transcript)
        except (OSError, HepAgentError) as exc:
            notes.append(f"{transcript}: unreadable ({type(exc).__name__})")
            result = {}
    agent = result.get("agent") if isinstance(result.get("agent"), Mapping) else {}
    raw_attempts: Sequence[Any] = agent.get("attempts") or () if isinstance(agent, Mapping) else ()
    attempts = tuple(_attempt(a) for a in raw_attempts if isinstance(a, Mapping))
    validation = result.get("validation") if isinstance(result.get("validation"), Mapping) else {}
    raw_outputs = validation.get("outputs") or () if isinstance(validation, Mapping) else ()
    work = trial_dir / "work"
    outputs = tuple(_diagnose(work, solution_dir, o) for o in raw_outputs if isinstance(o, Mapping))
    return Evidence(
        _text(result.get("step")),
        _text(result.get("outcome")),
        attempts,
        outputs,
        _text(result.get("error")),
        tuple(notes),
        _text(agent.get("limit")) if isinstance(agent, Mapping) and agent.get("status") == "limit" else "",
    )
