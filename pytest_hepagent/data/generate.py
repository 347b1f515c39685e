"""Deterministic synthetic stand-in for the ATLAS Open Data 2020 GamGam release.

Writes the four data files and the five Higgs MC files under their real names, with the exact `mini` schema of
`schema.py` (MeV) and physics close enough to the real files that the analysis behaves like the real one:

- Higgs signal: a 125 GeV diphoton resonance, photon energy resolution 1.9% (m_yy core about 1.7 GeV) and a
  low-mass tail from energy losses in about 10% of events; production-mode-specific Higgs pT, jets (VBF
  forward jets, V->qq, ttH b-jets), leptons and MET (W/Z/top decays).
- Data: a falling diphoton continuum (m_yy ~ exp(-0.035 m)), gamma+jet and dijet events with jets faking photons
  (which mostly fail tight ID or isolation, so that most skimmed events are NTI), plus a Poisson-fluctuated Higgs
  signal at the rate the cross sections predict.
- MC weights: `XSection` as released, `mcWeight` around the real sample's mean, and `SumWeights` equal to the sum of
  `mcWeight` over every generated synthetic event (including those the skim drops), so that the standard formula
  `mcWeight * scaleFactor_PHOTON * scaleFactor_PhotonTRIGGER * scaleFactor_PILEUP * XSection * L / SumWeights`
  gives physical yields for 10.064 fb^-1. Data carry no MC weight information: their weights, scale factors,
  `XSection` and `SumWeights` are 0.

Every file has its own random stream derived from `(seed, file index)`, so files do not depend on each other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np
from numpy.typing import NDArray

from pytest_hepagent.data.config import DEFAULT_CONFIG, GeneratorConfig
from pytest_hepagent.data.kinematics import FourVectors, two_body_decay
from pytest_hepagent.data.schema import (
    BRANCHES,
    COLLECTIONS,
    LUMI_PB,
    SAMPLES,
    TREE_NAME,
    Collection,
    Sample,
)

__all__ = ["DEFAULT_CONFIG", "GeneratorConfig", "generate", "generate_events", "write_events"]

log = logging.getLogger(__name__)

F64 = NDArray[np.float64]
Bool = NDArray[np.bool_]
GEV = 1000.0  # MeV per GeV

# Generated events per MC sample at mc_scale=1 (before the skim; SumWeights counts all of them).
MC_GENERATED = {
    "signal_ggH": 60_000,
    "signal_VBF": 20_000,
    "signal_WH": 10_000,
    "signal_ZH": 10_000,
    "signal_ttH": 10_000,
}
# Candidate data events at data_scale=1 for the whole 10.064 fb^-1, split over the periods by luminosity share.
DATA_CANDIDATES = {"gg": 330_000, "gj": 300_000, "jj": 150_000}
PERIOD_SHARE = {"A": 0.08, "B": 0.22, "C": 0.28, "D": 0.42}
PERIOD_RUNS = {"A": (297730, 300287), "B": (300345, 300908), "C": (301912, 302393), "D": (302737, 303560)}
MC_RUN_NUMBER = 284500

# Higgs production modes: Higgs pT ~ Gamma(shape, scale) GeV, jets, leptons and invisible decays.
_HIGGS_PT = {"ggH": (1.6, 27.0), "VBF": (2.0, 30.0), "WH": (2.5, 30.0), "ZH": (2.5, 30.0), "ttH": (3.0, 35.0)}

PHOTON_RESOLUTION = 0.0192
"""Relative photon energy resolution; gives a m_yy core resolution of about 1.7 GeV at 125 GeV."""
TAIL_FRACTION = 0.10
TAIL_SCALE = 0.05
"""In TAIL_FRACTION of signal events one photon loses an Exp(TAIL_SCALE) fraction of its energy."""
BACKGROUND_SLOPE = 0.035
"""Continuum m_yy ~ exp(-BACKGROUND_SLOPE * m / GeV)."""
BASKET_EVENTS = 10_000
"""Events per basket when writing."""
SKIM_PT = 20.0
"""GamGam skim: at least two reconstructed photons above this pT (GeV)."""


@dataclass
class _Objects:
    """A padded (events x slots) object collection; NaN pt marks an empty slot."""

    fields: dict[str, NDArray[np.generic]] = field(default_factory=dict)

    @property
    def pt(self) -> F64:
        return self.fields["pt"]  # type: ignore[return-value]


def _empty_objects(n: int, slots: int) -> _Objects:
    return _Objects({"pt": np.full((n, slots), np.nan)})


def _to_jagged(objects: _Objects, collection: Collection) -> dict[str, ak.Array]:
    """Sort each event's objects by pT (descending), drop empty slots, and return typed jagged arrays."""
    pt = objects.pt
    order = np.argsort(np.where(np.isnan(pt), np.inf, -pt), axis=1, kind="stable")
    valid = np.take_along_axis(~np.isnan(pt), order, axis=1)
    counts = valid.sum(axis=1)
    out = {}
    for branch in collection.fields:
        short = branch.name[len(collection.name) + 1 :]
        values = objects.fields.get(short)
        if values is None:
            flat = np.zeros(int(counts.sum()), dtype=branch.dtype)
        else:
            flat = np.take_along_axis(values, order, axis=1)[valid].astype(branch.dtype)
        out[short] = ak.unflatten(flat, counts)
    return out


