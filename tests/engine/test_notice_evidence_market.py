"""Acceptance-notice evidence for an order type without a price (module docstring of engine/recovery.py):
an unclaimed acceptance notice with the order's terms stops a policy resend while the books lag. A market
order is sent with ORD_UNPR "0", and the price a notice shows for it is not a term we chose (it may be the
price the order was booked at), so the notice's price is not compared; account, date, symbol, side and
quantity still are."""

from __future__ import annotations

import pytest

from engine_helpers import broker_orders, inject, intent, make_settings
from kisoms.domain.states import OrderStatus
from kisoms.engine.clock import kst_ymd
from kisoms.engine.reconcile import reconcile
from kisoms.engine.runtime import open_runtime
from kisoms.engine.submit import submit
from kisoms.errors import AwaitingBooks
from mutation_helpers import StepClock, events, request_rows

NOTICE = {"account": "5000000101", "symbol": "005930", "side": "buy", "qty": 10}


@pytest.mark.parametrize("notice_price", [70_300, 0], ids=["booked-price", "zero"])
def test_a_notice_stops_the_resend_of_a_market_order_whatever_price_it_shows(sim, tmp_path, notice_price):
    clock = StepClock()
    settings = make_settings(sim, tmp_path, ambiguity={"policy": "resend"})
    with open_runtime(settings, clock=clock) as rt:
        # The watcher saw KIS accept a market order with these terms (number 0000000777); the books lag.
        rt.ledger.record_external(order_date=kst_ymd(rt.clock.now()), broker_order_no="0000000777",
                                  price=notice_price, raw={"source": "notice"}, **NOTICE)
        inject(sim, "error_before_accept")
        with pytest.raises(AwaitingBooks, match="0000000777"):
            submit(rt, intent(order_type="market", price=None))
        [order] = rt.ledger.list_orders()
        assert order.status is OrderStatus.UNKNOWN and rt.ledger.halt_state() is None
        assert request_rows(rt, order.id) == [("new", "unknown", None)]
        assert events(rt, order.id) == ["created", "claim", "send_ambiguous"]
        clock.offset += 60  # long after the lookup window: still not resent, still no halt
        report = reconcile(rt)
        assert report.in_flight and not report.unresolved and rt.ledger.halt_state() is None
        assert rt.ledger.get(order.id).status is OrderStatus.UNKNOWN
    assert broker_orders(sim) == []  # the first send was never booked, and nothing was resent (it would be)


def test_a_notice_for_another_quantity_is_no_evidence_for_a_market_order(sim, tmp_path):
    """The control: the price is not compared, the quantity is; the policy resends once and it is booked."""
    settings = make_settings(sim, tmp_path, ambiguity={"policy": "resend"})
    with open_runtime(settings, clock=StepClock()) as rt:
        rt.ledger.record_external(order_date=kst_ymd(rt.clock.now()), broker_order_no="0000000777",
                                  price=0, raw={"source": "notice"}, **{**NOTICE, "qty": 11})
        inject(sim, "error_before_accept")
        order = submit(rt, intent(order_type="market", price=None)).order
        [row] = broker_orders(sim)
        assert order.status in (OrderStatus.SENT, OrderStatus.ACCEPTED, OrderStatus.PART_FILLED, OrderStatus.FILLED)
        assert order.broker_order_no == row["odno"] != "0000000777"
        assert [(k, s) for k, s, _ in request_rows(rt, order.id)] == [("new", "not_found"), ("new", "accepted")]
