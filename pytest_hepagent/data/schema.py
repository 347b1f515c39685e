"""The ATLAS Open Data 2020 (13 TeV) GamGam ntuple schema: the one source of truth.

Every module that reads or writes the `mini` tree takes branch names, types and sample metadata from here.
Energies and momenta are in MeV, as in the real release.

Two differences between the synthetic files and the real ones are unavoidable with uproot's writer and do not
change what a reader gets back: jagged branches are written as counted C arrays (`float[]`) instead of
`std::vector<float>`, and the counters (`photon_n`, ...) are `int32` instead of `uint32`. `uproot` and `awkward`
read both to identical jagged arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from pytest_hepagent.errors import DataError, did_you_mean

__all__ = [
    "BASE_URL",
    "BRANCHES",
    "COLLECTIONS",
    "DATA_PERIODS",
    "LUMI_PB",
    "MC_SAMPLES",
    "SAMPLES",
    "TREE_NAME",
    "Branch",
    "Collection",
    "Sample",
    "sample_by_name",
]

TREE_NAME = "mini"
LUMI_PB = 10064.0
"""Integrated luminosity of the 2016 data in the release, in pb^-1 (the value the 2020 docs use)."""

BASE_URL = "https://atlas-opendata.web.cern.ch/atlas-opendata/samples/2020/GamGam/"

Kind = Literal["data", "mc"]


@dataclass(frozen=True)
class Sample:
    """One file of the release."""

    name: str
    """Short name used for derived files: `data_A`, `signal_ggH`, ..."""
    kind: Kind
    relpath: str
    """Path relative to the release's base URL, e.g. `MC/mc_343981.ggH125_gamgam.GamGam.root`."""
    dsid: int = 0
    generated_events: int = 0
    """Events generated for the real sample (before the GamGam skim)."""
    sum_weights: float = 0.0
    """`SumWeights` of the real sample."""
    xsection_pb: float = 0.0
    """`XSection` of the real sample, in pb, as stored in the release."""

    @property
    def filename(self) -> str:
        return self.relpath.rsplit("/", 1)[-1]

    @property
    def mean_mc_weight(self) -> float:
        """Mean `mcWeight` of the real sample; the synthetic generator keeps it."""
        return self.sum_weights / self.generated_events if self.generated_events else 0.0


DATA_PERIODS = ("A", "B", "C", "D")

MC_SAMPLES: tuple[Sample, ...] = (
    Sample("signal_ggH", "mc", "MC/mc_343981.ggH125_gamgam.GamGam.root", 343981, 1_976_000, 55_922_617.6297, 0.102),
    Sample(
        "signal_VBF", "mc", "MC/mc_345041.VBFH125_gamgam.GamGam.root", 345041, 921_000, 3_441_426.13711, 0.008518764
    ),
    Sample(
        "signal_WH",
        "mc",
        "MC/mc_345318.WpH125J_Wincl_gamgam.GamGam.root",
        345318,
        248_000,
        213_799.958463,
        0.0019654512,
    ),
    Sample(
        "signal_ZH", "mc", "MC/mc_345319.ZH125J_Zincl_gamgam.GamGam.root", 345319, 471_000, 358_401.082034, 0.0017347836
    ),
    # The release's ttH cross section is about 400x too small; it is kept as released.
    Sample("signal_ttH", "mc", "MC/mc_341081.ttH125_gamgam.GamGam.root", 341081, 927_400, 485_440.0, 0.0000026433864),
)

SAMPLES: tuple[Sample, ...] = (
    *(Sample(f"data_{p}", "data", f"Data/data_{p}.GamGam.root") for p in DATA_PERIODS),
    *MC_SAMPLES,
)


def sample_by_name(name: str) -> Sample:
    for sample in SAMPLES:
        if name in (sample.name, sample.filename):
            return sample
    names = [s.name for s in SAMPLES]
    raise DataError(f"unknown sample {name!r}{did_you_mean(name, names)}; known samples: {', '.join(names)}")


@dataclass(frozen=True)
class Branch:
    name: str
    dtype: np.dtype[np.generic]
    jagged: bool = False
    """A per-object branch counted by its collection's `<collection>_n`."""

    @property
    def collection(self) -> str | None:
        return self.name.split("_", 1)[0] if self.jagged else None


@dataclass(frozen=True)
class Collection:
    """A jagged object collection (`photon`, `jet`, ...): its counter and its per-object fields."""

    name: str
    fields: tuple[Branch, ...]

    @property
    def counter(self) -> str:
        return f"{self.name}_n"


_F, _I, _U, _B = np.dtype("float32"), np.dtype("int32"), np.dtype("uint32"), np.dtype("bool")


def _jagged(prefix: str, **fields: np.dtype[np.generic]) -> tuple[Branch, ...]:
    return tuple(Branch(f"{prefix}_{name}", dtype, jagged=True) for name, dtype in fields.items())


COLLECTIONS: tuple[Collection, ...] = (
    Collection(
        "lep",
        _jagged(
            "lep",
            truthMatched=_B,
            trigMatched=_B,
            pt=_F,
            eta=_F,
            phi=_F,
            E=_F,
            z0=_F,
            charge=_I,
            type=_U,
            isTightID=_B,
            ptcone30=_F,
            etcone20=_F,
            trackd0pvunbiased=_F,
            tracksigd0pvunbiased=_F,
            pt_syst=_F,
        ),
    ),
    Collection(
        "jet", _jagged("jet", pt=_F, eta=_F, phi=_F, E=_F, jvt=_F, trueflav=_I, truthMatched=_B, MV2c10=_F, pt_syst=_F)
    ),
    Collection(
        "photon",
        _jagged(
            "photon",
            truthMatched=_B,
            trigMatched=_B,
            pt=_F,
            eta=_F,
            phi=_F,
            E=_F,
            isTightID=_B,
            ptcone30=_F,
            etcone20=_F,
            convType=_I,
            pt_syst=_F,
        ),
    ),
    Collection(
        "largeRjet",
        _jagged("largeRjet", pt=_F, eta=_F, phi=_F, E=_F, m=_F, truthMatched=_I, D2=_F, tau32=_F, pt_syst=_F),
    ),
    Collection(
        "tau",
        _jagged(
            "tau",
            pt=_F,
            eta=_F,
            phi=_F,
            E=_F,
            charge=_I,
            isTightID=_B,
            truthMatched=_B,
            trigMatched=_B,
            nTracks=_I,
            BDTid=_F,
            pt_syst=_F,
        ),
    ),
)

_SCALARS: tuple[Branch, ...] = (
    Branch("runNumber", _I),
    Branch("eventNumber", _I),
    Branch("channelNumber", _I),
    Branch("mcWeight", _F),
    *(
        Branch(f"scaleFactor_{sf}", _F)
        for sf in ("PILEUP", "ELE", "MUON", "PHOTON", "TAU", "BTAG", "LepTRIGGER", "PhotonTRIGGER")
    ),
    Branch("trigE", _B),
    Branch("trigM", _B),
    Branch("trigP", _B),
    Branch("met_et", _F),
    Branch("met_phi", _F),
    Branch("met_et_syst", _F),
    Branch("ditau_m", _F),
    Branch("XSection", _F),
    Branch("SumWeights", _F),
)

BRANCHES: dict[str, Branch] = {
    **{b.name: b for b in _SCALARS},
    **{c.counter: Branch(c.counter, _U) for c in COLLECTIONS},
    **{b.name: b for c in COLLECTIONS for b in c.fields},
}
"""Every branch of the `mini` tree, by name."""
