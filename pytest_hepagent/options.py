"""Every benchmark setting, declared once.

The table below makes the pytest option `--hep-NAME`, the ini key `hep_NAME` (for a project's pytest.ini or
pyproject.toml) and the `hepagent` command-line option `--NAME`: the same help, the same parsing, the same one-line
error, whichever way a value arrives. A command line value beats the ini key, which beats the default.

Light on purpose (no pytest, no click at import): the plugin imports it at start-up.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "BENCHMARK_INI",
    "DEFAULTS",
    "NOT_GIVEN",
    "OPTIONS",
    "Option",
    "OptionError",
    "add_pytest_options",
    "click_option",
    "data_dir",
    "option",
    "pytest_value",
]

Kind = Literal["text", "int", "float", "int-or-none", "float-or-none", "path", "flag", "repeat", "list"]

_WHAT = {
    "int": "a whole number",
    "float": "a number",
    "int-or-none": "a whole number",
    "float-or-none": "a number",
}


class OptionError(ValueError):
    """A value an option cannot take; the message is one line naming the option (`where`) and the fix."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.problem = problem


@dataclass(frozen=True)
class Option:
    name: str
    """`--hep-NAME` in pytest, `hep_NAME` (dashes as underscores) in the ini file, `--NAME` on `hepagent`."""
    help: str
    kind: Kind = "text"
    metavar: str = ""
    default: Any = None
    """What the benchmark uses when the option is not given (BenchmarkConfig's default)."""
    field: str = ""
    """The BenchmarkConfig field it sets ('' for the option's name with underscores)."""
    ini: bool = True
    """Also an ini key (not for what only makes sense for one invocation, such as --hep-resume)."""
    ini_name: str = ""
    """The ini key's name after `hep_`, when not the option's name (`hep_models` for the repeatable --hep-model)."""
    positive: bool = False
    """A number that must be above 0."""
    unit: str = ""
    """What a number counts (tokens, seconds, USD), or what a list or a choice names (step, sandbox): said in the
    error for a wrong value."""
    choices: tuple[str, ...] = ()
    """The values a text option may take (none: any)."""

    @property
    def pytest_flag(self) -> str:
        return f"--hep-{self.name}"

    @property
    def ini_key(self) -> str:
        return "hep_" + (self.ini_name or self.name).replace("-", "_")

    @property
    def config_field(self) -> str:
        return self.field or self.name.replace("-", "_")

    def parse(self, value: Any, source: str | None = None) -> Any:
        """`value` (text from a command line or an ini file, or already typed) as this option's type; None stays
        None. OptionError names `source` (default: the pytest option) and says what to give."""
        if value is None:
            return None
        where = source or self.pytest_flag
        if self.kind in ("text", "path"):
            text = str(value).strip()
            if self.choices and text not in self.choices:
                from pytest_hepagent.errors import did_you_mean

                raise OptionError(
                    where,
                    f"unknown {self.unit} {text!r}{did_you_mean(text, self.choices)}; choose one of "
                    f"{', '.join(self.choices)}",
                )
            return Path(text) if self.kind == "path" else text
        if self.kind == "flag":  # pytest gives True (the flag) or a bool (its ini key, parsed by pytest)
            return bool(value)
        if self.kind == "repeat":  # a list: the repeated option, or the ini key's lines
            return tuple(dict.fromkeys(v.strip() for v in value if v.strip())) or None
        if self.kind == "list":
            found = tuple(p.strip() for p in str(value).split(",") if p.strip())
            if not found:
                raise OptionError(where, f"no {self.unit} named in {value!r}; name {self.unit}s separated by commas")
            return found
        return self._number(value, where)

    def _number(self, value: Any, where: str) -> Any:
        text = str(value).strip()
        none_allowed = self.kind.endswith("-or-none")
        if none_allowed and text.lower() == "none":
            return None
        what = _WHAT[self.kind] + (f" of {self.unit}" if self.unit else "")
        convert: Callable[[str], float] = int if self.kind.startswith("int") else float
        try:
            number = convert(text)
        except ValueError:
            raise OptionError(
                where, f"{text!r} is not {what}; give {what}{', or none' if none_allowed else ''}"
            ) from None
        if not math.isfinite(number):
            raise OptionError(where, f"{text!r} is not a finite number; give {what}")
        if self.positive and number <= 0:
            raise OptionError(
                where, f"{text} is not above 0; give a larger number{' (or none)' if none_allowed else ''}"
            )
        return number


