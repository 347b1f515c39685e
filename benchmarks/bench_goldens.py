"""Wall time of regenerating every golden output of the default dataset from scratch (target: under 60 s).

Generates the synthetic data into a temporary folder, runs the five reference steps, builds the manifest and
checks it against the committed one.

    python benchmarks/bench_goldens.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from pytest_hepagent.data import ensure_synthetic
from pytest_hepagent.golden import check_against, read_manifest, regenerate
from pytest_hepagent.resources import golden_dir


def main() -> None:
    backend = read_manifest(golden_dir())["sb_backend"]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        dataset = ensure_synthetic(Path(tmp) / "data")
        generated = time.perf_counter()
        result = regenerate(dataset, Path(tmp) / "solution", backend=backend)
        done = time.perf_counter()
    problems = check_against(result.manifest, golden_dir())
    print("== regenerate all goldens of the default dataset ==")
    print(f"  generate synthetic data   {generated - start:7.1f} s")
    for step, seconds in result.seconds.items():
        print(f"  {step:<25s} {seconds:7.1f} s")
    print(f"  manifest and hashes       {done - generated - sum(result.seconds.values()):7.1f} s")
    print(f"  total                     {done - start:7.1f} s   (target: under 60 s)")
    print("  manifest matches the committed one bit for bit" if not problems else f"  DIFFERS: {problems[0]}")


if __name__ == "__main__":
    main()
