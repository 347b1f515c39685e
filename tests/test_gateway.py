"""The LLM gateway over litellm's real client, against a loopback OpenAI-compatible server."""

from __future__ import annotations

import subprocess
import sys
from collections import deque
from dataclasses import replace
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, serve

from pytest_hepagent.errors import InfrastructureError
from pytest_hepagent.llm.cassette import load_cassette
from pytest_hepagent.llm.gateway import Gateway, GatewaySettings, cost_usd
from pytest_hepagent.llm.pricing import override_price
from pytest_hepagent.trial import TrialEnvironment, TrialRequest, run_trial

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say hello"}]


def _gateway(fake: FakeOpenAI, retries: int = 3) -> Gateway:
    return Gateway(GatewaySettings(timeout_s=1.0, backoff_s=0.01, max_retries=retries, api_base=fake.url))


@pytest.mark.parametrize(
    "fault",
    [("status", 429), ("status", 500), ("status", 503), ("malformed", None)],
    ids=["429", "500", "503", "malformed"],
)
def test_transient_faults_are_retried_to_success(fault: tuple[str, object]) -> None:
    with serve(FakeOpenAI(answers=deque(["hello there"]), faults=deque([fault, fault]))) as fake:
        completion = _gateway(fake).complete("openai/loopback-model", MESSAGES)
    assert completion.text == "hello there"
    assert completion.attempts == 3 and len(fake.requests) == 3
    assert completion.input_tokens == 4 and completion.output_tokens == 2  # the server's usage, not a guess
    assert fake.requests[0]["body"]["temperature"] == 0
    assert fake.requests[0]["body"]["messages"] == MESSAGES


def test_a_timeout_is_retried_once_and_only_once() -> None:
    with serve(FakeOpenAI(answers=deque(["hello there"]), faults=deque([("sleep", 2.5)]))) as fake:
        completion = _gateway(fake).complete("openai/loopback-model", MESSAGES)
    assert completion.text == "hello there" and completion.attempts == 2 and len(fake.requests) == 2
    with (
        serve(FakeOpenAI(answers=deque(["x"]), faults=deque([("sleep", 2.5)] * 3))) as fake,
        pytest.raises(InfrastructureError, match=r"timed out 2 times \(after 1 s each\)"),
    ):
        _gateway(fake, retries=5).complete("openai/loopback-model", MESSAGES)
    assert len(fake.requests) == 2  # a model too slow for the timeout stays too slow: no third wait


def test_persistent_faults_end_as_infrastructure_errors_with_the_cause() -> None:
    with (
        serve(FakeOpenAI(answers=deque(["x"]), always=("status", 500))) as fake,
        pytest.raises(InfrastructureError) as exc,
    ):
        _gateway(fake, retries=2).complete("openai/loopback-model", MESSAGES)
    assert len(fake.requests) == 3
    assert "after 3 attempt(s), retries exhausted" in str(exc.value) and "injected 500" in str(exc.value)


def test_errors_no_retry_can_fix_are_not_retried() -> None:
    with (
        serve(FakeOpenAI(answers=deque(["x"]), always=("status", 401))) as fake,
        pytest.raises(InfrastructureError, match="not retryable: AuthenticationError"),
    ):
        _gateway(fake).complete("openai/loopback-model", MESSAGES)
    assert len(fake.requests) == 1


def test_backoff_grows_exponentially() -> None:
    waits: list[float] = []
    with serve(FakeOpenAI(answers=deque(["ok"]), faults=deque([("status", 500)] * 3))) as fake:
        gateway = Gateway(
            GatewaySettings(backoff_s=1.0, backoff_max_s=3.0, max_retries=3, api_base=fake.url), sleep=waits.append
        )
        assert gateway.complete("openai/loopback-model", MESSAGES).text == "ok"
    assert len(waits) == 3
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0 and 1.5 <= waits[2] <= 3.0


@pytest.fixture(scope="module")
def env(hepagent_dataset, hepagent_solution: Path) -> TrialEnvironment:  # type: ignore[no-untyped-def]
    return TrialEnvironment.create(hepagent_dataset)


def _with_server(env: TrialEnvironment, fake: FakeOpenAI) -> TrialEnvironment:
    gateway = Gateway(GatewaySettings(timeout_s=5.0, backoff_s=0.01, max_retries=2, api_base=fake.url))
    return replace(env, gateway=gateway)


def test_a_trial_through_the_loopback_server_survives_faults(env: TrialEnvironment, tmp_path: Path) -> None:
    run_trial(TrialRequest("categorization", "hepagent/oracle", record_to=tmp_path / "c.yaml"), env, tmp_path / "o")
    answers = deque(c.response for c in load_cassette(tmp_path / "c.yaml").calls)
    faults = deque([None, ("status", 429), None, ("status", 502)])  # type: ignore[list-item]
    with serve(FakeOpenAI(answers=answers, faults=faults)) as fake:  # type: ignore[arg-type]
        result = run_trial(
            TrialRequest("categorization", "openai/loopback-model"), _with_server(env, fake), tmp_path / "t"
        )
    assert result.outcome == "passed", result.error
    assert result.agent is not None and len(result.agent.calls) == 3 and len(fake.requests) == 5
    assert [c.attempts for c in result.agent.calls] == [1, 2, 2]
    assert all(r["auth"] == "Bearer not-needed" for r in fake.requests)  # no real key exists; none is invented


