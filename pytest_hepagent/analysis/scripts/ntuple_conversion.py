"""Step 2: one 45-column float64 array per GamGam file."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pytest_hepagent.analysis.ntuple import convert_file

parser = argparse.ArgumentParser()
parser.add_argument("--input-files", nargs="+", required=True)
parser.add_argument("--output-files", nargs="+", required=True)
args = parser.parse_args()

for source, target in zip(args.input_files, args.output_files, strict=True):
    array = convert_file(Path(source))
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    np.save(target, array)
    print(f"{source}: {array.shape[0]} events -> {target}")
