"""Command line: `python -m error_classifier calibrate` and `python -m error_classifier reports/<run-id>`.

python -m error_classifier calibrate [--judge-model M | --no-judge] [--record-judge DIR]
python -m error_classifier reports/<run-id> [--judge-model M] [--judge-cassettes DIR]
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _calibrate(argv: Sequence[str]) -> int:
    from error_classifier.calibrate import JUDGE_CASSETTES, REPLAY, calibrate

    parser = argparse.ArgumentParser(
        prog="python -m error_classifier calibrate",
        description="Run the rules and the judge over the labelled failure cassettes; print confusion matrices.",
    )
    parser.add_argument("--cassettes", type=Path, default=None, help="Labelled failure cassettes (default: shipped)")
    judge = parser.add_mutually_exclusive_group()
    judge.add_argument("--judge-model", default=REPLAY, help=f"Judge model (default: {REPLAY} of --judge-cassettes)")
    judge.add_argument("--no-judge", action="store_true", help="Calibrate the rules only")
    parser.add_argument("--judge-cassettes", type=Path, default=JUDGE_CASSETTES, help="Judge answers to replay")
    parser.add_argument("--record-judge", type=Path, default=None, help="Save a live judge's answers as cassettes")
    parser.add_argument("--api-base", default=None, help="OpenAI-compatible server for an openai/<name> judge")
    args = parser.parse_args(argv)
    _check_judge(parser, None if args.no_judge else args.judge_model)
    calibration = calibrate(
        args.cassettes,
        judge_model=None if args.no_judge else args.judge_model,
        judge_cassettes=args.judge_cassettes,
        record_judge=args.record_judge,
        api_base=args.api_base,
    )
    _say(f"{len(calibration.cases)} labelled failure cassettes")
    _say("\n".join(calibration.report()))
    return 0 if calibration.accuracy("rules") == 1.0 else 1


def _check_judge(parser: argparse.ArgumentParser, model: str | None) -> None:
    if model == "hepagent/oracle":
        parser.error("--judge-model: hepagent/oracle cannot judge; use a real model or hepagent/replay")


def _reclassify(argv: Sequence[str]) -> int:
    from error_classifier.store import current_categories, reclassify_run, table_one
    from pytest_hepagent.bench.store import RESULTS, latest_records, read_records

    parser = argparse.ArgumentParser(
        prog="python -m error_classifier",
        description="Classify (again) every failed trial of a stored run and print Table I. "
        "New verdicts are appended to classifications.jsonl; results.jsonl is not touched.",
    )
    parser.add_argument("run_dir", type=Path, help="A run folder, reports/<run-id>")
    parser.add_argument("--judge-model", default=None, help="Judge model (default: the rules decide)")
    parser.add_argument("--judge-cassettes", type=Path, default=None, help="With hepagent/replay: <trial>.yaml files")
    parser.add_argument("--api-base", default=None, help="OpenAI-compatible server for an openai/<name> judge")
    args = parser.parse_args(argv)
    _check_judge(parser, args.judge_model)
    if args.judge_model == "hepagent/replay" and args.judge_cassettes is None:
        parser.error("--judge-model hepagent/replay needs --judge-cassettes DIR (one <trial folder>.yaml per trial)")
    if not (args.run_dir / RESULTS).is_file():
        parser.error(f"{args.run_dir}: no {RESULTS}; give a run folder such as reports/<run-id>")
    before = current_categories(args.run_dir)
    lines = reclassify_run(
        args.run_dir, judge_model=args.judge_model, api_base=args.api_base, judge_cassettes=args.judge_cassettes
    )
    changed = [x["key"] for x in lines if (before.get(x["key"]) or {}).get("final") != x["category"].get("final")]
    disagree = [x["key"] for x in lines if x["category"].get("disagree")]
    _say(f"{len(lines)} failed trials classified ({len(changed)} changed, {len(disagree)} judge/rules disagreements)")
    for key in disagree:
        _say(f"  disagreement: {key}")
    records = latest_records(read_records(args.run_dir / RESULTS))
    _say("\n".join(table_one(records, current_categories(args.run_dir, records))))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    from pytest_hepagent.errors import HepAgentError

    try:
        if argv[:1] == ["calibrate"]:
            return _calibrate(argv[1:])
        return _reclassify(argv)
    except (HepAgentError, OSError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
