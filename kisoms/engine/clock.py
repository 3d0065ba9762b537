"""The engine's clock: wall time, monotonic time and sleeping, swappable in tests."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

KST = timezone(timedelta(hours=9), "KST")


class Clock:
    """Real time. Tests pass a subclass that advances instantly."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


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