# ---------------------------------------------------------------------------------------------------- physics


def _photon_id(rng: np.random.Generator, pt: F64, fake: Bool) -> dict[str, NDArray[np.generic]]:
    """Tight ID and isolation of photon candidates; jets faking photons mostly fail one of them."""
    shape = pt.shape
    eff_true = 0.88 + 0.08 * (1.0 - np.exp(-np.clip(pt - 25.0, 0.0, None) / 30.0))
    tight = rng.random(shape) < np.where(fake, 0.30, eff_true)
    ptcone = np.where(
        fake, rng.exponential(0.09, shape), np.where(rng.random(shape) < 0.75, 0.0, rng.exponential(0.02, shape))
    )
    etcone = np.where(fake, rng.normal(0.05, 0.04, shape), rng.normal(0.0, 0.02, shape))
    conv = np.where(rng.random(shape) < 0.65, 0, rng.integers(1, 6, shape))
    return {"isTightID": tight, "ptcone30": ptcone * pt * GEV, "etcone20": etcone * pt * GEV, "convType": conv}


def _photons(
    rng: np.random.Generator, g1: FourVectors, g2: FourVectors, fake1: Bool, fake2: Bool, mc: bool
) -> _Objects:
    """The two diphoton candidates plus occasional soft extra photons (GeV kinematics in, MeV out)."""
    n = g1.e.size
    extra_pt = np.where(rng.random((n, 2)) < 0.12, 10.0 + rng.exponential(8.0, (n, 2)), np.nan)
    extra_eta = rng.normal(0.0, 1.4, (n, 2))
    pt = np.column_stack([g1.pt, g2.pt, extra_pt])
    eta = np.column_stack([g1.eta, g2.eta, extra_eta])
    phi = np.column_stack([g1.phi, g2.phi, rng.uniform(-np.pi, np.pi, (n, 2))])
    fake = np.column_stack([fake1, fake2, np.ones((n, 2), bool)])
    pt = np.where((np.abs(eta) < 2.47) & (pt > 10.0), pt, np.nan)
    fields: dict[str, NDArray[np.generic]] = {
        "pt": pt * GEV,
        "eta": eta,
        "phi": phi,
        "E": pt * np.cosh(eta) * GEV,
        "truthMatched": ~fake if mc else np.zeros_like(fake),
        "trigMatched": (rng.random(pt.shape) < 0.95) & (np.arange(4) < 2),
        "pt_syst": pt * (1.0 + rng.normal(0.0, 0.01, pt.shape)) * GEV,
        **_photon_id(rng, pt, fake),
    }
    return _Objects(fields)


