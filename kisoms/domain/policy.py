"""Policies the config layer builds and validation applies: account permissions, price correction, market reference.

All three are plain immutable values: no I/O, no clock. ``AccountPolicy`` normalises its sets to frozensets
and refuses nonsense (a malformed account, a non-positive maximum) when it is built, so a bad policy fails at
configuration time rather than half-way through a validation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from kisoms.domain.codes import InstrumentKind, OrderType, Side, split_account
from kisoms.domain.ticks import price_limits


class PricePolicy(str, Enum):
    """What to do with a price that is not on a KRX tick."""

    REJECT = "reject"  # an off-tick price is a validation problem
    ROUND = "round"  # buy rounds down, sell rounds up: never a worse price than asked


def _positive_or_none(name: str, value: int | None) -> None:
    """Refuse a maximum that is not a positive int (bool is not an int here)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")


def _frozen(enum: type[Enum], values: Iterable) -> frozenset:
    """A frozenset of enum members; plain strings ("buy", "limit") are converted."""
    return frozenset(enum(v) for v in values)


@dataclass(frozen=True)
class AccountPolicy:
    """What one account may trade.

    ``allowed_order_types`` of None means every *confirmed* order type; the unconfirmed ones of the
    ORD_DVSN table (mid-point, stop-limit) must be listed explicitly to be used.
    """

    account: str  # "CANO-ACNT_PRDT_CD", e.g. "50000001-01"
    trading_allowed: bool = True
    allowed_sides: frozenset[Side] = field(default_factory=lambda: frozenset(Side))
    max_qty: int | None = None
    max_notional: int | None = None  # KRW
    allowed_order_types: frozenset[OrderType] | None = None

    def __post_init__(self) -> None:
        split_account(self.account)  # raises ValueError on a malformed account
        _positive_or_none("max_qty", self.max_qty)
        _positive_or_none("max_notional", self.max_notional)
        object.__setattr__(self, "allowed_sides", _frozen(Side, self.allowed_sides))
        if self.allowed_order_types is not None:
            object.__setattr__(self, "allowed_order_types", _frozen(OrderType, self.allowed_order_types))

    def allows_order_type(self, order_type: OrderType) -> bool:
        """Listed explicitly, or (no list given) a confirmed type."""
        if self.allowed_order_types is None:
            return order_type.spec.confirmed
        return order_type in self.allowed_order_types


def _known(value: int | None) -> int | None:
    """KIS sends "0" for a price it does not have: treat 0 (and None) as unknown."""
    return value if value else None


@dataclass(frozen=True)
class MarketReference:
    """Today's reference for a symbol (from inquire-price): base price, daily limits, last price.

    Any field may be None (or 0, which KIS uses for "not available"): rules that need it are skipped,
    except the notional limit, which fails closed.
    """

    base_price: int | None = None  # stck_sdpr
    upper_limit: int | None = None  # stck_mxpr
    lower_limit: int | None = None  # stck_llam
    current_price: int | None = None  # stck_prpr
    kind: InstrumentKind = InstrumentKind.STOCK

    def limits(self) -> tuple[int | None, int | None]:
        """(lower, upper): the explicit limit where given, else ±30% of the base price; None if unknown."""
        computed = price_limits(self.base_price, self.kind) if _known(self.base_price) else (None, None)
        return _known(self.lower_limit) or computed[0], _known(self.upper_limit) or computed[1]
