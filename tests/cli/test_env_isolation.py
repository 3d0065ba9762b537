"""Environments never mix: each env its own default ledger and state dir; a ledger refuses another env;
`real` is reached only by an explicit `env = "real"` or `--env real`; a busy ledger never blocks a reader.

The CLI runs in real subprocesses with their own user data dir (XDG_DATA_HOME) and a wide COLUMNS (line
wrapping is the renderer's business, not this test's).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from lock_holding import write_lock_held

from kisoms.config import Settings, ledger_path, load_settings
from kisoms.errors import ConfigError
from kisoms.ledger import default_ledger_path



def kisoms(tmp_path: Path, *args: str, **environ: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KISOMS_")}
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), COLUMNS="500",
               PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring", **environ)
    return subprocess.run([sys.executable, "-m", "kisoms", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def one_line_error(proc: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def identity_env(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT env FROM ledger_identity").fetchone()[0]
    finally:
        conn.close()


def test_each_env_has_its_own_default_ledger_and_state_dir():
    settings = {env: Settings(env=env) for env in ("sim", "paper", "real")}
    ledgers = {env: ledger_path(s, None, {}) for env, s in settings.items()}
    states = {env: s.state_path for env, s in settings.items()}
    assert len(set(ledgers.values())) == 3 and len(set(states.values())) == 3
    for env in settings:
        assert ledgers[env] == states[env] / "ledger.db" == default_ledger_path(env)
        assert states[env].name == env


def test_sim_and_paper_keep_separate_ledgers(tmp_path):
    assert kisoms(tmp_path, "--env", "paper", "halt", "paper only").returncode == 0
    sim = kisoms(tmp_path, "status")
    paper = kisoms(tmp_path, "--env", "paper", "status")
    assert sim.returncode == paper.returncode == 0
    assert "HALTED" not in sim.stdout + sim.stderr and "paper only" in paper.stdout + paper.stderr
    root = tmp_path / "data" / "kisoms"
    assert identity_env(root / "sim" / "ledger.db") == "sim"
    assert identity_env(root / "paper" / "ledger.db") == "paper"


def test_a_ledger_refuses_another_env_in_one_line_exit_2(tmp_path):
    ledger = tmp_path / "l.db"
    assert kisoms(tmp_path, "--ledger", str(ledger), "halt", "sim halt").returncode == 0
    before = ledger.read_bytes()
    refused = kisoms(tmp_path, "--ledger", str(ledger), "--env", "paper", "status")
    one_line_error(refused, 2, f"ledger {ledger} belongs to env sim, not env paper", "--env sim")
    assert ledger.read_bytes() == before
    config = tmp_path / "real.toml"
    config.write_text(f'env = "real"\nledger = "{ledger}"\n')
    one_line_error(kisoms(tmp_path, "--config", str(config), "resume"), 2, "belongs to env sim, not env real")
    shown = kisoms(tmp_path, "--ledger", str(ledger), "status")
    assert "sim halt" in shown.stdout + shown.stderr


@pytest.mark.parametrize("file_env,environ,flag", [
    (None, {"KISOMS_ENV": "Real"}, None), (None, {"KISOMS_ENV": "reall"}, None), (None, {"KISOMS_ENV": "real"}, None),
    ("paper", {"KISOMS_ENV": "real"}, None), (None, {}, "REAL"), (None, {}, "reall"), ("Real", {}, None),
    ("real ", {}, None), ("REAL", {}, "paper"),
])
def test_real_is_never_reached_by_a_typo_or_by_the_environment(tmp_path, file_env, environ, flag):
    config = tmp_path / "c.toml"
    config.write_text(f'env = "{file_env}"\n' if file_env else "")
    with pytest.raises(ConfigError, match="env"):
        load_settings(config, environ, env=flag)


@pytest.mark.parametrize("args,environ", [((), {"KISOMS_ENV": "Real"}), (("--env", "reall"), {})])
def test_a_typo_for_real_exits_2_in_one_line_and_opens_nothing(tmp_path, args, environ):
    one_line_error(kisoms(tmp_path, *args, "status", **environ), 2, "is not an environment")
    assert not (tmp_path / "data").exists()  # no ledger, no state dir


def test_the_env_flag_wins_and_kisoms_env_may_choose_sim_or_paper(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('env = "real"\n')
    assert load_settings(config, {"KISOMS_ENV": "paper"}).env == "paper"
    assert load_settings(config, {"KISOMS_ENV": "real"}).env == "real"  # what the file already says
    assert load_settings(None, {"KISOMS_ENV": "paper"}, env="sim").env == "sim"
    assert load_settings(None, {}).env == "sim"


def test_real_is_reached_by_an_explicit_flag_or_config(tmp_path):
    assert kisoms(tmp_path, "--env", "real", "status").returncode == 0
    config = tmp_path / "c.toml"
    config.write_text('env = "real"\n')
    assert kisoms(tmp_path, "--config", str(config), "status", KISOMS_ENV="real").returncode == 0
    assert identity_env(tmp_path / "data" / "kisoms" / "real" / "ledger.db") == "real"



def test_status_reads_while_another_process_writes_and_a_blocked_writer_is_told_to_retry(tmp_path):
    ledger = tmp_path / "l.db"
    config = tmp_path / "c.toml"
    config.write_text("ledger_busy_timeout = 0.3\n")
    base = ("--config", str(config), "--ledger", str(ledger))
    assert kisoms(tmp_path, *base, "halt", "held for the test").returncode == 0
    with write_lock_held(ledger):
        status = kisoms(tmp_path, "--ledger", str(ledger), "status")  # default busy timeout: 10 s
        assert status.returncode == 0, status.stderr
        assert "held for the test" in status.stdout + status.stderr
        one_line_error(kisoms(tmp_path, *base, "resume"), 11, "busy", "run the command again")
    after = kisoms(tmp_path, "--ledger", str(ledger), "status")
    assert "held for the test" in after.stdout + after.stderr


def test_the_old_shared_default_ledger_is_pointed_out_not_silently_dropped(tmp_path, monkeypatch):
    from kisoms.engine.queries import open_ledger

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    legacy = tmp_path / "data" / "kisoms" / "ledger.db"
    with open_ledger(Settings(env="paper")) as ledger:
        assert ledger.warnings == []
    legacy.write_bytes(b"")
    legacy.chmod(0o600)
    with open_ledger(Settings(env="paper")) as ledger:
        [warning] = ledger.warnings
    assert str(legacy) in warning and str(tmp_path / "data" / "kisoms" / "paper" / "ledger.db") in warning
    with open_ledger(Settings(env="paper", ledger=str(legacy))) as ledger:  # pointed at it: adopted, no warning
        assert ledger.warnings == []


def test_the_cli_warns_once_on_stderr_about_a_ledger_others_can_read(tmp_path):
    ledger = tmp_path / "loose.db"
    assert kisoms(tmp_path, "--ledger", str(ledger), "halt", "make a ledger").returncode == 0
    ledger.chmod(0o644)
    shown = kisoms(tmp_path, "--ledger", str(ledger), "status")
    assert shown.returncode == 0, shown.stderr
    warnings = [line for line in shown.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "chmod 600" in warnings[0] and "warning" not in shown.stdout
    assert oct(ledger.stat().st_mode & 0o777) == "0o644"  # pointed out, not changed behind the user's back
