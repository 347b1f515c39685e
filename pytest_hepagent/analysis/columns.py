"""Column names of the step outputs that readers outside the analysis need (light: no numpy, no awkward)."""

from __future__ import annotations

__all__ = [
    "COLUMN_SETS",
    "EVENT_BRANCHES",
    "NTUPLE_COLUMNS",
    "OBJECTS",
    "PHOTON_ID",
    "SAMPLE_COLUMNS",
    "column_names",
]

OBJECTS = (("photon", 2), ("lep", 2), ("jet", 6))
"""Objects of a step-2 array and how many of each (the leading ones)."""
EVENT_BRANCHES = (
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

NTUPLE_COLUMNS: tuple[str, ...] = (
    *(f"{obj}{i}_{var}" for obj, n in OBJECTS for i in range(1, n + 1) for var in ("pt", "eta", "phi")),
    *EVENT_BRANCHES,
    "photon1_isTightID",
    "photon2_isTightID",
    "photon1_ptcone30",
    "photon2_ptcone30",
    "photon1_etcone20",
    "photon2_etcone20",
    "trigP",
)
"""Columns of the step-2 arrays (`arrays/<sample>_raw.npy`)."""

SAMPLE_COLUMNS = ("m_yy", "pt1_over_myy", "pt2_over_myy", "eta1", "eta2", "dphi", "weight", "train_weight")
"""Columns of signal.npy and bkgd.npy: m_yy in GeV; dphi = phi1 - phi2 wrapped to [-pi, pi)."""

COLUMN_SETS = {"ntuple": NTUPLE_COLUMNS, "sample": SAMPLE_COLUMNS}
"""Named column sets of 2-D outputs (a task spec's `columns`), for per-column tolerances and diagnostics."""


def column_names(kind: str | None) -> tuple[str, ...]:
    """The columns of a named set (`ntuple`, `sample`); () for none."""
    return COLUMN_SETS.get(kind or "", ())
