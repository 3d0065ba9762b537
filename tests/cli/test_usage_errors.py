"""Every usage error of every command: one line naming the problem and the fix, exit 2, no traceback.

The commands are read from the app's command tree, so a new command or option is covered without
editing this file.
"""

from __future__ import annotations

import json

import pytest

from kisoms.cli.app import main
from kisoms.cli.exit_codes import ExitCode
from cli_helpers import (assert_one_line_error, command_tree, int_params, kisoms_process,
                                   required_arguments, value_options)

COMMANDS = command_tree()


def _bad_invocations() -> list[tuple[str, list[str], str]]:
    """(case id, argv, a word the one error line must contain) for every command."""
    cases = []
    for name, command in sorted(COMMANDS.items()):
        words = name.split()
        cases.append((f"{name}-unknown-flag", [*words, "--no-such-flag"], "--no-such-flag"))
        if required_arguments(command):
            cases.append((f"{name}-missing-argument", words, "Missing argument"))
        for option in value_options(command):
            cases.append((f"{name}-{option.name}-without-value", [*words, option.opts[0]], option.opts[0]))
        for param in int_params(command):
            if param.param_type_name == "argument":
                cases.append((f"{name}-{param.name}-ten", [*words, "ten"], "integer"))
            else:
                cases.append((f"{name}-{param.name}-ten", [*words, param.opts[0], "ten"], param.opts[0]))
    return cases


CASES = _bad_invocations()


def case_command(case: str) -> str:
    """The command a case id names ("alerts test-unknown-flag" -> "alerts test")."""
    return max((name for name in COMMANDS if case.startswith(f"{name}-")), key=len)


def test_the_walk_covers_every_command_and_every_kind_of_mistake():
    assert set(COMMANDS) >= {"submit", "status", "reconcile", "halt", "resume", "verify-audit", "watch"}
    covered = {case.split("-unknown-flag")[0] for case, _, _ in CASES if case.endswith("-unknown-flag")}
    assert covered == set(COMMANDS)
    assert any("missing-argument" in c for c, _, _ in CASES) and any("-ten" in c for c, _, _ in CASES)


@pytest.mark.parametrize(("case", "argv", "word"), CASES, ids=[c for c, _, _ in CASES])
def test_a_usage_error_is_one_line_and_exit_2(case, argv, word, tmp_path, capsys):
    code = main(["--ledger", str(tmp_path / "l.db"), *argv])
    out, err = capsys.readouterr()
    assert code == ExitCode.USAGE, (case, out, err)
    assert_one_line_error(err, containing=word)
    assert f"kisoms {case_command(case)} --help" in err  # the fix: where this command's usage is
    assert out == ""
    assert not (tmp_path / "l.db").exists()  # parsing failed before anything was opened


@pytest.mark.parametrize("argv", [[], ["no-such-command"], ["--no-such-global"], ["--ledger"]])
def test_global_usage_errors(argv, capsys):
    assert main(argv) == ExitCode.USAGE
    out, err = capsys.readouterr()
    assert_one_line_error(err, containing="kisoms --help")
    assert out == ""


def test_with_json_a_usage_error_is_one_json_object_on_stderr(capsys):
    assert main(["--json", "status", "--bogus"]) == ExitCode.USAGE
    out, err = capsys.readouterr()
    assert out == ""
    body = json.loads(err)
    assert body["exit"] == 2 and body["code"] == "usage" and "--bogus" in body["message"]


@pytest.mark.parametrize("argv", [[], ["submit", "--qty", "ten"], ["cancel"], ["status", "--bogus"]])
def test_as_a_real_process_too(argv, tmp_path):
    ran = kisoms_process(["--ledger", str(tmp_path / "l.db"), *argv])
    assert ran.code == 2, ran
    assert_one_line_error(ran.err, containing="--help")
    assert ran.out == ""


@pytest.mark.parametrize("argv", [["status", "--json"], ["--json", "status"], ["status", "--open", "--json"]])
def test_json_works_before_or_after_the_command_name(argv, tmp_path, capsys):
    assert main(["--ledger", str(tmp_path / "l.db"), "halt", "x"]) == 0
    capsys.readouterr()
    assert main(["--ledger", str(tmp_path / "l.db"), *argv]) == 0
    assert capsys.readouterr().out == ""  # JSON Lines of no orders (a table would have printed a header)


def test_json_as_the_value_of_an_option_stays_a_value(tmp_path, capsys):
    assert main(["--ledger", str(tmp_path / "l.db"), "halt", "--account", "--json"]) == ExitCode.USAGE
    assert "CANO-ACNT_PRDT_CD" in capsys.readouterr().err  # "--json" was taken as the account, and refused


OUT_OF_RANGE = [["status", "--limit", "-1"], ["events", "--limit", "-1"], ["events", "--since", "-2"],
                ["watch", "--since", "-1"], ["sim", "--port", "-1"], ["sim", "--port", "65536"],
                ["sim", "--ws-port", "70000"], ["sim", "--paper-port", "-1"], ["sim", "--paper-ws-port", "65536"]]


@pytest.mark.parametrize("argv", OUT_OF_RANGE, ids=[" ".join(a) for a in OUT_OF_RANGE])
def test_a_count_id_or_port_out_of_range_is_a_usage_error(argv, tmp_path, capsys):
    """A negative --limit would list everything (SQL's LIMIT -1) and a port past 65535 crashed in bind()."""
    code = main(["--ledger", str(tmp_path / "l.db"), *argv])
    out, err = capsys.readouterr()
    assert code == ExitCode.USAGE, (argv, out, err)
    assert_one_line_error(err, containing=argv[1])
    assert out == "" and not (tmp_path / "l.db").exists()


def test_every_limit_since_and_port_option_has_a_floor():
    """A new --limit, --since or port option is range-checked too."""
    for name, command in COMMANDS.items():
        for param in int_params(command):
            if param.name in ("limit", "since") or param.name.endswith("port"):
                assert param.min == 0, (name, param.name)
