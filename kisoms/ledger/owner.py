"""Which process owns a claimed request, and whether that process still lives.

A claim records its owner as ``host|pid|start`` (``start``: the process start time from
``/proc/<pid>/stat`` where there is one, so a recycled pid is not mistaken for the owner). The ledger
is a local SQLite file, so every process that shares it normally runs on this host and its owner can be
checked directly: alive means it may still be sending; dead means nothing more will leave from it.
"""

from __future__ import annotations

import os
import socket
from enum import Enum
from pathlib import Path


class OwnerState(Enum):
    """What is known about a request's owner."""

    THIS = "this"  # the calling process itself
    ALIVE = "alive"  # another live process on this host
    DEAD = "dead"  # its process is gone (or its pid now belongs to another process)
    UNKNOWN = "unknown"  # another host, or no owner recorded (a row from before schema v3)


def _proc_stat(pid: int) -> tuple[str, str]:
    """(state letter, start time in clock ticks since boot) from /proc (Linux); ("", "") elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "", ""
    fields = stat[stat.rfind(")") + 2:].split()
    return (fields[0], fields[19]) if len(fields) > 19 else ("", "")


def current_owner() -> str:
    """The owner tag of the calling process."""
    pid = os.getpid()
    return f"{socket.gethostname()}|{pid}|{_proc_stat(pid)[1]}"


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def owner_state(tag: str | None) -> OwnerState:
    """Whether the owner recorded on a claim is this process, alive, dead, or cannot be told."""
    parts = (tag or "").split("|")
    if len(parts) != 3 or not parts[1].isdigit():
        return OwnerState.UNKNOWN
    host, pid, start = parts[0], int(parts[1]), parts[2]
    if host != socket.gethostname():
        return OwnerState.UNKNOWN
    if tag == current_owner():
        return OwnerState.THIS
    if not _pid_exists(pid):
        return OwnerState.DEAD
    state, started = _proc_stat(pid)
    if state == "Z" or (start and started and started != start):
        return OwnerState.DEAD  # exited but not yet reaped, or the pid was recycled
    return OwnerState.ALIVE
