"""Every file kisoms creates is 0600 and every directory 0700, whatever the umask; a loose ledger warns.

Real processes with a real umask: the CLI submits against the simulator it starts itself (its daemon's
files, the ledger, the token cache and the rate limiter all land in the env's state dir).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kisoms.config import Settings
from kisoms.engine.queries import open_ledger
from kisoms.ledger import Ledger

EXPECTED = {"ledger.db", "sim.lock", "sim.log", "sim-ready.json", "kis-token.json", "kis-token.json.lock",
            "kis-rate.txt"}


def _env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KISOMS_")}
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    return env


def _modes(root: Path) -> dict[str, int]:
    found = {str(root): stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path)] = stat.S_IMODE(path.lstat().st_mode)
    return found


def _stop_daemons(root: Path) -> None:
    """Stop the simulator daemons this test's CLI started (found by their ready files)."""
    for ready in root.rglob("sim-ready.json"):
        try:
            os.kill(json.loads(ready.read_text())["pid"], signal.SIGTERM)
        except (OSError, ValueError, KeyError):
            pass


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask022", "umask000"])
def test_everything_the_cli_and_its_simulator_create_is_private(tmp_path, umask):
    state_dir = tmp_path / "data" / "kisoms" / "sim"
    try:
        proc = subprocess.run([sys.executable, "-m", "kisoms", "submit", "--symbol", "005930", "--side", "buy",
                               "--qty", "1", "--price", "71000"], env=_env(tmp_path), umask=umask,
                              capture_output=True, text=True, timeout=120)
        assert "Traceback" not in proc.stderr, proc.stderr
    finally:
        _stop_daemons(tmp_path / "data")
    assert EXPECTED <= {p.name for p in state_dir.iterdir()}, proc.stderr
    loose = {path: f"{mode:04o}" for path, mode in _modes(tmp_path / "data").items()
             if mode != (0o700 if Path(path).is_dir() else 0o600)}
    assert loose == {}


_OPEN_LEDGER = """
import os, stat, sys
os.umask(int(sys.argv[2], 8))
from kisoms.ledger import Ledger
with Ledger(sys.argv[1]) as ledger:
    ledger.publish("test.event", {})
    print(" ".join(f"{stat.S_IMODE(os.stat(sys.argv[1] + s).st_mode):o}" for s in ("", "-wal", "-shm")))
"""


@pytest.mark.parametrize("umask", ["022", "0"])
def test_the_ledger_its_wal_and_shm_and_a_new_directory_are_private(tmp_path, umask):
    path = tmp_path / "new" / "dir" / "ledger.db"
    out = subprocess.run([sys.executable, "-c", _OPEN_LEDGER, str(path), umask], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.split() == ["600", "600", "600"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "new", path.parent)} == {0o700}


def test_an_existing_ledger_others_can_read_gets_a_warning(tmp_path):
    path = tmp_path / "ledger.db"
    with Ledger(path) as ledger:
        assert ledger.warnings == []
    path.chmod(0o644)
    settings = Settings(ledger=str(path), state_dir=str(tmp_path / "state"))
    with open_ledger(settings) as ledger:
        [warning] = ledger.warnings
    assert str(path) in warning and "0644" in warning and f"chmod 600 {path}" in warning
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # a warning, not a silent change
