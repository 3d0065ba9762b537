"""Every order is traceable end to end: the claim of a new order records what went out: the order-cash
tr_id for its side (PROTOCOL.md "Order (cash)": buy TTTC0012U, sell TTTC0011U) and the order-cash terms
(symbol, side, ORD_DVSN, quantity, ORD_UNPR as sent, exchange). A policy resend goes out with the same
record."""

from __future__ import annotations

import pytest

from engine_helpers import broker_orders, inject, intent, make_settings
from kisoms.domain.states import OrderStatus
from kisoms.engine.runtime import open_runtime
from kisoms.engine.submit import submit
from mutation_helpers import StepClock


def _terms(symbol="005930", side="buy", ord_dvsn="00", qty=10, ord_unpr="70000") -> dict:
    return {"symbol": symbol, "side": side, "ord_dvsn": ord_dvsn, "qty": qty, "ord_unpr": ord_unpr,
            "exchange": "KRX"}


@pytest.mark.parametrize("order_intent, tr_id, terms", [
    (intent(0), "TTTC0012U", _terms()),
    (intent(1, side="sell", qty=3, price=70100), "TTTC0011U", _terms(side="sell", qty=3, ord_unpr="70100")),
    (intent(2, order_type="market", price=None), "TTTC0012U", _terms(ord_dvsn="01", ord_unpr="0")),
], ids=["limit-buy", "limit-sell", "market-buy"])
def test_the_claim_records_the_tr_id_of_the_side_and_the_terms_sent(rt, sim, order_intent, tr_id, terms):
    order = submit(rt, order_intent).order
    assert order.status is OrderStatus.SENT
    [request] = rt.ledger.broker_numbers(order.id)
    assert (request.kind, request.state, request.broker_order_no) == ("new", "accepted", order.broker_order_no)
    assert (request.tr_id, request.request) == (tr_id, terms)
    [booked] = broker_orders(sim)
    assert booked["odno"] == order.broker_order_no


def test_a_policy_resend_records_the_same_tr_id_and_terms(sim, tmp_path):
    """The first send fails ambiguously and is never booked; the resend is booked and carries the record."""
    settings = make_settings(sim, tmp_path, ambiguity={"policy": "resend", "max_resends": 1})
    with open_runtime(settings, clock=StepClock()) as rt:
        inject(sim, "error_before_accept", count=1)
        order = submit(rt, intent(0, side="sell", qty=2, price=70200)).order
        assert order.status is OrderStatus.SENT
        rows = rt.ledger.broker_numbers(order.id)
        assert [(r.kind, r.state) for r in rows] == [("new", "not_found"), ("new", "accepted")]
        assert {r.tr_id for r in rows} == {"TTTC0011U"}
        assert [r.request for r in rows] == [_terms(side="sell", qty=2, ord_unpr="70200")] * 2
    assert [r["odno"] for r in broker_orders(sim)] == [order.broker_order_no]  # booked once
