"""Step 2, ntuple conversion: the `mini` tree of one file -> a 2-D float64 numpy array with fixed columns.

Column order (units as in the file: MeV for momenta, radians for angles):

    photon1_pt, photon1_eta, photon1_phi, photon2_pt, photon2_eta, photon2_phi,      0-5
    lep1_pt, lep1_eta, lep1_phi, lep2_pt, lep2_eta, lep2_phi,                        6-11
    jet1_pt, jet1_eta, jet1_phi, ..., jet6_pt, jet6_eta, jet6_phi,                   12-29
    met_et, met_phi,                                                                 30-31
    mcWeight, scaleFactor_PHOTON, scaleFactor_PhotonTRIGGER, scaleFactor_PILEUP,     32-35
    XSection, SumWeights,                                                            36-37
    photon1_isTightID, photon2_isTightID,                                            38-39
    photon1_ptcone30, photon2_ptcone30, photon1_etcone20, photon2_etcone20,          40-43
    trigP                                                                            44

Objects are the leading ones in the file's (pT-descending) order; a missing object gives NaN in all of its
columns (its ID flag and isolation too). Booleans are stored as 0.0/1.0.
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
from numpy.typing import NDArray

from pytest_hepagent.data.files import read_branches

__all__ = ["COLUMNS", "column_index", "convert_file", "raw_array_name"]

_OBJECTS = (("photon", 2), ("lep", 2), ("jet", 6))
_EVENT = (
    "met_et",
    "met_phi",
    "mcWeight",
    "scaleFactor_PHOTON",
    "scaleFactor_PhotonTRIGGER",
    "scaleFactor_PILEUP",
    "XSection",
    "SumWeights",
)
_PHOTON_ID = ("isTightID", "ptcone30", "etcone20")

COLUMNS: tuple[str, ...] = (
    *(f"{obj}{i}_{var}" for obj, n in _OBJECTS for i in range(1, n + 1) for var in ("pt", "eta", "phi")),
    *_EVENT,
    "photon1_isTightID",
    "photon2_isTightID",
    "photon1_ptcone30",
    "photon2_ptcone30",
    "photon1_etcone20",
    "photon2_etcone20",
    "trigP",
)


def column_index(name: str) -> int:
    return COLUMNS.index(name)


def raw_array_name(sample_name: str) -> str:
    """`arrays/<sample>_raw.npy`, e.g. `arrays/signal_WH_raw.npy`, `arrays/data_A_raw.npy`."""
    return f"arrays/{sample_name}_raw.npy"


def _leading(values: ak.Array, n: int) -> NDArray[np.float64]:
    """The first n entries of each event's list as an (events, n) float64 array, NaN-padded."""
    padded = ak.pad_none(ak.values_astype(values, np.float64), n, axis=1, clip=True)
    return np.asarray(ak.to_numpy(ak.fill_none(padded, np.nan)), dtype=np.float64)


def convert_file(path: Path) -> NDArray[np.float64]:
    """The step-2 array of one GamGam file (see the module docstring for the columns)."""
    branches = [f"{obj}_{var}" for obj, _ in _OBJECTS for var in ("pt", "eta", "phi")]
    branches += list(_EVENT) + [f"photon_{v}" for v in _PHOTON_ID] + ["trigP"]
    events = read_branches(path, branches)
    blocks: dict[str, NDArray[np.float64]] = {}
    for obj, n in _OBJECTS:
        for var in ("pt", "eta", "phi"):
            blocks[f"{obj}_{var}"] = _leading(events[f"{obj}_{var}"], n)
    for var in _PHOTON_ID:
        blocks[f"photon_{var}"] = _leading(events[f"photon_{var}"], 2)
    out = np.empty((len(events), len(COLUMNS)), dtype=np.float64)
    for j, name in enumerate(COLUMNS):
        if name in _EVENT or name == "trigP":
            out[:, j] = ak.to_numpy(events[name]).astype(np.float64)
        else:
            obj_i, var = name.split("_", 1)
            obj, i = obj_i.rstrip("0123456789"), int(obj_i[len(obj_i.rstrip("0123456789")) :])
            out[:, j] = blocks[f"{obj}_{var}"][:, i - 1]
    return out
