from __future__ import annotations

import pytest

from pytest_hepagent.data.schema import BRANCHES, MC_SAMPLES, SAMPLES, sample_by_name
from pytest_hepagent.errors import DataError

# Transcribed from the reference's table of the 2020 `mini` tree, independently of schema.py.
REFERENCE_BRANCHES = {
    "runNumber": "int32",
    "eventNumber": "int32",
    "channelNumber": "int32",
    "mcWeight": "float32",
    **{
        f"scaleFactor_{s}": "float32"
        for s in ("PILEUP", "ELE", "MUON", "PHOTON", "TAU", "BTAG", "LepTRIGGER", "PhotonTRIGGER")
    },
    "trigE": "bool",
    "trigM": "bool",
    "trigP": "bool",
    "lep_n": "uint32",
    "lep_truthMatched": "bool",
    "lep_trigMatched": "bool",
    "lep_isTightID": "bool",
    **{
        f"lep_{v}": "float32"
        for v in ("pt", "eta", "phi", "E", "z0", "ptcone30", "etcone20", "trackd0pvunbiased", "tracksigd0pvunbiased")
    },
    "lep_charge": "int32",
    "lep_type": "uint32",
    "met_et": "float32",
    "met_phi": "float32",
    "jet_n": "uint32",
    **{f"jet_{v}": "float32" for v in ("pt", "eta", "phi", "E", "jvt", "MV2c10")},
    "jet_trueflav": "int32",
    "jet_truthMatched": "bool",
    "photon_n": "uint32",
    "photon_truthMatched": "bool",
    "photon_trigMatched": "bool",
    "photon_isTightID": "bool",
    **{f"photon_{v}": "float32" for v in ("pt", "eta", "phi", "E", "ptcone30", "etcone20")},
    "photon_convType": "int32",
    "ditau_m": "float32",
    "met_et_syst": "float32",
    "XSection": "float32",
    "SumWeights": "float32",
}
JAGGED_PREFIXES = ("lep_", "jet_", "photon_", "tau_", "largeRjet_")


def test_every_reference_branch_is_in_the_schema_with_its_type() -> None:
    for name, dtype in REFERENCE_BRANCHES.items():
        assert name in BRANCHES, name
        assert str(BRANCHES[name].dtype) == dtype, name


def test_object_branches_are_jagged_and_counted() -> None:
    for name, branch in BRANCHES.items():
        counted = name.startswith(JAGGED_PREFIXES) and not name.endswith("_n")
        assert branch.jagged == counted, name
        if counted:
            assert f"{branch.collection}_n" in BRANCHES
    assert {"tau_pt", "largeRjet_pt", "photon_pt_syst", "jet_pt_syst", "lep_pt_syst", "tau_pt_syst"} <= set(BRANCHES)


def test_samples_carry_the_real_file_names_and_metadata() -> None:
    assert [s.relpath for s in SAMPLES[:4]] == [f"Data/data_{p}.GamGam.root" for p in "ABCD"]
    ggh = sample_by_name("mc_343981.ggH125_gamgam.GamGam.root")
    assert (ggh.dsid, ggh.generated_events, ggh.sum_weights, ggh.xsection_pb) == (
        343981,
        1_976_000,
        55_922_617.6297,
        0.102,
    )
    assert {s.dsid for s in MC_SAMPLES} == {343981, 345041, 345318, 345319, 341081}
    assert sample_by_name("signal_ttH").xsection_pb == pytest.approx(2.6433864e-6)


def test_unknown_sample_names_suggest_the_closest() -> None:
    with pytest.raises(DataError, match=r"did you mean 'signal_WH'"):
        sample_by_name("signal_WpH")
