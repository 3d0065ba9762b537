"""Fills: applied once by dedupe key, amounts exact, overfills flagged and not applied."""

from __future__ import annotations

import pytest
from ledger_helpers import make_order

from kisoms.domain.order import Fill
from kisoms.domain.states import OrderEvent, OrderStatus
from kisoms.errors import InvalidTransition, LedgerError


def sent_order(ledger, qty=10):
    order, _ = ledger.create(make_order(qty=qty), source="t")
    order, map_id = ledger.claim(order.id, request={"qty": qty}, tr_id="order-cash", source="t")
    number = {"broker_order_no": "0000123", "krx_orgno": "91252", "order_date": "20261125"}
    return ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.BROKER_ACCEPTED,
                         source="t", map_fields=number, order_fields=number)


def fill(order, qty, price=70000, t="090000"):
    key = Fill.notice_key("20261125", "0000123", t, qty, price)
    return Fill(order.id, "0000123", qty, price, t, "notice", key)


def test_fills_accumulate_quantity_and_amount(ledger):
    order = sent_order(ledger)
    a = ledger.record_fill(order.id, fill(order, 4, 70000, "090000"), raw_payload={"notice": 1})
    assert (a.status, a.filled_qty, a.filled_amount, a.version) == (OrderStatus.PART_FILLED, 4, 280000, 4)
    b = ledger.record_fill(order.id, fill(order, 6, 70100, "090001"))
    assert (b.status, b.filled_qty, b.filled_amount) == (OrderStatus.FILLED, 10, 280000 + 420600)
    assert b.avg_fill_price == pytest.approx(70060)
    assert [f.qty for f in ledger.fills(order.id)] == [4, 6]
    assert [e.kind for e in ledger.events_since(0)][-2:] == ["order.fill", "order.fill"]
    assert ledger.events_since(0)[-1].payload["fill"]["qty"] == 6


def test_duplicate_fill_writes_nothing(ledger):
    order = sent_order(ledger)
    f = fill(order, 4)
    assert ledger.record_fill(order.id, f) is not None
    last, version = ledger.last_event_id(), ledger.get(order.id).version
    assert ledger.record_fill(order.id, f) is None
    assert ledger.last_event_id() == last and ledger.get(order.id).version == version
    assert len(ledger.fills(order.id)) == 1


def test_overfill_is_flagged_not_applied(ledger):
    order = sent_order(ledger)
    ledger.record_fill(order.id, fill(order, 8, t="090000"))
    before = ledger.get(order.id)
    assert ledger.record_fill(order.id, fill(order, 3, t="090001"), raw_payload={"appkey": "K"}) is None
    assert ledger.get(order.id) == before
    assert len(ledger.fills(order.id)) == 1
    flagged = ledger.events_since(0)[-1]
    assert flagged.kind == "order.overfill_flagged" and flagged.order_id == order.id
    assert flagged.payload["fill"]["qty"] == 3 and flagged.payload["filled_qty"] == 8
    action = ledger.conn.execute(  # (since v8 the audit row's action is the kind of the event it covers)
        "SELECT e.kind FROM audit_log a JOIN events e ON e.id = a.event_id ORDER BY a.id DESC LIMIT 1").fetchone()[0]
    assert action == "order.overfill_flagged"
    assert ledger.verify_audit_chain() > 0


def test_fill_beats_the_cancel(ledger):
    order = sent_order(ledger)
    order, map_id = ledger.claim(order.id, kind="cancel", request={"qty": 10}, tr_id="order-rvsecncl", source="t")
    assert order.status is OrderStatus.PENDING_CANCEL
    during = ledger.record_fill(order.id, fill(order, 3))
    assert during.status is OrderStatus.PENDING_CANCEL
    done = ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.CANCEL_ACCEPTED,
                         source="t", map_fields={"broker_order_no": "0000124", "order_date": "20261125"},
                         order_fields={"cancel_qty": 10})
    assert (done.status, done.filled_qty, done.cancelled_qty) == (OrderStatus.CANCELLED, 3, 7)
    late = ledger.record_fill(order.id, fill(order, 2, t="090005"))
    assert (late.status, late.filled_qty, late.cancelled_qty) == (OrderStatus.CANCELLED, 5, 5)


def test_fill_in_an_illegal_state_raises_and_leaves_nothing(ledger):
    order, _ = ledger.create(make_order(), source="t")
    with pytest.raises(InvalidTransition):
        ledger.record_fill(order.id, fill(order, 1))
    assert ledger.fills(order.id) == [] and ledger.get(order.id).version == 1


def test_fill_for_another_order_is_refused(ledger):
    order = sent_order(ledger)
    with pytest.raises(LedgerError):
        ledger.record_fill(order.id + 1, fill(order, 1))


def test_a_fill_the_table_refuses_raises_and_is_not_taken_for_a_duplicate(ledger):
    """Only a known dedupe key is ignored: a row refused for another reason (a source the table does not
    know) must fail the change, never pass silently as a duplicate or apply to the order unrecorded."""
    order = sent_order(ledger)
    last = ledger.last_event_id()
    bad = Fill(order.id, "0000123", 1, 70000, "090000", "bench", "k-bad-source")
    with pytest.raises(LedgerError):
        ledger.record_fill(order.id, bad)
    assert ledger.fills(order.id) == [] and ledger.get(order.id).version == order.version
    assert ledger.last_event_id() == last


def test_a_duplicate_that_would_overfill_is_a_duplicate_not_an_overfill(ledger):
    order = sent_order(ledger)
    last_fill = fill(order, 10)
    ledger.record_fill(order.id, last_fill)
    last = ledger.last_event_id()
    assert ledger.record_fill(order.id, last_fill) is None  # the order is full: only the key says "seen"
    assert ledger.last_event_id() == last  # no overfill flag for a notice seen twice


def test_a_duplicate_in_a_state_that_refuses_fills_is_a_duplicate_not_an_error(ledger):
    order = sent_order(ledger)
    first = fill(order, 3)
    ledger.record_fill(order.id, first)
    ledger.transition(order.id, OrderEvent.FAILED, source="t")  # ERROR: a state no fill may enter
    last = ledger.last_event_id()
    assert ledger.record_fill(order.id, first) is None
    assert ledger.last_event_id() == last
    with pytest.raises(InvalidTransition):  # a new fill there still raises
        ledger.record_fill(order.id, fill(order, 1, t="090009"))


def test_in_a_batch_the_order_read_there_is_used_and_a_stale_one_refused(ledger):
    order = sent_order(ledger)
    with ledger.batch():
        read = ledger.get(order.id)
        applied = ledger.record_fill(order.id, fill(order, 2), order=read)
        assert (applied.filled_qty, applied.version) == (2, read.version + 1)
        with pytest.raises(LedgerError, match="changed under"):  # the version check still guards it
            ledger.record_fill(order.id, fill(order, 1, t="090001"), order=read)
    assert ledger.get(order.id).filled_qty == 2 and len(ledger.fills(order.id)) == 1
    assert ledger.verify_audit_chain() > 0


def test_outside_a_batch_a_given_order_is_read_again(ledger):
    order = sent_order(ledger)
    stale = ledger.get(order.id)
    ledger.record_fill(order.id, fill(order, 2))
    applied = ledger.record_fill(order.id, fill(order, 1, t="090001"), order=stale)  # stale: not trusted
    assert applied.filled_qty == 3