def _jets(
    rng: np.random.Generator,
    n: int,
    mean_extra: float,
    mc: bool,
    *,
    forward_pair: Bool | None = None,
    central_pair: Bool | None = None,
    b_jets: int = 0,
) -> _Objects:
    """Jets (GeV in, MeV out): Poisson extra jets plus optional VBF tag jets, V->qq pairs and ttH jets."""
    slots = 8
    eta = rng.normal(0.0, 1.8, (n, slots))
    n_extra = np.minimum(rng.poisson(mean_extra, n), slots)
    pt = np.where(np.arange(slots) < n_extra[:, None], 25.0 + rng.exponential(30.0, (n, slots)), np.nan)
    if forward_pair is not None:
        sign = np.where(rng.random(n) < 0.5, 1.0, -1.0)
        for slot, s in ((6, sign), (7, -sign)):
            pt[:, slot] = np.where(forward_pair, 30.0 + rng.exponential(50.0, n), np.nan)
            eta[:, slot] = s * rng.uniform(1.5, 4.5, n)
    if central_pair is not None:
        for slot in (4, 5):
            pt[:, slot] = np.where(central_pair, 30.0 + rng.exponential(40.0, n), np.nan)
            eta[:, slot] = rng.normal(0.0, 1.2, n)
    eta = np.clip(eta, -4.5, 4.5)
    flav_b = np.zeros((n, slots), bool)
    if b_jets:
        flav_b[:, :b_jets] = True
        pt[:, :b_jets] = 30.0 + rng.exponential(50.0, (n, b_jets))
    flav = np.where(flav_b, 5, np.where(rng.random((n, slots)) < 0.08, 4, 0)) if mc else np.full((n, slots), -1)
    tag_score = np.where(flav_b, rng.beta(5.0, 1.0, (n, slots)), rng.beta(1.0, 5.0, (n, slots)))
    mass = 0.1 * pt
    return _Objects(
        {
            "pt": pt * GEV,
            "eta": eta,
            "phi": rng.uniform(-np.pi, np.pi, (n, slots)),
            "E": np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2) * GEV,
            "jvt": np.where(pt < 60.0, rng.uniform(0.59, 1.0, (n, slots)), 1.0),
            "trueflav": flav,
            "truthMatched": np.full((n, slots), mc) & (rng.random((n, slots)) < 0.9),
            "MV2c10": 2.0 * tag_score - 1.0,
            "pt_syst": pt * (1.0 + rng.normal(0.0, 0.02, (n, slots))) * GEV,
        }
    )


def _leptons(rng: np.random.Generator, n_leptons: NDArray[np.int64], mc: bool) -> _Objects:
    n, slots = n_leptons.size, 3
    present = np.arange(slots) < np.minimum(n_leptons, slots)[:, None]
    pt = np.where(present, 7.0 + rng.exponential(35.0, (n, slots)), np.nan)
    eta = np.clip(rng.normal(0.0, 1.2, (n, slots)), -2.47, 2.47)
    lep_type = np.where(rng.random((n, slots)) < 0.5, 11, 13)
    return _Objects(
        {
            "pt": pt * GEV,
            "eta": eta,
            "phi": rng.uniform(-np.pi, np.pi, (n, slots)),
            "E": np.where(lep_type == 11, pt * np.cosh(eta), np.sqrt((pt * np.cosh(eta)) ** 2 + 0.1057**2)) * GEV,
            "z0": rng.normal(0.0, 0.05, (n, slots)),
            "charge": np.where(rng.random((n, slots)) < 0.5, -1, 1),
            "type": lep_type,
            "isTightID": rng.random((n, slots)) < 0.9,
            "ptcone30": rng.exponential(0.02, (n, slots)) * pt * GEV,
            "etcone20": rng.normal(0.01, 0.02, (n, slots)) * pt * GEV,
            "trackd0pvunbiased": rng.normal(0.0, 0.02, (n, slots)),
            "tracksigd0pvunbiased": np.abs(rng.normal(0.0, 1.5, (n, slots))),
            "truthMatched": np.full((n, slots), mc),
            "trigMatched": rng.random((n, slots)) < 0.3,
            "pt_syst": pt * (1.0 + rng.normal(0.0, 0.01, (n, slots))) * GEV,
        }
    )


def _met(rng: np.random.Generator, n: int, neutrino_pt: F64) -> tuple[F64, F64]:
    """MET (GeV): resolution plus any invisible pT."""
    nphi = rng.uniform(-np.pi, np.pi, n)
    mx = rng.normal(0.0, 10.0, n) + neutrino_pt * np.cos(nphi)
    my = rng.normal(0.0, 10.0, n) + neutrino_pt * np.sin(nphi)
    return np.hypot(mx, my), np.arctan2(my, mx)


