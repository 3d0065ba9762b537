"""The broker-truth correction rule: any state may move; quantities may not go backwards."""

from __future__ import annotations

import pytest
from ledger_helpers import make_order

from kisoms.domain.order import Fill
from kisoms.domain.states import OrderEvent, OrderStatus, Quantities
from kisoms.ledger import CorrectionRefused


def errored(ledger):
    order, _ = ledger.create(make_order(), source="t")
    ledger.transition(order.id, OrderEvent.CLAIM, source="t")
    return ledger.transition(order.id, OrderEvent.SEND_FAILED, source="t", reject_code="NOT_SENT")


def test_terminal_error_corrected_to_filled_with_an_inferred_fill(ledger):
    order = errored(ledger)
    fill = Fill(order.id, "0000123", 10, 70000, "", "reconcile", f"r:20261125:{order.id}:10:700000")
    fixed = ledger.correct(order.id, OrderStatus.FILLED, source="reconcile", raw_payload={"rows": []},
                           quantities=Quantities(10, 10, 0), filled_amount=700000, inferred_fill=fill,
                           broker_order_no="0000123", order_date="20261125")
    assert (fixed.status, fixed.filled_qty, fixed.filled_amount, fixed.broker_order_no) == (
        OrderStatus.FILLED, 10, 700000, "0000123")
    assert ledger.fills(order.id) == [fill]
    h = ledger.history(order.id)[-1]
    assert (h.prev_status, h.status, h.event) == ("ERROR", "FILLED", "corrected")
    assert ledger.events_since(0)[-1].kind == "order.corrected"
    again = ledger.correct(order.id, OrderStatus.FILLED, source="reconcile", raw_payload={},
                           quantities=Quantities(10, 10, 0), filled_amount=700000, inferred_fill=fill)
    assert ledger.fills(order.id) == [fill] and again.version == fixed.version + 1


@pytest.mark.parametrize("q", [Quantities(10, 2, 0), Quantities(12, 5, 0)])
def test_backwards_quantities_are_refused_without_trace(ledger, q):
    order = errored(ledger)
    order = ledger.correct(order.id, OrderStatus.PART_FILLED, source="reconcile", raw_payload={},
                           quantities=Quantities(10, 5, 0), filled_amount=350000)
    last = ledger.last_event_id()
    with pytest.raises(CorrectionRefused):
        ledger.correct(order.id, OrderStatus.PART_FILLED, source="reconcile", raw_payload={},
                       quantities=q, filled_amount=0)
    assert ledger.get(order.id) == order and ledger.last_event_id() == last


def test_transition_refuses_backwards_quantities_too(ledger):
    order, _ = ledger.create(make_order(), source="t")
    ledger.correct(order.id, OrderStatus.PART_FILLED, source="reconcile", raw_payload={},
                   quantities=Quantities(10, 5, 0), filled_amount=350000)
    with pytest.raises(CorrectionRefused):
        ledger.transition(order.id, OrderEvent.FILL, source="t", quantities=Quantities(10, 4, 0))


def test_a_correction_from_a_known_copy_is_refused_once_the_order_moved(ledger):
    from kisoms.errors import StaleOrder

    order, _ = ledger.create(make_order(), source="t")
    order = ledger.transition(order.id, OrderEvent.CLAIM, source="t")
    moved = ledger.transition(order.id, OrderEvent.SEND_AMBIGUOUS, source="t")
    with pytest.raises(StaleOrder):
        ledger.correct(order.id, OrderStatus.CANCELLED, source="reconcile", raw_payload={},
                       quantities=Quantities(order.qty, 0, order.qty), filled_amount=0,
                       expected_version=order.version, known=order)
    fixed = ledger.correct(order.id, OrderStatus.CANCELLED, source="reconcile", raw_payload={},
                           quantities=Quantities(order.qty, 0, order.qty), filled_amount=0,
                           expected_version=moved.version, known=moved)
    assert ledger.get(order.id) == fixed and fixed.version == moved.version + 1
