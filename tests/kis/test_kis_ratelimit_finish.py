"""``finish`` without the lock: a request counts from its grant until one window after its finish, across
processes, whatever a grant reads while a finish is being written."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from kisoms.kis.ratelimit import LOCK_FREE_SECONDS, RATE_FILE, RateLimiter

from kis_helpers import APP_KEY, FakeClock
from test_kis_ratelimit import grants


def counted_at_grants(spans: list[tuple[float, float]], window: float) -> int:
    """The most requests that still counted when another was granted: granted before it and unfinished
    then, or finished less than a window before."""
    most = 0
    for granted, _ in spans:
        most = max(most, sum(1 for g, f in spans if g < granted and (f > granted or granted - f < window)))
    return most


def test_processes_bracketing_requests_never_have_more_than_rate_counting(tmp_path):
    rate, procs, calls = 10.0, 3, 12
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        start = time.time() + 0.3
        results = pool.starmap(__import__("kis_workers").bracketed_calls,
                               [(str(tmp_path), APP_KEY, rate, calls, start, 0.03)] * procs)
    spans = [span for result in results for span in result]
    assert all(g <= f for g, f in spans)
    assert counted_at_grants(spans, 1.0) <= rate - 1  # so no window at the server can hold rate + 1


def finish_field(tmp_path, limiter: RateLimiter, ticket: float) -> tuple[int, bytes]:
    """(Offset, bytes) of the finish time of the request granted at ``ticket``."""
    offset = limiter._taken[ticket]
    return offset, (tmp_path / RATE_FILE).read_bytes()[offset:offset + 16]


@pytest.mark.parametrize("tear", ["first half", "second half", "last digit", "first digit"])
def test_a_half_written_finish_never_counts_for_less_than_the_whole_one(tmp_path, tear):
    clock = FakeClock()
    limiter = RateLimiter(tmp_path, APP_KEY, 1, clock=clock.time, sleep=clock.sleep)
    ticket = limiter.begin()
    offset, unfinished = finish_field(tmp_path, limiter, ticket)
    assert unfinished == b"f" * 16
    clock.now += 0.5
    limiter.finish(ticket)  # finished at ticket + 0.5: the next grant is due at ticket + 1.5
    whole = (tmp_path / RATE_FILE).read_bytes()[offset:offset + 16]
    torn = {"first half": whole[:8] + b"f" * 8, "second half": b"f" * 8 + whole[8:],
            "last digit": whole[:15] + b"f", "first digit": b"f" + whole[1:]}[tear]
    with open(tmp_path / RATE_FILE, "r+b") as f:  # what a grant could read while the finish is being written
        f.seek(offset)
        f.write(torn)
    assert grants(limiter, clock, 1)[0] >= ticket + 1.5


def test_a_late_finish_checks_its_slot_under_the_lock(tmp_path):
    clock = FakeClock()
    limiter = RateLimiter(tmp_path, APP_KEY, 2, clock=clock.time, sleep=clock.sleep)
    ticket = limiter.begin()
    clock.now += LOCK_FREE_SECONDS + 1  # (still counting: not stale yet)
    limiter.finish(ticket)
    assert grants(limiter, clock, 1)[0] == clock.now  # the other slot: no wait
    limiter.begin()  # both slots taken: one finished just now, one unfinished
    assert grants(limiter, clock, 1)[0] >= ticket + LOCK_FREE_SECONDS + 2  # a window after the late finish
