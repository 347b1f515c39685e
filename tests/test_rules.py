"""The deterministic rules on evidence written by hand: each category's rule, its name and the facts it gives, and
the order in which the rules decide."""

from __future__ import annotations

import pytest

from error_classifier.evidence import AttemptEvidence, Evidence, ExceptionInfo, Frame, OutputDiagnostic
from error_classifier.rules import LOW_OVERLAP, RuleVerdict, classify_by_rules

READS = "x = np.load(args.input_files[0])\n"


def attempt(
    code: str = READS, exit_code: int | None = 0, reason: str = "", exception: ExceptionInfo | None = None, n: int = 1
) -> AttemptEvidence:
    return AttemptEvidence(n, code, True, exit_code, reason, "", "", exception)


def evidence(*attempts: AttemptEvidence, outputs: tuple[OutputDiagnostic, ...] = (), **extra: str) -> Evidence:
    return Evidence("categorization", extra.pop("outcome", "failed"), attempts, outputs, **extra)


WRONG = OutputDiagnostic("arrays/significances.npy", "values", "2 of 3 values differ")
MISSING = OutputDiagnostic("arrays/boundaries.npy", "missing")
OWN = Frame("/trial/generated_code/categorization.py", 12, "<module>", "z = get_significance(s, b, bounds)")
HELPER = Frame("/trial/utils.py", 180, "get_significance", "b = _sorted_boundaries(boundaries)")


def failed_with(exc: ExceptionInfo) -> RuleVerdict | None:
    return classify_by_rules(evidence(attempt(exit_code=1, reason="exit code 1", exception=exc)))


def test_only_failed_trials_get_a_category() -> None:
    assert classify_by_rules(evidence(attempt(), outcome="passed")) is None
    assert classify_by_rules(evidence(attempt(), outcome="error")) is None
    assert classify_by_rules(evidence(attempt(), outputs=(WRONG,), outcome="")) is not None  # an older record


def test_a_limit_decides_before_anything_the_code_did() -> None:
    verdict = classify_by_rules(evidence(attempt(), outputs=(WRONG,), limit="tokens", error="token limit reached"))
    assert verdict == RuleVerdict("other", "limit-tokens", ("token limit reached",))
    assert classify_by_rules(evidence(limit="time")) == RuleVerdict("other", "limit-time", ("time limit reached",))


def test_no_code_that_ran_is_other() -> None:
    assert classify_by_rules(evidence()) == RuleVerdict("other", "no-code", ("the trial has no recorded attempts",))
    unrun = AttemptEvidence(1, "", False, None, "", "", "", None)
    assert classify_by_rules(evidence(unrun)) == RuleVerdict("other", "no-code", ("no attempt produced code to run",))


def test_the_last_attempt_that_ran_decides() -> None:
    crash = attempt(exit_code=1, reason="exit code 1", exception=ExceptionInfo("FileNotFoundError", "x.npy"), n=1)
    fixed = attempt(n=2)
    unrun = AttemptEvidence(3, "", False, None, "", "", "", None)
    verdict = classify_by_rules(evidence(crash, fixed, unrun, outputs=(WRONG,)))
    assert verdict is not None and (verdict.category, verdict.rule) == ("semantic error", "wrong-output")
    assert verdict.evidence == (
        "arrays/significances.npy: values (2 of 3 values differ)",
        "attempt 2 ran cleanly (exit 0)",
    )


def test_a_clean_run_with_zero_weights() -> None:
    zero = OutputDiagnostic("arrays/bkgd.npy", "values", all_weights_zero=True)
    verdict = classify_by_rules(evidence(attempt(), outputs=(WRONG, zero)))
    assert verdict == RuleVerdict(
        "all data weights = 0",
        "weights-zero",
        ("every weight in arrays/bkgd.npy is 0", "attempt 1 ran cleanly (exit 0)"),
    )


def test_a_clean_run_with_a_constant_output_is_dummy_data() -> None:
    constant = OutputDiagnostic("arrays/bkgd_scores.npy", "values", constant=True)
    verdict = classify_by_rules(evidence(attempt(), outputs=(constant,)))
    assert verdict == RuleVerdict(
        "dummy data created",
        "constant-output",
        ("arrays/bkgd_scores.npy hold(s) one repeated value", "attempt 1 ran cleanly (exit 0)"),
    )
    passing_constant = OutputDiagnostic("arrays/bkgd_scores.npy", "pass", constant=True)  # only wrong outputs count
    verdict = classify_by_rules(evidence(attempt(), outputs=(passing_constant, WRONG)))
    assert verdict is not None and verdict.rule == "wrong-output"


