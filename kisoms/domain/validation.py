"""Order validation (OMS-02): every rule, every failure reported at once, each with a stable code.

``validate`` runs every rule and either returns the order's (possibly price-corrected) terms as a
``ValidatedOrder`` or raises ``ValidationError`` listing EVERY problem found, in a fixed order.

Rules, one function each (``RULES``):

- quantity: ``qty > 0``                                                       QTY_NOT_POSITIVE
- ORD_DVSN ↔ ORD_UNPR (``ORDER_TYPES``): priced types need a positive price,  PRICE_REQUIRED
  the others take none                                                        PRICE_NOT_ALLOWED
- KRX tick (stock or ETF/ETN table). Price policy ``reject``: an off-tick     PRICE_OFF_TICK
  price is a problem; ``round``: buy rounds DOWN, sell rounds UP, and
  ``price_note`` says so
- the day's limits, when a reference is known (explicit limits, else ±30%     PRICE_ABOVE_UPPER_LIMIT
  of the base price); a rounded price must still be inside them               PRICE_BELOW_LOWER_LIMIT
- account: configured, and the policy is for this account                     ACCOUNT_UNKNOWN, ACCOUNT_MISMATCH
- trading allowed, side allowed                                               TRADING_NOT_ALLOWED, SIDE_NOT_ALLOWED
- order type allowed; unconfirmed types (ORD_DVSN 21, 22) only when listed    ORDER_TYPE_NOT_ALLOWED,
  explicitly                                                                  UNCONFIRMED_ORDER_TYPE
- max quantity, max notional. Types without a price are valued at today's     QTY_ABOVE_MAX, NOTIONAL_ABOVE_MAX
  upper limit (else the last price) and the message says so; with neither     NOTIONAL_UNKNOWN
  the notional limit cannot be checked and the order is refused
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kisoms.domain.codes import InstrumentKind, OrderType, Side, ord_unpr
from kisoms.domain.intent import ApprovedOrderIntent
from kisoms.domain.policy import AccountPolicy, MarketReference, PricePolicy
from kisoms.domain.ticks import is_on_tick, round_down, round_up
from kisoms.errors import Problem, ValidationError

# --- Problem codes: stable, machine-readable; the one place they are spelled. -----------------------------
QTY_NOT_POSITIVE = "QTY_NOT_POSITIVE"
PRICE_REQUIRED = "PRICE_REQUIRED"
PRICE_NOT_ALLOWED = "PRICE_NOT_ALLOWED"
PRICE_OFF_TICK = "PRICE_OFF_TICK"
PRICE_ABOVE_UPPER_LIMIT = "PRICE_ABOVE_UPPER_LIMIT"
PRICE_BELOW_LOWER_LIMIT = "PRICE_BELOW_LOWER_LIMIT"
ACCOUNT_UNKNOWN = "ACCOUNT_UNKNOWN"
ACCOUNT_MISMATCH = "ACCOUNT_MISMATCH"
TRADING_NOT_ALLOWED = "TRADING_NOT_ALLOWED"
SIDE_NOT_ALLOWED = "SIDE_NOT_ALLOWED"
ORDER_TYPE_NOT_ALLOWED = "ORDER_TYPE_NOT_ALLOWED"
UNCONFIRMED_ORDER_TYPE = "UNCONFIRMED_ORDER_TYPE"
QTY_ABOVE_MAX = "QTY_ABOVE_MAX"
NOTIONAL_ABOVE_MAX = "NOTIONAL_ABOVE_MAX"
NOTIONAL_UNKNOWN = "NOTIONAL_UNKNOWN"

ALL_CODES: tuple[str, ...] = (
    QTY_NOT_POSITIVE, PRICE_REQUIRED, PRICE_NOT_ALLOWED, PRICE_OFF_TICK, PRICE_ABOVE_UPPER_LIMIT,
    PRICE_BELOW_LOWER_LIMIT, ACCOUNT_UNKNOWN, ACCOUNT_MISMATCH, TRADING_NOT_ALLOWED, SIDE_NOT_ALLOWED,
    ORDER_TYPE_NOT_ALLOWED, UNCONFIRMED_ORDER_TYPE, QTY_ABOVE_MAX, NOTIONAL_ABOVE_MAX, NOTIONAL_UNKNOWN,
)


@dataclass(frozen=True)
class ValidatedOrder:
    """The order's terms after validation (the price possibly corrected by policy; None for unpriced types)."""

    symbol: str
    side: Side
    order_type: OrderType
    qty: int
    price: int | None
    price_note: str | None = None  # set when the price policy moved the price

    @property
    def ord_dvsn(self) -> str:
        """KIS ORD_DVSN code of the order type."""
        return self.order_type.ord_dvsn

    @property
    def ord_unpr(self) -> str:
        """KIS ORD_UNPR string: the price, or "0" for types without one."""
        return ord_unpr(self.order_type, self.price)


