"""OMS-02 validation: one stable code and a human message per problem, every problem reported at once."""

from __future__ import annotations

import pytest
from domain_helpers import make_intent, raw_intent
from hypothesis import given, settings
from hypothesis import strategies as st

from kisoms.domain import validation as v
from kisoms.domain.codes import InstrumentKind, OrderType, Side
from kisoms.domain.policy import AccountPolicy, MarketReference, PricePolicy
from kisoms.domain.ticks import is_on_tick
from kisoms.domain.validation import ALL_CODES, ValidatedOrder, validate
from kisoms.errors import KisomsError, Problem, ValidationError

ACCOUNT = AccountPolicy("50000001-01")
REF = MarketReference(base_price=71_000)  # limits 49,700 .. 92,300
PRICED = [t for t in OrderType if t.has_price]
UNPRICED = [t for t in OrderType if not t.has_price]


def check(intent, *, account=ACCOUNT, policy="reject", reference=None) -> ValidatedOrder:
    return validate(intent, account=account, price_policy=policy, reference=reference)


def problems(intent, **kwargs) -> tuple[Problem, ...]:
    with pytest.raises(ValidationError) as err:
        check(intent, **kwargs)
    return err.value.problems


def only(intent, **kwargs) -> Problem:
    """The single problem ``intent`` has."""
    [problem] = problems(intent, **kwargs)
    assert problem.code in ALL_CODES and problem.message
    return problem


# --- Success ------------------------------------------------------------------------------------------------

def test_a_good_order_passes_unchanged():
    order = check(make_intent(), reference=REF)
    assert order == ValidatedOrder("005930", Side.BUY, OrderType.LIMIT, 10, 71_000, None)
    assert (order.ord_dvsn, order.ord_unpr) == ("00", "71000")


def test_a_market_order_sends_ord_unpr_zero():
    order = check(make_intent(order_type="market", price=None))
    assert (order.price, order.ord_dvsn, order.ord_unpr) == (None, "01", "0")
    assert check(make_intent(order_type="market", price=0)).ord_unpr == "0"


def test_codes_are_unique_and_spelled_as_their_names():
    assert len(set(ALL_CODES)) == len(ALL_CODES) == 15
    assert all(getattr(v, code) == code for code in ALL_CODES)


# --- Quantity ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("qty", [0, -1, -500])
def test_quantity_must_be_positive(qty):
    problem = only(make_intent(qty=qty))
    assert problem == Problem("QTY_NOT_POSITIVE", f"quantity must be a positive number of shares, got {qty}")


# --- Tick ----------------------------------------------------------------------------------------------------

def test_off_tick_price_is_rejected_under_policy_reject():
    problem = only(make_intent(price=71_050))
    assert problem.code == "PRICE_OFF_TICK"
    assert problem.message == "price 71050 is not on a KRX stock tick (nearest valid prices 71000 and 71100)"


@pytest.mark.parametrize("side, price, fixed, direction", [
    ("buy", 71_050, 71_000, "down"), ("sell", 71_050, 71_100, "up"),
    ("buy", 4_999, 4_995, "down"), ("sell", 4_999, 5_000, "up"),  # across the 5,000 band edge
    ("buy", 199_999, 199_900, "down"), ("sell", 199_999, 200_000, "up"),
])
def test_off_tick_price_is_rounded_in_the_traders_favour_under_policy_round(side, price, fixed, direction):
    order = check(make_intent(side=side, price=price), policy="round")
    assert order.price == fixed
    assert order.ord_unpr == str(fixed)
    assert order.price_note == f"price {price} rounded {direction} to tick {fixed} (policy round)"


@pytest.mark.parametrize("policy", ["round", PricePolicy.ROUND, "reject", PricePolicy.REJECT])
def test_an_on_tick_price_is_never_touched(policy):
    order = check(make_intent(price=71_100), policy=policy)
    assert (order.price, order.price_note) == (71_100, None)


