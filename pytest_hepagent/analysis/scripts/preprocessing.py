"""Step 3: preselection, TI signal MC and NTI sideband background with their weights."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pytest_hepagent.analysis.selection import background_sample, signal_sample

parser = argparse.ArgumentParser()
parser.add_argument("--input-files", nargs="+", required=True)
parser.add_argument("--output-files", nargs=2, required=True)
args = parser.parse_args()

raws = {Path(p).name.removesuffix("_raw.npy"): np.load(p) for p in args.input_files}
signal = signal_sample({f"signal_{m}": raws[f"signal_{m}"] for m in ("ggH", "VBF", "WH", "ZH", "ttH")})
background = background_sample({f"data_{p}": raws[f"data_{p}"] for p in "ABCD"})
signal_path, bkgd_path = args.output_files
Path(signal_path).parent.mkdir(parents=True, exist_ok=True)
np.save(signal_path, signal)
np.save(bkgd_path, background.array)
print(
    f"signal: {len(signal)} events, {signal[:, 6].sum():.1f} expected; background: {len(background.array)} events, "
    f"SF1 = {background.sf1:.4f}, SF2 = {background.sf2:.4f}"
)
