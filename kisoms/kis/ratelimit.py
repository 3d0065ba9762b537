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

Cost: the state is one fixed-width text line per app key in ``RATE_FILE``, kept open: the key id, the
slow-down (slow factor, slow-until), then one slot per tracked request (a mark, a next-due field, the
grant time and the finish time), then one last mark and next-due field; numbers are hex, so the file
stays text. Slots are taken in turn; the one mark set (``N``) points at the slot granted longest ago and
holds the time the next grant is due. A grant takes an ``fcntl`` lock, reads the line, looks at that slot
(the others only when it still counts), and writes, in one run of contiguous bytes, the slot it takes (its
mark cleared) and the next slot's mark with the new due time. ``finish`` takes no lock: it writes its
finish time into the slot its grant took, 16 bytes, no read. No JSON, no rename, no fsync (losing the file
in a power cut only costs a pause).

The usual grant (``_quick``) and the lock-free finish read and write the file through a shared mapping of
it up to the end of the key's line (``mmap``: the same page cache as ``pread``/``pwrite``, so processes
using either see each other's writes), so a grant costs the lock, a copy of the line and one store, and a
finish one store: no other system call. The usual grant is the one whose line still holds, at the same
place, the very mark (and due time) this limiter last wrote, and no other, and the slow-down it last read:
it then knows what decoding the mark would give, decodes only the finish time of the slot it points at,
and writes the bytes the general path (``_grant``) would write; anything else goes the general path, under
the lock again, reading with ``pread`` and writing with ``pwrite``. A line another process wrote in between
(a grant moves the mark and changes its due time; ``penalize`` changes the slow-down and the due time) is
thus decoded anew. Since a store into a page wholly past the end of a file faults (``SIGBUS``, which kills
the process like ``kill -9``), kisoms never shrinks the file: starting over overwrites it. Truncating it
by hand while kisoms runs is not supported.

Why a finish without the lock is safe:

* *Its pair is still its own.* A grant takes only a pair that does not count (finished more than a window
  ago, never used, or unfinished and stale or ahead of the clock), and a grant writes only its own pair;
  so within ``LOCK_FREE_SECONDS`` of its grant (below ``STALE_SECONDS``), on a clock that has not gone
  back, nobody else writes the pair. Outside that, ``finish`` takes the lock and checks that the pair still
  holds its grant time before writing.
* *A torn read errs towards counting.* A grant may read the line while a ``finish`` is writing it (Linux
  does not make a buffered ``pread`` atomic against a ``pwrite``, nor a copy out of a mapping against a
  store into it), so it may see any mix of the old and new bytes of the field. The finish time is the
  big-endian hex of whole microseconds rounded up, and an unfinished request's field is all ``f``: every
  hex digit of a mix is the new digit or an ``f``, so a torn value is never below the true finish time.
  A value above the clock reads as unfinished (it counts; its grant time decides staleness), and a value
  at or below it is a finish no earlier than the real one: it counts at least as long as the request does.
* A ``finish`` writes only its finish time; grants and ``penalize`` (under the lock) never write the
  finish time of a slot they do not take, so no write undoes another.
