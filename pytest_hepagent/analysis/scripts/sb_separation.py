"""Step 4: train the S-B classifier with the provided helper and save the scores."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from utils import *

parser = argparse.ArgumentParser()
parser.add_argument("--input-files", nargs=2, required=True)
parser.add_argument("--output-files", nargs=2, required=True)
args = parser.parse_args()

signal, bkgd = (np.load(p) for p in args.input_files)
scores = train_and_score(signal, bkgd)
signal_path, bkgd_path = args.output_files
Path(signal_path).parent.mkdir(parents=True, exist_ok=True)
np.save(signal_path, scores.signal)
np.save(bkgd_path, scores.background)
print(
    f"classifier: {scores.backend}; mean score signal {scores.signal.mean():.3f}, "
    f"background {scores.background.mean():.3f}"
)
