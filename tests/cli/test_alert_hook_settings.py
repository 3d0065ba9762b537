"""With alerts configured, the hooks around a command (a deliverer after it) and the command itself read
the config once between them, and never keep it from one run to the next."""

from __future__ import annotations

import pytest

from kisoms.cli import context
from kisoms.cli.app import main


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """Every config read of the CLI, and every deliverer handed work (none is started)."""
    reads, spawned = [], []
    real = context.load_settings

    def load(config=None, environ=None, *, env=None):
        reads.append(config)
        return real(config, environ, env=env)

    monkeypatch.setattr(context, "load_settings", load)
    monkeypatch.setattr("kisoms.engine.alerts.spawn_deliverer", lambda *args: spawned.append(args))
    return reads, spawned


def _config(tmp_path, state: str):
    path = tmp_path / "alerts.toml"
    path.write_text(f'env = "sim"\nstate_dir = "{tmp_path / state}"\n[alerts]\nwebhook = "http://127.0.0.1:9/hook"\n')
    return path


def test_a_command_with_alerts_reads_its_config_once(counted, tmp_path):
    reads, spawned = counted
    config = _config(tmp_path, "state")
    assert main(["--config", str(config), "--ledger", str(tmp_path / "l.db"), "halt", "a test"]) == 0
    assert reads == [str(config)]  # (the hook before the command, the command, the hook after it: one read)
    assert len(spawned) == 1 and spawned[0][3] == tmp_path / "state"


def test_the_next_run_reads_the_config_again(counted, tmp_path):
    reads, spawned = counted
    ledger = ["--ledger", str(tmp_path / "l.db")]
    config = _config(tmp_path, "state")
    assert main(["--config", str(config), *ledger, "halt", "a test"]) == 0
    config = _config(tmp_path, "elsewhere")
    assert main(["--config", str(config), *ledger, "resume"]) == 0
    assert len(reads) == 2 and [s[3] for s in spawned] == [tmp_path / "state", tmp_path / "elsewhere"]
