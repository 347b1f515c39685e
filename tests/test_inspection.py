from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import uproot

from pytest_hepagent.analysis.inspection import render_text, summarize, summarize_file, to_json
from pytest_hepagent.data import Dataset
from pytest_hepagent.data.schema import BRANCHES


def test_summary_of_the_gamgam_files(small_dataset: Dataset) -> None:
    summary = summarize(small_dataset.paths.values())
    assert [f["file"] for f in summary["files"]] == sorted(p.name for p in small_dataset.paths.values())
    for f in summary["files"]:
        (tree,) = f["trees"]
        assert tree["name"] == "mini"
        assert {b["name"] for b in tree["branches"]} == set(BRANCHES)
        types = {b["name"]: b["type"] for b in tree["branches"]}
        assert types["photon_pt"] == "float[]" and types["trigP"] == "bool" and types["runNumber"] == "int32_t"
        assert (
            tree["entries"] == uproot.open(small_dataset.root / "Data" / f["file"])["mini"].num_entries
            if f["file"].startswith("data")
            else tree["entries"] > 0
        )
    assert json.loads(to_json(summary)) == summary


def test_any_root_file_with_trees_rntuples_and_other_objects(tmp_path: Path) -> None:
    path = tmp_path / "other.root"
    with uproot.recreate(path) as f:
        f.mktree("events", {"x": np.int64, "y": np.float32})
        f["events"].extend({"x": np.arange(5, dtype=np.int64), "y": np.zeros(5, np.float32)})
        f.mktree("dir/meta", {"run": np.int32})
        f["dir/meta"].extend({"run": np.arange(2, dtype=np.int32)})
        f["ntuple"] = {"pt": np.ones(4, np.float32)}  # uproot writes a dict as an RNTuple
        f["h"] = np.histogram(np.arange(10), bins=3)
    summary = summarize_file(path)
    trees = {t["name"]: t for t in summary["trees"]}
    assert set(trees) == {"events", "dir/meta", "ntuple"}
    assert trees["events"]["entries"] == 5 and trees["dir/meta"]["entries"] == 2
    assert trees["events"]["branches"] == [{"name": "x", "type": "int64_t"}, {"name": "y", "type": "float"}]
    assert trees["ntuple"]["class"] == "ROOT::RNTuple" and trees["ntuple"]["entries"] == 4
    assert trees["ntuple"]["branches"] == [{"name": "pt", "type": "float"}]
    text = render_text({"files": [summary]})
    assert "TTree events: 5 entries, 2 branches" in text and "    y  float" in text
    assert "ROOT::RNTuple ntuple: 4 entries, 1 branches" in text