OPTIONS: tuple[Option, ...] = (
    Option(
        "model",
        "Model to benchmark (repeatable): any litellm model, hepagent/oracle or hepagent/replay",
        "repeat",
        "MODEL",
        ("hepagent/oracle",),
        field="models",
        ini_name="models",
    ),
    Option("supervisor-model", "Supervisor model for every trial (default: the coder's model)", metavar="MODEL"),
    Option("steps", "Comma-separated steps (default: all five)", "list", "STEPS", (), unit="step"),
    Option("trials", "Trials per model and step (default: 1, or the replayed cassettes)", "int", "N", positive=True),
    Option("max-iterations", "Coder attempts per trial", "int", "N", 3, positive=True),
    Option("judge-model", "LLM judge for failed trials (default: the rules decide)", metavar="MODEL"),
    Option("data", "Folder of real or generated 2020 GamGam files (default: the synthetic stand-in)", "path", "DIR"),
    Option("report-dir", "Where runs are stored", "path", "DIR", Path("reports")),
    Option(
        "baseline",
        "A baseline run to gate against (repeatable; a run folder, its results.jsonl or summary.json, or a folder of "
        "runs): runs of the same model, step, prompt and task spec pool; the exit status comes from the gate",
        "repeat",
        "PATH",
        (),
        field="baselines",
        ini_name="baselines",
    ),
    Option(
        "floor",
        "With a baseline, also fail cells whose success fraction is surely below this",
        "float",
        "FRACTION",
    ),
    Option(
        "detect-drop",
        "The margin: the drop in success (a fraction) that matters. The gate calls a cell OK only when a drop this "
        "large is ruled out",
        "float",
        "FRACTION",
        0.35,
        positive=True,
    ),
    Option(
        "max-trials",
        "With a baseline, the most trials a cell gets: undecided cells get more trials in rounds until decided or "
        "this many (equal to --hep-trials: one look)",
        "int",
        "N",
        50,
        unit="trials",
        positive=True,
    ),
    Option(
        "round-trials",
        "With a baseline, after the first round undecided cells get trials up to the next multiple of this",
        "int",
        "N",
        5,
        unit="trials",
        positive=True,
    ),
    Option(
        "undecided",
        "What a cell the gate could not decide does to the exit status: fail, or pass",
        metavar="POLICY",
        default="fail",
        unit="policy",
        choices=("fail", "pass"),
    ),
    Option(
        "adjust",
        "How the gate corrects for testing many cells: bonferroni keeps the chance of any wrong REGRESSED or OK in a "
        "run at 0.05, none tests each cell at 0.05",
        metavar="METHOD",
        default="bonferroni",
        unit="adjustment",
        choices=("bonferroni", "none"),
    ),
    Option(
        "interval",
        "The 0.95 interval of a success fraction in tables, reports and the floor's test",
        metavar="METHOD",
        default="wilson",
        unit="interval",
        choices=("wilson", "clopper-pearson"),
    ),
    Option("max-usd", "Start no new trial once the run's recorded spend reaches this", "float", "USD", unit="USD"),
    Option("record", "Write every live trajectory as a cassette into this folder", "path", "DIR"),
    Option("replay", "Cassette file or folder (<step>[-trial<n>].yaml) for hepagent/replay", "path", "PATH"),
    Option("resume", "Extend an earlier run: run only the trials it lacks", metavar="RUN_ID", ini=False),
    Option(
        "chain",
        "Chained end-to-end runs: per model and trial, the steps in order, each on the agent's own outputs",
        "flag",
        default=False,
    ),
    Option(
        "sandbox",
        "Where generated code runs: bwrap (bubblewrap) or none (unconfined, with a warning)",
        metavar="NAME",
        default="bwrap",
        unit="sandbox",
        choices=("bwrap", "none"),
    ),
    Option(
        "concurrency",
        "Trials run at once in each pytest process, with or without -n",
        "int",
        "N",
        1,
        unit="trials",
        positive=True,
    ),
    Option(
        "max-connections",
        "Calls in flight at once to one model from each process; halved on a rate limit",
        "int",
        "N",
        10,
        unit="calls",
        positive=True,
    ),
    Option(
        "max-output-tokens",
        "Most tokens one answer may have, or none for the provider's default",
        "int-or-none",
        "N",
        16_384,
        unit="tokens",
        positive=True,
    ),
    Option(
        "call-timeout",
        "Seconds one call may wait; a call that times out is retried once",
        "float",
        "SECONDS",
        300.0,
        field="call_timeout_s",
        unit="seconds",
        positive=True,
    ),
    Option(
        "token-limit",
        "Per trial: input plus output tokens of all its calls; reaching it fails the trial (none: no limit)",
        "int-or-none",
        "N",
        unit="tokens",
        positive=True,
    ),
    Option(
        "cost-limit",
        "Per trial: what its calls may cost; reaching it fails the trial (none: no limit)",
        "float-or-none",
        "USD",
        unit="USD",
        positive=True,
    ),
    Option(
        "time-limit",
        "Per trial: wall time; reaching it fails the trial (none: no limit)",
        "float-or-none",
        "SECONDS",
        3600.0,
        unit="seconds",
        positive=True,
    ),
    Option(
        "api-base",
        "OpenAI-compatible server for openai/<name> models (vLLM, llama.cpp, a gateway)",
        metavar="URL",
    ),
)

