from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from pytest_hepagent.data import Dataset, GeneratorConfig, ensure_synthetic
from pytest_hepagent.data.dataset import file_content_hash
from pytest_hepagent.data.generate import generate
from pytest_hepagent.data.schema import BRANCHES, LUMI_PB, TREE_NAME, sample_by_name
from pytest_hepagent.errors import DataError

TINY = GeneratorConfig(seed=11, mc_scale=0.02, data_scale=0.005)


def test_files_have_the_real_names_tree_and_every_branch(small_dataset: Dataset) -> None:
    for sample_name, path in small_dataset.paths.items():
        assert path.name == sample_by_name(sample_name).filename
        tree = uproot.open(path)[TREE_NAME]
        assert set(tree.keys()) == set(BRANCHES)
        arrays = tree.arrays(library="ak")
        for name, branch in BRANCHES.items():
            values = arrays[name]
            if branch.jagged:
                counter = arrays[f"{branch.collection}_n"]
                assert ak.all(ak.num(values) == counter), name
                values = ak.flatten(values)
            # counters are written as int32 by uproot (see schema.py); every other type is the real one
            if not name.endswith("_n"):
                assert ak.to_numpy(values).dtype == branch.dtype, name


def test_momenta_are_in_mev_and_photons_are_pt_ordered(small_dataset: Dataset) -> None:
    photons = uproot.open(small_dataset.path(sample_by_name("signal_ggH")))[TREE_NAME]["photon_pt"].array()
    assert ak.all(ak.num(photons) >= 2)  # the GamGam skim
    assert float(np.median(ak.to_numpy(photons[:, 0]))) > 25_000.0
    assert ak.all(photons[:, :-1] >= photons[:, 1:])


def test_generation_is_deterministic_and_seeded(tmp_path: Path) -> None:
    sample = [sample_by_name("data_A")]
    first = generate(tmp_path / "a", TINY, sample)[0]
    again = generate(tmp_path / "b", TINY, sample)[0]
    other = generate(tmp_path / "c", GeneratorConfig(seed=12, mc_scale=0.02, data_scale=0.005), sample)[0]
    assert file_content_hash(first) == file_content_hash(again)
    assert file_content_hash(first) != file_content_hash(other)


def test_size_knobs_scale_the_event_counts(small_dataset: Dataset, tmp_path: Path) -> None:
    bigger = generate(tmp_path, GeneratorConfig(seed=7, mc_scale=0.1, data_scale=0.02), [sample_by_name("signal_ggH")])[
        0
    ]
    n_small = uproot.open(small_dataset.path(sample_by_name("signal_ggH")))[TREE_NAME].num_entries
    n_big = uproot.open(bigger)[TREE_NAME].num_entries
    assert n_big == pytest.approx(2 * n_small, rel=0.1)


def test_mc_weight_formula_gives_physical_yields(small_dataset: Dataset) -> None:
    """Sum of weights over the skimmed events is XSection x L times the skim efficiency (O(60-80%))."""
    for name in ("signal_ggH", "signal_VBF"):
        sample = sample_by_name(name)
        t = uproot.open(small_dataset.path(sample))[TREE_NAME].arrays(library="np")
        w = (
            t["mcWeight"]
            * t["scaleFactor_PHOTON"]
            * t["scaleFactor_PhotonTRIGGER"]
            * t["scaleFactor_PILEUP"]
            * t["XSection"].astype(np.float64)
            * LUMI_PB
            / t["SumWeights"]
        )
        assert np.all(t["XSection"] == np.float32(sample.xsection_pb))
        assert 0.5 < w.sum() / (sample.xsection_pb * LUMI_PB) < 0.9
        assert t["mcWeight"].mean() == pytest.approx(sample.mean_mc_weight, rel=0.05)


def test_data_files_carry_no_mc_weight(small_dataset: Dataset) -> None:
    t = uproot.open(small_dataset.path(sample_by_name("data_B")))[TREE_NAME].arrays(
        ["mcWeight", "XSection", "SumWeights", "scaleFactor_PILEUP", "photon_truthMatched", "runNumber"], library="ak"
    )
    for name in ("mcWeight", "XSection", "SumWeights", "scaleFactor_PILEUP"):
        assert ak.all(t[name] == 0), name
    assert not ak.any(t["photon_truthMatched"])
    assert ak.all((t["runNumber"] >= 300345) & (t["runNumber"] <= 300908))


def test_ensure_synthetic_reuses_a_matching_folder(small_dataset: Dataset) -> None:
    before = {p: p.stat().st_mtime_ns for p in small_dataset.paths.values()}
    again = ensure_synthetic(small_dataset.root, GeneratorConfig(seed=7, mc_scale=0.05, data_scale=0.02))
    assert {p: p.stat().st_mtime_ns for p in again.paths.values()} == before
    assert again.kind == "synthetic"


def test_ensure_synthetic_refuses_a_folder_of_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match=r"is not a synthetic dataset; choose an empty or new folder"):
        ensure_synthetic(tmp_path, TINY)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_real_data_layouts_are_found_flat_or_nested(small_dataset: Dataset, tmp_path: Path) -> None:
    for path in small_dataset.paths.values():
        (tmp_path / path.name).symlink_to(path)
    flat = Dataset(tmp_path).check()
    assert flat.kind == "real"
    assert flat.content_hash() == small_dataset.content_hash()


def test_bad_generator_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        GeneratorConfig(mc_scale=0)
