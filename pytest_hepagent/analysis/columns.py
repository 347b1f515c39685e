"""Column names of the step outputs that readers outside the analysis need (light: no numpy, no awkward)."""

from __future__ import annotations

__all__ = ["SAMPLE_COLUMNS"]

SAMPLE_COLUMNS = ("m_yy", "pt1_over_myy", "pt2_over_myy", "eta1", "eta2", "dphi", "weight", "train_weight")
"""Columns of signal.npy and bkgd.npy: m_yy in GeV; dphi = phi1 - phi2 wrapped to [-pi, pi)."""
