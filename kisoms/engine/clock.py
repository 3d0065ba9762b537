"""The engine's clock: wall time, monotonic time and sleeping, swappable in tests."""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta, timezone

from kisoms.errors import ConfigError

KST = timezone(timedelta(hours=9), "KST")
SIM_CLOCK_SHIFT_VAR = "KISOMS_SIM_CLOCK_SHIFT"  # seconds added to the wall clock; the sim env only


class Clock:
    """Real time, optionally shifted by a fixed number of seconds (the sim env's replay clock)."""

    def __init__(self, shift: float = 0.0):
        self.shift = timedelta(seconds=shift)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.shift

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


def clock_for(env: str) -> Clock:
    """The clock of a process trading in ``env``: the wall clock, shifted only in the simulator env.

    ``KISOMS_SIM_CLOCK_SHIFT`` (seconds) lets tests and demos run a whole sim setup (kisoms and the simulator
    it starts read the same variable) at another date or time; paper and real always run on the wall clock.
    """
    raw = os.environ.get(SIM_CLOCK_SHIFT_VAR, "").strip()
    if env != "sim" or not raw:
        return Clock()
    try:
        return Clock(float(raw))
    except ValueError:
        raise ConfigError(f"{SIM_CLOCK_SHIFT_VAR}={raw!r} is not a number of seconds; unset it or fix it") from None


def kst_date(ts: datetime) -> date:
    """The KST calendar date of an aware timestamp (the broker's trading date)."""
    return ts.astimezone(KST).date()


def kst_ymd(ts: datetime) -> str:
    """YYYYMMDD in KST, as KIS writes ord_dt."""
    return ts.astimezone(KST).strftime("%Y%m%d")


def kst_seconds(ts: datetime) -> int:
    """Seconds since KST midnight."""
    local = ts.astimezone(KST)
    return local.hour * 3600 + local.minute * 60 + local.second


def hhmmss_seconds(hhmmss: str) -> int | None:
    """KIS's HHMMSS as seconds since midnight, or None when it does not parse."""
    text = (hhmmss or "").strip()
    if len(text) != 6 or not text.isdigit():
        return None
    return int(text[:2]) * 3600 + int(text[2:4]) * 60 + int(text[4:])
