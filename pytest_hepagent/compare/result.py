"""The outcome of comparing one output file with its golden counterpart."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["ColumnStats", "Mismatch", "OutputResult", "Status"]

Status = Literal["pass", "missing", "unreadable", "shape", "nan_mask", "values", "structure"]


@dataclass(frozen=True)
class Mismatch:
    index: tuple[int, ...]
    generated: float
    reference: float

    @property
    def diff(self) -> float:
        return abs(self.generated - self.reference)


@dataclass(frozen=True)
class ColumnStats:
    column: int
    name: str
    mismatches: int
    max_diff: float


@dataclass(frozen=True)
class OutputResult:
    """Everything the validation log reports about one output."""

    path: str
    status: Status
    message: str = ""
    generated_shape: tuple[int, ...] | None = None
    reference_shape: tuple[int, ...] | None = None
    total: int = 0
    mismatches: int = 0
    nan_mask_equal: bool = True
    max_diff: float = 0.0
    mean_diff: float = 0.0
    rtol: float = 0.0
    atol: float = 0.0
    row_order: str = "strict"
    first: tuple[Mismatch, ...] = ()
    columns: tuple[ColumnStats, ...] = ()
    details: tuple[str, ...] = field(default=())
    """Structural differences (step-1 summary) or other diagnostics, one per line."""

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
