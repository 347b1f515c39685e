"""The mutation score of the core modules, with mutmut, run outside the repository.

    python mutation/run.py                 # every core module, from scratch (about 10 min on 2 cores)
    python mutation/run.py --survivors     # only the mutants that survived last time (after adding tests to the
                                           # selected files; changing the selection re-checks every mutant)
    python mutation/run.py --report        # the last run's table, without running anything

The core modules and the tests that may kill their mutants are `[tool.mutmut]` in pyproject.toml. This script copies
the checkout's tracked files into a work folder (`--workdir`, default `$HEPAGENT_CACHE/mutation`, never inside the
checkout), runs `mutmut run` there (its log: `mutmut.log` in that folder), subtracts the mutants listed as
equivalent in `mutation/equivalent.toml` (each with the line it produces and a one-line reason; an entry whose
mutant no longer produces that line is an error), prints the score per module and exits 1 below `--min-score`.
A surviving mutant is shown with `cd WORKDIR && mutmut show NAME`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = ROOT / "mutation" / "equivalent.toml"
KILLED = frozenset({"killed", "timeout", "caught by type check"})


@dataclass
class Module:
    path: str
    status: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=set)

    @property
    def scored(self) -> int:
        return sum(n for s, n in self.status.items() if s not in ("equivalent", "skipped"))

    @property
    def killed(self) -> int:
        return sum(n for s, n in self.status.items() if s in KILLED)

    @property
    def score(self) -> float:
        """Killed of the scored mutants, in %: 100 for a module with none."""
        return 100 * self.killed / self.scored if self.scored else 100.0


def default_workdir() -> Path:
    cache = Path(os.environ.get("HEPAGENT_CACHE", Path.home() / ".cache" / "pytest-hepagent"))
    return cache / "mutation"


def sync_checkout(workdir: Path) -> None:
    """The tracked files of the checkout (with uncommitted edits), copied over a previous copy."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = workdir / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def load_equivalents() -> dict[str, dict[str, str]]:
    """Mutant name -> {"line": the mutated line, "reason": why no test can tell it from the original}."""
    entries = tomllib.loads(EQUIVALENT.read_text()).get("mutant", []) if EQUIVALENT.is_file() else []
    by_name: dict[str, dict[str, str]] = {}
    for entry in entries:
        missing = {"name", "line", "reason"} - entry.keys()
        if missing:
            raise SystemExit(f"{EQUIVALENT}: an entry lacks {sorted(missing)}: {entry}; add them")
        by_name[entry["name"]] = entry
    return by_name


def mutated_lines(diff: str) -> list[str]:
    return [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]


def tally(
    path: str, statuses: dict[str, str], equivalents: dict[str, dict[str, str]], diff_of: Callable[[str], str]
) -> tuple[Module, list[str]]:
    """A module's mutants by status (mutmut's words), the listed equivalents moved to their own count; and the
    problems with the list: an entry whose mutant no longer makes its line, or that a test now kills."""
    module, problems = Module(path, names=set(statuses)), []
    for name, status in sorted(statuses.items()):
        entry = equivalents.get(name)
        if entry is not None:
            if entry["line"].strip() not in mutated_lines(diff_of(name)):
                problems.append(f"{name} no longer produces `{entry['line']}`: look at it again")
            elif status in KILLED:
                problems.append(f"{name} is listed as equivalent but a test kills it: remove the entry")
            else:
                status = "equivalent"
        module.status[status] += 1
        if status not in KILLED and status not in ("equivalent", "skipped"):
            module.survivors.append(f"{name} ({status})")
    return module, problems


