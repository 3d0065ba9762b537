"""Order validation (OMS-02): every rule, every failure reported at once, each with a stable code.

Rules: qty > 0; the ORD_DVSN ↔ ORD_UNPR rule of the order type; the KRX tick size (price policy
``reject`` refuses an off-tick price, ``round`` moves it to a valid tick, buy down and sell up, and
records a note); the day's price limits when a reference is known (a rounded price must still be
within them); the account's permissions (known, trading allowed, side, order type, max qty, max
notional — for types without a price the notional is estimated at the upper limit, or the last price).
"""

from __future__ import annotations

from dataclasses import dataclass

from kisoms.domain.codes import InstrumentKind, OrderType, Side, ord_unpr
from kisoms.domain.intent import ApprovedOrderIntent
from kisoms.domain.policy import AccountPolicy, MarketReference, PricePolicy
from kisoms.domain.ticks import is_on_tick, price_limits, round_down, round_up
from kisoms.errors import Problem, ValidationError

QTY_NOT_POSITIVE = "QTY_NOT_POSITIVE"
PRICE_REQUIRED = "PRICE_REQUIRED"
PRICE_NOT_ALLOWED = "PRICE_NOT_ALLOWED"
PRICE_OFF_TICK = "PRICE_OFF_TICK"
PRICE_ABOVE_UPPER_LIMIT = "PRICE_ABOVE_UPPER_LIMIT"
PRICE_BELOW_LOWER_LIMIT = "PRICE_BELOW_LOWER_LIMIT"
ACCOUNT_UNKNOWN = "ACCOUNT_UNKNOWN"
TRADING_NOT_ALLOWED = "TRADING_NOT_ALLOWED"
SIDE_NOT_ALLOWED = "SIDE_NOT_ALLOWED"
ORDER_TYPE_NOT_ALLOWED = "ORDER_TYPE_NOT_ALLOWED"
QTY_ABOVE_MAX = "QTY_ABOVE_MAX"
NOTIONAL_ABOVE_MAX = "NOTIONAL_ABOVE_MAX"
NOTIONAL_UNKNOWN = "NOTIONAL_UNKNOWN"


@dataclass(frozen=True)
class ValidatedOrder:
    """The order's terms after validation (the price possibly corrected by policy)."""

    symbol: str
    side: Side
    order_type: OrderType
    qty: int
    price: int | None
    price_note: str | None = None

    @property
    def ord_dvsn(self) -> str:
        return self.order_type.ord_dvsn

    @property
    def ord_unpr(self) -> str:
        return ord_unpr(self.order_type, self.price)


def check_qty(qty: int) -> list[Problem]:
    return [] if qty > 0 else [Problem(QTY_NOT_POSITIVE, f"quantity must be positive, got {qty}")]


def check_price_rule(order_type: OrderType, price: int | None) -> list[Problem]:
    """ORD_DVSN ↔ ORD_UNPR: priced types need a positive price, the others take none."""
    if order_type.has_price and (price is None or price <= 0):
        return [Problem(PRICE_REQUIRED, f"{order_type.value} (ORD_DVSN {order_type.ord_dvsn}) needs a positive price")]
    if not order_type.has_price and price not in (None, 0):
        return [Problem(PRICE_NOT_ALLOWED,
                        f"{order_type.value} (ORD_DVSN {order_type.ord_dvsn}) takes no price (ORD_UNPR must be 0)")]
    return []


def corrected_price(price: int, side: Side, kind: InstrumentKind, policy: PricePolicy) -> tuple[int, str | None, list[Problem]]:
    """(price, note, problems) after the tick rule and the correction policy."""
    if is_on_tick(price, kind):
        return price, None, []
    if policy is PricePolicy.ROUND:
        fixed = round_down(price, kind) if side is Side.BUY else round_up(price, kind)
        direction = "down" if side is Side.BUY else "up"
        return fixed, f"price {price} rounded {direction} to tick {fixed} (policy round)", []
    lower, upper = round_down(price, kind), round_up(price, kind)
    return price, None, [Problem(PRICE_OFF_TICK, f"price {price} is not on a KRX tick (nearest {lower} / {upper})")]


