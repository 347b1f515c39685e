"""Opening `mini` trees of the release with errors that say what to do."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_hepagent.data.schema import TREE_NAME
from pytest_hepagent.errors import DataError, did_you_mean

if TYPE_CHECKING:
    import awkward as ak

__all__ = ["open_root", "open_tree", "read_branches"]

_FIX_MISSING = "generate the stand-in with `hepagent generate DIR` or fetch the release with `hepagent download DIR`"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:120]


def open_root(path: Path) -> Any:
    """Open a ROOT file, turning uproot's many failure modes into one-line `DataError`s."""
    import uproot

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found; {_FIX_MISSING}")
    try:
        return uproot.open(path)
    except Exception as exc:  # noqa: BLE001 - uproot raises many types for truncated or foreign files
        raise DataError(
            f"{path}: not a readable ROOT file ({_first_line(exc)}); the file is truncated or corrupt: delete it and "
            f"run `hepagent download` again (it resumes) or regenerate it"
        ) from None


def open_tree(path: Path, tree: str = TREE_NAME) -> Any:
    """The named TTree of a file, or a `DataError` listing the trees it does have."""
    root = open_root(path)
    trees = sorted({key.split(";")[0] for key, cls in root.classnames().items() if cls == "TTree"})
    if tree not in trees:
        found = ", ".join(repr(t) for t in trees) or "none"
        raise DataError(
            f"{path}: no TTree {tree!r}{did_you_mean(tree, trees)} (trees found: {found}); the 2020 GamGam "
            f"ntuples keep their events in {TREE_NAME!r}"
        )
    try:
        return root[tree]
    except Exception as exc:  # noqa: BLE001 - any read failure means a damaged file
        raise DataError(
            f"{path}: tree {tree!r} cannot be read ({type(exc).__name__}); the file is truncated or "
            f"corrupt: delete it and download or regenerate it"
        ) from None


def read_branches(
    path: Path, branches: Sequence[str], tree: str = TREE_NAME, entry_stop: int | None = None
) -> ak.Array:
    """Read the named branches (of the first `entry_stop` events) as an awkward record array.

    Checks first that all of them exist, so a missing branch is named rather than reported by uproot.
    """
    t = open_tree(path, tree)
    available = set(t.keys())
    for name in branches:
        if name not in available:
            raise DataError(
                f"{path}: tree {tree!r} has no branch {name!r}{did_you_mean(name, available)}; the file must "
                f"follow the 2020 GamGam schema (MeV units; the 2024/25 release renamed branches)"
            )
    try:
        return t.arrays(list(branches), library="ak", entry_stop=entry_stop)
    except Exception as exc:  # noqa: BLE001 - any read failure means a damaged file
        raise DataError(
            f"{path}: reading branches failed ({type(exc).__name__}: {_first_line(exc)}); the file is "
            f"truncated or corrupt: delete it and download or regenerate it"
        ) from None
