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
