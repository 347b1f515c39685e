"""A folder of GamGam files, real or synthetic, and its content hash."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytest_hepagent.data.config import DEFAULT_CONFIG, GeneratorConfig
from pytest_hepagent.data.files import open_tree
from pytest_hepagent.data.schema import SAMPLES, Sample
from pytest_hepagent.errors import DataError
from pytest_hepagent.locking import folder_lock
from pytest_hepagent.provenance import GENERATOR_CODE, source_hash
from pytest_hepagent.resources import cache_root

__all__ = ["SYNTHETIC_MARKER", "Dataset", "default_data_dir", "ensure_synthetic", "file_content_hash"]

log = logging.getLogger(__name__)

SYNTHETIC_MARKER = "hepagent-synthetic.json"
_HASH_CACHE = ".hepagent-hash.json"


def default_data_dir(config: GeneratorConfig = DEFAULT_CONFIG) -> Path:
    """Where the synthetic stand-in lives unless told otherwise (`HEPAGENT_CACHE` overrides the cache root)."""
    return cache_root() / f"synthetic-seed{config.seed}-mc{config.mc_scale:g}-data{config.data_scale:g}"


def file_content_hash(path: Path) -> str:
    """sha256 of every branch's name, type and values, in tree order.

    ROOT files carry write timestamps and UUIDs, so equal content can have different bytes; this hash does not.
    """
    import awkward as ak  # here: naming a dataset must not load awkward

    tree = open_tree(path)
    digest = hashlib.sha256()
    names = list(tree.keys())
    digest.update(f"{tree.name}:{tree.num_entries}".encode())
    for name in names:
        digest.update(f"|{name}:{tree[name].typename}".encode())
    for chunk in tree.iterate(names, step_size="200 MB", library="ak"):
        for name in names:
            column = chunk[name]
            if column.ndim > 1:
                digest.update(np.ascontiguousarray(ak.to_numpy(ak.num(column))).tobytes())
                column = ak.flatten(column)
            digest.update(np.ascontiguousarray(ak.to_numpy(column)).tobytes())
    return digest.hexdigest()


def root_file_problem(path: Path) -> str:
    """What is wrong with a ROOT file's header, or '' (cheap: reads 20 bytes). A ROOT file states its own length
    (fEND), so a download cut short shows before anything reads the events."""
    with Path(path).open("rb") as f:
        head = f.read(20)
        size = os.fstat(f.fileno()).st_size
    if len(head) < 16 or head[:4] != b"root":
        return "not a ROOT file (no 'root' signature at its start)"
    version = int.from_bytes(head[4:8], "big")
    end = int.from_bytes(head[12:20] if version >= 1_000_000 else head[12:16], "big")
    if size < end:
        return f"truncated: {size} bytes, but its header says {end}"
    return ""


@dataclass(frozen=True)
class Dataset:
    """The nine GamGam files under `root`, either as `Data/...`, `MC/...` (the release layout) or flat."""

    root: Path

    def path(self, sample: Sample) -> Path:
        nested = self.root / sample.relpath
        return nested if nested.exists() or not (self.root / sample.filename).exists() else self.root / sample.filename

    @property
    def paths(self) -> dict[str, Path]:
        return {s.name: self.path(s) for s in SAMPLES}

    @property
    def generator(self) -> dict[str, Any] | None:
        """The generator settings of a synthetic folder, None for real data."""
        marker = self.root / SYNTHETIC_MARKER
        if not marker.is_file():
            return None
        return json.loads(marker.read_text())  # type: ignore[no-any-return]

    @property
    def kind(self) -> str:
        return "synthetic" if self.generator is not None else "real"

    def check(self) -> Dataset:
        """Raise a `DataError` naming the first missing file."""
        if not self.root.is_dir():
            raise DataError(
                f"{self.root}: data folder not found; create it with `hepagent generate {self.root}` "
                f"or `hepagent download {self.root}`"
            )
        for sample in SAMPLES:
            path = self.path(sample)
            if not path.is_file():
                raise DataError(
                    f"{path}: file not found in data folder {self.root}; complete it with "
                    f"`hepagent download {self.root}` (it resumes) or regenerate the stand-in"
                )
            problem = root_file_problem(path)
            if problem:
                raise DataError(
                    f"{path}: {problem}; delete it and run `hepagent download {self.root}` again (it resumes), "
                    f"or regenerate the stand-in"
                )
        return self

    def content_hash(self) -> str:
        """One sha256 over all files' content hashes, cached per file by size and mtime."""
        self.check()
        cache_path = self.root / _HASH_CACHE
        try:
            cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
        except (OSError, ValueError):
            cache = {}
        digest = hashlib.sha256()
        changed = False
        for sample in SAMPLES:
            path = self.path(sample)
            stat = path.stat()
            key = [stat.st_size, stat.st_mtime_ns]
            entry = cache.get(sample.filename)
            if not entry or entry.get("key") != key:
                entry = {"key": key, "sha256": file_content_hash(path)}
                cache[sample.filename] = entry
                changed = True
            digest.update(f"{sample.filename}:{entry['sha256']}\n".encode())
        if changed:
            try:
                cache_path.write_text(json.dumps(cache, indent=1, sort_keys=True))
            except OSError:  # a read-only copy of the release: hash again next time
                log.debug("cannot cache content hashes in %s", self.root)
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": str(self.root),
            "generator": self.generator,
            "content_sha256": self.content_hash(),
        }


def ensure_synthetic(root: Path | None = None, config: GeneratorConfig = DEFAULT_CONFIG) -> Dataset:
    """A synthetic dataset for `config` at `root`, generated unless an identical one is already there."""
    root = Path(root) if root is not None else default_data_dir(config)
    # The generator's source hash is part of the identity, so a changed generator regenerates cached folders.
    wanted = {**config.as_dict(), "generator_sha256": source_hash(GENERATOR_CODE)}
    dataset = Dataset(root)
    with folder_lock(root):
        if dataset.generator == wanted and all(dataset.path(s).is_file() for s in SAMPLES):
            return dataset
        if root.exists() and dataset.generator is None and any(root.iterdir()):
            raise DataError(f"{root}: folder exists and is not a synthetic dataset; choose an empty or new folder")
        log.info("generating the synthetic GamGam stand-in in %s", root)
        (root / SYNTHETIC_MARKER).unlink(missing_ok=True)
        for sample in SAMPLES:
            dataset.path(sample).unlink(missing_ok=True)
        from pytest_hepagent.data.generate import generate

        generate(root, config)
        (root / SYNTHETIC_MARKER).write_text(json.dumps(wanted, indent=1, sort_keys=True) + "\n")
    return dataset
