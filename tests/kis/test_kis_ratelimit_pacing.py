"""The paced limiter (margin > 0): evenly spaced grants below the rate, a shared slow-down on EGW00201."""

from __future__ import annotations

import time

import httpx
import pytest

from kisoms.errors import RateLimited
from kisoms.kis.ratelimit import RATE_FILE, SLOW_FACTOR, SLOW_SECONDS, RateLimiter

from kis_helpers import ACCOUNT, APP_KEY, FakeClock, FakeKis, kis_error, make_conn
from test_kis_ratelimit import grants, max_in_window


def paced(tmp_path, clock: FakeClock, rate: float = 20.0, margin: float = 0.05) -> RateLimiter:
    return RateLimiter(tmp_path, APP_KEY, rate, margin=margin, clock=clock.time, sleep=clock.sleep)


def test_grants_are_spaced_evenly_below_the_rate(tmp_path):
    clock = FakeClock()
    times = grants(paced(tmp_path, clock), clock, 100)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps[1:]) == pytest.approx(1 / 19, rel=1e-6)  # (1 - 0.05) × 20 per second, no burst
    assert min(gaps) >= 1 / 20  # (the first one may come early by the slack the margin leaves)
    assert max_in_window(times, 1.0) <= 20


def test_late_wake_ups_are_made_up_within_the_margin(tmp_path):
    clock = FakeClock()
    limiter = paced(tmp_path, clock)
    times = []
    for _ in range(200):
        limiter.acquire()
        times.append(clock.time())
        clock.now += 0.001  # the caller always comes back a millisecond late
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 1 / 20  # never closer than the full rate allows
    assert (times[-1] - times[0]) / 199 == pytest.approx(1 / 19, rel=0.01)  # the average pace holds


def test_two_limiters_share_the_pace(tmp_path):
    clock = FakeClock()
    a, b = paced(tmp_path, clock), paced(tmp_path, clock)
    times = []
    for i in range(40):
        (a if i % 2 else b).acquire()
        times.append(clock.time())
    assert min(b - a for a, b in zip(times[1:], times[2:])) == pytest.approx(1 / 19, rel=1e-6)


def test_a_refusal_slows_every_limiter_on_the_key(tmp_path):
    clock = FakeClock()
    a, b = paced(tmp_path, clock), paced(tmp_path, clock)
    grants(a, clock, 3)
    a.penalize()
    times = grants(b, clock, 20)
    gaps = [y - x for x, y in zip(times, times[1:])]
    assert min(gaps) == pytest.approx(1 / (19 * SLOW_FACTOR), rel=1e-6)
    b.penalize()
    times = grants(a, clock, 3)
    assert times[2] - times[1] == pytest.approx(1 / (19 * SLOW_FACTOR ** 2), rel=1e-6)  # it compounds
    clock.now += SLOW_SECONDS + 1
    times = grants(b, clock, 3)
    assert times[2] - times[1] == pytest.approx(1 / 19, rel=1e-6)  # and wears off


def test_a_refusal_slows_window_mode_too(tmp_path):
    clock = FakeClock()
    limiter = RateLimiter(tmp_path, APP_KEY, 4, clock=clock.time, sleep=clock.sleep)
    limiter.penalize()
    times = grants(limiter, clock, 4)
    assert min(b - a for a, b in zip(times, times[1:])) >= 1 / (4 * SLOW_FACTOR) - 1e-9


def test_clock_jumping_back_does_not_block_a_paced_limiter(tmp_path):
    clock = FakeClock()
    limiter = paced(tmp_path, clock, rate=2)
    grants(limiter, clock, 3)
    clock.now -= 3600
    grants(limiter, clock, 2)
    assert sum(clock.sleeps) < 3.0


@pytest.mark.parametrize("content", [b"{broken", b"x" * 500 + b"\n", b"\n\n\n"])
def test_foreign_content_is_survived_in_paced_mode(tmp_path, content):
    clock = FakeClock()
    limiter = paced(tmp_path, clock)
    limiter.acquire()
    (tmp_path / RATE_FILE).write_bytes(content)
    grants(limiter, clock, 3)
    assert max_in_window(grants(limiter, clock, 30), 1.0) <= 19


