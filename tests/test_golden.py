from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pytest_hepagent.data import Dataset, ensure_synthetic
from pytest_hepagent.errors import GoldenError
from pytest_hepagent.golden import compare_manifests, ensure_solution, read_manifest, regenerate
from pytest_hepagent.golden.manifest import sha256_file
from pytest_hepagent.resources import golden_dir


def test_goldens_regenerate_bit_identically_from_scratch(tmp_path: Path) -> None:
    """Fresh synthetic data, the whole reference chain, and the committed manifest must agree bit for bit."""
    committed = read_manifest(golden_dir())
    dataset = ensure_synthetic(tmp_path / "data")
    result = regenerate(dataset, tmp_path / "solution", tmp_path / "golden", backend=committed["sb_backend"])
    assert compare_manifests(result.manifest, committed) == []
    for rel, entry in committed["outputs"].items():
        assert sha256_file(tmp_path / "solution" / rel) == entry["sha256"], rel
        if entry["committed"]:
            assert (tmp_path / "golden" / rel).read_bytes() == (golden_dir() / rel).read_bytes(), rel
        else:
            assert not (tmp_path / "golden" / rel).exists()


def test_manifest_describes_every_output() -> None:
    manifest = read_manifest(golden_dir())
    assert manifest["dataset"]["kind"] == "synthetic"
    assert manifest["sb_backend"] in ("hgb", "tabpfn")
    for rel, entry in manifest["outputs"].items():
        assert len(entry["sha256"]) == 64
        if rel.endswith(".npy"):
            assert entry["dtype"] == "float64" and entry["shape"], rel
    assert manifest["outputs"]["arrays/boundaries.npy"]["committed"]
    assert not manifest["outputs"]["arrays/data_D_raw.npy"]["committed"]


def test_manifest_comparison_names_what_changed() -> None:
    manifest = read_manifest(golden_dir())
    changed = json.loads(json.dumps(manifest))
    changed["outputs"]["arrays/bkgd.npy"]["sha256"] = "0" * 64
    changed["environment"]["numpy"] = "0.0"
    problems = compare_manifests(changed, manifest)
    assert problems[0].startswith("outputs[arrays/bkgd.npy]:")
    assert problems[-1].startswith("note: library versions differ")
    only_env = json.loads(json.dumps(manifest))
    only_env["environment"]["numpy"] = "0.0"
    assert compare_manifests(only_env, manifest) == []


def test_ensure_solution_repairs_a_tampered_cache(
    hepagent_dataset: Dataset, hepagent_solution: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "solution"
    shutil.copytree(hepagent_solution, copy)
    np.save(copy / "arrays/boundaries.npy", np.array([0.0, 0.5, 1.0]))
    assert ensure_solution(hepagent_dataset, golden_dir(), copy) == copy
    expected = read_manifest(golden_dir())["outputs"]["arrays/boundaries.npy"]["sha256"]
    assert sha256_file(copy / "arrays/boundaries.npy") == expected


def test_goldens_of_another_dataset_are_refused(small_dataset: Dataset) -> None:
    with pytest.raises(GoldenError, match=r"made for dataset \w+, not \w+ .*hepagent golden --data"):
        ensure_solution(small_dataset, golden_dir())


def test_the_shipped_manifest_records_the_code_that_made_it() -> None:
    """A warm cache reuses verified outputs without regenerating them, so a change to the analysis code would pass
    every local run and fail only where the cache is fresh: catch it here, at once."""
    from pytest_hepagent.golden.manifest import code_hash

    assert read_manifest(golden_dir())["code_sha256"] == code_hash(), (
        "the analysis code changed since golden/manifest.json was made: run `hepagent golden`, check that only "
        "code_sha256 changed (or that the output changes are intended) and commit it"
    )
