"""Start-up checks that need the models: does the harness's own prompt fit each model's context window?

A prompt that cannot fit would fail every trial's first call, which is the harness's fault and not the model's: the
run stops before it starts, in one line. Only models litellm's model map knows the window of are checked (a local
`openai/<name>` server is not: its first call overflowing is then an infrastructure error of each trial).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_hepagent.llm.offline import is_offline

if TYPE_CHECKING:
    from pytest_hepagent.matrix.config import BenchmarkConfig

__all__ = ["check_context_windows", "first_prompts"]


def first_prompts(steps: tuple[str, ...]) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Per step, the messages of the calls whose size the harness decides, by the role that gets them: the
    supervisor's first call (its system prompt and the task), the coder's system prompt, and the reviewer's call
    on a correct answer as short as the reference solution (the task, the task as instructions, the code)."""
    from pytest_hepagent.analysis.scripts import script_text
    from pytest_hepagent.specs import load_specs, load_system_prompts

    specs, prompts = load_specs(), load_system_prompts()
    out = {}
    for step in steps:
        task = specs[step].render_prompt()
        report = f"## Instructions\n{task}\n\n## Code\n```python\n{script_text(step)}```\n\n"
        out[step] = {
            "supervisor": [{"role": "system", "content": prompts.supervisor}, {"role": "user", "content": task}],
            "coder": [{"role": "system", "content": prompts.coder}],
            "reviewer": [
                {"role": "system", "content": prompts.reviewer},
                {"role": "user", "content": f"## Task\n{task}\n\n{report}## Output\n"},
            ],
        }
    return out


_WHAT = {"reviewer": "the reviewer's prompt of a correct answer as short as the reference solution"}


def check_context_windows(bench: BenchmarkConfig) -> None:
    """`ConfigError` (one line) when a step's fixed prompt is longer than a model's known context window."""
    from pytest_hepagent.errors import ConfigError
    from pytest_hepagent.llm.gateway import context_window, load_litellm

    live = [m for m in bench.models if not is_offline(m)]
    supervisor = bench.supervisor_model
    own = ("coder",) if supervisor else ("supervisor", "coder", "reviewer")
    roles: dict[str, tuple[str, ...]] = dict.fromkeys(live, own)
    if supervisor and not is_offline(supervisor):
        roles[supervisor] = ("supervisor", "reviewer", *roles.get(supervisor, ()))
    windows = {m: context_window(m) for m in roles}
    if not any(windows.values()):
        return
    litellm = load_litellm()
    for step, messages in first_prompts(bench.steps).items():
        for model, window in windows.items():
            if window is None:
                continue
            for role in roles[model]:
                try:
                    tokens = int(litellm.token_counter(model=model, messages=messages[role]))
                except Exception:  # noqa: BLE001, S112 - a tokenizer that cannot count: the first call will tell
                    continue
                if tokens > window:
                    what = _WHAT.get(role) or f"the {role}'s prompt"
                    raise ConfigError(
                        f"--hep-model {model}: {what} of step {step} alone is {tokens:,} tokens, more "
                        f"than the model's {window:,}-token context window (litellm's model map); choose a model "
                        f"with a larger window or fewer --hep-steps"
                    )
