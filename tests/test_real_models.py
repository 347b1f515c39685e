"""Real models' path: bounded calls, limits and provider warnings, through litellm's real client against a loopback
OpenAI-compatible server (the shape of a llama.cpp or vLLM server a user points --hep-api-base at)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections import deque
from dataclasses import replace
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, oracle_responder, serve

from error_classifier import classify_trial
from pytest_hepagent.agent.limits import TrialLimits
from pytest_hepagent.errors import ConfigError, InfrastructureError, LimitReached
from pytest_hepagent.llm.cassette import Cassette, CassetteCall, save_cassette
from pytest_hepagent.llm.gateway import DEFAULT_MAX_OUTPUT_TOKENS, Gateway, GatewaySettings
from pytest_hepagent.matrix.config import BenchmarkConfig
from pytest_hepagent.report import render_report
from pytest_hepagent.report.render import PAGES
from pytest_hepagent.trial import TrialEnvironment, TrialRequest, TrialResult, run_trial

REPO = Path(__file__).parents[1]
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say hello"}]


@pytest.fixture(scope="module")
def env(hepagent_dataset, hepagent_solution: Path) -> TrialEnvironment:  # type: ignore[no-untyped-def]
    return TrialEnvironment.create(hepagent_dataset)


def _served(env: TrialEnvironment, fake: FakeOpenAI, **settings: object) -> TrialEnvironment:
    options: dict[str, object] = {"timeout_s": 10.0, "backoff_s": 0.01, "max_retries": 2, "api_base": fake.url}
    return replace(env, gateway=Gateway(GatewaySettings(**options | settings)))  # type: ignore[arg-type]


def _trial(env: TrialEnvironment, path: Path, model: str = "openai/loopback-model", **request: object) -> TrialResult:
    return run_trial(TrialRequest("root_inspection", model, **request), env, path)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- the output cap
def test_every_request_carries_the_output_cap_per_role(env: TrialEnvironment, tmp_path: Path) -> None:
    with serve(FakeOpenAI(respond=oracle_responder())) as fake:
        served = _served(env, fake, max_output_tokens=3000, role_max_output_tokens={"coder": 7000})
        result = _trial(served, tmp_path / "t")
    assert result.outcome == "passed", result.error
    caps = [(r["body"]["messages"][0]["content"][:40], r["body"].get("max_tokens")) for r in fake.requests]
    assert [cap for _, cap in caps] == [3000, 7000, 3000]  # supervisor, coder, reviewer
    assert result.agent is not None and [c.max_output_tokens for c in result.agent.calls] == [3000, 7000, 3000]


def test_the_cap_is_sent_as_each_model_expects_and_never_above_what_it_can_write() -> None:
    with serve(FakeOpenAI(answers=deque(["hello"]))) as fake:
        gateway = Gateway(GatewaySettings(api_base=fake.url, max_output_tokens=100_000))
        gateway.complete("openai/o3", MESSAGES)  # a reasoning model: max_completion_tokens, its own 100k limit
        gateway.complete("openai/gpt-4o", MESSAGES)  # litellm's map: at most 16384 output tokens
        gateway.complete("openai/loopback-model", MESSAGES)  # unknown to litellm: the cap as given
        Gateway(GatewaySettings(api_base=fake.url, max_output_tokens=None)).complete("openai/gpt-4o", MESSAGES)
    bodies = [r["body"] for r in fake.requests]
    assert bodies[0].get("max_completion_tokens") == 100_000 and "max_tokens" not in bodies[0]
    assert bodies[1]["max_tokens"] == 16_384
    assert bodies[2]["max_tokens"] == 100_000
    assert "max_tokens" not in bodies[3] and "max_completion_tokens" not in bodies[3]  # the provider's default


def test_an_answer_cut_at_the_cap_is_recorded_and_shown(env: TrialEnvironment, tmp_path: Path) -> None:
    faults = deque([None, ("truncate", None)])  # the coder's answer ends at the cap
    with serve(FakeOpenAI(respond=oracle_responder(), faults=faults)) as fake:  # type: ignore[arg-type]
        result = _trial(_served(env, fake, max_output_tokens=512), tmp_path / "t")
    assert result.agent is not None
    assert [c.finish_reason for c in result.agent.calls] == ["stop", "length", "stop"]
    log = Path(result.files["comprehensive"]).read_text()
    assert "WARNING: the answer was cut at the output cap (512 tokens)" in log
    transcript = json.loads(Path(result.files["transcript"]).read_text())
    assert transcript["agent"]["calls"][1]["finish_reason"] == "length"


# ------------------------------------------------------------------------------------------------- limits
def test_a_conversation_that_outgrows_the_context_window_is_a_model_failure(
    env: TrialEnvironment, tmp_path: Path
) -> None:
    """Hostile: a supervisor that floods the conversation so that the provider refuses the next call, before any
    code ran, which used to be an infrastructure error (kept out of the success rate)."""
    oracle = oracle_responder()

    def flood(body: dict) -> str:  # type: ignore[type-arg]
        answer = oracle(body)
        flooded = "## Worker Prompt\n" + "Read this carefully. " * 2500
        return answer.replace("## Worker Prompt\n", flooded) if "## Worker Prompt" in answer else answer

    with serve(FakeOpenAI(respond=flood, context_window=3000)) as fake:
        result = _trial(_served(env, fake), tmp_path / "t")
    assert result.outcome == "failed", result.error
    assert result.agent is not None and result.agent.status == "limit" and result.agent.limit == "context"
    assert "context window exceeded" in result.error and "exceeds the available context size" in result.error
    assert len(fake.requests) == 2 and result.validation is not None
    classification = classify_trial(result.trial_dir, result=result.to_dict())
    assert classification is not None and classification.final == "other"
    assert classification.rule.rule == "limit-context"


def test_a_harness_prompt_the_window_cannot_hold_is_an_infrastructure_error(
    env: TrialEnvironment, tmp_path: Path
) -> None:
    with serve(FakeOpenAI(respond=oracle_responder(), context_window=50)) as fake:
        result = _trial(_served(env, fake), tmp_path / "t")
    assert result.outcome == "error" and "the task's prompt alone does not fit" in result.error
    assert len(fake.requests) == 1


def test_the_token_and_cost_limits_end_a_trial_as_a_model_failure(env: TrialEnvironment, tmp_path: Path) -> None:
    with serve(FakeOpenAI(respond=oracle_responder())) as fake:
        served = _served(env, fake)
        tokens = _trial(served, tmp_path / "tokens", trial_limits=TrialLimits(tokens=100))
        cost = _trial(served, tmp_path / "cost", "openai/gpt-4o", trial_limits=TrialLimits(cost_usd=0.0001))
        unlimited = _trial(served, tmp_path / "free", "openai/gpt-4o", trial_limits=TrialLimits(cost_usd=1.0))
    assert unlimited.outcome == "passed" and unlimited.agent is not None and unlimited.agent.cost_usd > 0.0001
    for result, kind in ((tokens, "tokens"), (cost, "cost")):
        assert result.outcome == "failed" and result.agent is not None
        assert result.agent.status == "limit" and result.agent.limit == kind, result.error
        assert len(result.agent.calls) == 1  # the call that crossed the limit is kept; no other is made
    assert (
        "token limit reached" in tokens.error
        and "the limit is 100" in tokens.error
        and "cost limit reached" in cost.error
    )
    # The limit is a fact: no judge is asked (a dead judge endpoint would otherwise show up as judge_error).
    classification = classify_trial(
        tokens.trial_dir,
        result=tokens.to_dict(),
        judge_model="openai/judge",
        gateway=Gateway(),
        api_base="http://127.0.0.1:9",
    )
    assert classification is not None and classification.final == "other" and classification.judge is None
    assert classification.judge_error == "" and classification.rule.rule == "limit-tokens"


def test_the_time_limit_cuts_calls_and_executions_short(env: TrialEnvironment, tmp_path: Path) -> None:
    sleeper = "```python\nimport time\ntime.sleep(60)\n```"
    cassette = save_cassette(
        Cassette(
            "root_inspection",
            (CassetteCall("supervisor", "## Worker Prompt\nwait"), CassetteCall("coder", sleeper)),
        ),
        tmp_path / "sleeper.yaml",
    )
    start = time.monotonic()
    result = _trial(env, tmp_path / "t", "hepagent/replay", cassette=cassette, trial_limits=TrialLimits(time_s=3))
    took = time.monotonic() - start
    assert result.outcome == "failed" and result.agent is not None
    assert result.agent.status == "limit" and result.agent.limit == "time"
    (attempt,) = result.agent.attempts
    assert attempt.execution is not None and "timed out after" in attempt.execution.reason
    assert attempt.execution.duration_s < 10 and took < 30  # not the step's 300 s
    with serve(FakeOpenAI(answers=deque(["x"]), always=("sleep", 5))) as fake, pytest.raises(LimitReached):
        Gateway(GatewaySettings(api_base=fake.url, timeout_s=30)).complete(
            "openai/loopback-model", MESSAGES, deadline=time.monotonic() + 1.0
        )
    assert len(fake.requests) == 1  # cut at the deadline, not retried


def _register(model: str, window: int) -> None:
    import litellm

    entry = {"max_input_tokens": window, "max_output_tokens": 256, "litellm_provider": "openai", "mode": "chat"}
    litellm.register_model({model: entry | {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0}})


def _start_up_error(model: str, *steps: str) -> str:
    with pytest.raises(ConfigError) as caught:
        BenchmarkConfig(models=(model,), steps=steps).check()
    message = str(caught.value)
    assert "\n" not in message and f"--hep-model {model}" in message
    return message


def test_a_prompt_longer_than_a_known_window_stops_the_run_at_start_up() -> None:
    """Token counts of the harness's prompts (litellm's default tokenizer): supervisor 470 (root_inspection), 923
    (preprocessing), 407 (sb_separation); the review of a reference-sized answer 1,239, 2,958 and 834."""
    _register("openai/tiny-window-test", 600)
    _register("openai/small-window-test", 1000)
    message = _start_up_error("openai/tiny-window-test", "sb_separation", "preprocessing")
    assert "reviewer's prompt of a correct answer" in message and "step sb_separation" in message
    message = _start_up_error("openai/tiny-window-test", "preprocessing")
    assert "the supervisor's prompt of step preprocessing" in message and "600-token context window" in message
    message = _start_up_error("openai/small-window-test", "root_inspection")
    assert "reviewer's prompt" in message and "1,000-token context window" in message
    BenchmarkConfig(models=("openai/small-window-test",), steps=("sb_separation",)).check()  # 407 and 834 fit
    assert Gateway().output_cap("openai/tiny-window-test", "coder") == 256  # the model's own output limit
    assert Gateway().output_cap("openai/unknown-test", "coder") == DEFAULT_MAX_OUTPUT_TOKENS


# ---------------------------------------------------------------------------------- the run, from the checkout
_WARNING_INJECTOR = r'''
"""Makes the provider library warn when imported and during every call, as real ones do (a pydantic remark at
import, a lazily imported provider module during a call)."""
import functools
import importlib.abc
import importlib.util
import os
import sys
import warnings


def _warn(text):
    warnings.warn(text, UserWarning)
    with open(os.environ["INJECTED_LOG"], "a") as log:
        log.write(text + "\n")


class _Warn(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "litellm":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        execute = spec.loader.exec_module

        def exec_module(module):
            _warn("injected: a provider library's notice at import")
            execute(module)
            completion = module.completion

            @functools.wraps(completion)
            def warned(*args, **kwargs):
                _warn("injected: a provider library's warning during a call")
                return completion(*args, **kwargs)

            module.completion = warned

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _Warn())
'''


@pytest.mark.parametrize("concurrency", [1, 2], ids=["sequential", "concurrent"])
def test_a_real_provider_run_from_the_checkout_shrugs_off_provider_warnings(
    tmp_path: Path, hepagent_solution: Path, concurrency: int
) -> None:
    """`pytest --hep-model=openai/<m> --hep-api-base=...` from this checkout, under the project's own pytest
    configuration (`filterwarnings = error`), with a provider library that warns at import and during each call."""
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(textwrap.dedent(_WARNING_INJECTOR))
    injected = tmp_path / "injected.log"
    environ = dict(os.environ, PYTHONPATH=str(tmp_path / "inject"), INJECTED_LOG=str(injected))
    reports = tmp_path / "reports"
    with serve(FakeOpenAI(respond=oracle_responder())) as fake:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--hep-model=openai/loopback-small",
                f"--hep-api-base={fake.url}",
                "--hep-steps=root_inspection",
                "--hep-trials=2",
                f"--hep-concurrency={concurrency}",
                "--hep-max-output-tokens=3000",
                f"--hep-report-dir={reports}",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:xdist",
            ],
            cwd=REPO,
            env=environ,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
    assert "Error in sitecustomize" not in done.stderr, done.stderr[-2000:]
    warned = injected.read_text().splitlines()
    assert warned.count("injected: a provider library's notice at import") == 1
    # one per call, and two from the gateway's offline warm-up of litellm's first call (answered by litellm itself)
    assert warned.count("injected: a provider library's warning during a call") == 6 + 2
    assert len(fake.requests) == 6 and {r["body"]["max_tokens"] for r in fake.requests} == {3000}
    (run,) = reports.iterdir()
    config = json.loads((run / "config.json").read_text())
    assert config["max_output_tokens"] == 3000 and config["concurrency"] == concurrency
    assert config["limits"]["time_s"] == 3600
    assert (run / "index.html").is_file()


def test_the_trial_page_shows_a_cut_answer_and_the_limit(env: TrialEnvironment, tmp_path: Path) -> None:
    from pytest_hepagent.matrix.execute import record_from_result
    from pytest_hepagent.records import ResultsStore

    faults = deque([None, ("truncate", None)])
    run_dir = tmp_path / "run"
    with serve(FakeOpenAI(respond=oracle_responder(), faults=faults)) as fake:  # type: ignore[arg-type]
        result = _trial(_served(env, fake), run_dir / "trials" / "t1", trial_limits=TrialLimits(tokens=1000))
    assert result.agent is not None and result.agent.limit == "tokens"
    record = record_from_result(result, run_id="run", hashes={})
    assert record.limit == "tokens" and record.truncated_calls == 1 and record.outcome == "failed"
    ResultsStore(run_dir).append(record)
    pages = render_report(run_dir)
    (page,) = (pages.index.parent / PAGES).glob("*.html")
    html = page.read_text()
    assert "cut at the output cap (16384 tokens)" in html and 'id="limit">tokens limit' in html


# ------------------------------------------------------------------------------ hostile answers and providers
def test_a_lone_surrogate_in_an_answer_is_replaced_not_an_infrastructure_error(
    env: TrialEnvironment, tmp_path: Path
) -> None:
    """Hostile: a coder answer holding a lone surrogate, which cannot be written as UTF-8 or sent again."""
    oracle = oracle_responder()

    def spoiled(body: dict) -> str:  # type: ignore[type-arg]
        answer = oracle(body)
        return answer.replace("```python\n", "```python\n# \ud800\n", 1)

    with serve(FakeOpenAI(respond=spoiled)) as fake:
        result = _trial(_served(env, fake), tmp_path / "t")
    assert result.outcome == "passed", result.error  # the right answer, with a replacement character in a comment
    assert result.agent is not None and "# \ufffd" in result.agent.calls[1].response


def test_an_answer_dripped_a_byte_at_a_time_is_cut_at_the_call_timeout(env: TrialEnvironment, tmp_path: Path) -> None:
    """Hostile: a provider that sends the reviewer's answer one byte every 0.25 s for 20 s: each read is quick, the
    call is not."""
    faults = deque([None, None, ("trickle", 20.0)])
    with serve(FakeOpenAI(respond=oracle_responder(), faults=faults)) as fake:  # type: ignore[arg-type]
        start = time.monotonic()
        result = _trial(_served(env, fake, timeout_s=2.0), tmp_path / "t")
        took = time.monotonic() - start
    assert result.outcome == "passed" and result.agent is not None
    assert result.agent.calls[2].attempts == 2  # cut at the timeout, retried once, answered
    assert took < 10
    with serve(FakeOpenAI(respond=oracle_responder(), always=("trickle", 20.0))) as fake:
        start = time.monotonic()
        limited = _trial(_served(env, fake, timeout_s=60.0), tmp_path / "u", trial_limits=TrialLimits(time_s=3))
        took = time.monotonic() - start
    assert limited.outcome == "error" and "no answer before the trial's time limit" in limited.error
    assert took < 6  # the time limit holds too


def test_calls_given_up_on_keep_their_connection_slot_until_they_end() -> None:
    """Hostile: a provider that drips every answer: each call the gateway gives up on still holds a connection,
    so it holds its slot of --hep-max-connections; when it holds them all, calls stop at once."""
    settings = GatewaySettings(max_connections=2, timeout_s=1.0, timeout_retries=1, backoff_s=0.01)
    messages = [{"role": "user", "content": "x"}]
    with serve(FakeOpenAI(answers=deque(["ok"]), always=("trickle", 4.0))) as fake:
        gateway = Gateway(replace(settings, api_base=fake.url))
        model = f"openai/dripping-{time.monotonic_ns()}"
        with pytest.raises(InfrastructureError, match="timed out 2 times"):
            gateway.complete(model, messages)
        start = time.monotonic()
        with pytest.raises(InfrastructureError, match=r"holds 2 call\(s\) open without answering"):
            gateway.complete(model, messages)
        assert time.monotonic() - start < 0.5  # refused at once, not after another wait
        assert fake.peak <= 2 and len(fake.requests) == 2


def test_a_provider_that_never_answers_is_no_model_failure(env: TrialEnvironment, tmp_path: Path) -> None:
    with serve(FakeOpenAI(answers=deque(["x"]), always=("sleep", 8.0))) as fake:
        result = _trial(_served(env, fake, timeout_s=30.0), tmp_path / "t", trial_limits=TrialLimits(time_s=2))
    assert result.outcome == "error" and result.agent is not None and result.agent.status == "infrastructure_error"


def test_an_answer_cut_before_any_text_is_the_model_s_empty_answer(env: TrialEnvironment, tmp_path: Path) -> None:
    faults = deque([None, ("nullcut", None)])  # the coder spent the cap thinking
    with serve(FakeOpenAI(respond=oracle_responder(), faults=faults)) as fake:  # type: ignore[arg-type]
        result = _trial(_served(env, fake), tmp_path / "t", max_iterations=1)
    assert result.outcome == "failed", result.error  # no code: the model's failure, not an infrastructure error
    assert result.agent is not None and result.agent.calls[1].finish_reason == "length"
    assert result.agent.calls[1].response == "" and len(fake.requests) == 2  # not retried


def test_token_counts_a_provider_cannot_have_are_counted_here(env: TrialEnvironment, tmp_path: Path) -> None:
    """Hostile: a provider that claims negative counts (which would pay back the cost and token limits) or more
    output than the cap allowed."""
    lies = {"prompt_tokens": -15_000_000, "completion_tokens": -200_000}
    with serve(FakeOpenAI(respond=oracle_responder(), usage=lies)) as fake:
        served = _served(env, fake)
        result = _trial(served, tmp_path / "t", "openai/gpt-4o", trial_limits=TrialLimits(tokens=100))
    assert result.agent is not None and result.agent.limit == "tokens"  # the true counts reach the limit
    call = result.agent.calls[0]
    assert call.input_tokens > 0 and call.output_tokens > 0 and call.cost_usd > 0
    with serve(FakeOpenAI(respond=oracle_responder(), usage={"completion_tokens": 50_000})) as fake:
        capped = _trial(_served(env, fake, max_output_tokens=1000), tmp_path / "u")
    assert capped.agent is not None and all(c.output_tokens <= 1000 for c in capped.agent.calls)


def test_a_refusal_of_the_model_s_own_text_is_its_failure(env: TrialEnvironment, tmp_path: Path) -> None:
    """The coder's call carries the supervisor's answer: refused before any code ran, it is still the model's."""
    faults = deque([None, ("refuse", None)])
    with serve(FakeOpenAI(respond=oracle_responder(), faults=faults)) as fake:  # type: ignore[arg-type]
        result = _trial(_served(env, fake), tmp_path / "t")
    assert result.outcome == "failed" and result.agent is not None and result.agent.status == "ended"


