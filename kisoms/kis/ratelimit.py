"""A rate limiter per app key, shared by every kisoms process through one small locked state file.

KIS counts requests per second per app key at its own gateway (EGW00201 when exceeded). Two modes:

* ``margin > 0`` (what kisoms runs with): requests are *paced*, spaced evenly at ``(1 - margin) × rate``
  instead of going out in bursts, so transit jitter cannot crowd more than ``rate`` into one second at
  the server. Consecutive grants are never closer than ``1 / rate`` on the shared clock; a late wake-up
  is absorbed by the margin, so the average holds at ``(1 - margin) × rate``.
* ``margin == 0``: a sliding window only; up to ``slots`` may go at once (``slots = floor(rate)`` per
  second, or one per ``1 / rate`` seconds below 1/s).

In both modes the limiter also keeps the last ``slots`` requests per key as (granted, finished) pairs and
grants a request only while fewer than ``slots`` of them are unfinished or finished within the last window.
A request reaches the server between its grant and its reply, so whatever pauses a process between the
two (descheduling, a GC, a slow connect), no window of the server's clock can hold more than ``slots``
arrivals: ``begin()`` / ``finish()`` bracket a request; ``acquire()`` counts a grant as finished at once.
(Why: of any ``slots + 1`` arrivals within one server window, take the one granted last; it was granted no
later than it arrived, so each of the other ``slots`` was then unfinished or had finished less than a
window before, and the grant would have waited.) An unfinished request older than ``STALE_SECONDS`` (its
process died mid-request) stops counting. Above ``TRACKED_MAX`` requests per window only the pace limits.

The limiter learns from the server: ``penalize()`` (called on EGW00201) slows every process sharing the
app key to ``SLOW_FACTOR`` of its pace for ``SLOW_SECONDS`` (compounding while refusals keep coming).

Cost: the state is one fixed-width text line per app key in ``RATE_FILE`` (its id, then the hex of its
numbers), read and rewritten in place (``pread``/``pwrite``) under an ``fcntl`` lock on a file descriptor
kept open: tens of microseconds per request (the grant and the finish each take the lock once), no JSON, no
rename, no fsync (losing it in a power cut only costs a pause).
"""

from __future__ import annotations

import binascii
import fcntl
import functools
import math
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kisoms.kis.auth import key_id

RATE_FILE = "kis-rate.txt"

SLOW_FACTOR = 0.8  # each EGW00201 scales the pace by this much ...
SLOW_FLOOR = 0.25  # ... down to this fraction of it
SLOW_SECONDS = 10.0  # and the slow-down lasts this long after the last refusal
KEY = 32  # characters of the key id that starts a line
FIELD = 16  # characters per number: the hex of a double
HEAD = KEY + 3 * FIELD  # key id, next grant time, slow factor, slow-until
STALE_SECONDS = 30.0  # an unfinished request older than this no longer counts (its process died)
TRACKED_MAX = 100  # above this many requests per window, only the pace limits (no per-request pairs)
POLL = 0.002  # how long to wait while only unfinished requests fill the window


@dataclass
class _Slot:
    """One app key's shared state."""

    next_at: float = 0.0  # paced mode: the earliest time the next grant is due
    slow: float = 1.0  # 1.0, or the learned slow-down factor while ``slow_until`` is ahead
    slow_until: float = 0.0
    spans: list[float] = field(default_factory=list)  # the last requests, flat: granted, finished (0: not yet)


@functools.lru_cache(maxsize=None)
def _packer(slots: int) -> struct.Struct:
    return struct.Struct(f"<{3 + 2 * slots}d")


def _encode(key: bytes, slot: _Slot, slots: int) -> bytes:
    spans = (slot.spans + [0.0] * (2 * slots))[:2 * slots]
    return key + binascii.hexlify(_packer(slots).pack(slot.next_at, slot.slow, slot.slow_until, *spans)) + b"\n"