@dataclass(frozen=True)
class PricedIntent:
    """What the rules look at: the intent, the price after the tick policy, and the context."""

    intent: ApprovedOrderIntent
    price: int | None  # corrected price; None when the type has no (valid) price
    note: str | None
    account: AccountPolicy | None
    reference: MarketReference | None
    policy: PricePolicy = PricePolicy.REJECT
    kind: InstrumentKind = InstrumentKind.STOCK


Rule = Callable[[PricedIntent], "Problem | None"]


# --- Price correction ---------------------------------------------------------------------------------------

def usable_price(intent: ApprovedOrderIntent) -> int | None:
    """The intent's price if its type carries one and it is positive, else None."""
    price = intent.price
    return price if intent.order_type.has_price and price is not None and price > 0 else None


def rounded(price: int, side: Side, kind: InstrumentKind) -> tuple[int, str]:
    """Round to a valid tick in the trader's favour (buy DOWN, sell UP); returns (price, note)."""
    fixed, direction = (round_down(price, kind), "down") if side is Side.BUY else (round_up(price, kind), "up")
    return fixed, f"price {price} rounded {direction} to tick {fixed} (policy round)"


def off_tick(price: int, kind: InstrumentKind) -> Problem:
    """The PRICE_OFF_TICK problem, naming the nearest valid prices."""
    return Problem(PRICE_OFF_TICK, f"price {price} is not on a KRX {kind.value} tick "
                                   f"(nearest valid prices {round_down(price, kind)} and {round_up(price, kind)})")


def apply_price_policy(intent: ApprovedOrderIntent, kind: InstrumentKind,
                       policy: PricePolicy) -> tuple[int | None, str | None]:
    """(price, note): policy ``round`` moves an off-tick price to a tick; ``reject`` leaves it (check_tick)."""
    price = usable_price(intent)
    if price is None or is_on_tick(price, kind) or policy is not PricePolicy.ROUND:
        return price, None
    return rounded(price, intent.side, kind)


# --- Rules: one rule each, returning a Problem or None -----------------------------------------------------

def check_qty(c: PricedIntent) -> Problem | None:
    """qty must be positive."""
    if c.intent.qty > 0:
        return None
    return Problem(QTY_NOT_POSITIVE, f"quantity must be a positive number of shares, got {c.intent.qty}")


def check_price_rule(c: PricedIntent) -> Problem | None:
    """ORD_DVSN ↔ ORD_UNPR: priced types need a positive price, the others take none (ORD_UNPR "0")."""
    order_type, price = c.intent.order_type, c.intent.price
    what = f"{order_type.value} (ORD_DVSN {order_type.ord_dvsn})"
    if order_type.has_price and (price is None or price <= 0):
        return Problem(PRICE_REQUIRED, f"{what} needs a positive price, got {price}")
    if not order_type.has_price and price not in (None, 0):
        return Problem(PRICE_NOT_ALLOWED, f"{what} takes no price (ORD_UNPR must be 0), got {price}")
    return None


def check_tick(c: PricedIntent) -> Problem | None:
    """Under policy ``reject`` the price must be on a KRX tick (``round`` has already moved it)."""
    asked = usable_price(c.intent)
    if asked is None or c.policy is PricePolicy.ROUND or is_on_tick(asked, c.kind):
        return None
    return off_tick(asked, c.kind)


def _described(c: PricedIntent) -> str:
    """'price 71000', or 'price 71050 (rounded up from 71001 by policy round)' after a correction."""
    asked = c.intent.price
    if c.note is None or asked == c.price:
        return f"price {c.price}"
    direction = "up" if c.price > asked else "down"
    return f"price {c.price} (rounded {direction} from {asked} by policy round)"


def check_upper_limit(c: PricedIntent) -> Problem | None:
    """The price may not exceed today's upper limit (when known)."""
    upper = c.reference.limits()[1] if c.reference else None
    if c.price is None or upper is None or c.price <= upper:
        return None
    return Problem(PRICE_ABOVE_UPPER_LIMIT, f"{_described(c)} is above today's upper limit {upper}")


def check_lower_limit(c: PricedIntent) -> Problem | None:
    """The price may not be below today's lower limit (when known)."""
    lower = c.reference.limits()[0] if c.reference else None
    if c.price is None or lower is None or c.price >= lower:
        return None
    return Problem(PRICE_BELOW_LOWER_LIMIT, f"{_described(c)} is below today's lower limit {lower}")


def check_account_known(c: PricedIntent) -> Problem | None:
    """An account without a policy is not configured for trading."""
    if c.account is not None:
        return None
    return Problem(ACCOUNT_UNKNOWN, f"account {c.intent.account} is not configured for trading")


