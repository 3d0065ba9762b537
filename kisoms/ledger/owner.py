"""Which process owns a claimed request, and whether that process still lives.

A claim records its owner as ``host|pid|start|pidns|boot``: the process start time (from
``/proc/<pid>/stat``) so a recycled pid is not taken for the owner, the pid namespace so a process in
another container is never looked up by a pid that means something else here, and the boot id so a
reboot cannot revive an owner. The ledger is a local SQLite file, so the processes sharing it normally
run on this host, in this namespace, and the owner can be checked directly: alive means it may still be
sending; dead means nothing more will leave from it. Anything that differs from this process's own
host, namespace or boot cannot be checked (``UNKNOWN``), and callers fall back to time.
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
    UNKNOWN = "unknown"  # another host, namespace or boot, or no owner recorded (a row from before schema v3)


def _proc_stat(pid: int) -> tuple[str, str]:
    """(state letter, start time in clock ticks since boot) from /proc (Linux); ("", "") elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "", ""
    fields = stat[stat.rfind(")") + 2:].split()
    return (fields[0], fields[19]) if len(fields) > 19 else ("", "")


def _read(path: str, link: bool = False) -> str:
    try:
        return os.readlink(path) if link else Path(path).read_text().strip()
    except OSError:
        return ""


def _place() -> tuple[str, str, str]:
    """(host, pid namespace, boot id) of the calling process; the last two are "" where not on Linux."""
    return (socket.gethostname(), _read("/proc/self/ns/pid", link=True),
            _read("/proc/sys/kernel/random/boot_id"))


def tag_for(pid: int) -> str:
    """The owner tag of process ``pid`` of this host and namespace."""
    host, namespace, boot = _place()
    return "|".join((host, str(pid), _proc_stat(pid)[1], namespace, boot))


def current_owner() -> str:
    """The owner tag of the calling process."""
    return tag_for(os.getpid())


def pid_at_host(tag: str | None) -> str:
    """``pid@host`` of an owner tag, for people; "-" when there is none (released, or an older row)."""
    parts = (tag or "").split("|")
    return f"{parts[1]}@{parts[0]}" if len(parts) > 1 else "-"


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
    if len(parts) != 5 or not parts[1].isdigit() or (parts[0], parts[3], parts[4]) != _place():
        return OwnerState.UNKNOWN
    if tag == current_owner():
        return OwnerState.THIS
    pid, start = int(parts[1]), parts[2]
    if not _pid_exists(pid):
        return OwnerState.DEAD
    state, started = _proc_stat(pid)
    if state == "Z" or (start and started and started != start):
        return OwnerState.DEAD  # exited but not yet reaped, or the pid was recycled
    return OwnerState.ALIVE
