"""Helpers shared by the ledger tests (and the race worker subprocesses)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

from kisoms.domain.codes import Exchange, OrderType, Side
from kisoms.domain.idempotency import idempotency_key
from kisoms.domain.order import Order

SIGNAL_TS = datetime(2026, 11, 25, 0, 0, tzinfo=timezone.utc)


class FakeClock:
    """An aware UTC clock that moves one millisecond per reading."""

    def __init__(self) -> None:
        self.t = datetime(2026, 11, 25, 0, 0, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.t += timedelta(milliseconds=1)
        return self.t


def make_order(symbol: str = "005930", qty: int = 10, price: int | None = 70000, strategy: str = "s1",
               signal_ts: datetime = SIGNAL_TS, order_type: OrderType = OrderType.LIMIT, **kw) -> Order:
    """A NEW order as the engine builds it (id 0, assigned by the ledger)."""
    key = idempotency_key("50000001-01", strategy, symbol, signal_ts, Side.BUY)
    return Order(id=0, idempotency_key=key, account="50000001-01", strategy_version=strategy, symbol=symbol,
                 side=Side.BUY, order_type=order_type, qty=qty, price=price, exchange=Exchange.KRX,
                 signal_ts=signal_ts, tags={"desk": "t"}, **kw)


def raw(path, *statements) -> None:
    """Run SQL on the ledger file behind kisoms' back (a test's edit, as a forger would make it)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()
