"""Step 1: summarize every ROOT file, tree and branch (JSON and text)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import uproot

parser = argparse.ArgumentParser()
parser.add_argument("--input-files", nargs="+", required=True)
parser.add_argument("--output-files", nargs=2, required=True)
args = parser.parse_args()

TABULAR = ("TTree", "ROOT::RNTuple")


def summarize_file(path):
    root = uproot.open(path)
    trees = []
    for key, classname in sorted(root.classnames().items()):
        name = key.split(";")[0]
        if classname not in TABULAR or any(t["name"] == name for t in trees):
            continue
        obj = root[key]
        columns = obj.branches if classname == "TTree" else obj.fields
        trees.append(
            {
                "name": name,
                "class": classname,
                "entries": int(obj.num_entries),
                "branches": [{"name": c.name, "type": c.typename} for c in columns],
            }
        )
    return {"file": Path(path).name, "trees": trees}


summary = {"files": sorted((summarize_file(p) for p in args.input_files), key=lambda f: f["file"])}

lines = []
for f in summary["files"]:
    lines.append(f"File: {f['file']}")
    for t in f["trees"]:
        lines.append(f"  {t['class']} {t['name']}: {t['entries']} entries, {len(t['branches'])} branches")
        width = max((len(b["name"]) for b in t["branches"]), default=0)
        lines.extend(f"    {b['name']:<{width}}  {b['type']}" for b in t["branches"])
    lines.append("")

json_path, text_path = (Path(p) for p in args.output_files)
json_path.parent.mkdir(parents=True, exist_ok=True)
json_path.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
text_path.write_text("\n".join(lines))
print(f"summarized {len(summary['files'])} files")
