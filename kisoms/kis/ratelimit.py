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
doubles: the file stays text), read and written back in place under an ``fcntl`` lock on a file descriptor
kept open: one ``pread`` and one ``pwrite`` per update, no JSON, no rename, no fsync (losing it in a power
cut only costs a pause). A grant decodes the state and the finish times only (a grant time is read where
an unfinished pair is judged) and changes two fields: the next due time and its pair. ``finish`` rewrites
only its own finish time, at the place ``begin`` remembered (checked before it is written). About 4-6x
one bare flock+pread+pwrite per request: two locked updates are 2x by themselves.
"""

from __future__ import annotations

import binascii
import fcntl
import math
import os
import struct
import time
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


_STATE = 3  # fields before the pairs: next grant time, slow factor, slow-until
_NEXT, _SLOW, _SLOW_UNTIL = 0, 1, 2
_DOUBLE = struct.Struct("<d")
_PAIR = struct.Struct("<dd")
_UNFINISHED = b"0" * FIELD  # (the hex of 0.0)
_NEXT_AT = KEY  # where the next grant time is in a line


def _hex(value: float) -> bytes:
    return binascii.hexlify(_DOUBLE.pack(value))


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
        self._width = HEAD + 2 * self.kept * FIELD + 1
        self._fields = struct.Struct(f"<{_STATE + 2 * self.kept}d")
        self._read = struct.Struct(f"<{_STATE}d" + "8xd" * self.kept)  # the state and the finish times
        self._blank_line = self._encode((0.0, 1.0, 0.0) + (0.0,) * (2 * self.kept))
        self._blank = self._decode(self._blank_line)
        self._taken: dict[float, int] = {}  # ticket -> where begin() put its pair (this process's requests)

    # ----------------------------------------------------------------- storage

    def _encode(self, fields: tuple) -> bytes:
        return self.key + binascii.hexlify(self._fields.pack(*fields)) + b"\n"

    def _decode(self, line: bytes) -> tuple[tuple, bytes] | None:
        """(The state and the finish times, the raw doubles) of ``line`` (hex of little-endian doubles),
        or None if they are unreadable. The grant times are read only where needed (``_stale``)."""
        try:
            raw = binascii.unhexlify(line[KEY:-1])
            nums = self._read.unpack(raw)
        except (ValueError, struct.error, binascii.Error):
            return None
        if not math.isfinite(sum(nums)) or not 0 < nums[_SLOW] <= 1:  # (a NaN or an infinity anywhere)
            return None
        return nums, raw

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def _find(self, fd: int) -> int:
        """The byte offset of this key's line, appending one (or starting the file over) if needed."""
        data = os.pread(fd, 1 << 20, 0)
        at = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n") or len(line) < HEAD:
                break  # not ours: the file is not in this format
            if line[:KEY] == self.key and len(line) == self._width:
                return at
            at += len(line)
        if at != len(data):
            os.ftruncate(fd, 0)  # unreadable content: start over (a lost window only costs a pause)
            at = 0
        os.pwrite(fd, self._blank_line, at)
        return at

    def _line(self, fd: int) -> tuple[int, bytes]:
        """(offset, bytes) of this key's line, found anew (first use, or another process started the
        file over); the lock is held."""
        self._offset = at = self._find(fd)
        return at, os.pread(fd, self._width, at)

    def _locked(self, update: Callable[[tuple, float], tuple]) -> tuple:
        """Run ``update(fields, now)`` under the lock; it returns (result, edits: position in the line,
        hex bytes, ...). Only the edited fields change, and the line goes back in one ``pwrite``.
        Returns (result, edits, now)."""
        fd = self._fd if self._fd is not None else self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            at = self._offset
            line = os.pread(fd, self._width, at) if at is not None else b""
            if len(line) != self._width or line[:KEY] != self.key:
                at, line = self._line(fd)
            state = self._decode(line)
            if state is None:
                state, line = self._blank, self._blank_line
            now = self.clock()
            result, edits = update(state, now)
            if edits:
                buf = bytearray(line)
                for i in range(0, len(edits), 2):
                    pos, value = edits[i], edits[i + 1]
                    buf[pos:pos + len(value)] = value
                os.pwrite(fd, buf, at)
            return result, edits, now
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()

    # ---------------------------------------------------------------- deciding

    def _pace(self, fields: tuple, now: float) -> float:
        """The current gap between grants: the margin, and any slow-down learned from the server."""
        slow = fields[_SLOW] if now < fields[_SLOW_UNTIL] else 1.0
        if not self.margin and slow == 1.0:
            return 0.0
        return self.spacing / ((1.0 - self.margin) * slow)

    def _grant(self, state: tuple, now: float, finished: bool = True) -> tuple[float, tuple]:
        """Record a grant if one is due now (finished at once, or open until ``finish``): (0, the edits:
        the next due time, then the grant's pair); otherwise (how long to wait, no edits)."""
        next_at = state[0][_NEXT]
        gap = self._pace(state[0], now)
        wait, free = self._window_wait(state, now) if self.kept else (0.0, -1)
        pace_wait = self._pace_wait(next_at, gap, now) if gap else 0.0
        if wait > 0 or pace_wait > 0:
            return max(wait, pace_wait, 1e-6), ()
        next_at = max(next_at, now) + gap if gap and next_at - now < 2 * gap else now + gap
        if not self.kept:
            return 0.0, (_NEXT_AT, binascii.hexlify(_DOUBLE.pack(next_at)))
        pair = binascii.hexlify(_PAIR.pack(now, now if finished else 0.0))
        return 0.0, (_NEXT_AT, binascii.hexlify(_DOUBLE.pack(next_at)), KEY + (_STATE + 2 * free) * FIELD, pair)

    def _grant_open(self, state: tuple, now: float) -> tuple[float, tuple]:
        return self._grant(state, now, False)

    def _pace_wait(self, next_at: float, gap: float, now: float) -> float:
        """Paced: until the next grant is due, less the slack the margin leaves for a late wake-up (never
        closer than the spacing). A due time far ahead means the clock jumped back: it is not waited for."""
        if not gap:
            return 0.0
        due = next_at - max(0.0, gap - self.spacing * (1 + 1e-5))  # (1e-5: float noise)
        return due - now if now < due and next_at - now < 2 * gap + self.window else 0.0

    def _window_wait(self, state: tuple, now: float) -> tuple[float, int]:
        """(How long until a tracked pair no longer counts, the index of one that does not count now).

        A pair counts while its request is unfinished (and not stale), or finished within the last
        window; ``slots`` pairs are kept, so a grant is due once any of them does not count. Times far
        ahead mean the clock jumped back: they do not count. An unfinished request may finish any
        moment: while one fills the window, its end is polled for."""
        low, high = now - self.window, now + self.window
        fins = state[0][_STATE:]  # the finish times (0.0: not finished)
        ends = sorted(fins)
        if ends[0] < 0:
            return 0.0, fins.index(ends[0])  # (not a time)
        open_ = fins.count(0.0)
        if open_ < len(ends):
            first, last = ends[open_], ends[-1]  # the earliest and the latest finish
            if not low < first:
                return 0.0, fins.index(first)
            if last > high:
                return 0.0, fins.index(last)
        if open_:
            free = self._stale(state[1], fins, now, open_)
            if free >= 0:
                return 0.0, free
            return (POLL if open_ == len(ends) else min(ends[open_] + self.window - now, POLL)), -1
        return ends[0] + self.window - now, -1

    def _stale(self, raw: bytes, fins: tuple, now: float, open_: int) -> int:
        """The index of an unfinished pair that no longer counts (stale, never used, or ahead), or -1."""
        stale, high, at = now - STALE_SECONDS, now + self.window, -1
        for _ in range(open_):
            at = fins.index(0.0, at + 1)
            if not stale < _DOUBLE.unpack_from(raw, 8 * (_STATE + 2 * at))[0] <= high:  # (its grant time)
                return at
        return -1

    def acquire(self) -> None:
        """Wait (by ``sleep``) until this request fits the rate, and count it (as finished at once)."""
        while (wait := self._locked(self._grant)[0]) > 0:
            self.sleep(wait)

    def begin(self) -> float:
        """Like ``acquire``, for a request about to be sent: it counts until ``finish(ticket)`` (call it
        once the reply, or the failure, is in). Returns the ticket."""
        while (granted := self._locked(self._grant_open))[0] > 0:
            self.sleep(granted[0])
        _, edits, ticket = granted
        if len(self._taken) > 4 * TRACKED_MAX:
            self._taken.clear()  # (tickets never finished: abandoned)
        if self.kept:
            self._taken[ticket] = edits[2]
        return ticket

    def finish(self, ticket: float) -> None:
        """The request granted by ``begin()`` is over: from now on it only counts for one window."""
        if not self.kept:
            return
        wanted = _hex(ticket) + _UNFINISHED  # (granted, 0.0: unfinished)
        pos = self._taken.pop(ticket, -1)  # where begin() put it
        fd = self._fd if self._fd is not None else self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:  # one field rewritten in place, nothing decoded
            at = self._offset if self._offset is not None else self._find(fd)
            line = os.pread(fd, self._width, at)
            if len(line) != self._width or line[:KEY] != self.key:
                return  # the file was started over: the request is no longer tracked
            if pos < 0 or line[pos:pos + 2 * FIELD] != wanted:
                pos = line.find(wanted, HEAD)  # (granted elsewhere, or its pair moved: look for it)
                while pos >= 0 and (pos - HEAD) % (2 * FIELD):
                    pos = line.find(wanted, pos + 1)
            if pos >= 0:
                os.pwrite(fd, _hex(max(self.clock(), ticket)), at + pos + FIELD)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def penalize(self) -> None:
        """The server refused a request for the rate (EGW00201): slow every process on this app key."""
        def slow_down(state: tuple, now: float) -> tuple[float, tuple]:
            fields = state[0]
            slow = max(SLOW_FLOOR, (fields[_SLOW] if now < fields[_SLOW_UNTIL] else 1.0) * SLOW_FACTOR)
            next_at = max(fields[_NEXT], now + self.window / self.slots / slow)
            return 0.0, (_NEXT_AT, binascii.hexlify(_PAIR.pack(next_at, slow) + _DOUBLE.pack(now + SLOW_SECONDS)))
        self._locked(slow_down)
