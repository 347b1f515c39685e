"""Mutants of the reference scripts: answers a model plausibly writes, each an edit of the oracle's script.

- `wrong`: a mistake (units, cuts, weights, windows, the boundary search, the significance bookkeeping): the ruler
  must fail it (the mutant is killed).
- `valid`: another right answer (float32 where the prompt allows it, another row order, another formula of the
  same quantity): the ruler must pass it.
- `equivalent`: written like a mistake, but it changes no output on this data; kept with the reason, because a
  mutant that survives must be explained, not hidden.

An edit replaces one exact text of the script (which must occur once) by another.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KINDS", "MUTANTS", "Mutant"]

KINDS = ("wrong", "valid", "equivalent")


@dataclass(frozen=True)
class Mutant:
    step: str
    name: str
    kind: str
    """wrong (must fail), valid (must pass) or equivalent (passes: changes no output here; `why` says so)."""
    edits: tuple[tuple[str, str], ...]
    why: str = ""


def _m(step: str, name: str, kind: str, *edits: tuple[str, str], why: str = "") -> Mutant:
    return Mutant(step, name, kind, edits, why)


MUTANTS: tuple[Mutant, ...] = (
    # ------------------------------------------------------------------------------------------ step 1: inspection
    _m("root_inspection", "entries-off-by-one", "wrong", ('"entries": int(obj.num_entries)', '"entries": int(obj.num_entries) - 1')),
    _m("root_inspection", "data-files-only", "wrong", ("(summarize_file(p) for p in args.input_files)", '(summarize_file(p) for p in args.input_files if "Data" in p)')),
    _m("root_inspection", "interpretation-for-type", "wrong", ('"type": c.typename', '"type": str(c.interpretation)')),
    _m("root_inspection", "full-path-for-name", "wrong", ('return {"file": Path(path).name, "trees": trees}', 'return {"file": str(path), "trees": trees}')),
    _m("root_inspection", "branches-sorted", "valid", ('"branches": [{"name": c.name, "type": c.typename} for c in columns]', '"branches": sorted(({"name": c.name, "type": c.typename} for c in columns), key=lambda b: b["name"])')),
    _m("root_inspection", "files-unsorted", "valid", ('summary = {"files": sorted((summarize_file(p) for p in args.input_files), key=lambda f: f["file"])}', 'summary = {"files": [summarize_file(p) for p in reversed(args.input_files)]}')),
    # ------------------------------------------------------------------------------------------ step 2: conversion
    _m("ntuple_conversion", "gev-not-mev", "wrong", ("    array = np.column_stack(columns)\n", "    array = np.column_stack(columns)\n    array[:, [0, 3, 6, 9]] /= 1000.0\n")),
    _m("ntuple_conversion", "zero-for-missing", "wrong", ("column = np.full(counts.size, np.nan)", "column = np.zeros(counts.size)")),
    _m("ntuple_conversion", "last-not-leading", "wrong", ("column[present] = content[starts[present] + k]", "column[present] = content[starts[present] + counts[present] - 1 - k]")),
    _m("ntuple_conversion", "met-columns-swapped", "wrong", ('    "met_et",\n    "met_phi",\n', '    "met_phi",\n    "met_et",\n')),
    _m("ntuple_conversion", "float32-array", "valid", ("np.save(target, array)", "np.save(target, array.astype(np.float32))")),
    _m("ntuple_conversion", "pad-none", "valid", ('''    counts = ak.to_numpy(ak.num(values, axis=1))
    content = np.asarray(ak.to_numpy(ak.flatten(values, axis=1)), dtype=np.float64)
    starts = np.cumsum(counts) - counts
    columns = []
    for k in range(n):
        column = np.full(counts.size, np.nan)
        present = counts > k
        column[present] = content[starts[present] + k]
        columns.append(column)
    return columns''', '''    padded = ak.fill_none(ak.pad_none(values, n, axis=1, clip=True), np.nan)
    table = np.asarray(ak.to_numpy(padded), dtype=np.float64)
    return [table[:, k] for k in range(n)]''')),
    # ------------------------------------------------------------------------------------------ step 3: preprocessing
    _m("preprocessing", "no-isolation", "wrong", ("return m_yy, passed, tight & isolated", "return m_yy, passed, tight")),
    _m("preprocessing", "crack-kept", "wrong", ("((eta < 2.37) & ~((eta >= 1.37) & (eta <= 1.52))).all(axis=1)", "(eta < 2.37).all(axis=1)")),
    _m("preprocessing", "pt-cut-20", "equivalent", ("(pt > 25.0).all(axis=1)", "(pt > 20.0).all(axis=1)"), why="the pT/m_yy cuts already require pT2 > 0.25 m_yy > 26.25 GeV inside the mass window: on these samples the 25 GeV cut decides no event, so 20 GeV selects the same ones (a looser photon cut would need events failing only it)"),
    _m("preprocessing", "lumi-in-fb", "wrong", ("LUMI_PB = 10064.0", "LUMI_PB = 10.064")),
    _m("preprocessing", "no-sumweights", "wrong", ("        * LUMI_PB\n        / r[:, SUM_WEIGHTS]\n", "        * LUMI_PB\n")),
    _m("preprocessing", "sf2-window-10-gev", "wrong", ("window = inside(m_yy, 123.0, 127.0)", "window = inside(m_yy, 120.0, 130.0)")),
    _m("preprocessing", "sidebands-include-window", "wrong", ("sidebands = inside(m_yy, 105.0, 120.0) | inside(m_yy, 130.0, 160.0)", "sidebands = inside(m_yy, 105.0, 160.0)")),
    _m("preprocessing", "ti-as-background", "wrong", ("keep = nti & sidebands", "keep = ti & sidebands")),
    _m("preprocessing", "dphi-not-wrapped", "wrong", ("dphi = (raw[:, PHI1] - raw[:, PHI2] + np.pi) % (2.0 * np.pi) - np.pi", "dphi = raw[:, PHI1] - raw[:, PHI2]")),
    _m("preprocessing", "train-weight-not-normalized", "wrong", ("signal = np.column_stack([signal, signal[:, 6] / signal[:, 6].sum()])", "signal = np.column_stack([signal, signal[:, 6]])")),
    _m("preprocessing", "pt-over-m-in-mev", "wrong", ("raw[:, PT1] / 1000.0 / m_yy, raw[:, PT2] / 1000.0 / m_yy", "raw[:, PT1] / m_yy, raw[:, PT2] / m_yy")),
    _m("preprocessing", "pt-cut-inclusive", "equivalent", ("(pt > 25.0).all(axis=1)", "(pt >= 25.0).all(axis=1)"), why="no photon of the samples has pT of exactly 25 GeV, and the pT/m_yy cuts decide before it anyway: the same events"),
    _m("preprocessing", "mass-window-inclusive", "equivalent", ("& (m_yy > 105.0)\n            & (m_yy < 160.0)", "& (m_yy >= 105.0)\n            & (m_yy <= 160.0)"), why="no event has m_yy exactly at 105 or 160 GeV in float64: both windows hold the same events"),
    _m("preprocessing", "float32-intermediates", "valid", ('raws = {Path(p).name.removesuffix("_raw.npy"): np.load(p) for p in args.input_files}', 'raws = {Path(p).name.removesuffix("_raw.npy"): np.load(p).astype(np.float32) for p in args.input_files}'), ("np.save(signal_path, signal)", "np.save(signal_path, signal.astype(np.float64))"), ("np.save(bkgd_path, bkgd)", "np.save(bkgd_path, bkgd.astype(np.float64))")),
    _m("preprocessing", "rows-shuffled", "valid", ("np.save(signal_path, signal)", "np.save(signal_path, signal[np.random.default_rng(1).permutation(len(signal))])"), ("np.save(bkgd_path, bkgd)", "np.save(bkgd_path, bkgd[::-1])")),
    _m("preprocessing", "four-vector-mass", "valid", ('''    m_yy = (
        np.sqrt(
            2.0
            * raw[:, PT1]
            * raw[:, PT2]
            * (np.cosh(raw[:, ETA1] - raw[:, ETA2]) - np.cos(raw[:, PHI1] - raw[:, PHI2]))
        )
        / 1000.0
    )''', '''    px = raw[:, PT1] * np.cos(raw[:, PHI1]) + raw[:, PT2] * np.cos(raw[:, PHI2])
    py = raw[:, PT1] * np.sin(raw[:, PHI1]) + raw[:, PT2] * np.sin(raw[:, PHI2])
    pz = raw[:, PT1] * np.sinh(raw[:, ETA1]) + raw[:, PT2] * np.sinh(raw[:, ETA2])
    e = raw[:, PT1] * np.cosh(raw[:, ETA1]) + raw[:, PT2] * np.cosh(raw[:, ETA2])
    m_yy = np.sqrt(np.maximum(e * e - px * px - py * py - pz * pz, 0.0)) / 1000.0''')),
    # ------------------------------------------------------------------------------------------ step 4: separation
    _m("sb_separation", "outputs-swapped", "wrong", ("signal_path, bkgd_path = args.output_files", "bkgd_path, signal_path = args.output_files")),
    _m("sb_separation", "one-minus-score", "wrong", ("np.save(signal_path, scores.signal)", "np.save(signal_path, 1.0 - scores.signal)")),
    _m("sb_separation", "scores-sorted", "wrong", ("np.save(bkgd_path, scores.background)", "np.save(bkgd_path, np.sort(scores.background))")),
    _m("sb_separation", "classes-swapped", "wrong", ("scores = train_and_score(signal, bkgd)", "scores = train_and_score(bkgd, signal)")),
    _m("sb_separation", "float32-scores", "valid", ("np.save(signal_path, scores.signal)", "np.save(signal_path, scores.signal.astype(np.float32))")),
    # ------------------------------------------------------------------------------------------ step 5: categorization
    _m("categorization", "100-bins", "wrong", ("place_boundary(signal_df, bkgd_df, boundaries, 1000, 10)", "place_boundary(signal_df, bkgd_df, boundaries, 100, 10)")),
    _m("categorization", "threshold-10-percent", "wrong", ("if (new_z - old_z) / old_z < 0.05:", "if (new_z - old_z) / old_z < 0.10:")),
    _m("categorization", "last-boundary-dropped", "wrong", ("    if (new_z - old_z) / old_z < 0.05:\n        break", "    if (new_z - old_z) / old_z < 0.05:\n        boundaries.remove(new_boundary)\n        significances.pop()\n        break")),
    _m("categorization", "no-null-significance", "wrong", ("significances = [get_significance(signal_df, bkgd_df, boundaries)]\n", "significances = []\n"), ("old_z = significances[-1]", "old_z = significances[-1] if significances else get_significance(signal_df, bkgd_df, [0.0, 1.0])")),
    _m("categorization", "min-events-zero", "equivalent", ("place_boundary(signal_df, bkgd_df, boundaries, 1000, 10)", "place_boundary(signal_df, bkgd_df, boundaries, 1000, 0)"), why="the boundaries that maximize the significance here leave far more than 10 signal and background events in every category: the min_events bound never binds on this data"),
    _m("categorization", "gain-against-null", "wrong", ("if (new_z - old_z) / old_z < 0.05:", "if (new_z - significances[0]) / significances[0] < 0.05:")),
    _m("categorization", "boundaries-unsorted", "wrong", ("boundaries = sorted([*boundaries, new_boundary])", "boundaries = [*boundaries, new_boundary]")),
    _m("categorization", "float32-outputs", "valid", ("np.save(boundaries_path, np.array(boundaries))", "np.save(boundaries_path, np.array(boundaries, dtype=np.float32))"), ("np.save(significances_path, np.array(significances))", "np.save(significances_path, np.array(significances, dtype=np.float32))")),
)  # fmt: skip
