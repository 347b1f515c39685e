"""Step 1: summarize every ROOT file, tree and branch (JSON and text)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pytest_hepagent.analysis.inspection import render_text, summarize, to_json

parser = argparse.ArgumentParser()
parser.add_argument("--input-files", nargs="+", required=True)
parser.add_argument("--output-files", nargs=2, required=True)
args = parser.parse_args()

summary = summarize(Path(p) for p in args.input_files)
json_path, text_path = (Path(p) for p in args.output_files)
json_path.parent.mkdir(parents=True, exist_ok=True)
json_path.write_text(to_json(summary))
text_path.write_text(render_text(summary))
print(f"summarized {len(summary['files'])} files")
