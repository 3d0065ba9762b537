"""The embedded default venue: a local `kisoms sim` daemon shared by every kisoms process.

With ``env = "sim"`` and no ``rest_url``, the first kisoms process starts the simulator as a detached
process (state kept in the state dir, so orders survive restarts) and later processes reuse it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from kisoms.errors import ConfigError
from kisoms.private import open_private, private_dir

READY_FILE = "sim-ready.json"
STARTUP_TIMEOUT = 20.0


@contextmanager
def _locked(path: Path):
    fd = open_private(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _listening(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=0.5):
            return True
    except OSError:
        return False


def _read_ready(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if _listening(data.get("rest_url", "")) else None


def _spawn(state_dir: Path, ready: Path) -> subprocess.Popen:
    ready.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "kisoms.sim", "--port", "0", "--ws-port", "0",
           "--state", str(state_dir / "sim-state.json"), "--ready-file", str(ready)]
    log = open_private(state_dir / "sim.log", os.O_WRONLY | os.O_APPEND)
    try:  # the daemon's own files (state, ready file) are private too: it runs under umask 077
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                umask=0o077)
    finally:
        os.close(log)


def _await_ready(proc: subprocess.Popen, ready: Path) -> dict:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        data = _read_ready(ready)
        if data:
            return data
        if proc.poll() is not None:
            break
        time.sleep(0.05)  # a detached child: there is no event to await but its ready file
    raise ConfigError(f"the local simulator did not start; see {ready.parent / 'sim.log'}")


def ensure_local_simulator(state_dir: Path) -> tuple[str, str]:
    """(rest_url, ws_url) of the shared local simulator, starting it if none is running."""
    private_dir(state_dir)
    ready = state_dir / READY_FILE
    with _locked(state_dir / "sim.lock"):
        data = _read_ready(ready) or _await_ready(_spawn(state_dir, ready), ready)
    return data["rest_url"], data["ws_url"]