def limits_of(reference: MarketReference) -> tuple[int, int] | None:
    """(lower, upper) from the reference: explicit limits, else ±30% of the base price."""
    if reference.lower_limit and reference.upper_limit:
        return reference.lower_limit, reference.upper_limit
    if reference.base_price:
        return price_limits(reference.base_price, reference.kind)
    return None


def check_limits(price: int, reference: MarketReference | None) -> list[Problem]:
    limits = limits_of(reference) if reference else None
    if limits is None:
        return []
    lower, upper = limits
    if price > upper:
        return [Problem(PRICE_ABOVE_UPPER_LIMIT, f"price {price} is above today's upper limit {upper}")]
    if price < lower:
        return [Problem(PRICE_BELOW_LOWER_LIMIT, f"price {price} is below today's lower limit {lower}")]
    return []


def check_permissions(intent: ApprovedOrderIntent, account: AccountPolicy | None) -> list[Problem]:
    if account is None:
        return [Problem(ACCOUNT_UNKNOWN, f"account {intent.account} is not configured for trading")]
    problems = []
    if not account.trading_allowed:
        problems.append(Problem(TRADING_NOT_ALLOWED, f"trading is not allowed on account {intent.account}"))
    if intent.side not in account.allowed_sides:
        problems.append(Problem(SIDE_NOT_ALLOWED, f"{intent.side.value} is not allowed on account {intent.account}"))
    if account.allowed_order_types is not None and intent.order_type not in account.allowed_order_types:
        problems.append(Problem(ORDER_TYPE_NOT_ALLOWED, f"{intent.order_type.value} orders are not allowed"))
    if account.max_qty is not None and intent.qty > account.max_qty:
        problems.append(Problem(QTY_ABOVE_MAX, f"quantity {intent.qty} exceeds the account maximum {account.max_qty}"))
    return problems


def notional_price(price: int | None, reference: MarketReference | None) -> tuple[int | None, str]:
    """The price to value the order at, and how it was chosen."""
    if price:
        return price, "at the order price"
    limits = limits_of(reference) if reference else None
    if limits:
        return limits[1], "estimated at today's upper limit (order type has no price)"
    if reference and reference.current_price:
        return reference.current_price, "estimated at the last price (order type has no price)"
    return None, ""


def check_notional(qty: int, price: int | None, account: AccountPolicy | None,
                   reference: MarketReference | None) -> list[Problem]:
    if account is None or account.max_notional is None or qty <= 0:
        return []
    value_at, how = notional_price(price, reference)
    if value_at is None:
        return [Problem(NOTIONAL_UNKNOWN, "cannot check the notional limit: no price and no market reference")]
    notional = qty * value_at
    if notional > account.max_notional:
        return [Problem(NOTIONAL_ABOVE_MAX,
                        f"notional {notional:,} KRW ({how}) exceeds the account maximum {account.max_notional:,}")]
    return []


def validate(intent: ApprovedOrderIntent, *, account: AccountPolicy | None, price_policy: PricePolicy,
             reference: MarketReference | None) -> ValidatedOrder:
    """Check every rule; return the (possibly corrected) order or raise ValidationError listing all problems."""
    kind = reference.kind if reference else InstrumentKind.STOCK
    problems = check_qty(intent.qty) + check_price_rule(intent.order_type, intent.price)
    price, note = intent.price, None
    if intent.order_type.has_price and price and price > 0:
        price, note, tick_problems = corrected_price(price, intent.side, kind, PricePolicy(price_policy))
        problems += tick_problems + check_limits(price, reference)
    problems += check_permissions(intent, account)
    problems += check_notional(intent.qty, price if intent.order_type.has_price else None, account, reference)
    if problems:
        raise ValidationError(problems)
    return ValidatedOrder(intent.symbol, intent.side, intent.order_type, intent.qty,
                          price if intent.order_type.has_price else None, note)
