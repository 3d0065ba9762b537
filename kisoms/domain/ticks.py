"""KRX tick sizes (the table in force since 2023-01-25) and daily price limits.

Band edges are multiples of every tick below them, so rounding within a band never crosses into a band
whose tick the result would miss.
"""

from __future__ import annotations

from kisoms.domain.codes import InstrumentKind

# (upper bound exclusive, tick) for stocks on KOSPI and KOSDAQ alike.
STOCK_TICKS: tuple[tuple[int, int], ...] = (
    (2_000, 1),
    (5_000, 5),
    (20_000, 10),
    (50_000, 50),
    (200_000, 100),
    (500_000, 500),
)
STOCK_TOP_TICK = 1_000

# ETF, ETN and ELW.
ETF_TICKS: tuple[tuple[int, int], ...] = ((2_000, 1),)
ETF_TOP_TICK = 5

DAILY_LIMIT_PCT = 30  # ±30% of the base price (stck_sdpr)


def tick_size(price: int, kind: InstrumentKind = InstrumentKind.STOCK) -> int:
    """The tick that applies at ``price`` (a positive KRW amount)."""
    if price <= 0:
        raise ValueError("price must be positive")
    table, top = (STOCK_TICKS, STOCK_TOP_TICK) if kind is InstrumentKind.STOCK else (ETF_TICKS, ETF_TOP_TICK)
    for bound, tick in table:
        if price < bound:
            return tick
    return top


def is_on_tick(price: int, kind: InstrumentKind = InstrumentKind.STOCK) -> bool:
    """True when ``price`` is a valid quote price."""
    return price > 0 and price % tick_size(price, kind) == 0


def round_down(price: int, kind: InstrumentKind = InstrumentKind.STOCK) -> int:
    """The highest valid price at or below ``price``."""
    return price - price % tick_size(price, kind)


def round_up(price: int, kind: InstrumentKind = InstrumentKind.STOCK) -> int:
    """The lowest valid price at or above ``price``."""
    tick = tick_size(price, kind)
    return -(-price // tick) * tick


def price_limits(base_price: int, kind: InstrumentKind = InstrumentKind.STOCK) -> tuple[int, int]:
    """(lower, upper) daily limits: ±30% of the base price, rounded inward to valid ticks."""
    upper = round_down(base_price * (100 + DAILY_LIMIT_PCT) // 100, kind)
    lower = round_up(max(1, -(-base_price * (100 - DAILY_LIMIT_PCT) // 100)), kind)
    return lower, upper
