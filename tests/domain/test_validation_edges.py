"""OMS-02 validation at the edges of its documented rules (kisoms/domain/validation.py docstring, PROTOCOL.md
"Limits and errors"): the smallest valid quantity, an unpriced type that was given a price anyway, the daily
limits under policy ``reject`` (the price is never moved, so the limits judge the price as asked), and the
account-dependent rules when no account is configured or none of its order types is allowed."""

from __future__ import annotations

import pytest
from domain_helpers import make_intent, raw_intent

from kisoms.domain.codes import OrderType
from kisoms.domain.policy import AccountPolicy, MarketReference
from kisoms.domain.validation import validate
from kisoms.errors import Problem, ValidationError

ACCOUNT = AccountPolicy("50000001-01")
REF = MarketReference(base_price=71_000)  # ±30%, ticks inward: limits 49,700 .. 92,300


def problems(intent, *, account=ACCOUNT, policy="reject", reference=None) -> list[Problem]:
    with pytest.raises(ValidationError) as err:
        validate(intent, account=account, price_policy=policy, reference=reference)
    return list(err.value.problems)


def test_one_share_is_the_smallest_valid_quantity():
    order = validate(make_intent(qty=1), account=ACCOUNT, price_policy="reject", reference=REF)
    assert (order.qty, order.price) == (1, 71_000)


@pytest.mark.parametrize("policy", ["reject", "round"])
@pytest.mark.parametrize("price", [71_050, 100_000, 40_010])  # off tick; above the upper limit; below the lower
def test_a_price_given_to_an_unpriced_type_is_only_reported_as_not_allowed(policy, price):
    """ORD_DVSN ↔ ORD_UNPR: a market order carries no price, so a price given anyway is one problem
    (PRICE_NOT_ALLOWED); it is not also judged as a price (tick, daily limits) nor corrected by the policy."""
    found = problems(raw_intent(order_type=OrderType.MARKET, price=price), policy=policy, reference=REF)
    assert [p.code for p in found] == ["PRICE_NOT_ALLOWED"]


def test_under_policy_reject_the_upper_limit_judges_the_price_as_asked():
    """92,350 is off the 100-won tick and above 92,300: both are reported, and the message names 92,350
    (policy ``reject`` never moves a price, so rounding it down into the limit must not hide the problem)."""
    found = problems(make_intent(side="buy", price=92_350), reference=REF)
    assert [p.code for p in found] == ["PRICE_OFF_TICK", "PRICE_ABOVE_UPPER_LIMIT"]
    assert found[1].message == "price 92350 is above today's upper limit 92300"


def test_under_policy_reject_the_lower_limit_judges_the_price_as_asked():
    found = problems(make_intent(side="sell", price=49_610), reference=REF)
    assert [p.code for p in found] == ["PRICE_OFF_TICK", "PRICE_BELOW_LOWER_LIMIT"]
    assert found[1].message == "price 49610 is below today's lower limit 49700"


@pytest.mark.parametrize("order_type", [OrderType.MID_POINT, OrderType.STOP_LIMIT])
def test_an_unconfirmed_type_on_an_unconfigured_account_is_reported_as_the_unknown_account(order_type):
    """Without an account policy there is nothing to list the type in: the one problem is the account."""
    found = problems(make_intent(order_type=order_type.value), account=None)
    assert found == [Problem("ACCOUNT_UNKNOWN", "account 50000001-01 is not configured for trading")]


def test_an_account_that_allows_no_order_type_says_none():
    nothing = AccountPolicy("50000001-01", allowed_order_types=())
    found = problems(make_intent(), account=nothing)
    assert found == [Problem("ORDER_TYPE_NOT_ALLOWED",
                             "limit orders are not allowed on account 50000001-01 (allowed: none)")]


def test_the_notional_limit_applies_to_a_single_share():
    """qty × price: one share at 71,000 is above a 50,000 KRW maximum."""
    capped = AccountPolicy("50000001-01", max_notional=50_000)
    found = problems(make_intent(qty=1), account=capped)
    assert found == [Problem("NOTIONAL_ABOVE_MAX", "notional 71,000 KRW (1 × 71,000, at the order price) exceeds "
                                                   "the account maximum 50,000 KRW")]


@pytest.mark.parametrize("qty", [0, -3])
def test_a_quantity_problem_is_not_also_a_notional_problem(qty):
    """A market order of no shares, no market reference, a notional maximum: the one problem is the quantity
    (the notional cannot be judged, and need not be: the order is refused already)."""
    capped = AccountPolicy("50000001-01", max_notional=1_000_000)
    found = problems(make_intent(order_type="market", price=None, qty=qty), account=capped)
    assert [p.code for p in found] == ["QTY_NOT_POSITIVE"]


@pytest.mark.parametrize("price", [None, 0, -100])
def test_a_missing_price_is_not_also_a_notional_problem(price):
    """A limit order without a positive price under a notional maximum: the one problem is the price."""
    capped = AccountPolicy("50000001-01", max_notional=1_000_000)
    found = problems(raw_intent(order_type=OrderType.LIMIT, price=price), account=capped, reference=REF)
    assert [p.code for p in found] == ["PRICE_REQUIRED"]
