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

from pytest_hepagent.analysis.columns import EVENT_BRANCHES, NTUPLE_COLUMNS, OBJECTS, PHOTON_ID
from pytest_hepagent.data.files import read_branches

__all__ = ["BRANCHES", "COLUMNS", "column_index", "convert_file", "events_to_array", "raw_array_name"]

_OBJECTS, _EVENT, _PHOTON_ID = OBJECTS, EVENT_BRANCHES, PHOTON_ID
BRANCHES: tuple[str, ...] = (
    *(f"{obj}_{var}" for obj, _ in _OBJECTS for var in ("pt", "eta", "phi")),
    *_EVENT,
    *(f"photon_{var}" for var in _PHOTON_ID),
    "trigP",
)
"""Branches step 2 reads."""

COLUMNS = NTUPLE_COLUMNS


def column_index(name: str) -> int:
    return COLUMNS.index(name)


def raw_array_name(sample_name: str) -> str:
    """`arrays/<sample>_raw.npy`, e.g. `arrays/signal_WH_raw.npy`, `arrays/data_A_raw.npy`."""
    return f"arrays/{sample_name}_raw.npy"


def _leading(values: ak.Array, n: int) -> list[NDArray[np.float64]]:
    """The first n entries of each event's list, as n float64 columns, NaN where an event has fewer.

    Works on the flat content and per-event offsets directly: one gather per slot instead of awkward padding.
    """
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


def events_to_array(events: ak.Array) -> NDArray[np.float64]:
    """The step-2 array from the branches `convert_file` reads (see the module docstring for the columns)."""
    columns: list[NDArray[np.float64]] = []
    for obj, n in _OBJECTS:
        pt, eta, phi = (_leading(events[f"{obj}_{var}"], n) for var in ("pt", "eta", "phi"))
        for i in range(n):
            columns += [pt[i], eta[i], phi[i]]
    columns += [np.asarray(ak.to_numpy(events[name]), dtype=np.float64) for name in _EVENT]
    for var in _PHOTON_ID:
        columns += _leading(events[f"photon_{var}"], 2)
    columns.append(np.asarray(ak.to_numpy(events["trigP"]), dtype=np.float64))
    # Fill column by column (contiguous writes), then one blocked transpose to the C order np.save expects.
    out = np.empty((len(events), len(COLUMNS)), dtype=np.float64, order="F")
    for j, column in enumerate(columns):
        out[:, j] = column
    return np.ascontiguousarray(out)


def convert_file(path: Path) -> NDArray[np.float64]:
    """The step-2 array of one GamGam file (see the module docstring for the columns)."""
    return events_to_array(read_branches(path, BRANCHES))
