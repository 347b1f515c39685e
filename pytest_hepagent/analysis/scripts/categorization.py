"""Step 5: add boundaries with place_boundary until the gain is below 5%, keeping the last one."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from utils import *

parser = argparse.ArgumentParser()
parser.add_argument("--input-files", nargs=4, required=True)
parser.add_argument("--output-files", nargs=2, required=True)
args = parser.parse_args()

signal, bkgd, signal_scores, bkgd_scores = (np.load(p) for p in args.input_files)
signal_df, bkgd_df = load_datasets(signal, bkgd, signal_scores, bkgd_scores)
boundaries = [0.0, 1.0]
significances = [get_significance(signal_df, bkgd_df, boundaries)]
while True:
    new_boundary, new_z = place_boundary(signal_df, bkgd_df, boundaries, 1000, 10)
    if np.isnan(new_boundary):
        break
    boundaries = sorted([*boundaries, new_boundary])
    old_z = significances[-1]
    significances.append(new_z)
    print(f"boundary {new_boundary:.3f}: Z = {new_z:.4f} ({(new_z - old_z) / old_z:+.1%})")
    if (new_z - old_z) / old_z < 0.05:
        break
boundaries_path, significances_path = args.output_files
Path(boundaries_path).parent.mkdir(parents=True, exist_ok=True)
np.save(boundaries_path, np.array(boundaries))
np.save(significances_path, np.array(significances))