def _decay_angle(rng: np.random.Generator, n: int, continuum: bool) -> F64:
    """cos(theta*): isotropic for a scalar; the continuum is 40% isotropic, 60% peaked forward (~ cos^2)."""
    iso = rng.uniform(-1.0, 1.0, n)
    if not continuum:
        return iso
    forward = np.sign(rng.uniform(-1.0, 1.0, n)) * rng.random(n) ** (1.0 / 3.0)
    return np.where(rng.random(n) < 0.4, iso, forward)


@dataclass
class _Events:
    """Columns of one sample before writing: scalar branches plus padded object collections."""

    scalars: dict[str, NDArray[np.generic]]
    objects: dict[str, _Objects]

    def __len__(self) -> int:
        return int(next(iter(self.scalars.values())).size)

    def take(self, mask: NDArray[np.bool_] | NDArray[np.int64]) -> _Events:
        return _Events(
            {k: v[mask] for k, v in self.scalars.items()},
            {k: _Objects({f: a[mask] for f, a in o.fields.items()}) for k, o in self.objects.items()},
        )

    @staticmethod
    def concat(parts: list[_Events]) -> _Events:
        scalars = {k: np.concatenate([p.scalars[k] for p in parts]) for k in parts[0].scalars}
        objects = {}
        for name in parts[0].objects:
            fields = parts[0].objects[name].fields
            objects[name] = _Objects({f: np.concatenate([p.objects[name].fields[f] for p in parts]) for f in fields})
        return _Events(scalars, objects)


def _higgs_events(rng: np.random.Generator, mode: str, n: int, mc: bool) -> _Events:
    """n generated Higgs -> gamma gamma events of one production mode (before the skim)."""
    shape, scale = _HIGGS_PT[mode]
    mass = np.full(n, 125.0)
    g1, g2 = two_body_decay(
        mass,
        rng.gamma(shape, scale, n),
        rng.normal(0.0, 1.7, n),
        rng.uniform(-np.pi, np.pi, n),
        _decay_angle(rng, n, False),
        rng.uniform(-np.pi, np.pi, n),
    )
    # Energy response: Gaussian core and a low tail (leakage, conversions) on one photon.
    tail = (rng.random(n) < TAIL_FRACTION)[:, None] & (np.arange(2) == rng.integers(0, 2, n)[:, None])
    response = (1.0 + rng.normal(0.0, PHOTON_RESOLUTION, (n, 2))) * np.where(
        tail, 1.0 - rng.exponential(TAIL_SCALE, (n, 2)).clip(max=0.5), 1.0
    )
    g1 = FourVectors(*(c * response[:, 0] for c in (g1.e, g1.px, g1.py, g1.pz)))
    g2 = FourVectors(*(c * response[:, 1] for c in (g2.e, g2.px, g2.py, g2.pz)))
    no_fake = np.zeros(n, bool)
    photons = _photons(rng, g1, g2, no_fake, no_fake, mc)

    n_lep = np.zeros(n, np.int64)
    nu_pt = np.zeros(n)
    forward = central = None
    b_jets, extra = 0, 0.9
    if mode == "VBF":
        forward, extra = np.ones(n, bool), 0.5
    elif mode == "WH":
        leptonic = rng.random(n) < 0.25
        n_lep, nu_pt = leptonic.astype(np.int64), np.where(leptonic, rng.gamma(2.0, 20.0, n), 0.0)
        central, extra = rng.random(n) < 0.67, 0.5
    elif mode == "ZH":
        u = rng.random(n)
        n_lep = np.where(u < 0.067, 2, 0)
        nu_pt = np.where((u >= 0.067) & (u < 0.267), rng.gamma(2.5, 30.0, n), 0.0)
        central, extra = u >= 0.3, 0.5
    elif mode == "ttH":
        n_lep = rng.binomial(2, 0.25, n)
        nu_pt = np.where(n_lep > 0, rng.gamma(2.0, 25.0, n), 0.0)
        b_jets, extra = 2, 2.5
    jets = _jets(rng, n, extra, mc, forward_pair=forward, central_pair=central, b_jets=b_jets)
    met, met_phi = _met(rng, n, nu_pt)
    return _Events(
        {"met_et": met * GEV, "met_phi": met_phi}, {"photon": photons, "jet": jets, "lep": _leptons(rng, n_lep, mc)}
    )


