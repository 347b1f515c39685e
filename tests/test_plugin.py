from __future__ import annotations

import pytest

from pytest_hepagent.data import Dataset


def test_options_are_in_the_hep_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*LLM-agent benchmark of the ATLAS H->yy analysis*", "*--hep-data=DIR*"])


def test_hep_data_selects_the_dataset(pytester: pytest.Pytester, small_dataset: Dataset) -> None:
    pytester.makepyfile(f"""
        def test_dataset(hepagent_dataset):
            assert str(hepagent_dataset.root) == {str(small_dataset.root)!r}
            assert hepagent_dataset.kind == "synthetic"
    """)
    pytester.runpytest(f"--hep-data={small_dataset.root}").assert_outcomes(passed=1)


def test_hep_data_from_the_ini_file(pytester: pytest.Pytester, small_dataset: Dataset) -> None:
    pytester.makeini(f"[pytest]\nhep_data = {small_dataset.root}\n")
    pytester.makepyfile("def test_dataset(hepagent_dataset):\n    assert hepagent_dataset.paths\n")
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_missing_data_folder_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_dataset(hepagent_dataset):\n    pass\n")
    result = pytester.runpytest("--hep-data=/no/such/folder")
    result.stderr.fnmatch_lines(["*--hep-data: /no/such/folder: data folder not found; create it with*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
