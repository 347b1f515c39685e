"""The options table: one declaration makes the pytest option, the ini key and the `hepagent` option, with the same
parsing, defaults and one-line errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from pytest_hepagent.agent.limits import DEFAULT_TIME_LIMIT_S
from pytest_hepagent.llm.gateway import DEFAULT_MAX_OUTPUT_TOKENS
from pytest_hepagent.matrix.config import BenchmarkConfig
from pytest_hepagent.options import (
    DEFAULTS,
    NOT_GIVEN,
    OPTIONS,
    OptionError,
    add_pytest_options,
    click_option,
    data_dir,
    option,
    pytest_value,
)
from pytest_hepagent.sandbox.backends import DEFAULT_SANDBOX, SANDBOXES


def test_every_option_sets_a_benchmark_setting_and_its_default_is_the_settings_default() -> None:
    fields = {f.name: f for f in dataclasses.fields(BenchmarkConfig)}
    for o in OPTIONS:
        assert o.config_field in fields, o.name
        default = fields[o.config_field].default
        assert o.default == (None if default is dataclasses.MISSING else default), o.name
    assert DEFAULTS["max_output_tokens"] == DEFAULT_MAX_OUTPUT_TOKENS
    assert DEFAULTS["time_limit"] == DEFAULT_TIME_LIMIT_S
    assert (DEFAULTS["sandbox"], option("sandbox").choices) == (DEFAULT_SANDBOX, SANDBOXES)


def test_names_follow_one_rule() -> None:
    o = option("max-output-tokens")
    assert (o.pytest_flag, o.ini_key, o.config_field) == (
        "--hep-max-output-tokens",
        "hep_max_output_tokens",
        "max_output_tokens",
    )
    assert option("model").ini_key == "hep_models"  # the documented key of the repeatable --hep-model
    assert option("call-timeout").config_field == "call_timeout_s"
    assert not option("resume").ini  # one run's business, not a project's
    assert len({o.name for o in OPTIONS}) == len(OPTIONS)


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("trials", " 3 ", 3),
        ("trials", "1", 1),
        ("call-timeout", "12.5", 12.5),
        ("token-limit", "none", None),
        ("token-limit", "None", None),
        ("time-limit", "60", 60.0),
        ("steps", "a, b,,c", ("a", "b", "c")),
        ("model", ["x", "y", "x"], ("x", "y")),
        ("data", "/d", Path("/d")),
        ("chain", True, True),
        ("chain", False, False),
        ("sandbox", "none", "none"),
        ("max-usd", "0", 0.0),
    ],
)
def test_values_are_parsed_by_kind(name: str, text: Any, value: Any) -> None:
    assert option(name).parse(text) == value


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("trials", "2.5", "--hep-trials: '2.5' is not a whole number; give a whole number"),
        ("trials", "0", "--hep-trials: 0 is not above 0; give a larger number"),
        ("call-timeout", "soon", "--hep-call-timeout: 'soon' is not a number of seconds; give a number of seconds"),
        ("call-timeout", "none", "--hep-call-timeout: 'none' is not a number of seconds; give a number of seconds"),
        (
            "token-limit",
            "x",
            "--hep-token-limit: 'x' is not a whole number of tokens; give a whole number of tokens, or none",
        ),
        ("time-limit", "-5", "--hep-time-limit: -5 is not above 0; give a larger number (or none)"),
        ("cost-limit", "nan", "--hep-cost-limit: 'nan' is not a finite number; give a number of USD"),
        ("steps", " , ", "--hep-steps: no step named in ' , '; name steps separated by commas"),
        ("sandbox", "docker", "--hep-sandbox: unknown sandbox 'docker'; choose one of bwrap, none"),
    ],
)
def test_a_value_an_option_cannot_take_is_one_line_naming_it(name: str, text: str, message: str) -> None:
    with pytest.raises(OptionError) as info:
        option(name).parse(text)
    assert str(info.value) == message


class _Config:
    """What pytest_value asks of pytest's Config."""

    def __init__(self, given: dict[str, Any], ini: dict[str, Any]) -> None:
        self.given, self.ini = given, ini

    def getoption(self, flag: str) -> Any:
        return self.given.get(flag)

    def getini(self, key: str) -> Any:
        return self.ini.get(key, "")


def test_the_command_line_beats_the_ini_file_which_beats_the_default() -> None:
    both = _Config({"--hep-trials": "2"}, {"hep_trials": "5"})
    assert pytest_value(both, "trials") == 2
    assert pytest_value(_Config({}, {"hep_trials": "5"}), "trials") == 5
    assert pytest_value(_Config({}, {}), "trials") is NOT_GIVEN
    assert pytest_value(_Config({}, {"hep_time_limit": "none"}), "time-limit") is None  # given: no limit
    assert pytest_value(_Config({}, {"hep_resume": "run"}), "resume") is NOT_GIVEN  # no ini key
    with pytest.raises(OptionError, match=r"^hep_trials: 'many' is not a whole number"):
        pytest_value(_Config({}, {"hep_trials": "many"}), "trials")  # the error names where the value came from


