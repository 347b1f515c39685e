"""Steps 2+3 (ntuple conversion and preselection): vectorized vs per-event Python loops, on the same events.

Every variant reads the same branches of the same file with uproot and produces the same step-2 rows and
preselection mask (checked before timing). The loops walk the events one at a time in Python:

- `loop over awkward records`: `for event in events: event["photon_pt"] ...`, the way an event loop written for
  PyROOT is usually ported. It is slow, so it runs once, on --record-sample (data_A, about 30k events).
- `loop over Python lists`: the branches first turned into lists (`.to_list()`), the fastest pure-Python loop;
  it runs on --sample (data_C, about 110k events).

Target: vectorized >= 100x faster than a per-event Python loop.

    python benchmarks/bench_conversion.py [--sample data_C] [--record-sample data_A] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from _timing import best_of, report

from pytest_hepagent.analysis.ntuple import _EVENT, _OBJECTS, _PHOTON_ID, BRANCHES, events_to_array
from pytest_hepagent.analysis.selection import preselect
from pytest_hepagent.data import ensure_synthetic
from pytest_hepagent.data.files import read_branches
from pytest_hepagent.data.schema import sample_by_name

NAN = float("nan")


def _row_and_cut(get: Callable[[str], Any]) -> tuple[list[float], bool]:
    """One event: the step-2 row and the preselection, with `get(branch)` returning that event's value."""
    row: list[float] = []
    for obj, k in _OBJECTS:
        values = [get(f"{obj}_{var}") for var in ("pt", "eta", "phi")]
        for j in range(k):
            row += [float(v[j]) if j < len(v) else NAN for v in values]
    row += [float(get(name)) for name in _EVENT]
    for var in _PHOTON_ID:
        v = get(f"photon_{var}")
        row += [float(v[j]) if j < len(v) else NAN for j in range(2)]
    row.append(float(get("trigP")))
    pt1, eta1, phi1, pt2, eta2, phi2 = row[0:6]
    ok = row[-1] == 1.0 and not (math.isnan(pt1) or math.isnan(pt2))
    if ok:
        m = math.sqrt(2 * pt1 * pt2 * (math.cosh(eta1 - eta2) - math.cos(phi1 - phi2))) / 1000
        ok = pt1 > 25000 and pt2 > 25000 and pt1 / 1000 / m > 0.35 and pt2 / 1000 / m > 0.25 and 105 < m < 160
        for eta in (eta1, eta2):
            ok = ok and abs(eta) < 2.37 and not (1.37 <= abs(eta) <= 1.52)
    return row, ok


def loop_records(path: str, stop: int | None) -> tuple[list[list[float]], list[bool]]:
    rows, passed = [], []
    for event in read_branches(path, BRANCHES, entry_stop=stop):
        row, ok = _row_and_cut(event.__getitem__)
        rows.append(row)
        passed.append(ok)
    return rows, passed


def loop_lists(path: str, stop: int | None) -> tuple[list[list[float]], list[bool]]:
    events = read_branches(path, BRANCHES, entry_stop=stop)
    columns = {name: events[name].to_list() for name in BRANCHES}
    rows, passed = [], []
    for i in range(len(columns["trigP"])):
        row, ok = _row_and_cut(lambda name, i=i: columns[name][i])
        rows.append(row)
        passed.append(ok)
    return rows, passed


def vectorized(path: str, stop: int | None) -> tuple[np.ndarray, np.ndarray]:
    raw = events_to_array(read_branches(path, BRANCHES, entry_stop=stop))
    return raw, preselect(raw).passed


def _check(name: str, result: tuple[Sequence[Any], Sequence[bool]], expected: tuple[np.ndarray, np.ndarray]) -> None:
    np.testing.assert_array_equal(np.array(result[0]), expected[0], err_msg=name)
    np.testing.assert_array_equal(np.array(result[1]), expected[1], err_msg=name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", default="data_C")
    parser.add_argument("--record-sample", default="data_A")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    dataset = ensure_synthetic()
    path = str(dataset.path(sample_by_name(args.sample)))
    record_path = str(dataset.path(sample_by_name(args.record_sample)))

    full = vectorized(path, None)
    _check("list loop", loop_lists(path, None), full)
    small = vectorized(record_path, None)
    _check("record loop", loop_records(record_path, None), small)
    for name, (raw, mask) in ((args.record_sample, small), (args.sample, full)):
        print(f"{name}: {raw.shape[0]} events ({int(mask.sum())} preselected); every version gives the same rows")

    times = best_of(
        {
            "loop over awkward records": lambda: loop_records(record_path, None),
            "vectorized (events_to_array + preselect)": lambda: vectorized(record_path, None),
        },
        args.repeats,
        {"loop over awkward records": 1},
    )
    report(
        f"conversion + selection, {args.record_sample}",
        times,
        "loop over awkward records",
        ">= 100x faster than a per-event Python loop",
    )
    times = best_of(
        {
            "loop over Python lists": lambda: loop_lists(path, None),
            "vectorized (events_to_array + preselect)": lambda: vectorized(path, None),
        },
        args.repeats,
        {"loop over Python lists": 2},
    )
    report(
        f"conversion + selection, {args.sample}",
        times,
        "loop over Python lists",
        "none (reported beside the target: both sides include the same uproot read and decompression)",
    )


if __name__ == "__main__":
    main()
