"""``RateLimiter.next_due``: when the next grant is due, as a hint (reconcile builds corrections until then).
It must say the very time ``begin`` then grants at, by the pace or by the window, and never write."""

from __future__ import annotations

import pytest

from kisoms.kis.ratelimit import RATE_FILE, RateLimiter

from kis_helpers import APP_KEY, FakeClock


def limiter(tmp_path, clock: FakeClock, *, rate: float = 20.0, margin: float = 0.01) -> RateLimiter:
    return RateLimiter(tmp_path, APP_KEY, rate, margin=margin, clock=clock.time, sleep=clock.sleep)


def assert_each_grant_came_when_hinted(seen: list[tuple]) -> None:
    """Every grant after the first came exactly at its hint, or when the caller came if that was later."""
    for due, came, granted in seen[1:]:
        assert granted == pytest.approx(max(due, came), abs=1e-6)


def run(tmp_path, clock: FakeClock, lim: RateLimiter, n: int, reply: float, work: float) -> list[tuple]:
    """``n`` requests, each finished ``reply`` seconds after its grant, the caller then busy ``work`` seconds;
    before each ``begin``: (the hint, when the caller came, when the grant came)."""
    seen = []
    for _ in range(n):
        due, came = lim.next_due(), clock.time()
        if due is not None:
            before = (tmp_path / RATE_FILE).read_bytes()
            assert lim.next_due() == due and (tmp_path / RATE_FILE).read_bytes() == before  # (reads only)
        ticket = lim.begin()
        seen.append((due, came, ticket))
        clock.now += reply
        lim.finish(ticket)
        clock.now += work
    return seen


@pytest.mark.parametrize("reply, work", [(0.011, 0.01), (0.03, 0.0), (0.001, 0.045), (0.011, 0.08)])
def test_the_hint_is_when_the_next_grant_comes(tmp_path, reply, work):
    clock = FakeClock()
    lim = limiter(tmp_path, clock)
    seen = run(tmp_path, clock, lim, 80, reply, work)
    assert seen[0][0] is None  # (nothing granted yet in this process)
    assert_each_grant_came_when_hinted(seen)


def test_the_window_sets_the_hint_when_the_pace_does_not(tmp_path):
    clock = FakeClock()
    lim = limiter(tmp_path, clock, margin=0.0)  # (not paced: 20 at once, then the window)
    seen = run(tmp_path, clock, lim, 60, 0.02, 0.0)
    waited = [(due, came, granted) for due, came, granted in seen[1:] if granted > came + 1e-9]
    assert waited  # (the window made some wait)
    assert_each_grant_came_when_hinted(seen)


def test_a_slow_down_moves_the_hint(tmp_path):
    clock = FakeClock()
    lim = limiter(tmp_path, clock)
    run(tmp_path, clock, lim, 5, 0.01, 0.0)
    lim.penalize()
    seen = run(tmp_path, clock, lim, 20, 0.01, 0.0)
    assert seen[0][0] is None  # (the line holds a slow-down this limiter has not read: it does not know)
    assert_each_grant_came_when_hinted(seen)
    assert seen[-1][2] - seen[-2][2] > 1 / 20 * 1.1  # (slowed)


def test_another_process_granting_leaves_the_hint_unknown(tmp_path):
    clock = FakeClock()
    mine, other = limiter(tmp_path, clock), limiter(tmp_path, clock)
    run(tmp_path, clock, mine, 3, 0.01, 0.0)
    assert mine.next_due() is not None
    other.finish(other.begin())
    assert mine.next_due() is None  # (its own mark is gone: the other's grant decides now)
    seen = run(tmp_path, clock, mine, 10, 0.01, 0.0)
    assert_each_grant_came_when_hinted(seen)


def test_a_closed_limiter_does_not_know(tmp_path):
    clock = FakeClock()
    lim = limiter(tmp_path, clock)
    run(tmp_path, clock, lim, 2, 0.01, 0.0)
    seen = lim._seen
    lim.close()
    assert lim.next_due() is None
    lim._seen = seen  # (as another thread would find it: read just before the mapping was closed)
    assert lim.next_due() is None