@pytest.mark.parametrize(
    ("code", "overlap", "rule", "facts"),
    [
        # random numbers, the inputs never read: invented
        ("z = np.random.rand(3)\n", None, "fabricated-output", ["the code never refers to its input files"]),
        # random numbers and outputs unrelated to the reference: invented though the inputs are read
        (READS + "z = np.random.rand(3)\n", 0.05, "fabricated-output", ["arrays/significances.npy: 5% of its values"]),
        # random numbers for something else, outputs related to the reference: a wrong analysis
        (READS + "z = np.random.rand(3)\n", LOW_OVERLAP, "wrong-output", []),
        # no random numbers at all
        ("z = np.zeros(3)\n", 0.0, "wrong-output", []),
    ],
)
def test_fabricated_outputs_are_dummy_data(code: str, overlap: float | None, rule: str, facts: list[str]) -> None:
    output = OutputDiagnostic("arrays/significances.npy", "values", overlap=overlap)
    verdict = classify_by_rules(evidence(attempt(code=code), outputs=(output,)))
    assert verdict is not None and verdict.rule == rule
    if rule == "fabricated-output":
        assert verdict.category == "dummy data created"
        assert verdict.evidence[0] == "the code draws random numbers"
        assert verdict.evidence[-1] == "attempt 1 ran cleanly (exit 0)"
        assert any(fact.startswith(f) for f in facts for fact in verdict.evidence)
    else:
        assert verdict.category == "semantic error"


def test_a_clean_run_with_nothing_wrong_is_other() -> None:
    passing = OutputDiagnostic("arrays/significances.npy", "pass")
    assert classify_by_rules(evidence(attempt(), outputs=(passing,))) == RuleVerdict(
        "other", "no-mismatch", ("no output mismatch recorded", "attempt 1 ran cleanly (exit 0)")
    )


def test_a_clean_run_lists_at_most_five_wrong_outputs() -> None:
    wrong = tuple(OutputDiagnostic(f"arrays/o{i}.npy", "missing") for i in range(7))
    verdict = classify_by_rules(evidence(attempt(), outputs=wrong))
    assert verdict is not None and verdict.evidence == (
        *(f"arrays/o{i}.npy: missing" for i in range(5)),
        "attempt 1 ran cleanly (exit 0)",
    )


def test_a_failed_run_without_an_exception_is_other() -> None:
    verdict = classify_by_rules(evidence(attempt(exit_code=137, reason="killed by SIGKILL")))
    assert verdict == RuleVerdict(
        "other", "no-exception", ("attempt 1 failed: killed by SIGKILL", "no Python exception in the output")
    )
    verdict = classify_by_rules(evidence(attempt(exit_code=1)))  # no reason given: the head has none
    assert verdict is not None and verdict.evidence[0] == "attempt 1 failed"


@pytest.mark.parametrize(
    ("exc", "category", "rule"),
    [
        (ExceptionInfo("uproot.exceptions.KeyInFileError", "not found: 'photon_pt'"), "incorrect branch name", "missing-branch"),
        (ExceptionInfo("KeyError", "no branch named 'ph_pt' in TTree"), "incorrect branch name", "missing-branch"),
        (ExceptionInfo("ValueError", "TTree 'mini2' is not in the file"), "incorrect branch name", "missing-branch"),
        (ExceptionInfo("KeyError", "'photon_pt'"), "other", "exception-KeyError"),
        (ExceptionInfo("FileNotFoundError", "[Errno 2] No such file or directory: 'x.npy'"), "intermediate file not found", "missing-file"),
        (ExceptionInfo("FileNotFoundError", "data.csv"), "intermediate file not found", "missing-file"),
        (ExceptionInfo("OSError", "arrays/signal.npy does not exist"), "intermediate file not found", "missing-file"),
        (ExceptionInfo("RuntimeError", "not found: 'solution/arrays/bkgd.npy'"), "intermediate file not found", "missing-file"),
        (ExceptionInfo("RuntimeError", "something broke"), "other", "exception-RuntimeError"),
        (ExceptionInfo("ModuleNotFoundError", "No module named 'ROOT'"), "other", "exception-ModuleNotFoundError"),
    ],
)  # fmt: skip
def test_a_failed_run_is_classified_by_its_exception(exc: ExceptionInfo, category: str, rule: str) -> None:
    verdict = failed_with(exc)
    assert verdict is not None and (verdict.category, verdict.rule) == (category, rule)
    assert verdict.evidence[0] == exc.first_line
    assert verdict.evidence[-1] == "attempt 1 failed: exit code 1"


def test_a_missing_branch_wins_over_a_missing_file() -> None:
    # uproot's message for a missing branch also says "not found": the branch rule must be asked first
    both = ExceptionInfo("uproot.exceptions.KeyInFileError", "not found: 'photon_pt' in file 'data_A.root'")
    verdict = failed_with(both)
    assert verdict is not None and verdict.category == "incorrect branch name"
    file_first = ExceptionInfo("KeyError", "branch list does not exist")
    verdict = failed_with(file_first)
    assert verdict is not None and verdict.category == "incorrect branch name"


