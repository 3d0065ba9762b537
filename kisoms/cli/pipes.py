"""A reader that closed kisoms's output early (``kisoms status --json | head -c 20``): its choice, not a bug.

Python ignores SIGPIPE, so a write to a pipe nobody reads raises ``BrokenPipeError``; a command then stops
as it would for Ctrl-C (what it had written to the ledger stands, nothing is half-written) and exits
``READER_GONE`` in silence. Only a closed *stdout* counts: a broken pipe anywhere else (an alert hook
that exited before reading its input) is still reported.
"""

from __future__ import annotations

import os
import select
import sys

READER_GONE = 141  # 128 + SIGPIPE: what a shell shows for a command a closed pipe stopped


def reader_gone(exc: BaseException | None) -> int | None:
    """``READER_GONE`` (stdout silenced) if ``exc`` is stdout's reader having left, else None."""
    if isinstance(exc, BrokenPipeError) and stdout_reader_gone():
        return silence_stdout()
    return None


def stdout_reader_gone() -> bool:
    """Whether stdout is a pipe (or socket) whose reading end has been closed, or was such a pipe and has
    already been pointed at the null device (rich does that itself when its write breaks): asked only about
    a ``BrokenPipeError``, which a write to the null device never raises."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        if any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0)):
            return True
        return os.path.samestat(os.fstat(fd), os.stat(os.devnull))
    except (AttributeError, OSError, ValueError):  # no stdout, or not a real file (a test's capture)
        return False


def silence_stdout() -> int:
    """Point stdout at the null device, so what is still buffered (and the interpreter's last flush) goes
    nowhere instead of failing again; returns the exit code for a reader that left."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (AttributeError, OSError, ValueError):
        pass
    return READER_GONE


def flushed(rc: int) -> int:
    """``rc`` once stdout's buffer is written, or ``READER_GONE`` if its reader left before that flush."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError as exc:
        gone = reader_gone(exc)
        if gone is None:
            raise
        return gone
    return rc
