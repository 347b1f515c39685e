"""Step 3, preprocessing: preselection, the signal and NTI-sideband samples, and the background scale factors.

Follows the paper's appendix A.2 on the step-2 arrays (`ntuple.COLUMNS`):

- preselection on the two leading photons: `trigP`; pT > 25 GeV; |eta| < 2.37 outside 1.37 <= |eta| <= 1.52;
  pT1/m_yy > 0.35 and pT2/m_yy > 0.25; 105 < m_yy < 160 GeV;
- TI: both photons tight and isolated (ptcone30/pT < 0.065 and etcone20/pT < 0.065); NTI: not TI;
- signal: Higgs MC, preselected and TI, with weight
  mcWeight * scaleFactor_PHOTON * scaleFactor_PhotonTRIGGER * scaleFactor_PILEUP * XSection * L / SumWeights;
- background: data, preselected, NTI, in the sidebands 105-120 or 130-160 GeV, each event weighted by SF1 * SF2 with
  SF1 = TI/NTI data events in the sidebands and SF2 = NTI events in 123-127 GeV / NTI events in the sidebands, so
  the background weights add up to the expected TI background in the 125 +- 2 GeV window (appendix A.2c).

Output arrays (`arrays/signal.npy`, `arrays/bkgd.npy`) have the columns of `SAMPLE_COLUMNS`; the last column is
the training weight, rescaled so that signal and background each add up to 1 (equal total weight).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pytest_hepagent.analysis.columns import SAMPLE_COLUMNS
from pytest_hepagent.analysis.ntuple import column_index as col
from pytest_hepagent.analysis.utils import SIGNAL_WINDOW
from pytest_hepagent.data.kinematics import wrap_phi
from pytest_hepagent.data.schema import LUMI_PB

__all__ = [
    "MASS_WINDOW",
    "SAMPLE_COLUMNS",
    "SIDEBANDS",
    "SIGNAL_WINDOW",
    "Background",
    "Preselection",
    "background_sample",
    "cut_flow",
    "diphoton_mass",
    "mc_weight",
    "preselect",
    "signal_sample",
]

F64 = NDArray[np.float64]
Bool = NDArray[np.bool_]

MASS_WINDOW = (105.0, 160.0)
SIDEBANDS = ((105.0, 120.0), (130.0, 160.0))
PT_MIN_GEV = 25.0
ETA_MAX, CRACK = 2.37, (1.37, 1.52)
PT_OVER_M = (0.35, 0.25)
ISOLATION = 0.065


def diphoton_mass(raw: F64) -> F64:
    """m_yy in GeV from the two leading photons (NaN where one is missing)."""
    pt1, pt2 = raw[:, col("photon1_pt")], raw[:, col("photon2_pt")]
    deta = raw[:, col("photon1_eta")] - raw[:, col("photon2_eta")]
    dphi = raw[:, col("photon1_phi")] - raw[:, col("photon2_phi")]
    m_yy: F64 = np.sqrt(2.0 * pt1 * pt2 * (np.cosh(deta) - np.cos(dphi))) / 1000.0
    return m_yy


@dataclass(frozen=True)
class Preselection:
    """Per-event masks of one step-2 array; `passed` is the full preselection."""

    m_yy: F64
    cuts: Mapping[str, Bool]
    """Cumulative masks in cut order: each includes the cuts before it."""
    tight_isolated: Bool

    @property
    def passed(self) -> Bool:
        return list(self.cuts.values())[-1]


def preselect(raw: F64) -> Preselection:
    m_yy = diphoton_mass(raw)
    with np.errstate(invalid="ignore"):
        pt = raw[:, [col("photon1_pt"), col("photon2_pt")]] / 1000.0
        abs_eta = np.abs(raw[:, [col("photon1_eta"), col("photon2_eta")]])
        steps = {
            "trigger": raw[:, col("trigP")] == 1.0,
            "two photons": ~np.isnan(pt).any(axis=1),
            "photon pT > 25 GeV": (pt > PT_MIN_GEV).all(axis=1),
            "photon |eta|": ((abs_eta < ETA_MAX) & ~((abs_eta >= CRACK[0]) & (abs_eta <= CRACK[1]))).all(axis=1),
            "pT/m_yy": (pt[:, 0] / m_yy > PT_OVER_M[0]) & (pt[:, 1] / m_yy > PT_OVER_M[1]),
            "105 < m_yy < 160 GeV": (m_yy > MASS_WINDOW[0]) & (m_yy < MASS_WINDOW[1]),
        }
        ptv = raw[:, [col("photon1_pt"), col("photon2_pt")]]
        tight = (raw[:, [col("photon1_isTightID"), col("photon2_isTightID")]] == 1.0).all(axis=1)
        isolated = (
            (raw[:, [col("photon1_ptcone30"), col("photon2_ptcone30")]] / ptv < ISOLATION)
            & (raw[:, [col("photon1_etcone20"), col("photon2_etcone20")]] / ptv < ISOLATION)
        ).all(axis=1)
    cumulative: dict[str, Bool] = {}
    mask = np.ones(raw.shape[0], dtype=bool)
    for name, cut in steps.items():
        mask = mask & cut
        cumulative[name] = mask
    return Preselection(m_yy, cumulative, tight & isolated)


def cut_flow(raw: F64, weights: F64 | None = None) -> dict[str, float]:
    """Events (or summed weights) left after each cut, then after TI."""
    sel = preselect(raw)
    w = np.ones(raw.shape[0]) if weights is None else weights
    flow = {"all": float(w.sum())}
    flow.update({name: float(w[mask].sum()) for name, mask in sel.cuts.items()})
    flow["tight and isolated"] = float(w[sel.passed & sel.tight_isolated].sum())
    return flow


def mc_weight(raw: F64, lumi_pb: float = LUMI_PB) -> F64:
    """The standard 2020 MC event weight (events expected in `lumi_pb`)."""
    return (
        raw[:, col("mcWeight")]
        * raw[:, col("scaleFactor_PHOTON")]
        * raw[:, col("scaleFactor_PhotonTRIGGER")]
        * raw[:, col("scaleFactor_PILEUP")]
        * raw[:, col("XSection")]
        * lumi_pb
        / raw[:, col("SumWeights")]
    )


def _in(m: F64, window: tuple[float, float]) -> Bool:
    return (m > window[0]) & (m < window[1])


def _in_sidebands(m: F64) -> Bool:
    return _in(m, SIDEBANDS[0]) | _in(m, SIDEBANDS[1])


def _features(raw: F64, m_yy: F64) -> F64:
    return np.column_stack(
        [
            m_yy,
            raw[:, col("photon1_pt")] / 1000.0 / m_yy,
            raw[:, col("photon2_pt")] / 1000.0 / m_yy,
            raw[:, col("photon1_eta")],
            raw[:, col("photon2_eta")],
            wrap_phi(raw[:, col("photon1_phi")] - raw[:, col("photon2_phi")]),
        ]
    )


def signal_sample(mc_raws: Mapping[str, F64]) -> F64:
    """Preselected TI Higgs MC events of all samples (in the mapping's order) with their physics weights."""
    blocks = []
    for raw in mc_raws.values():
        sel = preselect(raw)
        keep = sel.passed & sel.tight_isolated
        blocks.append(np.column_stack([_features(raw[keep], sel.m_yy[keep]), mc_weight(raw[keep])]))
    signal = np.concatenate(blocks)
    return np.column_stack([signal, signal[:, 6] / signal[:, 6].sum()])


@dataclass(frozen=True)
class Background:
    """The NTI sideband sample and the counts behind its scale factors."""

    array: F64
    ti_sidebands: int
    nti_sidebands: int
    nti_signal_window: int

    @property
    def sf1(self) -> float:
        return self.ti_sidebands / self.nti_sidebands

    @property
    def sf2(self) -> float:
        return self.nti_signal_window / self.nti_sidebands


def background_sample(data_raws: Mapping[str, F64]) -> Background:
    """NTI data in the sidebands, weighted by SF1 * SF2 (see the module docstring)."""
    blocks, ti_sb, nti_sb, nti_sr = [], 0, 0, 0
    for raw in data_raws.values():
        sel = preselect(raw)
        sb, sr = _in_sidebands(sel.m_yy), _in(sel.m_yy, SIGNAL_WINDOW)
        ti, nti = sel.passed & sel.tight_isolated, sel.passed & ~sel.tight_isolated
        ti_sb += int((ti & sb).sum())
        nti_sb += int((nti & sb).sum())
        nti_sr += int((nti & sr).sum())
        keep = nti & sb
        blocks.append(_features(raw[keep], sel.m_yy[keep]))
    features = np.concatenate(blocks)
    n = features.shape[0]
    scale = (ti_sb / nti_sb) * (nti_sr / nti_sb) if nti_sb else 0.0
    array = np.column_stack([features, np.full(n, scale), np.full(n, 1.0 / n if n else 0.0)])
    return Background(array, ti_sb, nti_sb, nti_sr)