def _command() -> click.Command:
    """A command made from the table inside the test (so a mutation testing run sees it made with the mutant)."""

    @click.command()
    @click_option("token-limit")
    @click_option("time-limit")
    @click_option("model", dest="model", multiple=False, default="hepagent/oracle")
    @click_option("steps")
    @click_option("chain")
    @click_option("data")
    def command(
        token_limit: int | None,
        time_limit: float | None,
        model: str,
        steps: tuple[str, ...],
        chain: bool,
        data: Path | None,
    ) -> None:
        click.echo(repr((token_limit, time_limit, model, steps, chain, data)))

    return command


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        ([], "(None, 3600.0, 'hepagent/oracle', (), False, None)"),
        (
            ["--token-limit", "100", "--time-limit", "none", "--model", " o3 ", "--steps", "a,b", "--chain"],
            "(100, None, 'o3', ('a', 'b'), True, None)",
        ),
        (["--data", "/d", "--time-limit", "60"], "(None, 60.0, 'hepagent/oracle', (), False, PosixPath('/d'))"),
    ],
)
def test_the_same_table_makes_the_click_options(args: list[str], shown: str) -> None:
    result = CliRunner().invoke(_command(), args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == shown


def test_a_repeatable_option_collects_its_values() -> None:
    @click.command()
    @click_option("model")
    def command(models: tuple[str, ...]) -> None:
        click.echo(repr(models))

    assert CliRunner().invoke(command, []).output.strip() == "('hepagent/oracle',)"
    assert "--model MODEL  Model to benchmark (repeatable)" in CliRunner().invoke(command, ["--help"]).output
    assert CliRunner().invoke(command, ["--model", "a", "--model", " b", "--model", "a"]).output.strip() == "('a', 'b')"


def test_a_bad_value_on_the_command_line_is_a_usage_error_naming_the_option() -> None:
    result = CliRunner().invoke(_command(), ["--token-limit", "lots"])
    assert result.exit_code == 2
    assert "Invalid value for '--token-limit': 'lots' is not a whole number of tokens" in result.output
    shown = CliRunner().invoke(_command(), ["--help"]).output
    assert "--token-limit N" in shown and "--time-limit SECONDS" in shown and "[default: 3600.0]" in shown
    assert "Per trial: input plus output tokens" in shown
    assert "--chain " in shown and "Chained end-to-end runs" in shown
    chain_help = shown[shown.index("--chain ") : shown.index("--data ")]
    assert "[default" not in chain_help  # a flag's default goes without saying


class _Parser:
    """What add_pytest_options asks of pytest's parser and option group, recorded."""

    def __init__(self) -> None:
        self.options: dict[str, dict[str, Any]] = {}
        self.ini: dict[str, dict[str, Any]] = {}

    def addoption(self, flag: str, **settings: Any) -> None:
        self.options[flag] = settings

    def addini(self, name: str, **settings: Any) -> None:
        self.ini[name] = settings


def test_every_option_becomes_a_pytest_option_and_an_ini_key() -> None:
    parser = _Parser()
    add_pytest_options(parser, parser)
    assert list(parser.options) == [o.pytest_flag for o in OPTIONS]
    for o in OPTIONS:
        settings = parser.options[o.pytest_flag]
        assert settings["default"] is None  # unset: the ini key, then the table's default, decide
        assert settings["action"] == {"flag": "store_true", "repeat": "append"}.get(o.kind, "store")
        assert settings["help"].startswith(o.help)
        assert settings.get("metavar") == (None if o.kind == "flag" else o.metavar)
    assert parser.options["--hep-max-iterations"]["help"].endswith("(default: 3)")
    assert parser.options["--hep-call-timeout"]["help"].endswith("(default: 300.0)")
    for plain in ("model", "steps", "chain", "trials", "judge-model"):  # no default, or none a number says
        assert parser.options[option(plain).pytest_flag]["help"] == option(plain).help
    ini_options = [o for o in OPTIONS if o.ini]
    assert list(parser.ini) == [*(o.ini_key for o in ini_options), "hep_benchmark"]
    assert {k: v["type"] for k, v in parser.ini.items() if v["type"] != "string"} == {
        "hep_models": "linelist",
        "hep_baselines": "linelist",
        "hep_chain": "bool",
        "hep_benchmark": "bool",
    }
    assert parser.ini["hep_time_limit"]["help"] == "Default for --hep-time-limit"
    assert parser.ini["hep_benchmark"]["help"] == "Run the benchmark when pytest is started without paths"
    assert all(v["default"] is None for v in parser.ini.values())


def test_the_data_folder_and_where_an_error_came_from() -> None:
    assert data_dir(_Config({}, {})) is None
    assert data_dir(_Config({}, {"hep_data": "/ini/data"})) == Path("/ini/data")
    assert data_dir(_Config({"--hep-data": "/cli/data"}, {"hep_data": "/ini/data"})) == Path("/cli/data")
    with pytest.raises(OptionError, match=r"^--hep-trials: 'x' is not a whole number"):
        pytest_value(_Config({"--hep-trials": "x"}, {}), "trials")
    assert pytest_value(_Config({"--hep-model": ["a", " b ", "a", ""]}, {}), "model") == ("a", "b")
    assert pytest_value(_Config({}, {"hep_models": ["", " "]}), "model") is None  # lines naming nothing
