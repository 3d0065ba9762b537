"""The state groups of kisoms/domain/states.py, through the engine and the simulator (their users are the
engine, not the table): an order can be amended or cancelled in every working state (SENT: the broker gave
it a number, no notice yet; ACCEPTED; PART_FILLED), and an order with an amend or cancel in flight
(PENDING_MODIFY / PENDING_CANCEL, its request still open and its owner at work) is not moved by reconcile to
what the books show: that change is its request's to settle."""

from __future__ import annotations

import pytest

from engine_helpers import ACCOUNT, intent
from kisoms.domain.order import Fill
from kisoms.domain.states import OrderEvent, OrderStatus
from kisoms.engine.amend import cancel, modify
from kisoms.engine.reconcile import reconcile
from kisoms.engine.submit import submit


def _order_in(rt, sim, state: OrderStatus):
    order = submit(rt, intent()).order  # 10 @ 70,000
    assert order.status is OrderStatus.SENT
    if state is OrderStatus.ACCEPTED:
        order = rt.ledger.transition(order.id, OrderEvent.ACKNOWLEDGED, source="notice")
    elif state is OrderStatus.PART_FILLED:
        sim.admin.fill(order.broker_order_no, 4, 70000)
        fill = Fill(order_id=order.id, broker_order_no=order.broker_order_no, qty=4, price=70000,
                    fill_time="090001", source="notice",
                    dedupe_key=Fill.notice_key(order.order_date, order.broker_order_no, "090001", 4, 70000))
        order = rt.ledger.record_fill(order.id, fill)
    assert order.status is state
    return order


def _changes(sim, order) -> list[dict]:
    return [r for r in sim.admin.orders(ACCOUNT) if r["orgn_odno"] == order.broker_order_no]


WORKING = [OrderStatus.SENT, OrderStatus.ACCEPTED, OrderStatus.PART_FILLED]


@pytest.mark.parametrize("state", WORKING, ids=lambda s: s.value)
def test_a_working_order_can_be_cancelled(rt, sim, state):
    order = _order_in(rt, sim, state)
    after = cancel(rt, order.id)
    assert after.status is OrderStatus.CANCELLED
    assert (after.filled_qty, after.cancelled_qty) == (order.filled_qty, order.remaining_qty)
    assert len(_changes(sim, order)) == 1  # the cancel row, pointing at the order's number


@pytest.mark.parametrize("state", WORKING, ids=lambda s: s.value)
def test_a_working_order_can_be_amended(rt, sim, state):
    order = _order_in(rt, sim, state)
    after = modify(rt, order.id, price=69500)
    assert after.price == 69500 and after.broker_order_no != order.broker_order_no
    assert after.remaining_qty == order.remaining_qty
    assert len(_changes(sim, order)) == 1


@pytest.mark.parametrize("kind, pending", [("modify", OrderStatus.PENDING_MODIFY),
                                           ("cancel", OrderStatus.PENDING_CANCEL)])
def test_reconcile_leaves_an_order_with_a_change_in_flight_pending(rt, sim, kind, pending):
    """This process claimed the change (its owner is alive: recovery leaves it alone); the books show the
    order working and unchanged. Reconcile keeps the order pending and its request open."""
    order = submit(rt, intent()).order
    change = {"orgn_odno": order.broker_order_no, "qty": 10, "price": 69500 if kind == "modify" else 0,
              "all_qty": True, "rvse_cncl": "01" if kind == "modify" else "02"}
    order, map_id = rt.ledger.claim(order.id, kind=kind, request=change, tr_id="TTTC0013U", source="test")
    assert order.status is pending
    report = reconcile(rt)
    after = rt.ledger.get(order.id)
    assert after.status is pending and (after.filled_qty, after.cancelled_qty, after.price) == (0, 0, 70000)
    assert [r.id for r in rt.ledger.open_requests(order.id)] == [map_id]
    assert any(f"order {order.id}" in line for line in report.in_flight)
    assert rt.ledger.halt_state(ACCOUNT) is None
