"""The KRX session at a moment: pre-market, regular (09:00-15:30 KST), after-hours or closed.

Holidays come from KIS's holiday inquiry where the environment has it; otherwise from ``KRX_HOLIDAYS``, a
shipped table (KRX's announced closures: public holidays falling on weekdays, election days, the year-end
closing day). Extend the table each December; a date missing from it counts as a trading day, so `doctor`
warns once a date is past the table's last year (``HOLIDAYS_KNOWN_THROUGH``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

KST = timezone(timedelta(hours=9), "KST")
PRE_MARKET = (time(8, 30), time(9, 0))  # pre-market closing-price session and the opening auction
REGULAR = (time(9, 0), time(15, 30))
AFTER_HOURS = (time(15, 40), time(18, 0))  # after-hours closing price, then single-price trading

KRX_HOLIDAYS: frozenset[date] = frozenset(date.fromisoformat(d) for d in (
    "2025-01-01", "2025-01-27", "2025-01-28", "2025-01-29", "2025-01-30", "2025-03-03", "2025-05-01",
    "2025-05-05", "2025-05-06", "2025-06-03", "2025-06-06", "2025-08-15", "2025-10-03", "2025-10-06",
    "2025-10-07", "2025-10-08", "2025-10-09", "2025-12-25", "2025-12-31",
    "2026-01-01", "2026-02-16", "2026-02-17", "2026-02-18", "2026-03-02", "2026-05-01", "2026-05-05",
    "2026-05-25", "2026-06-03", "2026-08-17", "2026-09-24", "2026-09-25", "2026-10-05", "2026-10-09",
    "2026-12-25", "2026-12-31",
))
HOLIDAYS_KNOWN_THROUGH = max(day.year for day in KRX_HOLIDAYS)  # a later year's closures are not in the table


@dataclass(frozen=True)
class Session:
    """``name`` is pre-market, regular, after-hours or closed; ``detail`` says why or until when."""

    name: str
    detail: str


def _within(t: time, span: tuple[time, time]) -> bool:
    return span[0] <= t < span[1]


def session_at(moment: datetime, holidays: frozenset[date] | set[date] = KRX_HOLIDAYS,
               is_trading_day: bool | None = None) -> Session:
    """The KRX session at an aware ``moment``. ``is_trading_day`` (from the broker) overrides the table."""
    local = moment.astimezone(KST)
    day, t = local.date(), local.time()
    if is_trading_day is None:
        is_trading_day = day.weekday() < 5 and day not in holidays
    if not is_trading_day:
        return Session("closed", f"{day:%Y-%m-%d} ({day:%a}) is not a KRX trading day")
    for name, span in (("pre-market", PRE_MARKET), ("regular", REGULAR), ("after-hours", AFTER_HOURS)):
        if _within(t, span):
            return Session(name, f"{span[0]:%H:%M}-{span[1]:%H:%M} KST")
    return Session("closed", f"{local:%H:%M} KST is outside the sessions of a trading day")