def test_etf_reference_uses_the_etf_tick_table():
    etf = MarketReference(kind=InstrumentKind.ETF)
    assert check(make_intent(price=10_005), reference=etf).price == 10_005
    assert only(make_intent(price=10_005)).code == "PRICE_OFF_TICK"  # on a stock tick of 10 it is not
    problem = only(make_intent(price=10_003), reference=etf)
    assert problem.message == "price 10003 is not on a KRX etf tick (nearest valid prices 10000 and 10005)"
    assert check(make_intent(price=10_003, side="sell"), reference=etf, policy="round").price == 10_005


def test_unknown_price_policy_is_an_error():
    with pytest.raises(ValueError):
        check(make_intent(), policy="nearest")


@settings(max_examples=200, deadline=None)
@given(price=st.integers(1, 2_000_000), side=st.sampled_from(Side))
def test_policy_round_always_yields_an_on_tick_price_no_worse_than_asked(price, side):
    order = check(make_intent(price=price, side=side.value), policy="round")
    assert is_on_tick(order.price)
    assert order.price <= price if side is Side.BUY else order.price >= price
    assert (order.price_note is None) is (order.price == price)


@settings(max_examples=200, deadline=None)
@given(price=st.integers(1, 2_000_000))
def test_policy_reject_fails_exactly_the_off_tick_prices(price):
    if is_on_tick(price):
        assert check(make_intent(price=price)).price == price
    else:
        assert only(make_intent(price=price)).code == "PRICE_OFF_TICK"


# --- ORD_DVSN <-> ORD_UNPR -----------------------------------------------------------------------------------

@pytest.mark.parametrize("order_type", PRICED)
@pytest.mark.parametrize("price", [None, 0, -100])
def test_priced_types_need_a_positive_price(order_type, price):
    account = AccountPolicy("50000001-01", allowed_order_types=PRICED)
    problem = only(raw_intent(order_type=order_type, price=price), account=account)
    assert problem == Problem("PRICE_REQUIRED", f"{order_type.value} (ORD_DVSN {order_type.ord_dvsn}) needs a "
                                                f"positive price, got {price}")


@pytest.mark.parametrize("order_type", UNPRICED)
def test_unpriced_types_take_no_price(order_type):
    problem = only(raw_intent(order_type=order_type, price=71_000), reference=REF)
    assert problem == Problem("PRICE_NOT_ALLOWED", f"{order_type.value} (ORD_DVSN {order_type.ord_dvsn}) takes no "
                                                   "price (ORD_UNPR must be 0), got 71000")


# --- Daily limits --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("price", [49_700, 71_000, 92_300])
def test_prices_at_the_limits_pass(price):
    assert check(make_intent(price=price), reference=REF).price == price


def test_price_above_the_upper_limit():
    problem = only(make_intent(price=92_400), reference=REF)
    assert problem == Problem("PRICE_ABOVE_UPPER_LIMIT", "price 92400 is above today's upper limit 92300")


def test_price_below_the_lower_limit():
    problem = only(make_intent(price=49_650), reference=REF)
    assert problem == Problem("PRICE_BELOW_LOWER_LIMIT", "price 49650 is below today's lower limit 49700")


def test_explicit_limits_win_over_the_base_price():
    ref = MarketReference(base_price=71_000, upper_limit=80_000, lower_limit=60_000)
    assert only(make_intent(price=80_100), reference=ref).code == "PRICE_ABOVE_UPPER_LIMIT"
    assert only(make_intent(price=59_900), reference=ref).code == "PRICE_BELOW_LOWER_LIMIT"
    assert check(make_intent(price=80_000), reference=ref).price == 80_000


@pytest.mark.parametrize("reference", [None, MarketReference(), MarketReference(base_price=0, upper_limit=0,
                                                                                 lower_limit=0)])
def test_without_a_known_reference_limits_are_not_checked(reference):
    """KIS sends "0" for what it does not have: 0 means unknown, not a limit of 0."""
    assert check(make_intent(price=1_000_000), reference=reference).price == 1_000_000


def test_a_rounded_price_must_still_be_inside_the_limits():
    up = only(make_intent(side="sell", price=92_301), reference=REF, policy="round")
    assert up == Problem("PRICE_ABOVE_UPPER_LIMIT",
                         "price 92400 (rounded up from 92301 by policy round) is above today's upper limit 92300")
    down = only(make_intent(side="buy", price=49_699), reference=REF, policy="round")
    assert down == Problem("PRICE_BELOW_LOWER_LIMIT",
                           "price 49650 (rounded down from 49699 by policy round) is below today's lower limit 49700")