def test_the_code_line_that_raised_is_in_the_evidence() -> None:
    exc = ExceptionInfo("FileNotFoundError", "x.npy", (Frame("/usr/lib/numpy.py", 3, "load", "open(f)"), OWN))
    verdict = failed_with(exc)
    assert verdict is not None
    assert verdict.evidence == (
        "FileNotFoundError: x.npy",
        "at categorization.py line 12: z = get_significance(s, b, bounds)",
        "attempt 1 failed: exit code 1",
    )


@pytest.mark.parametrize(
    ("exc", "helper"),
    [
        # the message names the helper
        (ExceptionInfo("TypeError", "place_boundary() missing 1 required positional argument"), "place_boundary"),
        # raised inside the helpers' module, called from the trial's code
        (ExceptionInfo("ValueError", "boundaries need at least two values", (OWN, HELPER)), "get_significance"),
        # raised at the trial's own line that calls a helper
        (ExceptionInfo("IndexError", "index 3 is out of bounds", (OWN,)), "get_significance"),
    ],
)
def test_a_wrong_call_of_a_provided_helper_is_a_function_calling_error(exc: ExceptionInfo, helper: str) -> None:
    verdict = failed_with(exc)
    assert verdict is not None and (verdict.category, verdict.rule) == ("function-calling error", "helper-call")
    assert verdict.evidence[0] == f"raised at a call of {helper}()"


def test_a_helper_frame_without_a_call_line_names_the_helper_function() -> None:
    own = Frame("/trial/generated_code/categorization.py", 12, "<module>", "result = run(s, b)")
    exc = ExceptionInfo("ValueError", "bad boundaries", (own, HELPER))
    verdict = failed_with(exc)
    assert verdict is not None and verdict.evidence[0] == "raised at a call of get_significance()"


def test_errors_that_are_not_call_errors_or_not_at_a_helper_are_other() -> None:
    assert (
        failed_with(ExceptionInfo("ZeroDivisionError", "division by zero", (OWN,))).rule
        == "exception-ZeroDivisionError"
    )  # type: ignore[union-attr]
    plain = Frame("/trial/generated_code/categorization.py", 3, "<module>", "z = s / b")
    assert failed_with(ExceptionInfo("ValueError", "bad value", (plain,))).rule == "exception-ValueError"  # type: ignore[union-attr]
    # the helper's frame comes before the trial's: not a call from the trial's code into the helper
    assert failed_with(ExceptionInfo("ValueError", "bad", (HELPER, plain))).rule == "exception-ValueError"  # type: ignore[union-attr]


def test_the_code_line_without_source_and_a_nested_code_folder() -> None:
    bare = Frame("/trial/generated_code/sub/generated_code/step.py", 3, "<module>", "")
    verdict = failed_with(ExceptionInfo("RuntimeError", "boom", (bare,)))
    assert verdict is not None and verdict.evidence == (
        "RuntimeError: boom",
        "at step.py line 3",
        "attempt 1 failed: exit code 1",
    )
    outside = failed_with(ExceptionInfo("RuntimeError", "boom", (HELPER,)))  # no frame of the trial's code
    assert outside is not None and outside.evidence == ("RuntimeError: boom", "attempt 1 failed: exit code 1")


def test_every_zero_weight_and_constant_output_is_named() -> None:
    zero = tuple(OutputDiagnostic(f"arrays/{n}.npy", "values", all_weights_zero=True) for n in ("signal", "bkgd"))
    verdict = classify_by_rules(evidence(attempt(), outputs=zero))
    assert verdict is not None and verdict.evidence[0] == "every weight in arrays/signal.npy, arrays/bkgd.npy is 0"
    constant = tuple(OutputDiagnostic(f"arrays/{n}.npy", "values", constant=True) for n in ("a", "b"))
    verdict = classify_by_rules(evidence(attempt(), outputs=constant))
    assert verdict is not None and verdict.evidence[0] == "arrays/a.npy, arrays/b.npy hold(s) one repeated value"


def test_the_helper_named_is_the_one_the_trial_called() -> None:
    inner = Frame("/trial/utils.py", 170, "_sorted_boundaries", "raise ValueError(...)")
    verdict = failed_with(ExceptionInfo("ValueError", "bad boundaries", (OWN, inner)))
    assert verdict is not None and verdict.evidence[0] == "raised at a call of get_significance()"


def test_the_code_line_keeps_its_own_last_characters() -> None:
    frame = Frame("/trial/generated_code/step.py", 7, "<module>", "y = X")
    verdict = failed_with(ExceptionInfo("RuntimeError", "boom", (frame,)))
    assert verdict is not None and verdict.evidence[1] == "at step.py line 7: y = X"
