"""`kisoms init` then `kisoms doctor`, end to end against the simulator, in real processes (and a pty)."""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import sys
import termios
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from kisoms.config import SIM_DEFAULT_APP_KEY, SIM_DEFAULT_APP_SECRET
from kisoms.domain.session import session_at
from test_processes import kisoms as run

HERE = Path(__file__).resolve().parent
ACCOUNT = "50000001-01"


def _flags(sim, tmp_path, *extra) -> list[str]:
    return ["init", "--env", "paper", "--account", ACCOUNT, "--hts-id", "simuser", "--rest-url", sim.rest_url,
            "--ws-url", sim.ws_url, "--state-dir", str(tmp_path / "state"), "--non-interactive", *extra]


def _secrets(key=SIM_DEFAULT_APP_KEY, secret=SIM_DEFAULT_APP_SECRET) -> dict:
    return {"KISOMS_APP_KEY": key, "KISOMS_APP_SECRET": secret}


def _doctor(config, env=None) -> tuple[int, dict]:
    out = run(config, "--json", "doctor", env=env)
    assert "Traceback" not in out.stderr, out.stderr
    return out.returncode, {c["check"]: c for c in map(json.loads, out.stdout.splitlines())}


def test_init_without_a_keyring_then_doctor_passes(sim, tmp_path):
    config = tmp_path / "conf" / "config.toml"
    out = run(config, *_flags(sim, tmp_path), env=_secrets())
    assert out.returncode == 0, out.stderr
    assert "KISOMS_APP_KEY" in out.stderr and "no usable keyring backend" in out.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600 and stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    text = config.read_text()
    assert SIM_DEFAULT_APP_SECRET not in text and SIM_DEFAULT_APP_KEY not in text
    assert 'env = "paper"' in text and "retry" not in text and "price_policy" not in text
    code, checks = _doctor(config, env=_secrets())
    assert code == 0, checks
    assert {c["status"] for c in checks.values()} <= {"pass", "warn"}
    assert checks["token"]["detail"].startswith("cached")  # init's token, shared: KIS allows one a minute
    assert checks["credentials"]["detail"].count("env KISOMS_APP") == 2
    for name in ("REST", "WebSocket", "clock", "session", "verify-audit", "ledger schema", "rate limit"):
        assert name in checks
    assert SIM_DEFAULT_APP_SECRET not in json.dumps(checks)


def test_init_stores_the_credentials_in_the_keyring(sim, tmp_path):
    env = {"PYTHON_KEYRING_BACKEND": "file_keyring.FileKeyring", "PYTHONPATH": str(HERE),
           "KISOMS_TEST_KEYRING": str(tmp_path / "keyring.json")}
    config = tmp_path / "config.toml"
    out = run(config, *_flags(sim, tmp_path), env={**env, **_secrets()})
    assert out.returncode == 0, out.stderr
    assert "stored in the keyring" in out.stdout
    stored = json.loads((tmp_path / "keyring.json").read_text())
    assert stored["kisoms/paper:app_secret"] == SIM_DEFAULT_APP_SECRET
    code, checks = _doctor(config, env=env)  # no env vars now: the keyring alone
    assert code == 0 and "keyring kisoms/paper:app_key" in checks["credentials"]["detail"]


def test_wrong_credentials_write_nothing(sim, tmp_path):
    config = tmp_path / "config.toml"
    out = run(config, *_flags(sim, tmp_path), env=_secrets(secret="wrong"))
    assert out.returncode == 4 and "Traceback" not in out.stderr and "wrong" not in out.stderr
    assert not config.exists()


def test_missing_answers_and_an_existing_file_are_usage_errors(sim, tmp_path):
    config = tmp_path / "config.toml"
    missing = run(config, "init", "--env", "paper", "--non-interactive")
    assert missing.returncode == 2 and "HTS ID" in missing.stderr and "app secret" in missing.stderr
    config.write_text("")
    exists = run(config, *_flags(sim, tmp_path), env=_secrets())
    assert exists.returncode == 2 and "--force" in exists.stderr
    assert run(config, *_flags(sim, tmp_path, "--force"), env=_secrets()).returncode == 0


def _prompted(fd: int, transcript: bytes, prompt: str, answer: str, secret: bool = False) -> bool:
    """The whole prompt is on screen and, for a secret, the terminal no longer echoes (typing earlier
    would be typing ahead, which a terminal echoes whatever the program does next)."""
    line = transcript.split(b"\n")[-1]
    if prompt.encode() not in line or not line.endswith(b": "):
        return False
    return not secret or not termios.tcgetattr(fd)[3] & termios.ECHO


def _converse(argv: list[str], env: dict, answers: list[tuple], timeout: float = 90) -> tuple[int, str]:
    """Run argv on a pseudo-terminal, typing each answer after its prompt appears; (exit code, transcript)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal
        os.execvpe(argv[0], argv, env)
    transcript, pending, deadline = b"", list(answers), time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            transcript += chunk
        if pending and _prompted(fd, transcript, *pending[0]):
            os.write(fd, (pending.pop(0)[1] + "\n").encode())
    else:
        os.kill(pid, 9)  # still running at the deadline: stop it, and show where it stood
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), transcript.decode(errors="replace")


def test_interactive_init_hides_the_secrets(sim, tmp_path):
    config = tmp_path / "config.toml"
    argv = [sys.executable, "-m", "kisoms", "--config", str(config), "init", "--rest-url", sim.rest_url,
            "--ws-url", sim.ws_url, "--state-dir", str(tmp_path / "state")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KISOMS_")}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    code, transcript = _converse(argv, env, [("Environment", "paper"), ("Account", ACCOUNT), ("HTS ID", "simuser"),
                                             ("App key", SIM_DEFAULT_APP_KEY, True), ("App secret", SIM_DEFAULT_APP_SECRET, True)])
    assert code == 0, transcript
    assert "simuser" in transcript  # echoed as typed
    assert SIM_DEFAULT_APP_SECRET not in transcript and SIM_DEFAULT_APP_KEY not in transcript
    assert 'hts_id = "simuser"' in config.read_text()


def test_doctor_fails_with_the_fix_when_the_broker_is_unreachable(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'rest_url = "http://127.0.0.1:9"\nws_url = "ws://127.0.0.1:9"\nstate_dir = "{tmp_path}/s"\n'
                      '[retry]\nconnect_timeout = 0.5\n')
    out = run(config, "doctor")
    assert out.returncode == 6 and "FAIL token" in out.stdout and "fix:" in out.stdout
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("when,name", [
    ("2026-11-25T08:45:00+09:00", "pre-market"), ("2026-11-25T09:00:00+09:00", "regular"),
    ("2026-11-25T15:29:59+09:00", "regular"), ("2026-11-25T15:35:00+09:00", "closed"),
    ("2026-11-25T16:30:00+09:00", "after-hours"), ("2026-11-28T10:00:00+09:00", "closed"),  # a Saturday
    ("2026-12-31T10:00:00+09:00", "closed"), ("2026-11-25T01:00:00+00:00", "regular"),  # 10:00 KST
])
def test_the_krx_session_at_a_moment(when, name):
    assert session_at(datetime.fromisoformat(when)).name == name


def test_the_broker_calendar_overrides_the_table():
    moment = datetime(2026, 12, 31, 1, 0, tzinfo=timezone.utc)
    assert session_at(moment, is_trading_day=True).name == "regular"
