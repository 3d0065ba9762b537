"""A failure in the middle of a change leaves nothing of it: order, history, audit and event together."""

from __future__ import annotations

import sqlite3

import pytest
from ledger_helpers import make_order

from kisoms.domain.order import Fill
from kisoms.domain.states import OrderEvent
from kisoms.ledger import journal


class Boom(Exception):
    pass


def _fail(*args, **kwargs):
    raise Boom("crash between the order update and the audit/event write")


def snapshot(path) -> dict:
    """Every row of every table, read over a separate connection."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    finally:
        conn.close()


@pytest.fixture(params=["audit", "event"])
def breaker(request, monkeypatch):
    """Make either the audit append or the event append fail."""
    def arm():
        if request.param == "audit":
            monkeypatch.setattr(journal, "append_audit", _fail)
        else:
            monkeypatch.setattr(journal, "append_event", _fail)
    return arm


def test_failed_transition_leaves_nothing(ledger, path, breaker):
    order, _ = ledger.create(make_order(), source="t")
    before = snapshot(path)
    breaker()
    with pytest.raises(Boom):
        ledger.transition(order.id, OrderEvent.CLAIM, source="t")
    assert snapshot(path) == before
    assert ledger.get(order.id) == order


def test_failed_create_leaves_nothing(ledger, path, breaker):
    before = snapshot(path)
    breaker()
    with pytest.raises(Boom):
        ledger.create(make_order(), source="t")
    assert snapshot(path) == before
    assert ledger.list_orders() == []


def test_failed_claim_leaves_no_request_row(ledger, path, breaker):
    order, _ = ledger.create(make_order(), source="t")
    before = snapshot(path)
    breaker()
    with pytest.raises(Boom):
        ledger.claim(order.id, request={"qty": 10}, tr_id="order-cash", source="t")
    assert snapshot(path) == before
    assert ledger.open_requests() == []


def test_failed_fill_leaves_no_fill_row(ledger, path, breaker):
    order, _ = ledger.create(make_order(), source="t")
    ledger.transition(order.id, OrderEvent.CLAIM, source="t")
    ledger.transition(order.id, OrderEvent.BROKER_ACCEPTED, source="t", broker_order_no="1",
                      order_date="20261125", krx_orgno="9")
    before = snapshot(path)
    breaker()
    fill = Fill(order.id, "1", 3, 70000, "090000", "notice", "n:x")
    with pytest.raises(Boom):
        ledger.record_fill(order.id, fill)
    assert snapshot(path) == before
    assert ledger.fills(order.id) == []


def test_ledger_still_works_after_a_failed_write(ledger, monkeypatch):
    order, _ = ledger.create(make_order(), source="t")
    monkeypatch.setattr(journal, "append_audit", _fail)
    with pytest.raises(Boom):
        ledger.transition(order.id, OrderEvent.CLAIM, source="t")
    monkeypatch.undo()
    assert ledger.transition(order.id, OrderEvent.CLAIM, source="t").version == 2
    assert ledger.verify_audit_chain() == 2
    assert [e.id for e in ledger.events_since(0)] == [1, 2]
