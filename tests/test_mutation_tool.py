"""`mutation/run.py`: how mutants are counted, and the list of equivalent mutants kept honest."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_run", CHECKOUT / "mutation" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


DIFF = "--- m.py\n+++ m.py\n@@ -1,2 +1,2 @@\n def f(x):\n-    return x <= 1\n+    return x < 1\n"


def test_equivalents_are_their_own_count_and_out_of_the_score(tool: ModuleType) -> None:
    statuses = {"m.x_f__mutmut_1": "killed", "m.x_f__mutmut_2": "survived", "m.x_f__mutmut_3": "survived"}
    statuses |= {"m.x_f__mutmut_4": "timeout", "m.x_f__mutmut_5": "no tests", "m.x_f__mutmut_6": "skipped"}
    equivalent = {"m.x_f__mutmut_3": {"name": "m.x_f__mutmut_3", "line": "return x < 1", "reason": "x is never 1"}}
    module, problems = tool.tally("m.py", statuses, equivalent, lambda name: DIFF)
    assert problems == []
    assert module.status == {"killed": 1, "timeout": 1, "survived": 1, "equivalent": 1, "no tests": 1, "skipped": 1}
    assert (module.killed, module.scored) == (2, 4)  # killed + timeout of killed, survived, no tests
    assert module.survivors == ["m.x_f__mutmut_2 (survived)", "m.x_f__mutmut_5 (no tests)"]


def test_an_equivalent_entry_that_went_stale_or_is_killed_is_a_problem(tool: ModuleType) -> None:
    equivalent = {"m.x_f__mutmut_1": {"name": "m.x_f__mutmut_1", "line": "return x > 1", "reason": "?"}}
    module, problems = tool.tally("m.py", {"m.x_f__mutmut_1": "survived"}, equivalent, lambda name: DIFF)
    assert problems == ["m.x_f__mutmut_1 no longer produces `return x > 1`: look at it again"]
    assert module.status == {"survived": 1}  # not subtracted
    equivalent["m.x_f__mutmut_1"]["line"] = "return x < 1"
    _, problems = tool.tally("m.py", {"m.x_f__mutmut_1": "killed"}, equivalent, lambda name: DIFF)
    assert problems == ["m.x_f__mutmut_1 is listed as equivalent but a test kills it: remove the entry"]


def test_the_table_prints_the_score_per_module_and_in_all(tool: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = tool.tally("a.py", {f"a.f__mutmut_{i}": "killed" for i in range(9)} | {"a.f__mutmut_9": "survived"}, {}, str)
    b, _ = tool.tally("b.py", {"b.f__mutmut_1": "killed", "b.f__mutmut_2": "no tests"}, {}, str)
    total = tool.print_table([a, b], Path("/w"), show=1)
    assert total == pytest.approx(100 * 10 / 12)
    out = capsys.readouterr().out
    assert "a.py       10       9         1         0           0   90.0%" in out
    assert "b.py        2       1         0         1           0   50.0%" in out
    assert "all core modules       12      10         1         1           0   83.3%" in out
    assert "2 mutants not killed (see one: cd /w && mutmut show NAME):" in out
    assert "  ... and 1 more (--show 2)" in out


def test_the_shipped_equivalent_list_is_well_formed(tool: ModuleType) -> None:
    entries = tool.load_equivalents()
    assert all(e["reason"].strip() and e["line"].strip() for e in entries.values())
    assert all(name.count(".x_") == 1 and "__mutmut_" in name for name in entries)


def test_the_work_folder_must_be_outside_the_checkout(tool: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        tool.main(["--workdir", str(CHECKOUT / "mutants")])
    assert exc.value.code == 2
    assert "is inside the checkout; choose a folder outside it" in capsys.readouterr().err
