"""Step 2: one 45-column float64 array per GamGam file (leading objects; NaN where an object is missing)."""

from __future__ import annotations

import argparse
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

parser = argparse.ArgumentParser()
parser.add_argument("--input-files", nargs="+", required=True)
parser.add_argument("--output-files", nargs="+", required=True)
args = parser.parse_args()

OBJECTS = (("photon", 2), ("lep", 2), ("jet", 6))
EVENT = (
    "met_et",
    "met_phi",
    "mcWeight",
    "scaleFactor_PHOTON",
    "scaleFactor_PhotonTRIGGER",
    "scaleFactor_PILEUP",
    "XSection",
    "SumWeights",
)
PHOTON_ID = ("isTightID", "ptcone30", "etcone20")
BRANCHES = [
    *(f"{obj}_{var}" for obj, _ in OBJECTS for var in ("pt", "eta", "phi")),
    *EVENT,
    *(f"photon_{var}" for var in PHOTON_ID),
    "trigP",
]


def leading(values, n):
    """The first n entries of each event's list as n float64 columns, NaN where an event has fewer."""
    counts = ak.to_numpy(ak.num(values, axis=1))
    content = np.asarray(ak.to_numpy(ak.flatten(values, axis=1)), dtype=np.float64)
    starts = np.cumsum(counts) - counts
    columns = []
    for k in range(n):
        column = np.full(counts.size, np.nan)
        present = counts > k
        column[present] = content[starts[present] + k]
        columns.append(column)
    return columns


for source, target in zip(args.input_files, args.output_files, strict=True):
    events = uproot.open(source)["mini"].arrays(BRANCHES, library="ak")
    columns = []
    for obj, n in OBJECTS:
        pt, eta, phi = (leading(events[f"{obj}_{var}"], n) for var in ("pt", "eta", "phi"))
        for i in range(n):
            columns += [pt[i], eta[i], phi[i]]
    columns += [np.asarray(ak.to_numpy(events[name]), dtype=np.float64) for name in EVENT]
    for var in PHOTON_ID:
        columns += leading(events[f"photon_{var}"], 2)
    columns.append(np.asarray(ak.to_numpy(events["trigP"]), dtype=np.float64))
    array = np.column_stack(columns)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    np.save(target, array)
    print(f"{source}: {array.shape[0]} events -> {target}")
