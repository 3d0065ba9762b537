"""The local simulator daemon that ``env = "sim"`` starts on demand: is it running, and stopping it."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from kisoms.engine.simdaemon import READY_FILE, _listening, _locked
from kisoms.errors import KisomsError

STOP_TIMEOUT = 10.0


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
