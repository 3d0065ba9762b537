"""What the account holds and what it traded: the broker's balance, the ledger's fills, exports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from kisoms.engine.clock import KST
from kisoms.kis.balance import Balance, fetch_balance
from kisoms.domain.order import Order
from kisoms.ledger import Ledger
from kisoms.ledger.db import to_iso
from kisoms.ledger.journal import fills_between, orders_between


def balance(rt, account: str) -> Balance:
    """Holdings, cash and buying power of ``account`` from the broker (inquire-balance, every page)."""
    return fetch_balance(rt.client, account)


@dataclass(frozen=True)
class SymbolSummary:
    """Per symbol over a set of fills: shares and average price bought and sold, and the net."""

    symbol: str
    bought_qty: int
    bought_amount: int
    sold_qty: int
    sold_amount: int

    @property
    def net_qty(self) -> int:
        return self.bought_qty - self.sold_qty

    @property
    def avg_buy_price(self) -> float | None:
        return self.bought_amount / self.bought_qty if self.bought_qty else None

    @property
    def avg_sell_price(self) -> float | None:
        return self.sold_amount / self.sold_qty if self.sold_qty else None

    def as_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "bought_qty": self.bought_qty, "bought_amount": self.bought_amount,
                "avg_buy_price": self.avg_buy_price, "sold_qty": self.sold_qty, "sold_amount": self.sold_amount,
                "avg_sell_price": self.avg_sell_price, "net_qty": self.net_qty}


def summarise(fills: list[dict]) -> list[SymbolSummary]:
    """One summary per symbol, in symbol order."""
    totals: dict[str, list[int]] = {}
    for f in fills:
        t = totals.setdefault(f["symbol"], [0, 0, 0, 0])
        offset = 0 if f["side"] == "buy" else 2
        t[offset] += f["qty"]
        t[offset + 1] += f["amount"]
    return [SymbolSummary(s, *t) for s, t in sorted(totals.items())]


def ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


def day_fills(ledger: Ledger, day: date, *, symbol: str | None = None, account: str | None = None) -> list[dict]:
    """The fills of orders booked on ``day`` (KST trading date)."""
    return fills_between(ledger.conn, ymd(day), ymd(day), symbol=symbol, account=account)


def _utc_bounds(first: date, last: date) -> tuple[str, str]:
    start = datetime.combine(first, time(0), KST)
    end = datetime.combine(last + timedelta(days=1), time(0), KST)
    return to_iso(start), to_iso(end)


def order_record(order: Order) -> dict[str, Any]:
    """An order as one flat bookkeeping row."""
    return {"id": order.id, "order_date": order.order_date, "account": order.account,
            "strategy_version": order.strategy_version, "symbol": order.symbol, "side": order.side.value,
            "order_type": order.order_type.value, "qty": order.qty, "price": order.price,
            "exchange": order.exchange.value, "status": order.status.value, "filled_qty": order.filled_qty,
            "filled_amount": order.filled_amount, "cancelled_qty": order.cancelled_qty,
            "broker_order_no": order.broker_order_no, "reject_code": order.reject_code,
            "signal_ts": to_iso(order.signal_ts), "created_at": order.created_at and to_iso(order.created_at),
            "idempotency_key": order.idempotency_key}


EXPORT_COLUMNS = {
    "orders": ["id", "order_date", "account", "strategy_version", "symbol", "side", "order_type", "qty", "price",
               "exchange", "status", "filled_qty", "filled_amount", "cancelled_qty", "broker_order_no",
               "reject_code", "signal_ts", "created_at", "idempotency_key"],
    "fills": ["fill_id", "order_id", "broker_order_no", "qty", "price", "amount", "fill_time", "source",
              "dedupe_key", "recorded_at", "account", "symbol", "side", "strategy_version", "order_date"],
}


def export_rows(ledger: Ledger, what: str, first: date, last: date) -> list[dict]:
    """Rows for bookkeeping from ``first`` to ``last`` (KST dates, inclusive): ``orders`` or ``fills``.
    An order counts on its booking date; one the broker never booked, on the KST date it was created."""
    if what == "fills":
        return fills_between(ledger.conn, ymd(first), ymd(last))
    return [order_record(o) for o in orders_between(ledger.conn, ymd(first), ymd(last), *_utc_bounds(first, last))]
