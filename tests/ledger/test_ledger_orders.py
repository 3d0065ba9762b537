"""Orders: create-or-get by idempotency key, reads, transitions, optimistic concurrency."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ledger_helpers import SIGNAL_TS, make_order

from kisoms.domain.states import OrderEvent, OrderStatus
from kisoms.errors import InvalidTransition, LedgerError, OrderNotFound
from kisoms.ledger import StaleOrder


def test_create_round_trips_every_field(ledger, clock):
    order, created = ledger.create(make_order(price_note="rounded to tick"), source="submit")
    assert created and order.id > 0 and order.version == 1
    again = ledger.get(order.id)
    assert again == order
    assert again.signal_ts == SIGNAL_TS and again.tags == {"desk": "t"}
    assert again.created_at == again.updated_at and again.created_at.tzinfo is not None
    assert again.price_note == "rounded to tick"


def test_same_key_returns_the_existing_order_and_writes_nothing(ledger):
    first, _ = ledger.create(make_order(), source="submit")
    before = ledger.last_event_id()
    second, created = ledger.create(make_order(qty=99), source="submit")
    assert not created and second == first
    assert ledger.last_event_id() == before
    assert len(ledger.history(first.id)) == 1
    assert ledger.get_by_key(first.idempotency_key) == first
    assert ledger.get_by_key("nope") is None


def test_create_writes_history_audit_and_event(ledger):
    order, _ = ledger.create(make_order(), source="submit", raw_payload={"intent": {"qty": 10}})
    [h] = ledger.history(order.id)
    assert (h.status, h.prev_status, h.event, h.source) == ("NEW", None, "created", "submit")
    assert h.raw_payload == {"intent": {"qty": 10}}
    [e] = ledger.events_since(0)
    assert (e.kind, e.order_id, e.payload["status"]) == ("order.created", order.id, "NEW")
    assert ledger.verify_audit_chain() == 1


def test_create_refuses_an_order_that_is_not_new(ledger):
    with pytest.raises(LedgerError):
        ledger.create(replace(make_order(), status=OrderStatus.SENT), source="x")


def test_get_unknown_id(ledger):
    with pytest.raises(OrderNotFound):
        ledger.get(42)


def test_list_orders_filters(ledger):
    a, _ = ledger.create(make_order("005930", strategy="a"), source="t")
    b, _ = ledger.create(make_order("000660", strategy="b"), source="t")
    c, _ = ledger.create(make_order("000660", strategy="c"), source="t")
    ledger.transition(c.id, OrderEvent.VALIDATION_FAILED, source="t", reject_code="V", reject_reason="bad")
    assert [o.id for o in ledger.list_orders()] == [a.id, b.id, c.id]
    assert [o.id for o in ledger.list_orders(symbol="000660")] == [b.id, c.id]
    assert [o.id for o in ledger.list_orders(statuses=[OrderStatus.NEW])] == [a.id, b.id]
    assert [o.id for o in ledger.list_orders(statuses=["REJECTED"], account="50000001-01")] == [c.id]
    assert ledger.list_orders(statuses=[]) == []
    assert [o.id for o in ledger.list_orders(limit=2)] == [b.id, c.id]
    assert ledger.list_orders(order_date="20261125") == []


def test_transition_sets_fields_bumps_version_and_records(ledger):
    order, _ = ledger.create(make_order(), source="t")
    after = ledger.transition(order.id, OrderEvent.VALIDATION_FAILED, source="submit",
                              raw_payload={"problems": ["PRICE_OFF_TICK"]}, expected_version=1,
                              reject_code="VALIDATION:PRICE_OFF_TICK", reject_reason="off tick")
    assert after.status is OrderStatus.REJECTED and after.version == 2
    assert (after.reject_code, after.reject_reason) == ("VALIDATION:PRICE_OFF_TICK", "off tick")
    assert ledger.get(order.id) == after
    h = ledger.history(order.id)[-1]
    assert (h.prev_status, h.status, h.event, h.version) == ("NEW", "REJECTED", "validation_failed", 2)
    e = ledger.events_since(0)[-1]
    assert (e.kind, e.payload["prev_status"], e.payload["status"]) == ("order.transition", "NEW", "REJECTED")


def _trace(ledger, order_id):
    return (ledger.get(order_id), ledger.history(order_id), ledger.last_event_id(), ledger.verify_audit_chain())


def test_invalid_transition_leaves_no_trace(ledger):
    order, _ = ledger.create(make_order(), source="t")
    before = _trace(ledger, order.id)
    with pytest.raises(InvalidTransition):
        ledger.transition(order.id, OrderEvent.FILL, source="t", broker_order_no="1")
    assert _trace(ledger, order.id) == before


def test_stale_version_is_refused_without_trace(ledger):
    order, _ = ledger.create(make_order(), source="t")
    before = _trace(ledger, order.id)
    with pytest.raises(StaleOrder) as info:
        ledger.transition(order.id, OrderEvent.CLAIM, source="t", expected_version=7)
    assert (info.value.expected, info.value.actual) == (7, 1)
    assert _trace(ledger, order.id) == before


def test_unknown_field_is_refused(ledger):
    order, _ = ledger.create(make_order(), source="t")
    with pytest.raises(LedgerError, match="status"):
        ledger.transition(order.id, OrderEvent.CLAIM, source="t", status="FILLED")
    assert ledger.get(order.id).status is OrderStatus.NEW


def test_naive_clock_is_refused(path):
    from datetime import datetime

    from kisoms.ledger import Ledger

    with Ledger(path, now=lambda: datetime(2026, 1, 1)) as ledger:
        with pytest.raises(ValueError, match="naive"):
            ledger.create(make_order(), source="t")
        assert ledger.list_orders() == []