def check_account_matches(c: PricedIntent) -> Problem | None:
    """The policy given must be the intent's account's (a wiring error otherwise)."""
    if c.account is None or c.account.account == c.intent.account:
        return None
    return Problem(ACCOUNT_MISMATCH, f"the policy is for account {c.account.account}, not {c.intent.account}")


def check_trading_allowed(c: PricedIntent) -> Problem | None:
    """The account must be open for trading."""
    if c.account is None or c.account.trading_allowed:
        return None
    return Problem(TRADING_NOT_ALLOWED, f"trading is not allowed on account {c.intent.account}")


def check_side(c: PricedIntent) -> Problem | None:
    """The side must be one the account allows."""
    if c.account is None or c.intent.side in c.account.allowed_sides:
        return None
    allowed = ", ".join(sorted(s.value for s in c.account.allowed_sides)) or "none"
    return Problem(SIDE_NOT_ALLOWED, f"{c.intent.side.value} is not allowed on account {c.intent.account} "
                                     f"(allowed: {allowed})")


def check_order_type(c: PricedIntent) -> Problem | None:
    """A type the account lists (when it lists any)."""
    listed = c.account.allowed_order_types if c.account else None
    if listed is None or c.intent.order_type in listed:
        return None
    allowed = ", ".join(sorted(t.value for t in listed)) or "none"
    return Problem(ORDER_TYPE_NOT_ALLOWED, f"{c.intent.order_type.value} orders are not allowed on account "
                                           f"{c.intent.account} (allowed: {allowed})")


def check_confirmed_type(c: PricedIntent) -> Problem | None:
    """Unconfirmed ORD_DVSN codes are used only when the account lists them explicitly."""
    spec = c.intent.order_type.spec
    if spec.confirmed or c.account is None or c.account.allowed_order_types is not None:
        return None
    return Problem(UNCONFIRMED_ORDER_TYPE, f"{spec.name} (ORD_DVSN {spec.ord_dvsn}) is not confirmed against KIS; "
                                           "list it in the account's allowed_order_types to use it")


def check_max_qty(c: PricedIntent) -> Problem | None:
    """qty may not exceed the account's maximum."""
    limit = c.account.max_qty if c.account else None
    if limit is None or c.intent.qty <= limit:
        return None
    return Problem(QTY_ABOVE_MAX, f"quantity {c.intent.qty} exceeds the account maximum {limit}")


def notional_price(c: PricedIntent) -> tuple[int | None, str]:
    """The price to value the order at, and how it was chosen (conservative for types without a price)."""
    if c.intent.order_type.has_price:
        return c.price, "at the order price"
    upper = c.reference.limits()[1] if c.reference else None
    if upper:
        return upper, "estimated at today's upper limit, as the order type has no price"
    if c.reference and c.reference.current_price:
        return c.reference.current_price, "estimated at the last price, as the order type has no price"
    return None, ""


def check_notional(c: PricedIntent) -> Problem | None:
    """qty × price may not exceed the account's maximum notional (KRW); unknown value fails closed."""
    limit = c.account.max_notional if c.account else None
    if limit is None or c.intent.qty <= 0 or (c.intent.order_type.has_price and c.price is None):
        return None  # no limit, or the quantity / price problem is already reported
    value_at, how = notional_price(c)
    if value_at is None:
        return Problem(NOTIONAL_UNKNOWN, f"cannot check the notional limit {limit:,} KRW: the order type has no "
                                         "price and there is no market reference (upper limit or last price)")
    notional = c.intent.qty * value_at
    if notional <= limit:
        return None
    return Problem(NOTIONAL_ABOVE_MAX, f"notional {notional:,} KRW ({c.intent.qty} × {value_at:,}, {how}) "
                                       f"exceeds the account maximum {limit:,} KRW")


RULES: tuple[Rule, ...] = (
    check_qty, check_price_rule, check_tick, check_upper_limit, check_lower_limit, check_account_known,
    check_account_matches, check_trading_allowed, check_side, check_order_type, check_confirmed_type,
    check_max_qty, check_notional,
)


def validate(intent: ApprovedOrderIntent, *, account: AccountPolicy | None, price_policy: PricePolicy | str,
             reference: MarketReference | None) -> ValidatedOrder:
    """Check every rule; return the (possibly corrected) order or raise ValidationError listing all problems."""
    kind = reference.kind if reference else InstrumentKind.STOCK
    policy = PricePolicy(price_policy)
    price, note = apply_price_policy(intent, kind, policy)
    priced = PricedIntent(intent, price, note, account, reference, policy, kind)
    problems = [p for p in (rule(priced) for rule in RULES) if p is not None]
    if problems:
        raise ValidationError(problems)
    return ValidatedOrder(intent.symbol, intent.side, intent.order_type, intent.qty, price, note)