def test_reference_limits():
    assert REF.limits() == (49_700, 92_300)
    assert MarketReference(base_price=71_000, upper_limit=90_000).limits() == (49_700, 90_000)
    assert MarketReference(upper_limit=90_000).limits() == (None, 90_000)
    assert MarketReference(current_price=71_000).limits() == (None, None)


# --- Account permissions -------------------------------------------------------------------------------------

def test_unknown_account():
    problem = only(make_intent(), account=None)
    assert problem == Problem("ACCOUNT_UNKNOWN", "account 50000001-01 is not configured for trading")


def test_policy_for_another_account():
    problem = only(make_intent(), account=AccountPolicy("50000002-01"))
    assert problem == Problem("ACCOUNT_MISMATCH", "the policy is for account 50000002-01, not 50000001-01")


def test_trading_disabled():
    problem = only(make_intent(), account=AccountPolicy("50000001-01", trading_allowed=False))
    assert problem == Problem("TRADING_NOT_ALLOWED", "trading is not allowed on account 50000001-01")


def test_side_not_allowed():
    buy_only = AccountPolicy("50000001-01", allowed_sides={"buy"})
    assert check(make_intent(side="buy"), account=buy_only).side is Side.BUY
    problem = only(make_intent(side="sell"), account=buy_only)
    assert problem == Problem("SIDE_NOT_ALLOWED", "sell is not allowed on account 50000001-01 (allowed: buy)")
    nothing = only(make_intent(side="buy"), account=AccountPolicy("50000001-01", allowed_sides=()))
    assert nothing.message.endswith("(allowed: none)")


def test_order_type_not_allowed():
    limit_only = AccountPolicy("50000001-01", allowed_order_types=["limit"])
    problem = only(make_intent(order_type="market", price=None), account=limit_only)
    assert problem == Problem("ORDER_TYPE_NOT_ALLOWED",
                              "market orders are not allowed on account 50000001-01 (allowed: limit)")


@pytest.mark.parametrize("order_type", [OrderType.MID_POINT, OrderType.STOP_LIMIT])
def test_unconfirmed_types_need_an_explicit_listing(order_type):
    problem = only(make_intent(order_type=order_type.value))
    assert problem.code == "UNCONFIRMED_ORDER_TYPE"
    assert f"(ORD_DVSN {order_type.ord_dvsn}) is not confirmed" in problem.message
    listed = AccountPolicy("50000001-01", allowed_order_types=[order_type])
    assert check(make_intent(order_type=order_type.value), account=listed).ord_dvsn == order_type.ord_dvsn


def test_max_qty():
    capped = AccountPolicy("50000001-01", max_qty=10)
    assert check(make_intent(qty=10), account=capped).qty == 10
    problem = only(make_intent(qty=11), account=capped)
    assert problem == Problem("QTY_ABOVE_MAX", "quantity 11 exceeds the account maximum 10")


def test_max_notional_at_the_order_price():
    capped = AccountPolicy("50000001-01", max_notional=710_000)
    assert check(make_intent(qty=10), account=capped).qty == 10  # exactly at the limit
    problem = only(make_intent(qty=11), account=capped)
    assert problem == Problem("NOTIONAL_ABOVE_MAX", "notional 781,000 KRW (11 × 71,000, at the order price) "
                                                    "exceeds the account maximum 710,000 KRW")


def test_max_notional_uses_the_rounded_price():
    capped = AccountPolicy("50000001-01", max_notional=710_000)
    assert check(make_intent(qty=10, price=71_099), account=capped, policy="round").price == 71_000