def _decode(line: bytes, slots: int) -> _Slot:
    """The slot in ``line`` (hex of little-endian doubles); an unreadable one is an empty slot."""
    try:
        nums = _packer(slots).unpack(binascii.unhexlify(line[KEY:-1]))
    except (ValueError, struct.error, binascii.Error):
        return _Slot()
    if not math.isfinite(sum(nums)) or not 0 < nums[1] <= 1:  # (a NaN or an infinity anywhere)
        return _Slot()
    return _Slot(nums[0], nums[1], nums[2], list(nums[3:]))


class RateLimiter:
    """Blocks until a request may go out without exceeding ``rate`` per second for this app key."""

    def __init__(self, state_dir: Path, app_key: str, rate: float, *, margin: float = 0.0,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        if not rate > 0:
            raise ValueError(f"rate must be positive, not {rate!r}")
        if not 0 <= margin < 1:
            raise ValueError(f"margin must be in [0, 1), not {margin!r}")
        self.path = Path(state_dir) / RATE_FILE
        self.key, self.rate, self.margin = f"{key_id(app_key):<{KEY}}"[:KEY].encode(), rate, margin
        self.slots = max(1, math.floor(rate))
        self.window = max(1.0, 1.0 / rate)
        self.spacing = self.window / self.slots  # the closest two grants may ever be
        self.kept = self.slots if self.slots <= TRACKED_MAX else 0  # (granted, finished) pairs stored
        self.clock, self.sleep = clock, sleep
        self._fd: int | None = None
        self._offset: int | None = None

    # ----------------------------------------------------------------- storage

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def _width(self) -> int:
        return HEAD + 2 * self.kept * FIELD + 1

    def _find(self, fd: int) -> int:
        """The byte offset of this key's line, appending one (or starting the file over) if needed."""
        data = os.pread(fd, 1 << 20, 0)
        at = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n") or len(line) < HEAD:
                break  # not ours: the file is not in this format
            if line[:KEY] == self.key and len(line) == self._width():
                return at
            at += len(line)
        if at != len(data):
            os.ftruncate(fd, 0)  # unreadable content: start over (a lost window only costs a pause)
            at = 0
        os.pwrite(fd, _encode(self.key, _Slot(), self.kept), at)
        return at

    def _locked(self, update: Callable[[_Slot, float], float]) -> float:
        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            at = self._offset if self._offset is not None else self._find(fd)
            line = os.pread(fd, self._width(), at)
            if len(line) != self._width() or line[:KEY] != self.key:
                at = self._find(fd)  # another process rewrote the file
                line = os.pread(fd, self._width(), at)
            self._offset = at
            slot = _decode(line, self.kept)
            result = update(slot, self.clock())
            os.pwrite(fd, _encode(self.key, slot, self.kept), at)
            return result
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()

    # ---------------------------------------------------------------- deciding

    def _pace(self, slot: _Slot, now: float) -> float:
        """The current gap between grants: the margin, and any slow-down learned from the server."""
        slow = slot.slow if now < slot.slow_until else 1.0
        if not self.margin and slow == 1.0:
            return 0.0
        return self.spacing / ((1.0 - self.margin) * slow)

    def _grant(self, slot: _Slot, now: float, *, finished: bool = True) -> float:
        """Record a grant if one is due now (finished at once, or open until ``finish``); otherwise
        return how long to wait."""
        window_wait, free = self._window_wait(slot, now)
        wait = max(window_wait, self._pace_wait(slot, now))
        if wait > 0:
            return max(wait, 1e-6)
        gap = self._pace(slot, now)
        slot.next_at = max(slot.next_at, now) + gap if gap and slot.next_at - now < 2 * gap else now + gap
        if self.kept:
            slot.spans[free:free + 2] = [now, now if finished else 0.0]
        return 0.0

    def _tally(self, slot: _Slot, now: float) -> tuple[list[float], int, int]:
        """The tracked requests that may still share a server window with one granted ``now``: (the finish
        times of those finished within the last window, how many are unfinished and not stale), and the
        index (into the flat list) of one that no longer counts. Times far ahead mean the clock jumped back: they do not count."""
        low, high, stale = now - self.window, now + self.window, now - STALE_SECONDS
        ends, unfinished, free, spans = [], 0, -1, slot.spans
        for at in range(0, len(spans), 2):
            granted, finished = spans[at], spans[at + 1]
            if finished and low < finished <= high:
                ends.append(finished)
            elif not finished and stale < granted <= high:
                unfinished += 1
            else:
                free = at
        return ends, unfinished, free

    def _pace_wait(self, slot: _Slot, now: float) -> float:
        """Paced: until the next grant is due, less the slack the margin leaves for a late wake-up (never
        closer than the spacing). A due time far ahead means the clock jumped back: it is not waited for."""
        gap = self._pace(slot, now)
        due = slot.next_at - max(0.0, gap - self.spacing * (1 + 1e-5))  # (1e-5: float noise)
        return due - now if gap and now < due and slot.next_at - now < 2 * gap + self.window else 0.0

    def _window_wait(self, slot: _Slot, now: float) -> tuple[float, int]:
        """(How long until fewer than ``slots`` tracked requests count, the index a grant may take): the
        finished ones leave the window one by one; an unfinished one may finish any moment (polled)."""
        if not self.kept:
            return 0.0, -1
        ends, unfinished, free = self._tally(slot, now)
        excess = len(ends) + unfinished - self.slots + 1
        if excess <= 0:
            return 0.0, free
        if len(ends) < excess:
            return POLL, free
        wait = sorted(ends)[excess - 1] + self.window - now
        return (min(wait, POLL) if unfinished else wait), free

    def acquire(self) -> None:
        """Wait (by ``sleep``) until this request fits the rate, and count it (as finished at once)."""
        while (wait := self._locked(self._grant)) > 0:
            self.sleep(wait)

    def begin(self) -> float:
        """Like ``acquire``, for a request about to be sent: it counts until ``finish(ticket)`` (call it
        once the reply, or the failure, is in). Returns the ticket."""
        granted: list[float] = []

        def grant(slot: _Slot, now: float) -> float:
            wait = self._grant(slot, now, finished=False)
            granted.append(now)
            return wait

        while (wait := self._locked(grant)) > 0:
            self.sleep(wait)
        return granted[-1]

    def finish(self, ticket: float) -> None:
        """The request granted by ``begin()`` is over: from now on it only counts for one window."""
        if not self.kept:
            return
        wanted = binascii.hexlify(struct.pack("<d", ticket)) + b"0" * FIELD  # (granted, 0.0: unfinished)
        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:  # one field rewritten in place, nothing decoded
            at = self._offset if self._offset is not None else self._find(fd)
            line = os.pread(fd, self._width(), at)
            if len(line) != self._width() or line[:KEY] != self.key:
                return  # the file was started over: the request is no longer tracked
            pos = line.find(wanted, HEAD)
            while pos >= 0 and (pos - HEAD) % (2 * FIELD):
                pos = line.find(wanted, pos + 1)
            if pos >= 0:
                os.pwrite(fd, binascii.hexlify(struct.pack("<d", max(self.clock(), ticket))), at + pos + FIELD)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def penalize(self) -> None:
        """The server refused a request for the rate (EGW00201): slow every process on this app key."""
        def slow_down(slot: _Slot, now: float) -> float:
            slot.slow = max(SLOW_FLOOR, (slot.slow if now < slot.slow_until else 1.0) * SLOW_FACTOR)
            slot.slow_until = now + SLOW_SECONDS
            slot.next_at = max(slot.next_at, now + self.window / self.slots / slot.slow)
            return 0.0
        self._locked(slow_down)
