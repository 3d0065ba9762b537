"""Modify and cancel round trips against the simulator, including partial fills and a cancel racing a fill."""

from __future__ import annotations

import pytest

from engine_helpers import ACCOUNT, RVSECNCL, inject, intent
from kisoms.domain.states import OrderStatus
from kisoms.engine.amend import cancel, modify
from kisoms.engine.reconcile import reconcile
from kisoms.engine.submit import submit
from kisoms.errors import ValidationError


def resting_order(rt, n=0, **kw):
    """A buy below the market: it rests on the book."""
    return submit(rt, intent(n, price=70000, **kw)).order


def test_modify_moves_the_order_to_a_new_number(rt, sim):
    order = resting_order(rt)
    amended = modify(rt, order.id, price=69500)
    assert amended.status is OrderStatus.ACCEPTED or amended.status is OrderStatus.SENT
    assert amended.price == 69500 and amended.broker_order_no != order.broker_order_no
    numbers = {n.kind: n.broker_order_no for n in rt.ledger.broker_numbers(order.id)}
    assert numbers["new"] == order.broker_order_no and numbers["modify"] == amended.broker_order_no
    rows = {r["odno"]: r for r in sim.admin.orders(ACCOUNT)}
    assert rows[amended.broker_order_no]["orgn_odno"] == order.broker_order_no
    assert reconcile(rt).unresolved == []
    assert reconcile(rt).in_sync


def test_modify_then_fill_on_the_new_number(rt, sim):
    order = resting_order(rt)
    amended = modify(rt, order.id, price=71000)  # marketable: fills at once in the simulator
    reconcile(rt)
    final = rt.ledger.get(order.id)
    assert final.status is OrderStatus.FILLED and final.filled_qty == 10
    assert final.filled_amount == 10 * 71000


def test_cancel_all_remaining(rt, sim):
    order = resting_order(rt)
    cancelled = cancel(rt, order.id)
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.cancelled_qty == 10
    assert reconcile(rt).in_sync


def test_partial_cancel_leaves_the_rest_working(rt, sim):
    order = resting_order(rt)
    after = cancel(rt, order.id, qty=4)
    assert after.status is OrderStatus.ACCEPTED and after.cancelled_qty == 4 and after.remaining_qty == 6
    reconcile(rt)
    assert rt.ledger.get(order.id).cancelled_qty == 4


def test_amend_of_a_partly_filled_order(rt, sim):
    order = resting_order(rt)
    sim.admin.fill(order.broker_order_no, 3, 70000)
    reconcile(rt)
    part = rt.ledger.get(order.id)
    assert part.status is OrderStatus.PART_FILLED and part.filled_qty == 3
    amended = modify(rt, order.id, price=69000)
    rows = {r["odno"]: r for r in sim.admin.orders(ACCOUNT)}
    assert int(rows[amended.broker_order_no]["ord_qty"]) == 7
    sim.admin.set_price("005930", 69000)
    reconcile(rt)
    final = rt.ledger.get(order.id)
    assert final.status is OrderStatus.FILLED
    assert final.filled_amount == 3 * 70000 + 7 * 69000


def test_cancel_racing_a_fill(rt, sim):
    """The broker fills part of the order after we read it but before our cancel arrives."""
    order = resting_order(rt)
    sim.admin.fill(order.broker_order_no, 6, 70000)  # the ledger has not seen this fill yet
    after = cancel(rt, order.id)
    reconcile(rt)
    final = rt.ledger.get(order.id)
    assert final.filled_qty == 6 and final.cancelled_qty == 4 and final.status is OrderStatus.CANCELLED
    assert reconcile(rt).in_sync


def test_cancel_of_a_filled_order_is_refused_locally(rt, sim):
    order = resting_order(rt)
    sim.admin.set_price("005930", 70000)
    reconcile(rt)
    with pytest.raises(ValidationError) as err:
        cancel(rt, order.id)
    assert "ORDER_NOT_OPEN" in err.value.codes


def test_ambiguous_cancel_is_found_by_orgn_odno(rt, sim):
    decoy = resting_order(rt, strategy_version="decoy")  # same symbol, side, quantity and price
    decoy_cancel = cancel(rt, decoy.id, qty=3)
    order = resting_order(rt)
    inject(sim, "drop_response", path=RVSECNCL, seconds=3)
    after = cancel(rt, order.id)
    assert after.status is OrderStatus.CANCELLED and after.cancelled_qty == 10
    [row] = [r for r in sim.admin.orders(ACCOUNT) if r["orgn_odno"] == order.broker_order_no]
    numbers = [(n.kind, n.state, n.broker_order_no) for n in rt.ledger.broker_numbers(order.id)]
    assert numbers == [("new", "accepted", order.broker_order_no), ("cancel", "accepted", row["odno"])]
    assert rt.ledger.get(decoy.id).cancelled_qty == decoy_cancel.cancelled_qty == 3


def test_modify_price_off_tick_is_refused(rt, sim):
    order = resting_order(rt)
    with pytest.raises(ValidationError) as err:
        modify(rt, order.id, price=69999)
    assert "PRICE_OFF_TICK" in err.value.codes


def test_while_halted_an_amend_is_refused_but_a_cancel_goes_out(rt, sim):
    from kisoms.errors import Halted

    order = submit(rt, intent(price=69000)).order
    rt.ledger.set_halt("checking an order in HTS", source="operator", account=order.account)
    with pytest.raises(Halted, match="checking an order in HTS"):
        modify(rt, order.id, price=69500)
    assert cancel(rt, order.id).status is OrderStatus.CANCELLED  # taking risk off is always allowed
    assert [b["rmn_qty"] for b in sim.admin.orders(ACCOUNT) if b["odno"] == order.broker_order_no] == ["0"]
