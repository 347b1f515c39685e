"""Regenerate all golden outputs for a dataset and S-B backend, and check them against the manifest."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_hepagent.data.dataset import Dataset
from pytest_hepagent.errors import GoldenError
from pytest_hepagent.golden.manifest import (
    build_manifest,
    compare_manifests,
    read_manifest,
    sha256_file,
    write_manifest,
)
from pytest_hepagent.locking import folder_lock
from pytest_hepagent.resources import cache_root

__all__ = ["Regenerated", "check_against", "default_solution_dir", "ensure_solution", "regenerate"]

log = logging.getLogger(__name__)


def default_solution_dir(content_sha256: str, backend: str) -> Path:
    """Cache folder of the full reference outputs for one dataset and backend."""
    return cache_root() / "solutions" / f"{content_sha256[:16]}-{backend}"


def cached_solution_dir(content_sha256: str) -> Path | None:
    """The cached reference outputs of a dataset (any backend), when this machine has them."""
    pattern = default_solution_dir(content_sha256, "*")
    return next((p for p in sorted(pattern.parent.glob(pattern.name)) if p.is_dir()), None)


@dataclass(frozen=True)
class Regenerated:
    manifest: dict[str, Any]
    solution_dir: Path
    seconds: dict[str, float]


def regenerate(
    dataset: Dataset, solution_dir: Path, golden_dir: Path | None = None, backend: str = "auto"
) -> Regenerated:
    """Run the reference analysis into `solution_dir`; with `golden_dir`, write the manifest and small files there."""
    description = dataset.describe()
    from pytest_hepagent.analysis.reference import run_reference  # here: checking goldens needs no analysis

    run = run_reference(dataset, Path(solution_dir), backend=backend)
    manifest = build_manifest(Path(solution_dir), description, run)
    if golden_dir is not None:
        golden_dir = Path(golden_dir)
        for rel, entry in manifest["outputs"].items():
            target = golden_dir / rel
            if entry["committed"]:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(solution_dir) / rel, target)
            else:
                target.unlink(missing_ok=True)
        write_manifest(manifest, golden_dir)
    return Regenerated(manifest, Path(solution_dir), run.seconds)


def check_against(new: dict[str, Any], golden_dir: Path) -> list[str]:
    """Differences between a regenerated manifest and the one committed in `golden_dir`."""
    try:
        committed = read_manifest(golden_dir)
    except FileNotFoundError:
        return [f"{golden_dir}: no manifest.json; regenerate it with `hepagent golden --golden-dir {golden_dir}`"]
    return compare_manifests(new, committed)


def ensure_solution(dataset: Dataset, golden_dir: Path, solution_dir: Path | None = None) -> Path:
    """A folder holding every golden output for `dataset`, verified against `golden_dir`'s manifest.

    Reuses a cached folder whose files hash as the manifest says; otherwise regenerates it. Raises `GoldenError`
    when the regenerated outputs do not match the manifest (the manifest belongs to another dataset, backend or
    code version).
    """
    manifest = read_manifest(golden_dir)
    backend = manifest["sb_backend"]
    content = dataset.content_hash()
    if content != manifest["dataset"]["content_sha256"]:
        raise GoldenError(
            f"{golden_dir}/manifest.json: made for dataset {manifest['dataset']['content_sha256'][:12]}, "
            f"not {content[:12]} ({dataset.root}); regenerate goldens for this dataset with "
            f"`hepagent golden --data {dataset.root} --golden-dir DIR`"
        )
    solution_dir = Path(solution_dir) if solution_dir else default_solution_dir(content, backend)
    with folder_lock(solution_dir):
        if all(
            (solution_dir / rel).is_file() and sha256_file(solution_dir / rel) == entry["sha256"]
            for rel, entry in manifest["outputs"].items()
        ):
            return solution_dir
        log.info("regenerating golden outputs into %s", solution_dir)
        problems = check_against(regenerate(dataset, solution_dir, backend=backend).manifest, golden_dir)
    if problems:
        raise GoldenError(
            f"{golden_dir}/manifest.json: regenerated outputs differ ({problems[0]}); if the change "
            f"is intended, run `hepagent golden` and commit the new manifest"
        )
    return solution_dir
