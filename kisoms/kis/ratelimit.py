"""A token-bucket rate limiter per app key, shared by every kisoms process (a locked state file)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from kisoms.kis.auth import key_id
from kisoms.kis.filestate import locked_state

RATE_FILE = "kis-rate.json"


class RateLimiter:
    """Blocks until a request may go out without exceeding ``rate`` per second for this app key."""

    def __init__(self, state_dir: Path, app_key: str, rate: float, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        self.path = Path(state_dir) / RATE_FILE
        self.slot, self.rate = key_id(app_key), rate
        self.burst = max(1.0, rate / 4)  # a small burst: KIS counts per second, so never spend a whole second at once
        self.clock, self.sleep = clock, sleep

    def _take(self) -> float:
        """Take a token if one is there; otherwise return how long to wait."""
        with locked_state(self.path) as state:
            now = self.clock()
            tokens, last = state.get(self.slot, [self.burst, now])
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                state[self.slot] = [tokens - 1.0, now]
                return 0.0
            state[self.slot] = [tokens, now]
            return (1.0 - tokens) / self.rate

    def acquire(self) -> None:
        while (wait := self._take()) > 0:
            self.sleep(wait)