def _continuum_events(rng: np.random.Generator, n: int, n_fake: int) -> _Events:
    """Data background: diphoton continuum (n_fake=0), gamma+jet (1) or dijet (2), in reconstructed GeV."""
    lo, hi = 95.0, 200.0
    u = rng.random(n)
    a = BACKGROUND_SLOPE
    mass = -np.log(np.exp(-a * lo) - u * (np.exp(-a * lo) - np.exp(-a * hi))) / a
    g1, g2 = two_body_decay(
        mass,
        rng.gamma(1.2 + 0.2 * n_fake, 17.0, n),
        rng.normal(0.0, 2.0, n),
        rng.uniform(-np.pi, np.pi, n),
        _decay_angle(rng, n, True),
        rng.uniform(-np.pi, np.pi, n),
    )
    which = rng.random(n) < 0.5
    fake1 = np.full(n, n_fake == 2) | ((n_fake == 1) & which)
    fake2 = np.full(n, n_fake == 2) | ((n_fake == 1) & ~which)
    met, met_phi = _met(rng, n, np.zeros(n))
    return _Events(
        {"met_et": met * GEV, "met_phi": met_phi},
        {
            "photon": _photons(rng, g1, g2, fake1, fake2, mc=False),
            "jet": _jets(rng, n, 0.6 + 0.9 * n_fake, mc=False),
            "lep": _leptons(rng, rng.binomial(1, 0.02, n).astype(np.int64), mc=False),
        },
    )


def _skim(events: _Events) -> _Events:
    """The GamGam skim: at least two photons above SKIM_PT."""
    pt = events.objects["photon"].pt / GEV
    return events.take(np.sum(np.nan_to_num(pt) > SKIM_PT, axis=1) >= 2)


def _trigger(rng: np.random.Generator, events: _Events) -> Bool:
    pt = np.sort(np.nan_to_num(events.objects["photon"].pt / GEV), axis=1)[:, ::-1]
    return (pt[:, 1] > 22.0) & (rng.random(len(events)) < 0.985)


def _mc_sample(rng: np.random.Generator, sample: Sample, n_generated: int) -> _Events:
    mode = sample.name.split("_", 1)[1]
    events = _higgs_events(rng, mode, n_generated, mc=True)
    weights = sample.mean_mc_weight * rng.gamma(100.0, 0.01, n_generated)
    sum_weights = float(np.sum(weights.astype(np.float32), dtype=np.float64))
    events.scalars["mcWeight"] = weights
    events = _skim(events)
    n = len(events)
    has_lep = ~np.isnan(events.objects["lep"].pt[:, 0])
    events.scalars |= {
        "runNumber": np.full(n, MC_RUN_NUMBER),
        "channelNumber": np.full(n, sample.dsid),
        "eventNumber": np.sort(rng.choice(np.arange(1, 50 * n_generated), n, replace=False)),
        "scaleFactor_PILEUP": rng.gamma(6.0, 1.0 / 6.0, n),
        "scaleFactor_PHOTON": np.clip(rng.normal(0.95, 0.03, n), 0.7, 1.1),
        "scaleFactor_PhotonTRIGGER": np.clip(rng.normal(0.99, 0.01, n), 0.9, 1.05),
        "scaleFactor_ELE": np.where(has_lep, rng.normal(0.98, 0.02, n), 1.0),
        "scaleFactor_MUON": np.where(has_lep, rng.normal(0.99, 0.01, n), 1.0),
        "scaleFactor_TAU": np.ones(n),
        "scaleFactor_BTAG": np.ones(n),
        "scaleFactor_LepTRIGGER": np.ones(n),
        "trigP": _trigger(rng, events),
        "XSection": np.full(n, sample.xsection_pb),
        "SumWeights": np.full(n, sum_weights),
    }
    return events


