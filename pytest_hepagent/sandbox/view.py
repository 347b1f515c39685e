"""What generated code sees of the machine: a read-only Python runtime with the analysis libraries, and no more.

The view is data (paths to bind read-only, symlinks to recreate, site-packages folders to rebuild from a list of
allowed entries); a backend turns it into mounts. It holds:

- the system's `/usr` (and the `/bin`, `/lib`... links of a merged-usr system), and of `/etc` only what the dynamic
  linker, locale and time functions read;
- the Python installation running the harness, with each of its site-packages folders rebuilt from the files of
  the allowed distributions (`ANALYSIS_PACKAGES` and what they require): the project itself, the harness's other
  dependencies and anything else installed there are not in view, nor named;
- a virtual environment's `pyvenv.cfg` and interpreter links, so the same `python` starts inside.

The checkout, caches, golden and report folders, the home folder and other trials are not in the list, so they do
not exist inside (no covering mount names them either).
"""

from __future__ import annotations

import logging
import site
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

__all__ = ["ANALYSIS_PACKAGES", "HIDDEN_PACKAGES", "RuntimeView", "SitePackages", "runtime_view"]

log = logging.getLogger(__name__)

ANALYSIS_PACKAGES = (
    "numpy",
    "scipy",
    "awkward",
    "uproot",
    "scikit-learn",
    "pyyaml",
    # Used when installed: TabPFN (and torch) for the S-B helper, and what analysts reach for beside the prompts'.
    "tabpfn",
    "pandas",
    "matplotlib",
    "vector",
    "hist",
)
"""Distributions generated code may import (with everything they require), where installed."""

HIDDEN_PACKAGES = ("pytest-hepagent", "pytest_hepagent", "error_classifier")
"""Never in view, even if something allowed claims to require them."""

_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "nsswitch.conf", "fonts")
"""What of /etc libraries read: the linker's cache, BLAS/LAPACK alternatives, the time zone, fontconfig."""
_LIBS = ("purelib", "platlib")
_MERGED_USR = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


@dataclass(frozen=True)
class SitePackages:
    """A site-packages folder as the code sees it: only these entries of it (files or folders)."""

    path: str
    entries: tuple[str, ...]


@dataclass(frozen=True)
class RuntimeView:
    readonly: tuple[str, ...]
    """Paths bound read-only at the same place."""
    symlinks: tuple[tuple[str, str], ...]
    """(target, link) pairs recreated inside."""
    site_packages: tuple[SitePackages, ...]
    packages: tuple[str, ...]
    """The distributions in view, by name and version (for records and the audit)."""

    @property
    def mounts(self) -> int:
        return len(self.readonly) + sum(len(s.entries) + 1 for s in self.site_packages)


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _requirements(dist: metadata.Distribution) -> list[str]:
    """Names of the distributions `dist` needs (no extras), for this interpreter."""
    from packaging.requirements import InvalidRequirement, Requirement

    names = []
    for text in dist.requires or ():
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            names.append(req.name)
    return names


def _installed() -> dict[str, metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(_normalize(name), dist)  # the first on sys.path wins, as for imports
    return found


def _closure(roots: Iterable[str], installed: dict[str, metadata.Distribution]) -> list[metadata.Distribution]:
    hidden = {_normalize(h) for h in HIDDEN_PACKAGES}
    todo, seen, out = [_normalize(r) for r in roots], set(), []
    while todo:
        name = todo.pop()
        if name in seen or name in hidden or name not in installed:
            continue
        seen.add(name)
        out.append(installed[name])
        todo.extend(_normalize(r) for r in _requirements(installed[name]))
    return out


def _top_level(dist: metadata.Distribution) -> tuple[Path, set[str]]:
    """(the folder the distribution is installed in, its top-level entries there)."""
    base = Path(str(dist.locate_file(""))).resolve()
    entries: set[str] = set()
    for file in dist.files or ():
        parts = file.parts
        if not parts or parts[0] == "..":
            continue
        # A shared __pycache__ holds other modules' bytecode too: take only this distribution's files of it.
        entries.add(str(Path(*parts[:2])) if parts[0] == "__pycache__" and len(parts) > 1 else parts[0])
    hidden = {h.replace("-", "_") for h in HIDDEN_PACKAGES}
    return base, {e for e in entries if e.split(".")[0].split("-")[0] not in hidden and (base / e).exists()}


def _site_dirs() -> list[Path]:
    """The interpreter's site folders, and the base installation's (in view under its prefix) beside a venv's."""
    base = {"base": sys.base_prefix, "platbase": sys.base_prefix}
    dirs = [*site.getsitepackages(), *(sysconfig.get_paths(vars=v)[k] for v in ({}, base) for k in _LIBS)]
    return list(dict.fromkeys(Path(d).resolve() for d in dirs if Path(d).is_dir()))


def _python(readonly: list[str], symlinks: list[tuple[str, str]]) -> None:
    base = Path(sys.base_prefix).resolve()
    if not str(base).startswith("/usr/"):
        readonly.append(str(base))
    prefix = Path(sys.prefix)
    if prefix.resolve() != base:  # a virtual environment: its config and interpreter links
        readonly.append(str(prefix / "pyvenv.cfg"))
        for entry in sorted((prefix / "bin").glob("python*")):
            if entry.is_symlink():
                symlinks.append((str(entry.readlink()), str(entry)))
            elif entry.is_file():
                readonly.append(str(entry))
        lib64 = prefix / "lib64"
        if lib64.is_symlink():
            symlinks.append((str(lib64.readlink()), str(lib64)))


@cache
def runtime_view(packages: tuple[str, ...] = ANALYSIS_PACKAGES) -> RuntimeView:
    """The view of this interpreter for generated code (computed once per process)."""
    readonly, symlinks = ["/usr"], []
    for path in map(Path, _MERGED_USR):
        if path.is_symlink():
            symlinks.append((str(path.readlink()), str(path)))
        elif path.is_dir():
            readonly.append(str(path))
    readonly += [str(p) for p in (Path("/etc", name) for name in _ETC) if p.exists()]
    _python(readonly, symlinks)
    site_dirs = _site_dirs()
    by_dir: dict[Path, set[str]] = {d: set() for d in site_dirs}
    chosen = _closure(packages, _installed())
    for dist in chosen:
        base, entries = _top_level(dist)
        if base in by_dir:
            by_dir[base] |= entries
        else:  # installed outside the interpreter's site folders (e.g. a PYTHONPATH entry): not in view
            log.debug(
                "%s is installed in %s, outside the site folders; not in the sandbox", dist.metadata["Name"], base
            )
    names = tuple(sorted(f"{d.metadata['Name']}=={d.version}" for d in chosen))
    return RuntimeView(
        tuple(readonly),
        tuple(symlinks),
        tuple(SitePackages(str(d), tuple(sorted(e))) for d, e in by_dir.items()),
        names,
    )
