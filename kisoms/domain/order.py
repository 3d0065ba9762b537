"""The order record as the domain sees it, and the fill that changes it.

A trade, as a trader sees it, is this order + its status history + its fills + its broker numbers; the
ledger keeps all four, keyed by ``Order.id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from kisoms.domain.codes import Exchange, OrderType, Side
from kisoms.domain.states import OrderStatus, Quantities


@dataclass(frozen=True)
class Order:
    """One order, from intent to its final state. Money is integer KRW."""

    id: int
    idempotency_key: str
    account: str
    strategy_version: str
    symbol: str
    side: Side
    order_type: OrderType
    qty: int
    price: int | None
    exchange: Exchange
    signal_ts: datetime
    status: OrderStatus = OrderStatus.NEW
    filled_qty: int = 0
    filled_amount: int = 0  # sum of fill qty * price, so the average is exact to the won
    cancelled_qty: int = 0
    broker_order_no: str | None = None  # the live number (changes with every amend)
    krx_orgno: str | None = None  # KRX_FWDG_ORD_ORGNO, needed to amend or cancel
    order_date: str | None = None  # YYYYMMDD (KST) the broker booked it on
    reject_code: str | None = None
    reject_reason: str | None = None
    price_note: str | None = None  # set when the price policy corrected the price
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0

    @property
    def quantities(self) -> Quantities:
        return Quantities(self.qty, self.filled_qty, self.cancelled_qty)

    @property
    def remaining_qty(self) -> int:
        return self.qty - self.filled_qty - self.cancelled_qty

    @property
    def avg_fill_price(self) -> float | None:
        return self.filled_amount / self.filled_qty if self.filled_qty else None

    def with_quantities(self, q: Quantities, filled_amount: int | None = None) -> "Order":
        """A copy with new quantities (and fill amount)."""
        amount = self.filled_amount if filled_amount is None else filled_amount
        return replace(self, qty=q.qty, filled_qty=q.filled, cancelled_qty=q.cancelled, filled_amount=amount)


def confusable(a: Order, b: Order) -> bool:
    """True when the broker row of one order could be taken for the other's by the lookup that resolves an
    ambiguous send (``engine.book_matching``): same account, symbol, side and quantity, and equal prices, or
    either one without a price (the lookup ignores the price of such an order, and the order type)."""
    if (a.account, a.symbol, a.side, a.qty) != (b.account, b.symbol, b.side, b.qty):
        return False
    return not (a.order_type.has_price and b.order_type.has_price) or a.price == b.price


@dataclass(frozen=True)
class Fill:
    """One execution. KIS gives no execution id: ``dedupe_key`` is built from what identifies it."""

    order_id: int
    broker_order_no: str
    qty: int
    price: int
    fill_time: str  # HHMMSS as KIS reports it, or "" when inferred
    source: str  # "notice" | "inquiry" | "reconcile"
    dedupe_key: str

    @staticmethod
    def notice_key(order_date: str, broker_order_no: str, fill_time: str, qty: int, price: int) -> str:
        """Key for a fill seen in an execution notice (order no + time + qty + price)."""
        return f"n:{order_date}:{broker_order_no}:{fill_time}:{qty}:{price}"