def test_state_file_is_private(tmp_path):
    paced(tmp_path, FakeClock()).acquire()
    assert (tmp_path / RATE_FILE).stat().st_mode & 0o777 == 0o600


def test_rate_limited_reply_penalizes_the_shared_limiter(tmp_path):
    fake = FakeKis()
    fake.script("order_cash", kis_error("EGW00201"))
    penalties = []

    class Recording:
        def acquire(self):
            pass

        def penalize(self):
            penalties.append(1)

    from kisoms.domain.codes import Side
    from kisoms.kis.client import KisClient
    with KisClient(make_conn(tmp_path), transport=httpx.MockTransport(fake.handler), rate_limiter=Recording()) as c:
        with pytest.raises(RateLimited):
            c.order_cash(ACCOUNT, "005930", Side.BUY, "00", 1, "71000")
    assert penalties == [1]


def test_a_grant_costs_microseconds_not_a_file_rewrite(tmp_path):
    """A loose bound: the real check is bench/run.py (goal 2); this catches a JSON rewrite creeping back."""
    limiter = RateLimiter(tmp_path, APP_KEY, 1e9, margin=0.03)
    limiter.acquire()
    start = time.perf_counter()
    for _ in range(2000):
        limiter.acquire()
    assert (time.perf_counter() - start) / 2000 < 500e-6


def test_a_request_paused_between_grant_and_send_keeps_its_place(tmp_path):
    """The server counts a request when it arrives, which may be long after its grant: until ``finish`` it
    counts, and then for one more window."""
    clock = FakeClock()
    limiter = RateLimiter(tmp_path, APP_KEY, 4, clock=clock.time, sleep=clock.sleep)
    t0 = clock.time()
    ticket = limiter.begin()  # granted at t0, then the process stalls before sending
    grants(limiter, clock, 3)
    clock.now += 5.0
    times = grants(limiter, clock, 3)  # the three of t0 have left the window; the stalled one has not
    assert times == [t0 + 5.0] * 3
    limiter.finish(ticket)  # it arrived at the server at the latest now (t0 + 5)
    assert grants(limiter, clock, 1)[0] >= t0 + 6.0  # a fourth within (t0 + 5, t0 + 6] could be the fifth


def test_a_paced_limiter_counts_unfinished_requests_too(tmp_path):
    clock = FakeClock()
    limiter = paced(tmp_path, clock, rate=20.0, margin=0.03)
    tickets = [limiter.begin() for _ in range(20)]  # twenty in flight (many processes, all stalled)
    before = clock.time()
    limiter.finish(tickets[0])
    clock.now += 0.001
    granted = grants(limiter, clock, 1)[0]
    assert granted >= before + 1.0  # the 21st waits a window after the first one finished


def test_a_stale_unfinished_request_stops_counting(tmp_path):
    from kisoms.kis.ratelimit import STALE_SECONDS
    clock = FakeClock()
    limiter = RateLimiter(tmp_path, APP_KEY, 2, clock=clock.time, sleep=clock.sleep)
    t0 = clock.time()
    limiter.begin(), limiter.begin()  # both processes die mid-request
    granted = grants(limiter, clock, 1)[0]
    assert t0 + STALE_SECONDS <= granted <= t0 + STALE_SECONDS + 1.0


def test_the_client_brackets_every_request(tmp_path):
    fake, events = FakeKis(), []

    class Bracketing:
        def begin(self):
            events.append(("begin", len(fake.requests)))
            return float(len(events))

        def finish(self, ticket):
            events.append(("finish", len(fake.requests)))

    from kisoms.kis.client import KisClient
    with KisClient(make_conn(tmp_path), transport=httpx.MockTransport(fake.handler), rate_limiter=Bracketing()) as c:
        c.inquire_balance(ACCOUNT)
    assert events == [("begin", 0), ("finish", 1), ("begin", 1), ("finish", 2)]
