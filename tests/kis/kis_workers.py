"""Functions run in child processes by the cross-process tests (importable by name for ``spawn``)."""

from __future__ import annotations

import time
from pathlib import Path


def sim_token(rest_url: str, app_key: str, app_secret: str, state_dir: str, start_at: float) -> str:
    """Wait for the common start time, then ask for a token as a fresh kisoms process would."""
    from kisoms.kis.client import KisClient
    from kisoms.kis.connection import KisConnection

    conn = KisConnection(env="sim", rest_url=rest_url, ws_url="", app_key=app_key, app_secret=app_secret,
                         state_dir=Path(state_dir), rate_per_sec=1000)
    while time.time() < start_at:
        time.sleep(0.001)
    with KisClient(conn) as client:
        return client.token()


def limited_calls(state_dir: str, app_key: str, rate: float, calls: int, start_at: float) -> list[float]:
    """``calls`` acquisitions from a shared limiter; the time each one was granted, as the limiter saw it."""
    from kisoms.kis.ratelimit import RateLimiter

    readings = []

    def clock() -> float:
        readings.append(time.time())
        return readings[-1]

    limiter = RateLimiter(Path(state_dir), app_key, rate, clock=clock)
    while time.time() < start_at:
        time.sleep(0.001)
    granted = []
    for _ in range(calls):
        limiter.acquire()
        granted.append(readings[-1])  # the reading taken under the lock when the grant was recorded
    return granted


def bracketed_calls(state_dir: str, app_key: str, rate: float, calls: int, start_at: float,
                    hold: float) -> list[tuple[float, float]]:
    """``calls`` requests bracketed by ``begin``/``finish`` on a shared paced limiter, each held ``hold``
    seconds in between: (grant time, finish time) as the limiter read them (its ticket, its last reading)."""
    from kisoms.kis.ratelimit import RateLimiter

    readings = []

    def clock() -> float:
        readings.append(time.time())
        return readings[-1]

    limiter = RateLimiter(Path(state_dir), app_key, rate, margin=0.01, clock=clock)
    while time.time() < start_at:
        time.sleep(0.001)
    spans = []
    for _ in range(calls):
        ticket = limiter.begin()
        time.sleep(hold)
        limiter.finish(ticket)
        spans.append((ticket, readings[-1]))
    return spans
