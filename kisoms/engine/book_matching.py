"""Finding our order in the broker's books after an ambiguous send.

KIS takes no client order id, so an order whose request may have left is recognised by what it is:
same account, date, symbol, side, quantity, price and order type, not yet mapped to any order of ours,
not an amend/cancel row (no ORGN_ODNO), booked within a time window around our claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Protocol

from kisoms.domain.codes import Side, ord_unpr
from kisoms.domain.order import Order
from kisoms.engine.clock import hhmmss_seconds, kst_seconds, kst_ymd

EARLY_TOLERANCE_SECONDS = 5  # broker clock may run slightly behind ours


class BookRow(Protocol):
    ord_dt: str
    odno: str
    orgn_odno: str
    pdno: str
    side: Side
    ord_qty: int
    ord_unpr: int
    ord_tmd: str


@dataclass(frozen=True)
class Match:
    """The result of a lookup: exactly one candidate is a match; several are a reason to halt."""

    candidates: tuple

    @property
    def found(self):
        return self.candidates[0] if len(self.candidates) == 1 else None

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


def is_original(row: BookRow) -> bool:
    """True for a new-order row (amend/cancel rows point at an original number)."""
    return not (row.orgn_odno or "").strip().strip("0")


def _same_terms(order: Order, row: BookRow) -> bool:
    """Symbol, side, quantity, and the price where the order has one (the books may show the price a
    market-like order was booked at, e.g. top priority's best bid, where we sent "0")."""
    same_price = (row.ord_unpr == int(ord_unpr(order.order_type, order.price))
                  if order.order_type.has_price else True)
    return row.pdno.strip() == order.symbol and row.side == order.side and row.ord_qty == order.qty and same_price


def _in_window(row: BookRow, claimed_at: datetime, window_seconds: int) -> bool:
    booked = hhmmss_seconds(row.ord_tmd)
    if booked is None or row.ord_dt != kst_ymd(claimed_at):
        return False
    delta = booked - kst_seconds(claimed_at)
    return -EARLY_TOLERANCE_SECONDS <= delta <= window_seconds


def find_sent_order(order: Order, claimed_at: datetime, rows: Iterable[BookRow],
                    mapped_numbers: set[str], window_seconds: int) -> Match:
    """Unmapped original rows in the books that match ``order`` sent at ``claimed_at``."""
    found = tuple(
        row for row in rows
        if row.odno not in mapped_numbers and is_original(row)
        and _same_terms(order, row) and _in_window(row, claimed_at, window_seconds)
    )
    return Match(found)