_BY_NAME = {o.name: o for o in OPTIONS}
DEFAULTS: dict[str, Any] = {o.config_field: o.default for o in OPTIONS if o.default is not None}
"""BenchmarkConfig's defaults, by field."""

BENCHMARK_INI = "hep_benchmark"
"""The ini-only switch: run the benchmark when pytest is started without paths."""


def option(name: str) -> Option:
    return _BY_NAME[name]


def add_pytest_options(parser: Any, group: Any) -> None:
    """Register every option with pytest (`parser.getgroup(...)` as `group`) and its ini key with `parser`."""
    for o in OPTIONS:
        if o.kind == "flag":
            group.addoption(o.pytest_flag, action="store_true", default=None, help=o.help)
        else:
            action = "append" if o.kind == "repeat" else "store"
            group.addoption(o.pytest_flag, action=action, default=None, metavar=o.metavar, help=_with_default(o))
        if o.ini:
            kind = {"flag": "bool", "repeat": "linelist"}.get(o.kind, "string")
            parser.addini(o.ini_key, type=kind, default=None, help=f"Default for {o.pytest_flag}")
    parser.addini(
        BENCHMARK_INI, type="bool", default=None, help="Run the benchmark when pytest is started without paths"
    )


def _with_default(o: Option) -> str:
    if o.default is None or o.kind in ("repeat", "list"):  # (a flag's help is its own)
        return o.help
    return f"{o.help} (default: {o.default})"


NOT_GIVEN: Any = object()
"""`pytest_value` of an option given neither on the command line nor in the ini file."""


def pytest_value(config: Any, name: str) -> Any:
    """The option's value in a pytest run: its command-line value, else its ini key's, parsed (`none` is None);
    NOT_GIVEN when neither is given. OptionError for a value it cannot take."""
    o = _BY_NAME[name]
    value = config.getoption(o.pytest_flag)
    if value is not None:
        return o.parse(value)
    value = (config.getini(o.ini_key) or None) if o.ini else None
    return NOT_GIVEN if value is None else o.parse(value, o.ini_key)


def data_dir(config: Any) -> Path | None:
    """The data folder a pytest run names (`--hep-data` or `hep_data`), or None for the synthetic stand-in."""
    value = pytest_value(config, "data")
    return None if value is NOT_GIVEN else Path(value)


def click_option(name: str, *, default: Any = ..., dest: str | None = None, **overrides: Any) -> Callable[[Any], Any]:
    """The `hepagent` command-line option of the table's `name`: `--NAME`, its help, parsing and default, passed
    to the command as the BenchmarkConfig field's name (or `dest`); `overrides` go to `click.option`."""
    import click

    o = _BY_NAME[name]

    def parse(ctx: Any, param: Any, value: Any) -> Any:  # click names the option in the message
        if value is None and o.kind == "list":
            return o.default
        if value is None:
            return value
        if o.kind == "repeat":  # click collects the repeats (multiple=True), or takes one
            return o.parse(value) if isinstance(value, tuple) else str(value).strip()
        try:
            return o.parse(value)
        except OptionError as exc:
            raise click.BadParameter(exc.problem) from None

    settings: dict[str, Any] = {"help": o.help}
    chosen = o.default if default is ... else default
    if o.kind == "flag":
        settings |= {"is_flag": True, "default": chosen}
    elif o.kind == "repeat":
        settings |= {"metavar": o.metavar, "multiple": True, "default": chosen, "callback": parse}
    else:  # text in, the table's parsing out (click would infer a type from the default and refuse "none")
        shown = None if chosen == () else chosen
        settings |= {"type": click.STRING, "metavar": o.metavar or None, "default": shown, "callback": parse}
        settings["show_default"] = True  # (nothing is shown for a default of None)
    return click.option(f"--{o.name}", dest or o.config_field, **(settings | overrides))
