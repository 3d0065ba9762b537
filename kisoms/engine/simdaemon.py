"""The local simulator daemon: the embedded default venue, shared by every kisoms process.

With ``env = "sim"`` and no ``rest_url``, the first kisoms process starts the simulator as a detached
process (state kept in the state dir, so orders survive restarts) and later processes reuse it.
``status`` tells whether it is running; ``stop`` stops it.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from kisoms.errors import ConfigError, KisomsError
from kisoms.private import open_private, private_dir

READY_FILE = "sim-ready.json"
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


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


@dataclass(frozen=True)
class DaemonStatus:
    """What the state dir says of the daemon."""

    running: bool
    state_dir: str
    pid: int | None = None
    rest_url: str | None = None
    ws_url: str | None = None

    def as_dict(self) -> dict:
        return {"running": self.running, "pid": self.pid, "rest_url": self.rest_url, "ws_url": self.ws_url,
                "state_dir": self.state_dir, "log": str(Path(self.state_dir) / "sim.log")}


def _ready(state_dir: Path) -> dict:
    import json

    try:
        data = json.loads((state_dir / READY_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _is_simulator(pid: int) -> bool:
    """True when ``pid`` is alive and (where /proc says) runs the kisoms simulator: never signal a stranger."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():
        return True
    return b"kisoms.sim" in cmdline.read_bytes()


def status(state_dir: Path) -> DaemonStatus:
    """The daemon of ``state_dir``: running when its ready file names a live simulator that listens."""
    data = _ready(state_dir)
    pid = data.get("pid") if isinstance(data.get("pid"), int) else None
    running = bool(pid and _is_simulator(pid) and _listening(data.get("rest_url", "")))
    if not running:
        return DaemonStatus(False, str(state_dir))
    return DaemonStatus(True, str(state_dir), pid, data.get("rest_url"), data.get("ws_url"))


def _await_exit(pid: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if not _is_simulator(pid):
            return True
        time.sleep(0.05)  # another process's exit: nothing to await but polling
    return False


def stop(state_dir: Path, timeout: float = STOP_TIMEOUT) -> DaemonStatus | None:
    """SIGTERM the daemon and wait for it to exit (under the start lock, so none starts meanwhile).
    Returns what was stopped, or None if none was running. KisomsError if it would not exit."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with _locked(state_dir / "sim.lock"):
        found = status(state_dir)
        if not found.running or found.pid is None:
            return None
        os.kill(found.pid, signal.SIGTERM)
        if not _await_exit(found.pid, time.monotonic() + timeout):
            raise KisomsError(f"the simulator (pid {found.pid}) did not exit within {timeout:.0f}s")
        (state_dir / READY_FILE).unlink(missing_ok=True)
    return found