def collect(workdir: Path) -> tuple[list[Module], list[str]]:
    """Per module, the statuses of its mutants (equivalents subtracted); and the problems with the equivalent list."""
    os.chdir(workdir)  # mutmut reads its configuration and results from the current folder
    sys.path.insert(0, str(workdir))
    from mutmut.__main__ import SourceFileMutationData, get_diff_for_mutant, walk_mutatable_files
    from mutmut.stats import status_by_exit_code

    equivalents = load_equivalents()
    problems: list[str] = []
    modules = []
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        statuses = {name: status_by_exit_code[code] for name, code in data.exit_code_by_key.items()}
        module, found = tally(str(path), statuses, equivalents, partial(get_diff_for_mutant, path=path))
        modules.append(module)
        problems += found
    known = {name for m in modules for name in m.names}
    problems += [
        f"{name} is listed as equivalent but is no mutant of the core modules" for name in equivalents.keys() - known
    ]
    return modules, problems


def _row(label: str, m: Module, width: int) -> str:
    survived = m.status["survived"] + m.status["suspicious"] + m.status["segfault"] + m.status["not checked"]
    return (
        f"{label:<{width}}  {sum(m.status.values()):>7}  {m.killed:>6}  {survived:>8}  "
        f"{m.status['no tests']:>8}  {m.status['equivalent']:>10}  {m.score:5.1f}%"
    )


def print_table(modules: list[Module], workdir: Path, show: int) -> float:
    width = max(len(m.path) for m in modules)
    print(f"{'module':<{width}}  mutants  killed  survived  no-tests  equivalent  score")
    for m in modules:
        print(_row(m.path, m, width))
    every = Module("all core modules", status=sum((m.status for m in modules), Counter[str]()))
    print(_row(every.path, every, width))
    survivors = [s for m in modules for s in m.survivors]
    if survivors:
        print(f"\n{len(survivors)} mutants not killed (see one: cd {workdir} && mutmut show NAME):")
        for s in survivors[:show]:
            print(f"  {s}")
        if len(survivors) > show:
            print(f"  ... and {len(survivors) - show} more (--show {len(survivors)})")
    return every.score


def survivor_names(workdir: Path) -> list[str]:
    modules, _ = collect(workdir)
    return [s.split(" ")[0] for m in modules for s in m.survivors]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=default_workdir(), help="where mutmut works (not the checkout)")
    parser.add_argument("--survivors", action="store_true", help="re-run only the mutants not killed last time")
    parser.add_argument("--report", action="store_true", help="print the last run's scores, run nothing")
    parser.add_argument("--min-score", type=float, default=90.0, help="exit 1 below this score in %% (default 90)")
    parser.add_argument("--show", type=int, default=40, help="how many surviving mutants to list (default 40)")
    args = parser.parse_args(argv)
    workdir: Path = args.workdir.resolve()
    if workdir == ROOT or ROOT in workdir.parents:
        parser.error(f"--workdir {workdir} is inside the checkout; choose a folder outside it")
    if (args.report or args.survivors) and not (workdir / "mutants").is_dir():
        parser.error(f"no mutation run in {workdir}: run without --report/--survivors first")
    if not args.report:
        names = []
        if args.survivors:
            names = survivor_names(workdir)
            os.chdir(ROOT)
        elif (workdir / "mutants").exists():
            shutil.rmtree(workdir / "mutants")
        sync_checkout(workdir)
        if args.survivors and not names:
            print("no surviving mutants to re-run")
        else:
            log = workdir / "mutmut.log"
            print(f"mutmut run in {workdir} (log: {log}) ...", flush=True)
            with log.open("w") as out:
                done = subprocess.run(
                    [str(Path(sys.executable).with_name("mutmut")), "run", *names],
                    cwd=workdir,
                    check=False,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
                )
            if done.returncode != 0:
                print(f"mutmut failed (exit {done.returncode}); the end of {log}:", file=sys.stderr)
                print("\n".join(log.read_text(errors="replace").splitlines()[-20:]), file=sys.stderr)
                return 2
    modules, problems = collect(workdir)
    total = print_table(modules, workdir, args.show)
    for problem in problems:
        print(f"{EQUIVALENT.relative_to(ROOT)}: {problem}", file=sys.stderr)
    return 0 if total >= args.min_score and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
