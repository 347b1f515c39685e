"""The package layout stays a layered one: no import cycle, no private name across packages, every stored record
read through the records module. Read from the source with `ast`, so lazy imports inside functions count too."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pytest_hepagent", "error_classifier")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under `if TYPE_CHECKING:`: annotations, not a dependency at run time."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            lines |= {n.lineno for child in node.body for n in ast.walk(child) if isinstance(n, ast.stmt)}
    return lines


def _owner(name: str) -> str | None:
    """The project module an imported name lives in (a module, or the module defining the name)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> Iterator[tuple[str, str, int]]:
    """(imported module, imported name or '', line) of every project import in `module`, at any depth."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_only(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (target := _owner(alias.name)) is not None:
                    yield target, "", node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                target = _owner(full if full in MODULES else base)
                if target is not None:
                    yield target, "" if full in MODULES else alias.name, node.lineno


def _unit(module: str) -> str:
    """The unit of the layering: a sub-package of pytest_hepagent, a top-level module, or error_classifier."""
    parts = module.split(".")
    if parts[0] == "error_classifier":
        return "error_classifier"
    if len(parts) > 1 and (ROOT / parts[0] / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _graph(unit: bool) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module in MODULES:
        for target, _, _ in _imports(module):
            a, b = (_unit(module), _unit(target)) if unit else (module, target)
            if a != b:
                edges.setdefault(a, set()).add(b)
    return edges


def test_the_graph_is_read_from_the_source() -> None:
    edges = _graph(unit=False)
    assert "pytest_hepagent.records" in edges["pytest_hepagent.matrix.cells"]
    assert "pytest_hepagent.records.store" in edges["pytest_hepagent.records"]
    assert "pytest_hepagent.records" in edges["error_classifier.rules"]
    assert len(MODULES) > 100


@pytest.mark.parametrize("unit", [False, True], ids=["modules", "packages"])
def test_no_import_cycle(unit: bool) -> None:
    assert _cycles(_graph(unit)) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_private_name_is_imported_from_another_package() -> None:
    crossing = []
    for module in MODULES:
        for target, name, line in _imports(module):
            if name.startswith("_") and not name.startswith("__") and _unit(target) != _unit(module):
                crossing.append(f"{MODULES[module].relative_to(ROOT)}:{line}: {name} from {target}")
    assert crossing == []


def test_the_engine_and_the_classifier_do_not_import_pytest() -> None:
    """Only the plugin modules (and pytest-html's hooks) may: the engine runs under Snakemake and on its own."""
    allowed = {
        "pytest_hepagent.plugin",
        "pytest_hepagent.plugin_session",
        "pytest_hepagent.plugin_xdist",
        "pytest_hepagent.report.pytest_html",
        "pytest_hepagent.items.test_hepagent_benchmark",
    }
    importing = []
    for module, path in MODULES.items():
        if re.search(r"^\s*(import pytest|from pytest import|from _pytest)", path.read_text(), re.MULTILINE):
            importing.append(module)
    assert sorted(set(importing) - allowed) == []


def test_the_classifier_depends_on_no_runner() -> None:
    """error_classifier is given its trials; the runner (bench, plugin) calls it through an injected function."""
    runners = {"pytest_hepagent.matrix", "pytest_hepagent.plugin", "pytest_hepagent.plugin_session"}
    runners |= {"pytest_hepagent.report", "pytest_hepagent.cli", "pytest_hepagent.trial"}
    tools = {"error_classifier.calibrate", "error_classifier.commands"}  # run trials / print Table I: on top
    wrong = [
        f"{module} imports {target}"
        for module in MODULES
        if _unit(module) == "error_classifier" and module not in tools and module != "error_classifier.__main__"
        for target, _, _ in _imports(module)
        if _unit(target) in runners
    ]
    assert wrong == []
    engine = [m for m in MODULES if m.startswith(("pytest_hepagent.matrix", "pytest_hepagent.report"))]
    assert not [m for m in engine for target, _, _ in _imports(m) if target.startswith("error_classifier")]


def test_stored_records_are_parsed_only_by_the_records_module() -> None:
    """No other module parses JSON read from a run folder or a trial's logs: they ask `pytest_hepagent.records`.

    The JSON parsers left elsewhere read other things: the sandbox's side channel and the code's own outputs
    (bounded, hostile), the data cache, the workflow's prepared settings and run settings."""
    allowed = {
        "pytest_hepagent.records.store",
        "pytest_hepagent.sandbox.runner",  # the harness's side channel from inside the sandbox
        "pytest_hepagent.sandbox.untrusted",  # the code's JSON outputs, bounded
        "pytest_hepagent.data.dataset",  # the dataset's hash cache
        "pytest_hepagent.workflow.commands",  # prepared.json: the matrix's settings
        "pytest_hepagent.report.run",  # config.json: the run's settings as it started
        "pytest_hepagent.compare.summary",  # the golden inspection summary, a reference output
        "pytest_hepagent.golden.manifest",  # the golden manifest: hashes, shapes and dtypes of reference outputs
        "pytest_hepagent.audit.suite",  # the audit child's report to its parent
    }
    parsing = [m for m, path in MODULES.items() if re.search(r"json\.loads?\(", path.read_text())]
    assert sorted(set(parsing) - allowed) == []
