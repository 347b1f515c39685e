"""Structural comparison of the step-1 ROOT summary JSON.

Files, trees, entry counts and branch (name, type) pairs must match; the order of files, trees and branches and any
extra keys (sizes, compression, ...) do not matter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_hepagent.compare.result import OutputResult
from pytest_hepagent.sandbox.trial_files import UnsafeFile
from pytest_hepagent.sandbox.untrusted import UnreadableOutput, read_json
from pytest_hepagent.specs import OutputCheck

__all__ = ["compare_summaries", "compare_summary_files"]

MAX_DETAILS = 20


def _index(items: Any, key: str, where: str, problems: list[str]) -> dict[str, Any]:
    if not isinstance(items, list):
        problems.append(f"{where}: expected a list, got {type(items).__name__}")
        return {}
    out = {}
    for item in items:
        if not isinstance(item, dict) or key not in item:
            problems.append(f"{where}: entry without {key!r}: {str(item)[:60]}")
            continue
        out[str(item[key])] = item
    return out


def _compare_sets(kind: str, where: str, gen: dict[str, Any], ref: dict[str, Any], problems: list[str]) -> None:
    for name in sorted(ref.keys() - gen.keys()):
        problems.append(f"{where}: missing {kind} {name!r}")
    for name in sorted(gen.keys() - ref.keys()):
        problems.append(f"{where}: unexpected {kind} {name!r}")


def compare_summaries(generated: Any, reference: dict[str, Any], check: OutputCheck) -> OutputResult:
    problems: list[str] = []
    if not isinstance(generated, dict):
        problems.append(f"top level: expected an object with 'files', got {type(generated).__name__}")
        generated = {}
    gen_files = _index(generated.get("files"), "file", "files", problems)
    ref_files = _index(reference["files"], "file", "files", [])
    _compare_sets("file", "files", gen_files, ref_files, problems)
    for fname in sorted(gen_files.keys() & ref_files.keys()):
        gen_trees = _index(gen_files[fname].get("trees"), "name", fname, problems)
        ref_trees = _index(ref_files[fname]["trees"], "name", fname, [])
        _compare_sets("tree", fname, gen_trees, ref_trees, problems)
        for tname in sorted(gen_trees.keys() & ref_trees.keys()):
            where = f"{fname}:{tname}"
            g, r = gen_trees[tname], ref_trees[tname]
            if g.get("entries") != r["entries"]:
                problems.append(f"{where}: entries {g.get('entries')!r} vs reference {r['entries']}")
            gen_br = _index(g.get("branches"), "name", where, problems)
            ref_br = _index(r["branches"], "name", where, [])
            _compare_sets("branch", where, gen_br, ref_br, problems)
            for bname in sorted(gen_br.keys() & ref_br.keys()):
                if gen_br[bname].get("type") != ref_br[bname]["type"]:
                    problems.append(
                        f"{where}:{bname}: type {gen_br[bname].get('type')!r} vs reference {ref_br[bname]['type']!r}"
                    )
    if not problems:
        return OutputResult(check.path, "pass", total=len(ref_files))
    shown = problems[:MAX_DETAILS]
    if len(problems) > MAX_DETAILS:
        shown.append(f"... and {len(problems) - MAX_DETAILS} more differences")
    return OutputResult(
        check.path,
        "structure",
        f"{len(problems)} structural differences",
        total=len(ref_files),
        mismatches=len(problems),
        details=tuple(shown),
    )


def compare_summary_files(work: Path, reference: Path, check: OutputCheck) -> OutputResult:
    """Compare the trial's `work/<check.path>` with the golden summary, read size- and depth-bounded."""
    try:
        gen = read_json(work, check.path)
    except FileNotFoundError:
        return OutputResult(check.path, "missing", f"{check.path} was not produced")
    except (UnsafeFile, UnreadableOutput) as exc:
        return OutputResult(check.path, "unreadable", str(exc))
    return compare_summaries(gen, json.loads(reference.read_text()), check)
