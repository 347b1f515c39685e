"""The golden manifest: sha256, shape and dtype of every reference output, with dataset and code hashes.

Large outputs are represented by their hash only and regenerated on demand; files up to `SMALL_FILE_BYTES` are
committed beside the manifest (`golden/<relative path>`).
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_hepagent.provenance import ANALYSIS_CODE, source_hash

if TYPE_CHECKING:
    from pytest_hepagent.analysis.reference import ReferenceRun

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "SMALL_FILE_BYTES",
    "build_manifest",
    "code_hash",
    "compare_manifests",
    "read_manifest",
    "sha256_file",
    "write_manifest",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
SMALL_FILE_BYTES = 256 * 1024
_ENVIRONMENT = ("numpy", "awkward", "uproot", "scikit-learn")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_hash() -> str:
    """sha256 over the generator and reference-analysis sources."""
    return source_hash(ANALYSIS_CODE)


def _entry(path: Path, step: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"step": step, "sha256": sha256_file(path), "bytes": path.stat().st_size}
    if path.suffix == ".npy":
        array = np.load(path, mmap_mode="r")
        entry |= {"shape": list(array.shape), "dtype": str(array.dtype)}
    entry["committed"] = entry["bytes"] <= SMALL_FILE_BYTES
    return entry


def build_manifest(solution_dir: Path, dataset: dict[str, Any], run: ReferenceRun) -> dict[str, Any]:
    from pytest_hepagent.specs import load_specs

    specs = load_specs().values()  # every output the specs validate, by the step that writes it
    outputs = {rel: _entry(Path(solution_dir) / rel, spec.step) for spec in specs for rel in spec.output_paths}
    return {
        "schema_version": MANIFEST_VERSION,
        "dataset": {k: dataset[k] for k in ("kind", "generator", "content_sha256")},
        "sb_backend": run.backend,
        "code_sha256": code_hash(),
        "environment": {name: metadata.version(name) for name in _ENVIRONMENT},
        "outputs": outputs,
    }


def write_manifest(manifest: dict[str, Any], golden_dir: Path) -> Path:
    path = Path(golden_dir) / MANIFEST_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return path


def read_manifest(golden_dir: Path) -> dict[str, Any]:
    return json.loads((Path(golden_dir) / MANIFEST_NAME).read_text())  # type: ignore[no-any-return]


def compare_manifests(new: dict[str, Any], committed: dict[str, Any]) -> list[str]:
    """Human-readable differences that matter (the library versions are informational only)."""
    problems = []
    for key in ("schema_version", "dataset", "sb_backend", "code_sha256"):
        if new.get(key) != committed.get(key):
            problems.append(
                f"{key}: {json.dumps(new.get(key))[:120]} vs committed {json.dumps(committed.get(key))[:120]}"
            )
    new_out, old_out = new.get("outputs", {}), committed.get("outputs", {})
    for rel in sorted(new_out.keys() | old_out.keys()):
        if new_out.get(rel) != old_out.get(rel):
            problems.append(f"outputs[{rel}]: {new_out.get(rel)} vs committed {old_out.get(rel)}")
    if problems and new.get("environment") != committed.get("environment"):
        problems.append(
            f"note: library versions differ: {new.get('environment')} vs committed {committed.get('environment')}"
        )
    return problems
