"""Import cost of the plugin: pytest start-up with it vs without it, and what a benchmark worker imports.

Importing pytest_hepagent and its plugin must not import litellm, uproot or sklearn, so the two start the same.
With `--against REV` the same measurements run, interleaved, on a checkout of an earlier revision (a temporary
git worktree put first on PYTHONPATH), so a change's cost is read side by side in one run.

The worker's imports are timed from 0 to 3 levels of module nesting and averaged: on CPython 3.11 the same imports
cost up to ~25 ms more or less depending on how deep in the stack numpy's import runs (seen in both revisions, at
different depths), which would otherwise decide the comparison.



    python benchmarks/bench_startup.py [--repeats 10] [--against 07e7077]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from _timing import best_of, report

ROOT = Path(__file__).resolve().parents[1]


def worker_imports(tree: Path) -> str:
    """What a pytest-xdist worker of a benchmark run imports before its first trial: the plugin, the session, and the
    engine that runs and records a trial (`matrix/`, `bench/` in revisions before the rename)."""
    engine = "matrix" if (tree / "pytest_hepagent" / "matrix").is_dir() else "bench"
    return (
        "import pytest, pytest_hepagent.plugin, pytest_hepagent.plugin_session, "
        f"pytest_hepagent.{engine}.execute, pytest_hepagent.{engine}.cells"
    )


DEPTHS = 4


def _wrappers(folder: Path, tree: Path) -> None:
    """`hepagent_depth0` does the worker's imports; `hepagent_depthN` imports `hepagent_depth{N-1}`."""
    folder.mkdir()
    (folder / "hepagent_depth0.py").write_text(worker_imports(tree) + "\n")
    for depth in range(1, DEPTHS):
        (folder / f"hepagent_depth{depth}.py").write_text(f"import hepagent_depth{depth - 1}\n")


def _runner(tree: Path | None, tests: Path, wrappers: Path) -> dict[str, Callable[[], None]]:
    env = dict(os.environ)
    # Python's default, as a user runs it: bytecode cached (with PYTHONDONTWRITEBYTECODE every start recompiles)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    first = [str(tree)] if tree is not None else []
    env["PYTHONPATH"] = os.pathsep.join([*first, str(wrappers), *filter(None, [env.get("PYTHONPATH")])])

    def pytest_run(*extra: str) -> Callable[[], None]:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, str(tests)]
        return lambda: subprocess.run(command, check=True, capture_output=True, env=env, cwd=tests)

    def worker(depth: int) -> Callable[[], None]:
        command = [sys.executable, "-c", f"import hepagent_depth{depth}"]
        return lambda: subprocess.run(command, check=True, env=env, cwd=tests)

    runs = {"plugin": pytest_run(), "bare": pytest_run("-p", "no:hepagent")}
    return runs | {f"worker{d}": worker(d) for d in range(DEPTHS)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--against", default=None, metavar="REV", help="Also time this git revision, interleaved")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tests = Path(tmp) / "tests"
        tests.mkdir()
        (tests / "test_nothing.py").write_text("def test_nothing():\n    pass\n")

        trees: dict[str, Path | None] = {"this tree": None}
        if args.against:
            old = Path(tmp) / "old"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.against], check=True,
                           capture_output=True)  # fmt: skip
            trees[args.against] = old
        try:
            runs = {}
            for n, (name, tree) in enumerate(trees.items()):
                _wrappers(Path(tmp) / f"wrappers{n}", tree or ROOT)
                runs[name] = _runner(tree, tests, Path(tmp) / f"wrappers{n}")
            functions = {"bare pytest (-p no:hepagent)": runs["this tree"]["bare"]}
            for name, run in runs.items():
                functions[f"pytest with the plugin, {name}"] = run["plugin"]
                functions |= {f"worker imports at depth {d}, {name}": run[f"worker{d}"] for d in range(DEPTHS)}
            times = best_of(functions, args.repeats)
            for name in runs:
                depths = [times[f"worker imports at depth {d}, {name}"] for d in range(DEPTHS)]
                times[f"worker imports (mean over depths), {name}"] = sum(depths) / DEPTHS
        finally:
            if args.against:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(trees[args.against])],
                               check=False, capture_output=True)  # fmt: skip
    report("pytest start-up", times, "bare pytest (-p no:hepagent)", "plugin ratio close to 1.0")
    if args.against:
        for what in ("pytest with the plugin", "worker imports (mean over depths)"):
            new, old = times[f"{what}, this tree"], times[f"{what}, {args.against}"]
            print(f"  {what}: this tree / {args.against} = {new / old:.3f} (target: at most 1.05)")


if __name__ == "__main__":
    main()