def test_a_cut_answer_stays_cut_through_record_and_replay(env: TrialEnvironment, tmp_path: Path) -> None:
    faults = deque([None, ("truncate", None)])
    with serve(FakeOpenAI(respond=oracle_responder(), faults=faults)) as fake:  # type: ignore[arg-type]
        _trial(_served(env, fake), tmp_path / "live", record_to=tmp_path / "c.yaml")
    replayed = _trial(env, tmp_path / "replay", "hepagent/replay", cassette=tmp_path / "c.yaml")
    assert replayed.agent is not None and [c.finish_reason for c in replayed.agent.calls] == ["stop", "length", "stop"]
    text = (tmp_path / "c.yaml").read_text().replace("finish_reason: length", "finish_reason: max_tokens")
    (tmp_path / "anthropic.yaml").write_text(text)  # Anthropic's name for the same cut
    again = _trial(env, tmp_path / "again", "hepagent/replay", cassette=tmp_path / "anthropic.yaml")
    assert again.agent is not None and again.agent.calls[1].finish_reason == "length"


def test_a_replay_waits_no_longer_than_the_time_limit(env: TrialEnvironment, tmp_path: Path) -> None:
    slow = Cassette(
        "root_inspection",
        (CassetteCall("supervisor", "## Worker Prompt\nwork"), CassetteCall("coder", "```python\nprint(1)\n```")),
        latency_s=0.8,
    )
    path = save_cassette(slow, tmp_path / "slow.yaml")
    start = time.monotonic()
    result = _trial(env, tmp_path / "t", "hepagent/replay", cassette=path, trial_limits=TrialLimits(time_s=1.2))
    assert time.monotonic() - start < 2.5
    assert result.agent is not None and result.agent.limit == "time" and result.outcome == "failed"
