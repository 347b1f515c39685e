"""Step 1, ROOT file inspection: every file's trees, branches (name and type) and entry counts.

The JSON form is what validation compares (structurally: files, trees, entries, branch names and types); the text
form is a human-readable rendering that later prompts can quote. Works on any ROOT file, not only the GamGam ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_hepagent.data.files import open_root

__all__ = ["SUMMARY_JSON", "SUMMARY_TEXT", "render_text", "summarize", "summarize_file", "to_json"]

SUMMARY_JSON = "summary/root_summary.json"
SUMMARY_TEXT = "summary/root_summary.txt"
_TABULAR = ("TTree", "ROOT::RNTuple")


def summarize_file(path: Path) -> dict[str, Any]:
    """{"file": name, "trees": [{"name", "entries", "branches": [{"name", "type"}]}]} for one ROOT file.

    TTrees and RNTuples (whose top-level fields are listed as branches) in any directory are included.
    """
    root = open_root(path)
    trees: list[dict[str, Any]] = []
    for key, classname in sorted(root.classnames().items()):
        if classname not in _TABULAR:
            continue
        name = key.split(";")[0]
        if any(t["name"] == name for t in trees):  # keep the highest cycle only
            continue
        obj = root[key]
        columns = obj.branches if classname == "TTree" else obj.fields
        branches = [{"name": c.name, "type": c.typename} for c in columns]
        trees.append({"name": name, "class": classname, "entries": int(obj.num_entries), "branches": branches})
    return {"file": Path(path).name, "trees": trees}


def summarize(paths: Iterable[Path]) -> dict[str, Any]:
    """The summary of several files, sorted by file name."""
    files = sorted((summarize_file(p) for p in paths), key=lambda f: f["file"])
    return {"files": files}


def to_json(summary: dict[str, Any]) -> str:
    """Canonical JSON text (stable bytes for hashing)."""
    return json.dumps(summary, indent=1, sort_keys=True) + "\n"


def render_text(summary: dict[str, Any]) -> str:
    lines = []
    for f in summary["files"]:
        lines.append(f"File: {f['file']}")
        for t in f["trees"]:
            lines.append(
                f"  {t.get('class', 'TTree')} {t['name']}: {t['entries']} entries, {len(t['branches'])} branches"
            )
            width = max((len(b["name"]) for b in t["branches"]), default=0)
            lines.extend(f"    {b['name']:<{width}}  {b['type']}" for b in t["branches"])
        lines.append("")
    return "\n".join(lines)
