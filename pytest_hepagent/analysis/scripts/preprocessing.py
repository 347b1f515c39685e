"""Step 3: preselection, TI signal MC and NTI sideband background with their weights (appendix A.2)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--input-files", nargs="+", required=True)
parser.add_argument("--output-files", nargs=2, required=True)
args = parser.parse_args()

LUMI_PB = 10064.0
# Columns of the step-2 arrays.
PT1, ETA1, PHI1, PT2, ETA2, PHI2 = 0, 1, 2, 3, 4, 5
MC_WEIGHT, SF_PHOTON, SF_TRIGGER, SF_PILEUP, XSECTION, SUM_WEIGHTS = 32, 33, 34, 35, 36, 37
TIGHT, PTCONE30, ETCONE20, TRIGP = (38, 39), (40, 41), (42, 43), 44


def select(raw):
    """(m_yy in GeV, preselected, tight and isolated) per event."""
    m_yy = (
        np.sqrt(
            2.0
            * raw[:, PT1]
            * raw[:, PT2]
            * (np.cosh(raw[:, ETA1] - raw[:, ETA2]) - np.cos(raw[:, PHI1] - raw[:, PHI2]))
        )
        / 1000.0
    )
    with np.errstate(invalid="ignore"):
        pt = raw[:, [PT1, PT2]] / 1000.0
        eta = np.abs(raw[:, [ETA1, ETA2]])
        passed = (
            (raw[:, TRIGP] == 1.0)
            & ~np.isnan(pt).any(axis=1)
            & (pt > 25.0).all(axis=1)
            & ((eta < 2.37) & ~((eta >= 1.37) & (eta <= 1.52))).all(axis=1)
            & (pt[:, 0] / m_yy > 0.35)
            & (pt[:, 1] / m_yy > 0.25)
            & (m_yy > 105.0)
            & (m_yy < 160.0)
        )
        ptv = raw[:, [PT1, PT2]]
        tight = (raw[:, list(TIGHT)] == 1.0).all(axis=1)
        isolated = ((raw[:, list(PTCONE30)] / ptv < 0.065) & (raw[:, list(ETCONE20)] / ptv < 0.065)).all(axis=1)
    return m_yy, passed, tight & isolated


def features(raw, m_yy):
    dphi = (raw[:, PHI1] - raw[:, PHI2] + np.pi) % (2.0 * np.pi) - np.pi
    return np.column_stack(
        [m_yy, raw[:, PT1] / 1000.0 / m_yy, raw[:, PT2] / 1000.0 / m_yy, raw[:, ETA1], raw[:, ETA2], dphi]
    )


def inside(m, low, high):
    return (m > low) & (m < high)


raws = {Path(p).name.removesuffix("_raw.npy"): np.load(p) for p in args.input_files}

blocks = []
for name in ("signal_ggH", "signal_VBF", "signal_WH", "signal_ZH", "signal_ttH"):
    raw = raws[name]
    m_yy, passed, ti = select(raw)
    keep = passed & ti
    r = raw[keep]
    weight = (
        r[:, MC_WEIGHT]
        * r[:, SF_PHOTON]
        * r[:, SF_TRIGGER]
        * r[:, SF_PILEUP]
        * r[:, XSECTION]
        * LUMI_PB
        / r[:, SUM_WEIGHTS]
    )
    blocks.append(np.column_stack([features(r, m_yy[keep]), weight]))
signal = np.concatenate(blocks)
signal = np.column_stack([signal, signal[:, 6] / signal[:, 6].sum()])

blocks, ti_sb, nti_sb, nti_sr = [], 0, 0, 0
for name in ("data_A", "data_B", "data_C", "data_D"):
    raw = raws[name]
    m_yy, passed, ti_mask = select(raw)
    sidebands = inside(m_yy, 105.0, 120.0) | inside(m_yy, 130.0, 160.0)
    window = inside(m_yy, 123.0, 127.0)
    ti, nti = passed & ti_mask, passed & ~ti_mask
    ti_sb += int((ti & sidebands).sum())
    nti_sb += int((nti & sidebands).sum())
    nti_sr += int((nti & window).sum())
    keep = nti & sidebands
    blocks.append(features(raw[keep], m_yy[keep]))
bkgd = np.concatenate(blocks)
sf1, sf2 = ti_sb / nti_sb, nti_sr / nti_sb
n = bkgd.shape[0]
bkgd = np.column_stack([bkgd, np.full(n, sf1 * sf2), np.full(n, 1.0 / n)])

signal_path, bkgd_path = args.output_files
Path(signal_path).parent.mkdir(parents=True, exist_ok=True)
np.save(signal_path, signal)
np.save(bkgd_path, bkgd)
print(
    f"signal: {len(signal)} events, {signal[:, 6].sum():.1f} expected; background: {n} events, SF1 = {sf1:.4f}, SF2 = {sf2:.4f}"
)
