"""Vectorized relativistic kinematics for the synthetic generator (numpy only, GeV)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["FourVectors", "two_body_decay", "wrap_phi"]

F64 = NDArray[np.float64]


def wrap_phi(phi: F64) -> F64:
    """Map angles to [-pi, pi)."""
    return (phi + np.pi) % (2.0 * np.pi) - np.pi


@dataclass(frozen=True)
class FourVectors:
    """Massless-or-massive four-vectors as columns (E, px, py, pz)."""

    e: F64
    px: F64
    py: F64
    pz: F64

    @property
    def pt(self) -> F64:
        return np.hypot(self.px, self.py)

    @property
    def eta(self) -> F64:
        return np.arcsinh(self.pz / np.maximum(self.pt, 1e-12))

    @property
    def phi(self) -> F64:
        return np.arctan2(self.py, self.px)


def _parent(pt: F64, rapidity: F64, phi: F64, mass: F64) -> FourVectors:
    mt = np.sqrt(mass**2 + pt**2)
    return FourVectors(mt * np.cosh(rapidity), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(rapidity))


def two_body_decay(
    mass: F64, pt: F64, rapidity: F64, phi: F64, cos_theta: F64, phi_star: F64
) -> tuple[FourVectors, FourVectors]:
    """Decay parents of the given mass and lab kinematics into two massless daughters.

    `cos_theta`, `phi_star` give the first daughter's direction in the parent's rest frame.
    """
    parent = _parent(pt, rapidity, phi, mass)
    half = 0.5 * mass
    sin_theta = np.sqrt(np.clip(1.0 - cos_theta**2, 0.0, 1.0))
    nx, ny, nz = sin_theta * np.cos(phi_star), sin_theta * np.sin(phi_star), cos_theta
    bx, by, bz = parent.px / parent.e, parent.py / parent.e, parent.pz / parent.e
    b2 = np.maximum(bx**2 + by**2 + bz**2, 1e-300)
    gamma = 1.0 / np.sqrt(1.0 - np.minimum(b2, 1.0 - 1e-15))
    daughters = []
    for sign in (1.0, -1.0):
        px, py, pz = sign * half * nx, sign * half * ny, sign * half * nz
        bp = bx * px + by * py + bz * pz
        k = (gamma - 1.0) * bp / b2 + gamma * half
        daughters.append(FourVectors(gamma * (half + bp), px + k * bx, py + k * by, pz + k * bz))
    return daughters[0], daughters[1]
