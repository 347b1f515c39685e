"""Bad input gets one line that names the file, branch or key and what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import uproot

from pytest_hepagent.analysis.ntuple import convert_file
from pytest_hepagent.analysis.separation import resolve_backend
from pytest_hepagent.data import Dataset
from pytest_hepagent.data.files import open_tree
from pytest_hepagent.errors import DataError, HepAgentError, SpecError
from pytest_hepagent.specs import load_spec, load_specs


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        convert_file(tmp_path / "data_A.GamGam.root")
    assert _one_line(exc).startswith(f"{tmp_path / 'data_A.GamGam.root'}: file not found; generate")


def test_missing_file_in_a_data_folder(small_dataset: Dataset, tmp_path: Path) -> None:
    shutil.copytree(small_dataset.root, tmp_path / "data")
    (tmp_path / "data/MC/mc_345318.WpH125J_Wincl_gamgam.GamGam.root").unlink()
    with pytest.raises(DataError) as exc:
        Dataset(tmp_path / "data").check()
    assert "mc_345318.WpH125J_Wincl_gamgam.GamGam.root: file not found in data folder" in _one_line(exc)
    assert "hepagent download" in str(exc.value)


def test_missing_branch_names_the_branch_and_suggests(tmp_path: Path) -> None:
    path = tmp_path / "old.root"
    with uproot.recreate(path) as f:
        f.mktree("mini", {"photon_e": np.float32, "trigP": bool})
        f["mini"].extend({"photon_e": np.ones(3, np.float32), "trigP": np.ones(3, bool)})
    with pytest.raises(DataError) as exc:
        convert_file(path)
    message = _one_line(exc)
    assert "has no branch 'photon_pt'" in message and "2020 GamGam schema" in message


def test_wrong_tree_name_lists_the_trees(tmp_path: Path) -> None:
    path = tmp_path / "events.root"
    with uproot.recreate(path) as f:
        f.mktree("minitree", {"x": np.float64})
        f["minitree"].extend({"x": np.ones(3)})
    with pytest.raises(DataError) as exc:
        open_tree(path)
    message = _one_line(exc)
    assert "no TTree 'mini' (did you mean 'minitree'?) (trees found: 'minitree')" in message


def test_truncated_file(small_dataset: Dataset, tmp_path: Path) -> None:
    source = small_dataset.paths["data_A"]
    path = tmp_path / source.name
    path.write_bytes(source.read_bytes()[: source.stat().st_size // 3])
    with pytest.raises(DataError) as exc:
        convert_file(path)
    assert "truncated or corrupt" in _one_line(exc) and str(path) in str(exc.value)


def test_not_a_root_file(tmp_path: Path) -> None:
    path = tmp_path / "data_A.GamGam.root"
    path.write_text("<html>404</html>")
    with pytest.raises(DataError) as exc:
        open_tree(path)
    assert "not a readable ROOT file" in _one_line(exc)


def test_tabpfn_without_weights_says_what_to_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HEPAGENT_TABPFN_MODEL", raising=False)
    monkeypatch.setenv("TABPFN_MODEL_CACHE_DIR", str(tmp_path))
    with pytest.raises(HepAgentError, match="HEPAGENT_TABPFN_MODEL"):
        resolve_backend("tabpfn")
    assert resolve_backend("auto") == ("hgb", None)
    with pytest.raises(HepAgentError, match="unknown S-B backend 'xgb'"):
        resolve_backend("xgb")


def test_spec_errors_name_the_file_key_and_fix(tmp_path: Path) -> None:
    good = (Path(__file__).parents[1] / "task_specs/categorization.yaml").read_text()
    cases = {
        "rtoll": (
            good.replace("rtol: 1.0e-4", "rtoll: 1.0e-4"),
            "outputs.arrays/significances.npy.rtoll: unknown setting (did you mean 'rtol'?)",
        ),
        "negative": (good.replace("rtol: 1.0e-4", "rtol: -1"), "rtol: must be a non-negative number"),
        "order": (
            good.replace("atol: 0.0\n", "atol: 0.0\n    row_order: sorted\n"),
            "row_order: 'sorted' is not allowed",
        ),
        "version": (
            good.replace("schema_version: 1", "schema_version: 9"),
            "schema_version: version 9 is not supported",
        ),
        "yaml": (good + "  - [unclosed\n", "invalid YAML"),
        "key": (good.replace("timeout_s:", "timeout:"), "timeout: unknown key (did you mean 'timeout_s'?)"),
        "template": (good.replace("{{ inputs[0] }}", "{{ inputs[0] }"), "prompt: Jinja2 syntax error at template line"),
        "index": (
            good.replace("{{ inputs[3] }}", "{{ inputs[9] }}"),
            "prompt: the template uses something that is not there",
        ),
        "input": (
            good.replace("  - solution/arrays/bkgd.npy", "  - /etc/passwd"),
            "inputs: /etc/passwd: inputs live under data/ or solution/",
        ),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        with pytest.raises(SpecError) as exc:
            load_spec(path)
        message = _one_line(exc)
        assert message.startswith(str(path)), name
        assert expected in message, (name, message)


def test_the_step_list_read_at_start_up_is_the_specs() -> None:
    """steps.py reads each spec's step, index and title without YAML; load_specs reads the files in full."""
    from pytest_hepagent.steps import STEP_NAMES, STEPS

    specs = load_specs()
    assert (
        list(specs)
        == list(STEP_NAMES)
        == [
            "root_inspection",
            "ntuple_conversion",
            "preprocessing",
            "sb_separation",
            "categorization",
        ]
    )
    assert [(s.index, s.name, s.title) for s in STEPS] == [(s.index, s.step, s.title) for s in specs.values()]
    assert all(spec.outputs for spec in specs.values())


def test_the_step_list_follows_the_specs_folder(tmp_path: Path) -> None:
    from pytest_hepagent.steps import Step, read_steps

    (tmp_path / "b.yaml").write_text("schema_version: 1\nstep: second\nindex: 2\ntitle: 'The second'\n")
    (tmp_path / "a.yaml").write_text("step: first\nindex: 1\ntitle: First one\nprompt: |\n  title: not this\n")
    (tmp_path / "notes.yaml").write_text("just: notes\n")
    assert read_steps(tmp_path) == (Step(1, "first", "First one"), Step(2, "second", "The second"))