def test_a_dead_api_is_an_infrastructure_error_not_a_model_failure(env: TrialEnvironment, tmp_path: Path) -> None:
    with serve(FakeOpenAI(answers=deque(["x"]), always=("status", 500))) as fake:
        result = run_trial(
            TrialRequest("categorization", "openai/loopback-model"), _with_server(env, fake), tmp_path / "t"
        )
    assert result.outcome == "error" and result.validation is None
    assert "retries exhausted" in result.error and "injected 500" in result.error
    assert "INFRASTRUCTURE ERROR" in Path(result.files["comprehensive"]).read_text()


@pytest.mark.parametrize("fault", [("refuse", None), ("status", 400)], ids=["content-policy", "bad-request"])
def test_a_refusal_caused_by_the_code_s_output_is_no_infrastructure_error(
    env: TrialEnvironment, tmp_path: Path, fault: tuple[str, object]
) -> None:
    """Code that prints what a provider refuses to read (content, or a length over the model's window, answered 400)
    must not turn its failure into an infrastructure error."""
    answers = deque(["## Worker Prompt\nDo it.", "```python\nprint('refused text')\nraise SystemExit(1)\n```", "x"])
    faults = deque([None, None, fault])  # the debugger's prompt, which quotes the code's output
    with serve(FakeOpenAI(answers=answers, faults=faults)) as fake:  # type: ignore[arg-type]
        result = run_trial(
            TrialRequest("categorization", "openai/loopback-model"), _with_server(env, fake), tmp_path / "t"
        )
    assert result.outcome == "failed" and result.validation is not None
    assert result.agent is not None and result.agent.status == "ended"
    assert "the conversation" in result.error and ("safety system" in result.error or "injected 400" in result.error)
    with serve(FakeOpenAI(answers=deque(["x"]), faults=deque([fault]))) as fake:  # type: ignore[arg-type]
        first = run_trial(
            TrialRequest("categorization", "openai/loopback-model"), _with_server(env, fake), tmp_path / "u"
        )
    assert first.outcome == "error"  # the harness's own prompt was refused: not the model's failure


def test_costs_come_from_litellm_then_the_papers_table() -> None:
    assert cost_usd("o3", 1_000_000, 1_000_000) == pytest.approx(10.0)  # litellm's price map: 2 + 8 USD
    assert cost_usd("hepagent/oracle", 10**6, 10**6) == 0.0
    assert override_price("anthropic/claude-sonnet-4-5-20250929") == (3.00, 15.00)
    assert override_price("openai/gpt-5-mini-2025-08-07") == (0.25, 2.00)  # the longest matching name wins
    assert override_price("openai/o3-mini") == (1.10, 4.40)
    assert override_price("some/unknown-model") is None
    assert cost_usd("openai/qwen3-235b", 2_000_000, 1_000_000) == pytest.approx(3.0)


def test_importing_the_package_and_plugin_loads_no_heavy_library() -> None:
    code = (
        "import sys, pytest_hepagent, pytest_hepagent.plugin\n"
        "heavy = [m for m in ('litellm', 'uproot', 'sklearn', 'awkward') if m in sys.modules]\n"
        "print(heavy)\nsys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_offline_token_counts_match_litellms_counter() -> None:
    from pytest_hepagent.llm.gateway import load_litellm
    from pytest_hepagent.llm.tokens import count_message_tokens, count_text_tokens

    litellm = load_litellm()

    messages = [
        {"role": "system", "content": "You are a supervisor. <|endoftext|> is only text here."},
        {"role": "user", "content": "Write `generated_code/preprocessing.py`:\n\n```python\nimport numpy as np\n```"},
        {"role": "assistant", "content": "m_yy ∈ [105, 160] GeV; ΔR > 0.4 — done."},
    ]
    assert count_message_tokens(messages) == litellm.token_counter(model="gpt-4o", messages=messages)
    for text in ("", "pT > 25 GeV", messages[1]["content"]):
        assert count_text_tokens(text) == litellm.token_counter(model="gpt-4o", text=text)
    # litellm's own Rust codec drifts from tiktoken on longer texts (360 vs 361, 1151 vs 1152 here): well below 1%
    for long in (messages[1]["content"] * 20, messages[2]["content"] * 50):
        assert count_text_tokens(long) == pytest.approx(litellm.token_counter(model="gpt-4o", text=long), rel=0.01)


def test_offline_models_answer_without_importing_litellm() -> None:
    code = (
        "import sys\n"
        "from pytest_hepagent.llm.gateway import Gateway\n"
        "done = Gateway().complete('hepagent/oracle', [{'role': 'user', 'content': 'step 5 please'}],\n"
        "    {'hepagent': {'role': 'coder', 'step': 'categorization', 'call_index': 0}})\n"
        "assert 'place_boundary' in done.text and done.input_tokens > 0 and done.output_tokens > 0, done\n"
        "print(sorted(m for m in ('litellm', 'uproot', 'sklearn', 'awkward') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_an_offline_model_that_cannot_answer_is_an_infrastructure_error(tmp_path: Path) -> None:
    gateway = Gateway()
    with pytest.raises(InfrastructureError, match="needs a cassette"):
        gateway.complete("hepagent/replay", [{"role": "user", "content": "x"}], {"hepagent": {"role": "coder"}})
    with pytest.raises(InfrastructureError, match="unknown offline model 'hepagent/orcale'"):
        gateway.complete("hepagent/orcale", [{"role": "user", "content": "x"}], {})
    missing = tmp_path / "missing.yaml"
    with pytest.raises(InfrastructureError, match=r"missing\.yaml"):
        gateway.complete(
            "hepagent/replay",
            [{"role": "user", "content": "x"}],
            {"hepagent": {"cassette": str(missing), "role": "coder", "call_index": 0}},
        )
