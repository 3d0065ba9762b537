"""Policies the config layer builds and validation applies: account permissions, price correction, market reference."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from kisoms.domain.codes import InstrumentKind, OrderType, Side


class PricePolicy(str, Enum):
    """What to do with a price that is not on a KRX tick."""

    REJECT = "reject"
    ROUND = "round"  # buy rounds down, sell rounds up: never a worse price than asked


@dataclass(frozen=True)
class AccountPolicy:
    """What one account may trade."""

    account: str
    trading_allowed: bool = True
    allowed_sides: frozenset[Side] | set[Side] = field(default_factory=lambda: frozenset(Side))
    max_qty: int | None = None
    max_notional: int | None = None
    allowed_order_types: frozenset[OrderType] | set[OrderType] | None = None


@dataclass(frozen=True)
class MarketReference:
    """Today's reference for a symbol (from inquire-price): base price, daily limits, last price."""

    base_price: int | None = None
    upper_limit: int | None = None
    lower_limit: int | None = None
    current_price: int | None = None
    kind: InstrumentKind = InstrumentKind.STOCK
