"""Golden outputs: regeneration through the reference analysis, and the manifest that pins them."""

from __future__ import annotations

from pytest_hepagent.golden.manifest import build_manifest, code_hash, compare_manifests, read_manifest
from pytest_hepagent.golden.regenerate import Regenerated, check_against, ensure_solution, regenerate

__all__ = [
    "Regenerated",
    "build_manifest",
    "check_against",
    "code_hash",
    "compare_manifests",
    "ensure_solution",
    "read_manifest",
    "regenerate",
]