def test_unpriced_orders_are_valued_at_the_upper_limit_else_the_last_price():
    capped = AccountPolicy("50000001-01", max_notional=800_000)
    market = make_intent(order_type="market", price=None)
    at_upper = only(market, account=capped, reference=REF)
    assert at_upper.code == "NOTIONAL_ABOVE_MAX"
    assert "notional 923,000 KRW (10 × 92,300, estimated at today's upper limit" in at_upper.message
    at_last = only(market, account=capped, reference=MarketReference(current_price=81_000))
    assert "notional 810,000 KRW (10 × 81,000, estimated at the last price" in at_last.message
    assert check(market, account=capped, reference=MarketReference(current_price=80_000)).qty == 10


@pytest.mark.parametrize("reference", [None, MarketReference(), MarketReference(current_price=0)])
def test_unpriced_orders_without_a_reference_fail_closed_on_notional(reference):
    capped = AccountPolicy("50000001-01", max_notional=1_000_000)
    problem = only(make_intent(order_type="market", price=None), account=capped, reference=reference)
    assert problem.code == "NOTIONAL_UNKNOWN"
    assert "cannot check the notional limit 1,000,000 KRW" in problem.message
    # without a notional limit there is nothing to check
    assert check(make_intent(order_type="market", price=None), reference=reference).qty == 10


@pytest.mark.parametrize("kwargs", [{"max_qty": 0}, {"max_qty": -1}, {"max_qty": True}, {"max_qty": 1.5},
                                    {"max_notional": 0}, {"max_notional": "1000"}])
def test_nonsense_account_policies_fail_when_built(kwargs):
    with pytest.raises(ValueError, match="must be a positive integer or None"):
        AccountPolicy("50000001-01", **kwargs)


def test_account_policy_needs_a_well_formed_account():
    with pytest.raises(ValueError, match="12345678-01"):
        AccountPolicy("50000001")


def test_account_policy_normalises_its_sets():
    policy = AccountPolicy("50000001-01", allowed_sides=["sell"], allowed_order_types=("limit", "market"))
    assert policy.allowed_sides == frozenset({Side.SELL})
    assert policy.allowed_order_types == frozenset({OrderType.LIMIT, OrderType.MARKET})
    assert AccountPolicy("50000001-01").allowed_sides == frozenset(Side)
    with pytest.raises(ValueError):
        AccountPolicy("50000001-01", allowed_sides=["hold"])


# --- Several problems at once --------------------------------------------------------------------------------

def test_every_problem_is_reported_in_rule_order():
    strict = AccountPolicy("50000001-01", trading_allowed=False, allowed_sides={"buy"}, max_qty=5,
                           max_notional=100_000, allowed_order_types=["limit", "market"])
    intent = raw_intent(qty=0, price=92_450, side=Side.SELL)
    with pytest.raises(ValidationError) as err:
        check(intent, account=strict, reference=REF)
    assert err.value.codes == ["QTY_NOT_POSITIVE", "PRICE_OFF_TICK", "PRICE_ABOVE_UPPER_LIMIT",
                               "TRADING_NOT_ALLOWED", "SIDE_NOT_ALLOWED"]
    assert isinstance(err.value, KisomsError)
    assert str(err.value) == "; ".join(f"{p.code}: {p.message}" for p in err.value.problems)


def test_quantity_type_and_account_problems_together():
    intent = raw_intent(qty=20, order_type=OrderType.MARKET, price=71_000)
    policy = AccountPolicy("50000001-01", allowed_order_types=["limit"], max_qty=10, max_notional=1_000_000)
    assert [p.code for p in problems(intent, account=policy, reference=REF)] == [
        "PRICE_NOT_ALLOWED", "ORDER_TYPE_NOT_ALLOWED", "QTY_ABOVE_MAX", "NOTIONAL_ABOVE_MAX"]


def test_unknown_account_with_bad_terms():
    codes = [p.code for p in problems(raw_intent(qty=-1, price=None), account=None)]
    assert codes == ["QTY_NOT_POSITIVE", "PRICE_REQUIRED", "ACCOUNT_UNKNOWN"]


def test_every_problem_has_a_code_and_a_message():
    intent = raw_intent(qty=0, price=71_050, side=Side.SELL)
    for account in (None, AccountPolicy("50000002-01"), AccountPolicy("50000001-01", trading_allowed=False)):
        for p in problems(intent, account=account, reference=REF):
            assert p.code in ALL_CODES
            assert p.message and p.code not in p.message
