"""Small JSON state files shared by every kisoms process, under an exclusive fcntl lock, written atomically (0600)."""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from kisoms.private import open_private, private_dir


@contextmanager
def locked_state(path: Path, *, durable: bool = True) -> Iterator[dict]:
    """Read the JSON at ``path`` under a lock; whatever the caller leaves in the dict is written back.
    ``durable=False`` skips the fsync, for state that may be lost in a power cut (the rate window)."""
    private_dir(path.parent)
    lock = path.with_suffix(path.suffix + ".lock")
    fd = open_private(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        state = _read(path)
        before = json.dumps(state, sort_keys=True)
        yield state
        if json.dumps(state, sort_keys=True) != before:
            _write(path, state, durable)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, state: dict, durable: bool) -> None:
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)  # 0600 even if a leftover temp file was not
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh)
        fh.flush()
        if durable:
            os.fsync(fh.fileno())
    os.replace(tmp, path)