"""

from __future__ import annotations

import binascii
import fcntl
import math
import mmap
import os
import struct
import threading
import time
from pathlib import Path
from typing import Callable

from kisoms.kis.auth import key_id

RATE_FILE = "kis-rate.txt"

SLOW_FACTOR = 0.8  # each EGW00201 scales the pace by this much ...
SLOW_FLOOR = 0.25  # ... down to this fraction of it
SLOW_SECONDS = 10.0  # and the slow-down lasts this long after the last refusal
KEY = 32  # characters of the key id that starts a line
FIELD = 16  # characters per number: the hex of 8 bytes
HEAD = KEY + 2 * FIELD  # the key id, then the slow-down: slow factor, slow-until
STALE_SECONDS = 30.0  # an unfinished request older than this no longer counts (its process died)
LOCK_FREE_SECONDS = STALE_SECONDS / 2  # a finish this soon after its grant needs no lock (see above)
TRACKED_MAX = 100  # above this many requests per window, only the pace limits (no per-request pairs)
POLL = 0.002  # how long to wait while only unfinished requests fill the window
_ABANDONED = 4 * TRACKED_MAX  # more tickets than this never finished: they are forgotten

_SLOW_DOWN = struct.Struct(">2d")  # slow factor, slow-until
_DOUBLE = struct.Struct(">d")  # a next-due time, a grant time ...
_FINISH = struct.Struct(">Q")  # ... a finish time: whole microseconds, rounded up (all big-endian)
_RUN = struct.Struct(">dQd")  # a grant time, its finish time, the next due time
_MARK, _UNMARKED = b"N", b"."  # (neither is a hex digit)
_MARKED = 1 + FIELD  # a mark and its next-due field
_SLOT = _MARKED + 2 * FIELD  # characters per slot: mark, next-due, grant time, finish time
_GRANT_AT, _FINISH_AT = _MARKED, _MARKED + FIELD  # where a slot's grant and finish times are
_OPEN = (1 << 64) - 1  # the finish time of an unfinished request: all hex digits ``f``
_OPEN_HEX = b"f" * FIELD
_ZERO = b"0" * FIELD
_FREED = _UNMARKED + _ZERO  # a slot as a grant takes it: its mark cleared (its next-due field unused)
_RUN_BYTES = _SLOT + _MARKED  # what a grant writes: the slot it takes and the next mark
_LOCK, _UNLOCK = fcntl.LOCK_EX, fcntl.LOCK_UN
_flock, _hexlify, _unhexlify = fcntl.flock, binascii.hexlify, binascii.unhexlify
_ceil = math.ceil


def _hex(value: float) -> bytes:
    return binascii.hexlify(_DOUBLE.pack(value))


def _finish_hex(at: float) -> bytes:
    return binascii.hexlify(_FINISH.pack(math.ceil(at * 1e6)))


def _run(now: float, finish: int, next_at: float) -> bytes:
    """What a grant writes from the slot it takes (``_SLOT + _MARKED`` bytes): the slot's mark cleared, its
    grant and finish times, then the next slot's mark and the next due time."""
    return _FREED + _hexlify(_RUN.pack(now, finish, next_at), _MARK, -16)  # (the mark between bytes 16 and 17)


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
        self._width = HEAD + _SLOT * self.kept + _MARKED + 1
        self._window_us = math.ceil(self.window * 1e6)
        self._slowed_gap = self.spacing / (1.0 - self.margin)  # the gap between grants (÷ the slow factor) ...
        self._gap = self._slowed_gap if margin else 0.0  # ... and while not slowed (0: not paced)
        self._spacing_less = self.spacing * (1 + 1e-5)  # (see _pace_wait)
        slots = _MARK + _ZERO * 3 + (_UNMARKED + _ZERO * 3) * (self.kept - 1) + _UNMARKED + _ZERO if self.kept else \
            _MARK + _ZERO
        self._blank_line = self.key + binascii.hexlify(_SLOW_DOWN.pack(1.0, 0.0)) + slots + b"\n"
        self._slow_down_hex, self._slow_down = b"", (1.0, 0.0)
        self._blank = self._state(self._blank_line)
        self._taken: dict[float, int] = {}  # ticket -> the file offset of its finish time (this process's)
        self._threads = threading.Lock()  # flock excludes other processes only: this excludes our threads
        self._last_mark = HEAD + _SLOT * self.kept  # where the last mark is (slot 0 comes next)
        self._seen: tuple | None = None  # the mark this limiter last wrote (see _remember)
        self._map: mmap.mmap | None = None  # the file, mapped up to the end of this key's line
        self._spots: list[tuple] = []
        self._spots_offset: int | None = None  # (the line's offset _spots were made for)

    # ----------------------------------------------------------------- storage

    def _state(self, line: bytes) -> tuple | None:
        """(slow factor, slow-until, the marked slot's index, the next due time) in ``line``, or None if it
        is unreadable (no mark or more than one; slot ``kept`` is the last mark: slot 0 comes next)."""
        mark = line.find(_MARK, HEAD)
        slot, off = divmod(mark - HEAD, _SLOT)
        if off or not 0 <= slot <= self.kept or line.find(_MARK, mark + 1) >= 0:
            return None
        try:
            next_at = _DOUBLE.unpack(binascii.unhexlify(line[mark + 1:mark + _MARKED]))[0]
            slow_down = self._slow_down if line[KEY:HEAD] == self._slow_down_hex else self._read_slow_down(line)
        except (ValueError, struct.error, binascii.Error):
            return None
        if slow_down is None:
            return None
        return *slow_down, slot, next_at  # (a NaN next due time only pauses the pace once)

    def _read_slow_down(self, line: bytes) -> tuple[float, float] | None:
        """(slow factor, slow-until) in ``line``, kept for the next reads while unchanged; None if invalid."""
        slow_down = _SLOW_DOWN.unpack(binascii.unhexlify(line[KEY:HEAD]))
        if not 0 < slow_down[0] <= 1:
            return None
        self._slow_down_hex, self._slow_down = line[KEY:HEAD], slow_down
        self._head = self.key + self._slow_down_hex  # (what _quick expects a line to start with)
        return slow_down

    def _finishes(self, line: bytes) -> list[int] | None:
        """Every slot's finish time (microseconds), or None if one is unreadable."""
        at = HEAD + _FINISH_AT
        try:
            return [int(line[at + _SLOT * i:at + _SLOT * i + FIELD], 16) for i in range(self.kept)]
        except ValueError:
            return None

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
        if at != len(data):  # unreadable content: start over (a lost window only costs a pause), the file
            rest = len(data) - len(self._blank_line)  # kept at least as long (processes map it: see above)
            filler = b" " * (max(rest, HEAD + 1) - 1) + b"\n" if rest > 0 else b""  # (a line of no key)
            os.pwrite(fd, self._blank_line + filler, 0)
            return 0
        os.pwrite(fd, self._blank_line, at)
        return at

    def _line(self, fd: int) -> tuple[int, bytes]:
        """(offset, bytes) of this key's line; the lock is held. Found anew on first use, or when another
        process started the file over."""
        at = self._offset
        line = os.pread(fd, self._width, at) if at is not None else b""
        if len(line) != self._width or line[:KEY] != self.key:
            self._offset = at = self._find(fd)
            line = os.pread(fd, self._width, at)
        return at, line

    def _locked(self, update: Callable[..., tuple], *args) -> tuple[float, int, tuple, float]:
        """Run ``update(line, state, now, *args)`` under the lock; it returns (result, edits: position in the line,
        bytes to write there, ...), each written in place. An unreadable line is first written back blank.
        Returns (result, the line's offset, the edits, now)."""
        with self._threads:
            return self._locked_by_file(update, *args)

    def _locked_by_file(self, update: Callable[..., tuple], *args) -> tuple[float, int, tuple, float]:
        fd = self._fd if self._fd is not None else self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            at, line = self._line(fd)
            state = self._state(line)
            if state is None:
                os.pwrite(fd, self._blank_line, at)
                line, state = self._blank_line, self._blank
            now = self.clock()
            result, edits = update(line, state, now, *args)
            for i in range(0, len(edits), 2):
                os.pwrite(fd, edits[i + 1], at + edits[i])
            return result, at, edits, now
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._threads:
            self._unmap()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __del__(self) -> None:
        if hasattr(self, "_map"):  # (not if __init__ refused its arguments)
            self.close()

    # ---------------------------------------------------------------- deciding

    def _grant(self, line: bytes, state: tuple, now: float, finished: bool = True) -> tuple[float, tuple]:
        """Record a grant if one is due now (finished at once, or open until ``finish``): (0, the edits: the
        slot it takes and the next slot's mark, in one run of bytes); otherwise (how long to wait, no edits)."""
        slow, until, marked, next_at = state
        gap = self._slowed_gap / slow if now < until else self._gap  # (slowed by the server)
        slot, wait = self._free(line, marked % self.kept, now) if self.kept else (0, 0.0)
        if gap and now < next_at - gap + self._spacing_less:  # (the margin's slack for a late wake-up)
            wait = max(wait, self._pace_wait(next_at, gap, now))
        if wait > 0:
            return max(wait, 1e-6), ()
        next_at = max(next_at, now) + gap if next_at - now < 2 * gap else now + gap
        if not self.kept:
            return 0.0, (HEAD, _MARK + _hex(next_at))
        run = _run(now, math.ceil(now * 1e6) if finished else _OPEN, next_at)
        self._remember(HEAD + _SLOT * slot, run, next_at)
        if slot == marked:
            return 0.0, (HEAD + _SLOT * slot, run)
        return 0.0, (HEAD + _SLOT * marked, _UNMARKED, HEAD + _SLOT * slot, run)  # (the old mark cleared first)

    def _remember(self, at: int, run: bytes, next_at: float) -> None:
        """Keep the mark ``run`` wrote (``run`` written at ``at`` in the line; the lock is held): its bytes,
        the due time they hold and its spot (see ``_spots_at``), which is what ``_state`` and ``_free`` find
        while those bytes are there and are the line's only mark. ``_quick`` checks that and goes from there."""
        if self._spots_offset != self._offset and not self._map_line():
            return
        self._seen = (self._fd, self._map, self._offset, self._spots[(at - HEAD) // _SLOT + 1], run[-_MARKED:],
                      next_at)

    def _map_line(self) -> bool:
        """Map the file up to the end of this key's line (the lock is held and the line is there) and make
        the spots for its offset. In-flight tickets then finish by the general path. False if it cannot."""
        self._unmap()
        try:
            self._map = mmap.mmap(self._fd, self._offset + self._width)
        except (OSError, ValueError):
            return False
        self._spots, self._spots_offset = self._spots_at(self._offset), self._offset
        return True

    def _unmap(self) -> None:
        self._seen, self._spots_offset = None, None
        self._taken.clear()
        if self._map is not None:
            self._map.close()
            self._map = None

    def _spots_at(self, offset: int) -> list[tuple]:
        """Per mark (at slot ``k``, 0 to ``kept``), for the grant that takes the slot it points at: where the
        mark is, that slot's finish time (start, end) in the line, the file offsets the grant writes to (its
        run; the mark to clear first if it is the last one, else -1) and where its ticket's finish time goes,
        and the index of the mark it leaves."""
        spots = []
        for k in range(self.kept + 1):
            take = k % self.kept
            at = HEAD + _SLOT * take
            spots.append((HEAD + _SLOT * k, at + _FINISH_AT, at + _SLOT, offset + at,
                          offset + HEAD + _SLOT * k if k != take else -1, offset + at + _FINISH_AT, take + 1))
        return spots

    def _quick(self) -> float | None:
        """``begin``'s usual grant, in one pass: the line still holds the mark this limiter last wrote (the
        same bytes at the same place, no other mark) and the slow-down it last read, the slot the mark points
        at finished more than a window ago, and the pace does not wait. Returns the grant time, having written
        what ``_grant`` writes; otherwise None, having written nothing, for ``_grant`` to decide."""
        if self._seen is None:
            return None
        with self._threads:
            return self._quick_grant()

    def _quick_grant(self) -> float | None:
        seen = self._seen
        if seen is None:
            return None
        fd, mapped, offset, spot, marked, next_at = seen
        mark, done_at, done_end, run_at, clear_at, ticket_at, left = spot
        _flock(fd, _LOCK)
        try:
            line = mapped[offset:offset + self._width]  # (the mapping holds the whole line: see _map_line)
            now = self.clock()
            if not (line.startswith(self._head) and line.startswith(marked, mark)
                    and line.find(_MARK, HEAD) == mark and line.find(_MARK, mark + 1) < 0):
                return None
            # _grant's gap, pace test, next due time and _run, inlined on purpose (calls cost ~15% of a grant
            # here); tests/kis/test_kis_ratelimit_quick.py compares both paths' bytes after every step.
            slow, until = self._slow_down
            gap = self._slowed_gap / slow if now < until else self._gap
            if gap and now < next_at - gap + self._spacing_less:
                return None  # (the pace waits)
            try:
                done = _FINISH.unpack(_unhexlify(line[done_at:done_end]))[0]
            except ValueError:
                return None
            if done + self._window_us > now * 1e6:  # (as _free: done <= floor(now × 1e6) - window, in integers)
                return None  # (the slot still counts: the others are read)
            next_at = (now if now > next_at else next_at) + gap if next_at - now < 2 * gap else now + gap
            run = _FREED + _hexlify(_RUN.pack(now, _OPEN, next_at), _MARK, -16)  # (as _run)
            if clear_at >= 0:
                mapped[clear_at] = _UNMARKED[0]  # (the last mark cleared; slot 0 taken)
            mapped[run_at:run_at + _RUN_BYTES] = run
        finally:
            _flock(fd, _UNLOCK)
        self._seen = fd, mapped, offset, self._spots[left], run[-_MARKED:], next_at  # (as _remember)
        self._taken[now] = ticket_at  # (abandoned tickets are forgotten by the general path, as their slots
        return now  # stay open until it takes them: here they add at most ``kept``)

    def next_due(self) -> float | None:
        """About when (on ``clock``) this limiter's next grant is due, by the pace and the window: from the
        due time it last wrote and the finish time of the slot that mark points at. None when it does not
        know: before its first grant in this process, or once the line no longer holds the mark it last
        wrote and the slow-down it last read (another process granted, or a slow-down came: ``_quick``'s
        test). Read under no lock and writing nothing: a hint for work to do meanwhile (reconcile's,
        between pages of the books), never a grant."""
        seen = self._seen
        if seen is None:
            return None
        _, mapped, offset, spot, marked, next_at = seen
        mark, done_at, done_end = spot[:3]
        try:
            line = mapped[offset:offset + self._width]
        except ValueError:  # (closed meanwhile by another thread of this process: ``close``, ``_map_line``)
            return None
        if not (line.startswith(self._head) and line.startswith(marked, mark)
                and line.find(_MARK, HEAD) == mark and line.find(_MARK, mark + 1) < 0):
            return None
        slow, until = self._slow_down
        gap = self._slowed_gap / slow if self.clock() < until else self._gap
        due = next_at - gap + self._spacing_less if gap else 0.0  # (the pace test of ``_grant``)
        try:
            done = _FINISH.unpack(_unhexlify(line[done_at:done_end]))[0]
        except (ValueError, binascii.Error):
            return due
        return due if done == _OPEN else max(due, (done + self._window_us) / 1e6)  # (the window test of ``_free``)

    def _free(self, line: bytes, slot: int, now: float) -> tuple[int, float]:
        """(A slot a grant may take, 0) or (-1, how long to wait). ``slot`` was granted longest ago: usually
        it finished more than a window ago, and only otherwise are they all read (``_window_wait``)."""
        at = HEAD + _SLOT * slot + _FINISH_AT
        try:
            if int(line[at:at + FIELD], 16) <= math.floor(now * 1e6) - self._window_us:
                return slot, 0.0
        except ValueError:
            pass
        wait, free = self._window_wait(line, slot, now)
        return free, wait

    def _pace_wait(self, next_at: float, gap: float, now: float) -> float:
        """Paced: until the next grant is due, less the slack the margin leaves for a late wake-up (never
        closer than the spacing). A due time far ahead means the clock jumped back: it is not waited for."""
        due = next_at - max(0.0, gap - self.spacing * (1 + 1e-5))  # (1e-5: float noise)
        return due - now if now < due and next_at - now < 2 * gap + self.window else 0.0

    def _window_wait(self, line: bytes, slot: int, now: float) -> tuple[float, int]:
        """(How long until a tracked request no longer counts, the index of a slot that does not count now).

        A request counts while it is unfinished (and not stale), or finished within the last window;
        ``slots`` are kept, so a grant is due once any of them does not count. A finish time above the
        clock counts as unfinished (a torn read, or the clock went back). An unfinished request may finish
        any moment: while one fills the window, its end is polled for."""
        now_us = math.floor(now * 1e6)
        finishes = self._finishes(line)
        if finishes is None:
            return 0.0, slot  # (unreadable: nothing is tracked)
        ends = sorted(f for f in finishes if f <= now_us)
        if ends and ends[0] <= now_us - self._window_us:
            return 0.0, finishes.index(ends[0])
        free = self._stale(line, finishes, now, now_us)
        if free >= 0:
            return 0.0, free
        if len(ends) == len(finishes):
            return (ends[0] + self._window_us - now_us) / 1e6, -1
        return (min((ends[0] + self._window_us - now_us) / 1e6, POLL) if ends else POLL), -1

    def _stale(self, line: bytes, finishes: list[int], now: float, now_us: int) -> int:
        """The index of an unfinished slot that no longer counts (stale, or granted ahead of the clock; an
        unreadable grant time counts as stale), or -1."""
        stale, high = now - STALE_SECONDS, now + self.window
        for i, finish in enumerate(finishes):
            at = HEAD + _SLOT * i + _GRANT_AT
            try:
                granted = _DOUBLE.unpack(binascii.unhexlify(line[at:at + FIELD]))[0]
            except (ValueError, binascii.Error):
                return i
            if finish > now_us and not stale < granted <= high:
                return i
        return -1

    def acquire(self) -> None:
        """Wait (by ``sleep``) until this request fits the rate, and count it (as finished at once)."""
        while (wait := self._locked(self._grant)[0]) > 0:
            self.sleep(wait)

    def begin(self) -> float:
        """Like ``acquire``, for a request about to be sent: it counts until ``finish(ticket)`` (call it
        once the reply, or the failure, is in). Returns the ticket."""
        ticket = self._quick()
        if ticket is not None:
            return ticket
        while (granted := self._locked(self._grant, False))[0] > 0:
            self.sleep(granted[0])
        _, at, edits, ticket = granted
        if len(self._taken) > _ABANDONED:
            self._taken.clear()  # (tickets never finished: abandoned)
        if self._spots_offset == at:  # (mapped: see _remember)
            self._taken[ticket] = at + edits[-2] + _FINISH_AT  # (the file offset of its finish time)
        return ticket

    def finish(self, ticket: float) -> None:
        """The request granted by ``begin()`` is over: from now on it only counts for one window. Soon after
        its grant, one store into the mapped line without the lock; later (or on a clock that went back, or
        once the line moved) under the lock, after checking that its pair is still its own."""
        with self._threads:  # (the mapping and the tickets are shared with this process's other threads)
            self._finish(ticket)

    def _finish(self, ticket: float) -> None:
        offset, now = self._taken.pop(ticket, None), self.clock()  # (nothing is taken if nothing is mapped)
        if offset is not None and ticket <= now < ticket + LOCK_FREE_SECONDS:
            self._map[offset:offset + FIELD] = _hexlify(_FINISH.pack(_ceil(now * 1e6)))
            return
        if not self.kept:
            return
        fd = self._fd if self._fd is not None else self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            at, line = self._line(fd)
            pos = self._pair_of(line, ticket)
            if pos >= 0:
                os.pwrite(fd, _finish_hex(max(self.clock(), ticket)), at + pos + FIELD)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _pair_of(self, line: bytes, ticket: float) -> int:
        """Where in ``line`` the grant time of the unfinished request granted at ``ticket`` is, or -1 (no
        longer tracked)."""
        wanted, pos = _hex(ticket) + _OPEN_HEX, HEAD
        while (pos := line.find(wanted, pos + 1)) >= 0:
            if (pos - HEAD) % _SLOT == _GRANT_AT:
                return pos
        return -1

    def penalize(self) -> None:
        """The server refused a request for the rate (EGW00201): slow every process on this app key."""
        def slow_down(line: bytes, state: tuple, now: float) -> tuple[float, tuple]:
            slow, until, marked, next_at = state
            slow = max(SLOW_FLOOR, (slow if now < until else 1.0) * SLOW_FACTOR)
            next_at = max(next_at, now + self.window / self.slots / slow)
            return 0.0, (KEY, binascii.hexlify(_SLOW_DOWN.pack(slow, now + SLOW_SECONDS)),
                         HEAD + _SLOT * marked + 1, _hex(next_at))
        self._locked(slow_down)
