"""pytest start-up with the plugin loaded vs without it, on a run that selects no benchmark item.

Importing pytest_hepagent and its plugin must not import litellm, uproot or sklearn, so the two start the same.

    python benchmarks/bench_startup.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import best_of, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "test_nothing.py").write_text("def test_nothing():\n    pass\n")

        def run(*extra: str) -> None:
            subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, tmp],
                check=True,
                capture_output=True,
            )

        times = best_of(
            {
                "bare pytest (-p no:hepagent)": lambda: run("-p", "no:hepagent"),
                "pytest with the hepagent plugin": lambda: run(),
            },
            args.repeats,
        )
    report("pytest start-up", times, "bare pytest (-p no:hepagent)", "ratio close to 1.0")


if __name__ == "__main__":
    main()
