"""Every file kisoms creates is private: files 0600, directories 0700, whatever the umask.

A top-level helper (like ``kisoms.errors``) shared by the ledger, the KIS adapter and the engine. The
simulator keeps its own two-line copy: it imports nothing but the domain.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path | str) -> Path:
    """Create ``path`` and its missing parents as 0700 directories. Existing ones are left as they are
    (a shared parent such as ``/var/lib`` is not ours to change)."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # another process made it (and sets its mode)
        os.chmod(directory, DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def open_private(path: Path | str, flags: int) -> int:
    """``os.open`` with O_CREAT, the file made (or kept) 0600 whatever the umask. Returns the fd."""
    private_dir(Path(path).parent)
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_private(path: Path | str) -> bool:
    """Create an empty 0600 file unless one exists. True if this call created it."""
    private_dir(Path(path).parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return True


def loose_mode(path: Path | str) -> str | None:
    """A warning if others (group or world) may read or write the file at ``path``; None if private."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None
    if mode & 0o077 == 0:
        return None
    return (f"{path} is readable or writable by others (mode {mode:04o}); "
            f"make it private with `chmod 600 {path}`")
