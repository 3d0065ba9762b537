"""The README is tested: every command, option, exit code and config key in the code is documented (README,
sample-config.toml), and everything documented exists. The exit-code table is checked against ExitCode,
the code's one definition."""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path

import pytest
import typer.main
from pydantic import BaseModel

from cli_helpers import command_tree
from kisoms.cli.app import app
from kisoms.cli.exit_codes import ExitCode
from kisoms.config import Settings

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
SAMPLE = (ROOT / "sample-config.toml").read_text()
COMMANDS = command_tree()


def readme_rows() -> dict[str, str]:
    """The Commands table: command name → its row (synopsis and description)."""
    section = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if not line.startswith("| `kisoms "):
            continue
        first_cell = line.split(" | ", 1)[0]
        for words in re.findall(r"`kisoms ([a-z][a-z-]*(?: [a-z][a-z-]*)*)", first_cell):
            rows[_longest_command(words)] = line
    return rows


def _longest_command(words: str) -> str:
    """``sim stop`` names the subcommand; ``export orders`` names ``export`` and its argument."""
    parts = words.split()
    for n in range(len(parts), 0, -1):
        if " ".join(parts[:n]) in COMMANDS:
            return " ".join(parts[:n])
    return words


def options_of(command) -> set[str]:
    return {opt for p in command.params if p.param_type_name == "option" for opt in p.opts + p.secondary_opts
            if opt != "--help"}


def global_options() -> set[str]:
    group = typer.main.get_command(app)
    return options_of(group)


def test_every_command_has_a_row_and_every_row_is_a_command():
    assert set(readme_rows()) == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_of_a_command_is_in_its_row(name):
    row = readme_rows()[name]
    missing = {opt for opt in options_of(COMMANDS[name]) if not re.search(rf"{re.escape(opt)}\b", row)}
    assert not missing, f"README's row for `kisoms {name}` does not mention {sorted(missing)}"


def test_every_global_option_is_documented():
    for opt in global_options():
        assert opt in README, opt


def test_every_option_the_readme_names_exists():
    known = global_options().union(*(options_of(c) for c in COMMANDS.values()))
    # bench/run.py and scripts/mutate.py have flags of their own
    kisoms_part = re.sub(r"\n## (Benchmarks|Mutation testing)\n.*?(?=\n## |\Z)", "\n", README, flags=re.S)
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", kisoms_part))
    assert named <= known, f"README names options kisoms does not have: {sorted(named - known)}"


def exit_table() -> dict[int, str]:
    section = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| (.+) \|$", section, re.M)}


def test_the_exit_code_table_is_the_code_s_definition():
    table = exit_table()
    assert set(table) == {int(code) for code in ExitCode}
    assert list(table) == sorted(table)
    for code in ExitCode:  # each row says what the code's name says
        words = {"OK": "success", "INTERNAL": "internal", "USAGE": "usage", "VALIDATION": "validation",
                 "BROKER_REJECT": "broker reject", "UNKNOWN_OR_HALTED": "unknown", "BROKER_UNREACHABLE": "unreachable",
                 "RECONCILE_CORRECTED": "corrected", "LEDGER": "ledger", "LEDGER_BUSY": "busy", "INTERRUPTED": "interrupted",
                 "READER_GONE": "closed by its reader"}
        assert words[code.name] in table[int(code)].lower(), (code, table[int(code)])


def config_keys_in_code(model: type[BaseModel] = Settings, prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        args = typing.get_args(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= config_keys_in_code(annotation, f"{prefix}{name}.")
        elif typing.get_origin(annotation) is dict and isinstance(args[1], type) and issubclass(args[1], BaseModel):
            keys |= config_keys_in_code(args[1], f"{prefix}{name}.*.")
        else:
            keys.add(prefix + name)
    return keys


def config_keys_in_sample() -> set[str]:
    """Keys set or shown commented out (`# key = ...`) in sample-config.toml, by section."""
    keys, section = set(), ""
    for line in SAMPLE.splitlines():
        header = re.match(r"^(?:# )?\[([^\]]+)\]", line)
        if header:
            section = re.sub(r'"[^"]*"', "*", header.group(1)) + "."
            continue
        key = re.match(r"^#?\s?([a-z_]+) = ", line)
        if key:
            keys.add(section + key.group(1))
    return keys


def test_every_config_key_is_in_the_sample_config_and_every_sample_key_exists():
    in_code, in_sample = config_keys_in_code(), config_keys_in_sample()
    assert in_code - in_sample == set(), f"undocumented config keys: {sorted(in_code - in_sample)}"
    assert in_sample - in_code == set(), f"sample-config.toml shows unknown keys: {sorted(in_sample - in_code)}"


def test_the_sample_config_loads_as_is():
    tomllib.loads(SAMPLE)


def test_the_readme_s_opening_commands_name_real_commands_and_options():
    first = re.findall(r"```bash\n(.+?)\n```", README, re.S)[0]
    for name, rest in re.findall(r"kisoms ([a-z-]+)([^;&}]*)", first):
        assert name in COMMANDS, name
        for opt in re.findall(r"--[a-z-]+", rest):
            assert opt in options_of(COMMANDS[name]) | global_options(), (name, opt)
