"""The shared rate limiter: never more than ``rate`` requests in any one-second window, across processes."""

from __future__ import annotations

import multiprocessing
import time

import pytest

import httpx

from kisoms.domain.codes import Side
from kisoms.errors import RateLimited
from kisoms.kis.auth import key_id
from kisoms.kis.client import KisClient
from kisoms.kis.ratelimit import RATE_FILE, RateLimiter

from kis_helpers import ACCOUNT, APP_KEY, FakeClock, FakeKis, kis_error, kis_reply, make_conn


def max_in_window(times: list[float], window: float) -> int:
    """The most grants in any half-open window (t - window, t]."""
    times = sorted(times)
    return max(sum(1 for s in times[: i + 1] if t - window < s) for i, t in enumerate(times))


def grants(limiter: RateLimiter, clock: FakeClock, n: int) -> list[float]:
    out = []
    for _ in range(n):
        limiter.acquire()
        out.append(clock.time())
    return out


@pytest.mark.parametrize("rate", [20.0, 10.0, 2.0, 2.5])
def test_never_more_than_rate_in_any_second(tmp_path, rate):
    clock = FakeClock()
    limiter = RateLimiter(tmp_path, APP_KEY, rate, clock=clock.time, sleep=clock.sleep)
    times = grants(limiter, clock, 60)
    assert max_in_window(times, 1.0) <= int(rate)
    span = times[-1] - times[0]
    assert span <= 60 / int(rate), "the limiter is slower than the configured (whole) rate"


def test_slow_rates_space_requests_out(tmp_path):
    clock = FakeClock()
    limiter = RateLimiter(tmp_path, APP_KEY, 0.5, clock=clock.time, sleep=clock.sleep)
    times = grants(limiter, clock, 4)
    assert [round(b - a, 6) for a, b in zip(times, times[1:])] == [2.0, 2.0, 2.0]


def test_no_wait_while_under_the_rate(tmp_path):
    clock = FakeClock()
    limiter = RateLimiter(tmp_path, APP_KEY, 5, clock=clock.time, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire()
        clock.now += 0.25
    assert clock.sleeps == []


def test_two_limiters_on_one_state_dir_share_the_budget(tmp_path):
    clock = FakeClock()
    a = RateLimiter(tmp_path, APP_KEY, 4, clock=clock.time, sleep=clock.sleep)
    b = RateLimiter(tmp_path, APP_KEY, 4, clock=clock.time, sleep=clock.sleep)
    times = []
    for i in range(20):
        (a if i % 2 else b).acquire()
        times.append(clock.time())
    assert max_in_window(times, 1.0) <= 4


def test_app_keys_have_separate_budgets(tmp_path):
    clock = FakeClock()
    a = RateLimiter(tmp_path, APP_KEY, 2, clock=clock.time, sleep=clock.sleep)
    b = RateLimiter(tmp_path, "OTHER-KEY", 2, clock=clock.time, sleep=clock.sleep)
    for limiter in (a, a, b, b):
        limiter.acquire()
    assert clock.sleeps == []
    assert APP_KEY not in (tmp_path / RATE_FILE).read_text()


@pytest.mark.parametrize("content", [b"{broken", b'{"x": 1}', b"[]"])
def test_corrupt_state_file_is_survived(tmp_path, content):
    clock = FakeClock()
    (tmp_path / RATE_FILE).write_bytes(content)
    limiter = RateLimiter(tmp_path, APP_KEY, 2, clock=clock.time, sleep=clock.sleep)
    limiter.acquire()
    (tmp_path / RATE_FILE).write_text('{"%s": "nonsense"}' % key_id(APP_KEY))
    limiter.acquire()
    (tmp_path / RATE_FILE).write_text('{"%s": [1, "x", null, {"a": 1}]}' % key_id(APP_KEY))
    limiter.acquire()


def test_clock_jumping_back_does_not_block_for_long(tmp_path):
    clock = FakeClock()
    limiter = RateLimiter(tmp_path, APP_KEY, 2, clock=clock.time, sleep=clock.sleep)
    grants(limiter, clock, 2)
    clock.now -= 3600
    grants(limiter, clock, 2)
    assert sum(clock.sleeps) < 2.0


def test_processes_share_the_limit(tmp_path):
    rate, procs, calls = 20.0, 3, 14
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(procs) as pool:
        start = time.time() + 0.3
        results = pool.starmap(__import__("kis_workers").limited_calls,
                               [(str(tmp_path), APP_KEY, rate, calls, start)] * procs)
    times = sorted(t for r in results for t in r)
    assert max_in_window(times, 1.0) <= rate
    assert times[-1] - times[0] >= (procs * calls - rate) / rate


def test_rate_limited_inquiry_backs_off_and_retries(tmp_path):
    fake, slept = FakeKis(), []
    fake.script("balance", kis_error("EGW00201"), kis_error("EGW00201"), kis_reply(output1=[], output2=[]))
    client = fake.client(tmp_path)
    client.sleep = slept.append
    with client:
        assert client.inquire_balance(ACCOUNT)["rt_cd"] == "0"
    assert len(fake.calls("balance")) == 3
    assert len(slept) == 2 and all(0 < s <= 2.0 for s in slept)


def test_rate_limited_order_is_not_resent(tmp_path):
    fake, slept = FakeKis(), []
    fake.script("order_cash", kis_error("EGW00201"))
    client = fake.client(tmp_path)
    client.sleep = slept.append
    with client, pytest.raises(RateLimited):
        client.order_cash(ACCOUNT, "005930", Side.BUY, "00", 1, "71000")
    assert len(fake.calls("order_cash")) == 1 and slept == []


def test_every_request_waits_for_the_limiter(tmp_path):
    fake = FakeKis()
    calls = []

    class Counting:
        def acquire(self):
            calls.append(len(fake.requests))

    with KisClient(make_conn(tmp_path), transport=httpx.MockTransport(fake.handler), rate_limiter=Counting()) as c:
        c.inquire_balance(ACCOUNT)
    assert calls == [0, 1]  # the token request and the inquiry, each before it went out
