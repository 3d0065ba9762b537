"""Account guards: limits on an account's activity, checked before a new order is claimed for sending.

Every limit is off (None) unless configured. The ledger measures the account's activity inside the claim's
transaction (``kisoms.ledger.control``); this module only compares. References: Nautilus Trader's
RiskEngine (max order rate, max notional) and IB's precautionary settings; no KIS library has them.
"""

from __future__ import annotations

from dataclasses import dataclass

from kisoms.domain.codes import Side
from kisoms.domain.order import Order
from kisoms.errors import Problem


@dataclass(frozen=True)
class GuardLimits:
    """An account's limits; None = no limit."""

    max_orders_per_minute: int | None = None
    max_open_orders: int | None = None
    max_notional_per_day: int | None = None  # KRW, bought + sold
    max_position_per_symbol: int | None = None  # shares

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.max_orders_per_minute, self.max_open_orders,
                                           self.max_notional_per_day, self.max_position_per_symbol))


@dataclass(frozen=True)
class AccountActivity:
    """What the ledger knows of the account when the order is about to be claimed (the order excluded)."""

    orders_last_minute: int  # new orders claimed in the last 60 seconds
    open_orders: int  # orders sent and not yet final
    notional_today: int  # filled amount + open remainder × price, of orders sent this KST day
    position: int  # the symbol's net filled shares through kisoms + open buy remainder


def order_notional(order: Order) -> int | None:
    """qty × limit price, or None when the order has no price (market and the like)."""
    return order.qty * order.price if order.price is not None else None


def _rate(limits: GuardLimits, seen: AccountActivity) -> Problem | None:
    cap = limits.max_orders_per_minute
    if cap is not None and seen.orders_last_minute + 1 > cap:
        return Problem("GUARD_ORDERS_PER_MINUTE", f"{seen.orders_last_minute} orders sent in the last minute; "
                                                  f"the account allows {cap} per minute")
    return None


def _open(limits: GuardLimits, seen: AccountActivity) -> Problem | None:
    cap = limits.max_open_orders
    if cap is not None and seen.open_orders + 1 > cap:
        return Problem("GUARD_OPEN_ORDERS", f"{seen.open_orders} orders open; the account allows {cap}")
    return None


def _notional(limits: GuardLimits, seen: AccountActivity, order: Order) -> Problem | None:
    cap = limits.max_notional_per_day
    if cap is None:
        return None
    value = order_notional(order)
    if value is None:
        return Problem("GUARD_NOTIONAL_UNKNOWN", f"a {order.order_type.value} order has no price, so its notional "
                                                 "is unknown and max_notional_per_day cannot be checked")
    if seen.notional_today + value > cap:
        return Problem("GUARD_NOTIONAL_PER_DAY", f"{seen.notional_today:,} KRW today + {value:,} exceeds the "
                                                 f"daily {cap:,} KRW")
    return None


def _position(limits: GuardLimits, seen: AccountActivity, order: Order) -> Problem | None:
    cap = limits.max_position_per_symbol
    if cap is None or order.side is not Side.BUY:
        return None  # a sell only takes risk off
    if seen.position + order.qty > cap:
        return Problem("GUARD_POSITION", f"{order.symbol}: {seen.position:,} shares held or on order + "
                                         f"{order.qty:,} exceeds the {cap:,} allowed")
    return None


def check(limits: GuardLimits, seen: AccountActivity, order: Order) -> list[Problem]:
    """Every limit the order would break (empty: it may be sent)."""
    found = [_rate(limits, seen), _open(limits, seen), _notional(limits, seen, order), _position(limits, seen, order)]
    return [p for p in found if p is not None]