def _data_sample(rng: np.random.Generator, sample: Sample, data_scale: float) -> _Events:
    period = sample.name.rsplit("_", 1)[1]
    share = PERIOD_SHARE[period] * data_scale
    parts = [
        _continuum_events(rng, rng.poisson(n * share), n_fake) for n_fake, n in enumerate(DATA_CANDIDATES.values())
    ]
    # The Higgs signal in data, at the rate the released cross sections predict for this period.
    for mc in SAMPLES:
        if mc.kind == "mc":
            expected = mc.xsection_pb * LUMI_PB * share
            parts.append(_higgs_events(rng, mc.name.split("_", 1)[1], int(rng.poisson(expected)), mc=False))
    events = _Events.concat(parts)
    events = _skim(events.take(rng.permutation(len(events))))
    n = len(events)
    first, last = PERIOD_RUNS[period]
    zeros = np.zeros(n)
    events.scalars |= {
        "runNumber": np.sort(rng.integers(first, last + 1, n)),
        "eventNumber": rng.integers(1, 2**31 - 1, n),
        "mcWeight": zeros,
        "XSection": zeros,
        "SumWeights": zeros,
        **{
            f"scaleFactor_{sf}": zeros
            for sf in ("PILEUP", "ELE", "MUON", "PHOTON", "TAU", "BTAG", "LepTRIGGER", "PhotonTRIGGER")
        },
        "trigP": _trigger(rng, events),
    }
    events.scalars["channelNumber"] = events.scalars["runNumber"]
    return events


def generate_events(sample: Sample, config: GeneratorConfig = DEFAULT_CONFIG) -> dict[str, ak.Array]:
    """All branches of one sample's `mini` tree, typed as in the schema, keyed by branch or collection name."""
    index = next(i for i, s in enumerate(SAMPLES) if s.name == sample.name)
    rng = np.random.default_rng([config.seed, index])
    if sample.kind == "mc":
        events = _mc_sample(rng, sample, max(1, round(MC_GENERATED[sample.name] * config.mc_scale)))
    else:
        events = _data_sample(rng, sample, config.data_scale)
    n = len(events)
    scalars = events.scalars
    lep_ids = np.arange(3) < 2
    scalars["trigE"] = (rng.random(n) < 0.02) | np.any((events.objects["lep"].fields["type"] == 11) & lep_ids, axis=1)
    scalars["trigM"] = (rng.random(n) < 0.02) | np.any((events.objects["lep"].fields["type"] == 13) & lep_ids, axis=1)
    scalars["met_et_syst"] = np.asarray(scalars["met_et"], dtype=np.float64) * (1.0 + rng.normal(0.0, 0.02, n))
    scalars["ditau_m"] = np.zeros(n)
    columns: dict[str, ak.Array] = {}
    for name, branch in BRANCHES.items():
        if not branch.jagged and name in scalars:
            columns[name] = ak.Array(np.asarray(scalars[name]).astype(branch.dtype))
    for collection in COLLECTIONS:
        objects = events.objects.get(collection.name, _empty_objects(n, 1))
        columns[collection.name] = ak.zip(_to_jagged(objects, collection))
    return columns


def write_events(path: Path, columns: dict[str, ak.Array]) -> None:
    """Write one `mini` tree with the schema's branch order and `<collection>_n` counters."""
    import uproot

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".root.tmp")
    with uproot.recreate(tmp) as out:
        types = {name: array.type.content for name, array in columns.items()}
        out.mktree(
            TREE_NAME, types, counter_name=lambda c: f"{c}_n", field_name=lambda outer, inner: f"{outer}_{inner}"
        )
        # Several baskets per branch, as in ROOT-written files, so partial reads need not decompress everything.
        n = len(columns["runNumber"])
        for start in range(0, max(n, 1), BASKET_EVENTS):
            out[TREE_NAME].extend({name: array[start : start + BASKET_EVENTS] for name, array in columns.items()})
    tmp.replace(path)  # a reader never sees a half-written file


def generate(
    out_dir: Path,
    config: GeneratorConfig = DEFAULT_CONFIG,
    samples: Iterable[Sample] = SAMPLES,
    progress: Callable[[Sample, int], None] | None = None,
) -> list[Path]:
    """Write the synthetic release into `out_dir` (`Data/...` and `MC/...` as in the real one)."""
    paths = []
    for sample in samples:
        columns = generate_events(sample, config)
        path = Path(out_dir) / sample.relpath
        write_events(path, columns)
        log.debug("wrote %s (%d events)", path, len(columns["runNumber"]))
        if progress is not None:
            progress(sample, len(columns["runNumber"]))
        paths.append(path)
    return paths
