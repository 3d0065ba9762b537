"""The CLI's surface: every command has help, global options work, bad config and input give clear exits."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import typer.main

from kisoms.cli.app import app, main
from kisoms.cli.exit_codes import ExitCode
from kisoms.config import load_settings
from kisoms.errors import ConfigError

COMMANDS = ["submit", "modify", "cancel", "status", "watch", "reconcile", "halt", "resume", "resolve",
            "events", "verify-audit", "sim"]


def _registered() -> dict:
    main(["--version"])  # registers the commands
    return typer.main.get_command(app).commands


def test_every_command_has_help():
    commands = _registered()
    assert set(COMMANDS) <= set(commands)
    for name, command in commands.items():
        assert command.help and len(command.help.strip()) > 20, f"{name} has no help"
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert getattr(param, "help", None), f"{name} --{param.name} has no help"


def test_version(capsys):
    assert main(["--version"]) == 0
    assert "kisoms" in capsys.readouterr().out


def test_console_script_runs_as_a_process():
    out = subprocess.run([sys.executable, "-m", "kisoms", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "submit" in out.stdout


def test_bad_config_names_the_key(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text('env = "sim"\n[retry]\nmax_attempts = "many"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(bad, environ={})
    assert "retry.max_attempts" in str(err.value)


def test_unknown_config_key_is_refused(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text('env = "sim"\nrest_ulr = "http://x"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(bad, environ={})
    assert "rest_ulr" in str(err.value)


def test_not_toml_is_a_config_error(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("env = = sim")
    with pytest.raises(ConfigError):
        load_settings(bad, environ={})


def test_env_overrides_urls(tmp_path):
    s = load_settings(None, environ={"KISOMS_REST_URL": "http://127.0.0.1:1", "KISOMS_WS_URL": "ws://127.0.0.1:2"})
    assert (s.rest_url, s.ws_url) == ("http://127.0.0.1:1", "ws://127.0.0.1:2")


def test_sample_config_is_valid():
    s = load_settings("sample-config.toml", environ={})
    assert s.env == "sim" and "50000001-01" in s.accounts


def test_missing_config_file_exit_code(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "nope.toml"), "status"]) == ExitCode.USAGE
    assert "not found" in capsys.readouterr().err


def test_bad_intent_file_exit_code(tmp_path, capsys):
    bad = tmp_path / "i.json"
    bad.write_text('{"account": "50000001-01", "symbol": "005930"}')
    code = main(["--ledger", str(tmp_path / "l.db"), "submit", "--intent", str(bad)])
    assert code == ExitCode.USAGE
    assert "strategy_version" in capsys.readouterr().err


def test_naive_signal_ts_is_refused(tmp_path, capsys):
    code = main(["--ledger", str(tmp_path / "l.db"), "submit", "--symbol", "005930", "--side", "buy",
                 "--qty", "1", "--price", "70000", "--signal-ts", "2026-11-25T09:00:00"])
    assert code == ExitCode.USAGE
    assert "time zone" in capsys.readouterr().err


def test_status_on_empty_ledger(tmp_path, capsys):
    assert main(["--ledger", str(tmp_path / "l.db"), "--json", "status"]) == 0
    assert capsys.readouterr().out == ""  # a list is JSON Lines: no orders, no lines


def test_halt_and_resume(tmp_path, capsys):
    ledger = ["--ledger", str(tmp_path / "l.db")]
    assert main(ledger + ["halt", "testing"]) == 0
    assert main(ledger + ["status"]) == 0
    assert "HALTED" in capsys.readouterr().err
    assert main(ledger + ["resume"]) == 0


def test_newer_ledger_is_refused(tmp_path, capsys):
    import sqlite3

    path = tmp_path / "l.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    before = path.read_bytes()
    assert main(["--ledger", str(path), "status"]) == ExitCode.USAGE
    assert path.read_bytes() == before


def test_ledger_location_precedence_and_default(tmp_path):
    from kisoms.config import Settings, ledger_path
    from kisoms.ledger import default_ledger_path

    plain = Settings()
    assert ledger_path(plain, None, {}) == default_ledger_path()  # one default, wherever it is computed
    configured = Settings(ledger=str(tmp_path / "cfg.db"))
    assert ledger_path(configured, None, {}) == tmp_path / "cfg.db"
    assert ledger_path(configured, None, {"KISOMS_LEDGER": str(tmp_path / "env.db")}) == tmp_path / "env.db"
    assert ledger_path(configured, str(tmp_path / "flag.db"),
                       {"KISOMS_LEDGER": str(tmp_path / "env.db")}) == tmp_path / "flag.db"


def test_halt_and_resume_one_account(tmp_path, capsys):
    ledger = ["--ledger", str(tmp_path / "l.db")]
    assert main(ledger + ["halt", "checking fills", "--account", "50000001-01"]) == 0
    assert main(ledger + ["status"]) == 0
    assert "HALTED (account 50000001-01): checking fills" in capsys.readouterr().err
    assert main(ledger + ["resume", "--account", "50000002-01"]) == 0  # another account: nothing to clear
    assert main(ledger + ["status"]) == 0
    assert "HALTED" in capsys.readouterr().err
    assert main(ledger + ["resume", "--account", "50000001-01"]) == 0
    assert main(ledger + ["status"]) == 0
    assert "HALTED" not in capsys.readouterr().err


def test_a_halt_for_a_misspelt_account_is_refused(tmp_path, capsys):
    ledger = ["--ledger", str(tmp_path / "l.db")]
    assert main(ledger + ["halt", "x", "--account", "5000000101"]) == ExitCode.USAGE  # would stop nothing
    assert "CANO-ACNT_PRDT_CD" in capsys.readouterr().err
    assert main(ledger + ["--json", "status"]) == 0
    assert main(ledger + ["resume", "--account", "5000000101"]) == ExitCode.USAGE


def test_resume_of_one_account_under_the_global_switch_says_what_is_still_on(tmp_path, capsys):
    ledger = ["--ledger", str(tmp_path / "l.db")]
    assert main(ledger + ["halt", "all stop"]) == 0
    assert main(ledger + ["resume", "--account", "50000001-01"]) == ExitCode.USAGE
    assert "global kill switch is on (all stop)" in capsys.readouterr().err
    assert main(ledger + ["resume"]) == 0


def test_resume_lifts_the_global_switch_and_says_which_account_switches_stay_on(tmp_path, capsys):
    ledger = ["--ledger", str(tmp_path / "l.db")]
    assert main(ledger + ["halt", "discrepancy", "--account", "50000001-01"]) == 0
    assert main(ledger + ["halt", "lunch"]) == 0
    capsys.readouterr()
    assert main(ledger + ["resume"]) == 0  # the global one only: a discrepancy halt is not lifted in passing
    assert "still halted (account 50000001-01): discrepancy" in capsys.readouterr().out
    assert main(ledger + ["resume", "--all"]) == 0
    assert main(ledger + ["status"]) == 0
    assert "HALTED" not in capsys.readouterr().err


def _every_help_text(group, path=()) -> list[tuple[tuple[str, ...], str]]:
    """(the command path whose --help shows it, text) for every group's, command's and option's help."""
    texts = []
    for name, command in getattr(group, "commands", {}).items():
        texts.append((path, command.help or ""))
        texts += [((*path, name), p.help) for p in command.params if getattr(p, "help", None)]
        texts += _every_help_text(command, (*path, name))
    return texts


def test_no_help_text_loses_a_bracketed_word_to_markup():
    """Rich reads ``[word]`` in a help text as a style tag and drops it ("Alerts ( in the config)")."""
    texts = _every_help_text(typer.main.get_command(app) if _registered() else None)
    assert len(texts) > 50
    for path, text in texts:
        for word in re.findall(r"\[[^\]\s]+\]", text):
            shown = subprocess.run([sys.executable, "-m", "kisoms", *path, "--help"], capture_output=True,
                                   text=True, env={**os.environ, "COLUMNS": "200"}).stdout
            assert word in shown, (path, word)
