"""The comprehensive supervisor-coder log, in the format of the paper's appendix B.1."""

from __future__ import annotations

from pytest_hepagent.agent.trajectory import AgentRun, CallRecord

__all__ = ["comprehensive_log"]

_RULE = "=" * 60


def _stamp(call: CallRecord) -> str:
    return f"[{call.started_at[:19]}]"


def _received(stamp: str, what: str, call: CallRecord) -> str:
    line = f"{stamp} INFO: {what} received ({call.input_tokens} input tokens, {call.output_tokens} output tokens)"
    if call.finish_reason == "length":
        line += f"\n{stamp} WARNING: the answer was cut at the output cap ({call.max_output_tokens} tokens)"
    return line


def _banner(title: str) -> str:
    return f"===== {title} ====="


def comprehensive_log(run: AgentRun, command: str = "") -> str:
    lines = [
        _RULE,
        "COMPREHENSIVE SUPERVISOR-CODER LOG",
        _RULE,
        "",
        f"Task: {run.step}",
        f"Supervisor: {run.supervisor_model}",
        f"Coder: {run.coder_model}",
        f"Start Time: {run.started_at}",
        "ORIGINAL USER PROMPT",
        "-----",
        run.user_prompt.rstrip(),
        "",
        "PROCESS START",
        "-----",
        _banner("INITIALIZATION"),
        f"[{run.started_at[:19]}] INFO: Starting supervisor-coder interaction",
        _banner("LOOP START"),
    ]
    attempts = {a.iteration: a for a in run.attempts}
    coder_calls = feedback_calls = 0
    for call in run.calls:
        stamp = _stamp(call)
        if call.role == "supervisor":
            lines += [
                _banner("SUPERVISOR CALL"),
                f"{stamp} INFO: Calling supervisor {call.model} with initial prompt",
                _banner("TOKEN STATS"),
                f"{stamp} INFO: Initial supervisor prompt tokens: {call.input_tokens}",
                _banner("SUPERVISOR RESPONSE"),
                _received(stamp, "Supervisor response", call),
                call.response.rstrip(),
            ]
        elif call.role == "coder":
            coder_calls += 1
            n = coder_calls
            lines += [
                _banner(f"CODER CALL #{n}"),
                f"{stamp} INFO: Calling coder {call.model} (attempt {n}/{run.max_iterations})",
                _banner(f"CODER RESPONSE #{n}"),
                _received(stamp, "Coder response", call),
            ]
            attempt = attempts.get(n)
            if attempt is not None:
                lines += ["Generated Code:", attempt.code.rstrip() or "(no code in the answer)"]
                lines += [_banner(f"CODE EXECUTION #{n}"), f"{stamp} INFO: Executing generated code."]
                if command:
                    lines.append(f"{stamp} DEBUG: Command: {command}")
                result = attempt.execution
                lines.append(_banner(f"EXECUTION RESULT #{n}"))
                if result is None:
                    lines.append(f"{stamp} ERROR: Nothing to execute: the answer had no code")
                else:
                    lines.append(
                        f"{stamp} INFO: Execution completed with exit code {result.exit_code} "
                        f"in {result.duration_s:.2f} s (sandbox: {result.sandbox})"
                    )
                    if result.succeeded:
                        lines += [f"{stamp} INFO: Execution successful. Output:", result.stdout.rstrip()]
                    else:
                        lines += [f"{stamp} ERROR: Execution failed: {result.reason}", result.stderr.rstrip()]
        else:
            feedback_calls += 1
            n = feedback_calls
            what = "feedback" if call.role == "reviewer" else "debugging"
            lines += [
                _banner(f"SUPERVISOR FEEDBACK CALL #{n}"),
                f"{stamp} INFO: Calling supervisor {call.model} for {what} (iteration {n})",
                _banner(f"SUPERVISOR FEEDBACK RESPONSE #{n}"),
                _received(stamp, "Supervisor feedback", call),
                "Supervisor Feedback:",
                call.response.rstrip(),
            ]
    tokens = run.tokens
    end = f"[{run.ended_at[:19]}]"
    outcome = {
        "success": f"SUCCESS: Supervisor satisfied after {run.iterations} iterations!",
        "max_iterations": f"FAILURE: no accepted result after {run.iterations} iterations",
        "infrastructure_error": f"INFRASTRUCTURE ERROR: {run.error}",
        "ended": f"FAILURE: the conversation ended after {run.iterations} iterations: {run.error}",
        "limit": f"FAILURE: a limit ended the trial after {run.iterations} iterations: {run.error}",
    }.get(run.status, run.status)
    lines += [
        _banner("SUCCESS" if run.status == "success" else "FAILURE"),
        f"{end} INFO: {outcome}",
        _banner("FINAL STATISTICS"),
        f"{end} INFO: Total API calls made: {len(run.calls)}",
        f"{end} INFO: Final token counts: {tokens.total_input} input, {tokens.total_output} output",
        _banner("PROCESS COMPLETED"),
        f"{end} INFO: Interaction completed in {run.duration_s:.3f} s",
        _banner("END OF LOG"),
        f"{end} INFO: === END OF COMPREHENSIVE LOG ===",
        "",
        _RULE,
        "FINAL SUMMARY",
        _RULE,
        f"Task: {run.step}",
        f"Supervisor: {run.supervisor_model}",
        f"Coder: {run.coder_model}",
        f"Total Iterations: {run.iterations}",
        f"Start Time: {run.started_at}",
        f"End Time: {run.ended_at}",
        f"Duration: {run.duration_s:.3f} s",
        f"Total API Calls: {len(run.calls)}",
        f"Total Input Tokens: {tokens.total_input}",
        f"Total Output Tokens: {tokens.total_output}",
        f"User Prompt Tokens: {tokens.user_prompt}",
        f"Supervisor to Coder Tokens: {tokens.supervisor_to_coder}",
        f"Coder Output Tokens: {tokens.coder_output}",
        f"Feedback to Supervisor Tokens: {tokens.feedback_to_supervisor}",
        f"Agent Work: {tokens.agent_work:.3f}",
        f"Cost (USD): {run.cost_usd:.6f}",
        f"Final Status: {'SUCCESS' if run.status == 'success' else run.status.upper()}",
        _RULE,
    ]
    return "\n".join(lines) + "\n"
