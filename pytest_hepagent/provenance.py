"""Hashes of the code that defines generated data and golden outputs."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["ANALYSIS_CODE", "GENERATOR_CODE", "source_hash"]

_PACKAGE = Path(__file__).resolve().parent
GENERATOR_CODE = ("data/schema.py", "data/config.py", "data/kinematics.py", "data/generate.py")
ANALYSIS_CODE = (*GENERATOR_CODE, "analysis")


def source_hash(parts: tuple[str, ...]) -> str:
    """sha256 over the named package files and folders (`*.py`, line endings normalized)."""
    digest = hashlib.sha256()
    files: list[Path] = []
    for rel in parts:
        path = _PACKAGE / rel
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    for path in files:
        digest.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()
