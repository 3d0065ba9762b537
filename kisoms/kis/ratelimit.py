"""A sliding-window rate limiter per app key, shared by every kisoms process (a locked state file).

KIS counts requests per second per app key (EGW00201 when exceeded). The limiter keeps the times of the
last ``slots`` grants for the key and lets a request go only when the oldest of them has left the window:
``slots = floor(rate)`` per one-second window for a rate of 1/s or more (a fractional rate is rounded
down), one per ``1 / rate`` seconds below that. So no second ever holds more than ``rate`` requests,
whichever processes sent them, and a burst of up to ``slots`` goes out at once.
"""

from __future__ import annotations

import math
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
        if not rate > 0:
            raise ValueError(f"rate must be positive, not {rate!r}")
        self.path = Path(state_dir) / RATE_FILE
        self.slot, self.rate = key_id(app_key), rate
        self.slots = max(1, math.floor(rate))
        self.window = max(1.0, 1.0 / rate)
        self.clock, self.sleep = clock, sleep

    def _take(self) -> float:
        """Record a grant if the window has room; otherwise return how long to wait."""
        with locked_state(self.path, durable=False) as state:  # a lost window only costs a pause
            now = self.clock()
            recent = sorted(t for t in _times(state.get(self.slot)) if now - self.window < t <= now + self.window)
            if len(recent) < self.slots:
                state[self.slot] = recent + [now]
                return 0.0
            state[self.slot] = recent
            return max(recent[-self.slots] + self.window - now, 1e-6)

    def acquire(self) -> None:
        """Wait (by ``sleep``) until this request fits the rate, and count it."""
        while (wait := self._take()) > 0:
            self.sleep(wait)


def _times(raw: object) -> list[float]:
    """The grant times stored for a key; anything unreadable is ignored."""
    if not isinstance(raw, list):
        return []
    return [float(t) for t in raw if isinstance(t, (int, float)) and not isinstance(t, bool)]
