"""The Order record's derived values and the Fill dedupe key."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import datetime, timedelta, timezone

import pytest

from kisoms.domain.codes import Exchange, OrderType, Side
from kisoms.domain.order import Fill, Order
from kisoms.domain.states import OrderStatus, Quantities

TS = datetime(2026, 11, 25, 9, 0, tzinfo=timezone(timedelta(hours=9)))


def order(**changes) -> Order:
    base = dict(id=1, idempotency_key="ik1_x", account="50000001-01", strategy_version="v", symbol="005930",
                side=Side.BUY, order_type=OrderType.LIMIT, qty=10, price=71_000, exchange=Exchange.KRX, signal_ts=TS)
    return Order(**{**base, **changes})


def test_a_new_order():
    o = order()
    assert (o.status, o.filled_qty, o.cancelled_qty, o.remaining_qty, o.version) == (OrderStatus.NEW, 0, 0, 10, 0)
    assert o.quantities == Quantities(10)
    assert o.avg_fill_price is None


def test_average_fill_price_is_exact():
    o = order(filled_qty=3, filled_amount=71_000 + 71_100 * 2)
    assert o.avg_fill_price == pytest.approx(71_066.666666, abs=1e-5)
    assert order(filled_qty=4, filled_amount=284_200).avg_fill_price == 71_050


def test_with_quantities_copies_and_keeps_the_amount_unless_given():
    o = order(filled_qty=2, filled_amount=142_000)
    after = o.with_quantities(Quantities(10, 5, 1))
    assert (after.filled_qty, after.cancelled_qty, after.remaining_qty, after.filled_amount) == (5, 1, 4, 142_000)
    assert o.filled_qty == 2  # the original is untouched
    assert o.with_quantities(Quantities(10, 5), 355_000).filled_amount == 355_000


def test_orders_are_frozen():
    with pytest.raises(FrozenInstanceError):
        order().status = OrderStatus.SENT


def test_notice_key_names_everything_that_identifies_a_fill():
    key = Fill.notice_key("20261125", "0000123456", "090001", 3, 71_000)
    assert key == "n:20261125:0000123456:090001:3:71000"
    assert len({key, Fill.notice_key("20261125", "0000123456", "090002", 3, 71_000),
                Fill.notice_key("20261125", "0000123457", "090001", 3, 71_000),
                Fill.notice_key("20261125", "0000123456", "090001", 4, 71_000),
                Fill.notice_key("20261125", "0000123456", "090001", 3, 71_100),
                Fill.notice_key("20261126", "0000123456", "090001", 3, 71_000)}) == 6


# ------------------------------------------------------------------ look-alikes (the claim's twin guard)

from dataclasses import dataclass as _dataclass  # noqa: E402

from hypothesis import given, strategies as st  # noqa: E402

from kisoms.domain.order import confusable  # noqa: E402


@_dataclass
class _Row:
    """A broker row as the lookup reads it."""

    pdno: str
    side: Side
    ord_qty: int
    ord_unpr: int


_orders = st.builds(
    lambda t, side, qty, price, symbol: order(order_type=t, side=side, qty=qty, symbol=symbol,
                                              price=price if t.has_price else None),
    st.sampled_from(list(OrderType)), st.sampled_from(list(Side)), st.integers(1, 3),
    st.sampled_from([70_000, 70_100]), st.sampled_from(["005930", "000660"]))


@given(_orders, _orders, st.sampled_from([0, 70_000, 70_100, 69_900]))
def test_whatever_the_lookup_could_confuse_the_claim_holds_back(a, b, booked_price):
    """If b's broker row could be taken for a's by the lookup (engine.book_matching), a and b are confusable,
    so the claim never lets both be in flight at once."""
    from kisoms.engine.book_matching import _same_terms

    row = _Row(b.symbol, b.side, b.qty, b.price if b.order_type.has_price else booked_price)
    if _same_terms(a, row):
        assert confusable(a, b)
    assert confusable(a, b) == confusable(b, a)


def test_a_market_order_and_a_limit_order_of_the_same_size_are_look_alikes():
    assert confusable(order(order_type=OrderType.MARKET, price=None), order())
    assert not confusable(order(price=70_000), order(price=70_100))
    assert not confusable(order(qty=10), order(qty=11))
