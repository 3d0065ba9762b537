"""Schema v9, dense change events: what is stored once elsewhere (a creation's fixed values and terms, a fill's
row, a settled request's owner) is not copied, every read shows the same as before, and the audit chain
still covers what moved: editing a fills row a fill event names breaks that event's audit row."""

from __future__ import annotations

import json

import pytest
from ledger_helpers import make_order, raw

from kisoms.domain.order import Fill
from kisoms.domain.states import OrderEvent
from kisoms.errors import AuditChainBroken
from kisoms.ledger import Ledger, schema
from kisoms.ledger.records import FILL_COVERED

DAY = "20261125"
NUMBER = {"broker_order_no": "0000123", "order_date": DAY}


def filled(ledger, qty=(4, 6)):
    """An order created and claimed, accepted, then filled in notices of ``qty``; (order, its map id)."""
    order, _, map_id = ledger.create_and_claim(make_order(), source="t", raw_payload={"intent": 1},
                                               request={"qty": 10}, tr_id="order-cash")
    ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.BROKER_ACCEPTED, source="t",
                  map_fields=NUMBER, order_fields=NUMBER)
    for n, q in enumerate(qty):
        key = Fill.notice_key(DAY, "0000123", f"0900{n:02d}", q, 70000)
        ledger.record_fill(order.id, Fill(order.id, "0000123", q, 70000, f"0900{n:02d}", "notice", key))
    return order, map_id


def stored(ledger, event_id):
    return json.loads(ledger.conn.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()[0])




def test_a_creation_and_a_fill_are_stored_dense_and_read_whole(ledger):
    order, _ = filled(ledger)
    created, claim, accept, fill, _ = ledger.events_since(0)
    assert stored(ledger, created.id) == {"source": "t"}
    assert created.payload == {"event": "created", "filled_qty": 0, "prev_status": None, "qty": 10, "side": "buy",
                               "source": "t", "status": "NEW", "symbol": "005930", "version": 1}
    [first_fill, _] = ledger.conn.execute("SELECT id FROM fills ORDER BY id").fetchall()
    assert stored(ledger, fill.id)["fill"] == first_fill[0] and "event" not in stored(ledger, fill.id)
    assert fill.payload["fill"] == {"broker_order_no": "0000123", "dedupe_key": Fill.notice_key(
        DAY, "0000123", "090000", 4, 70000), "fill_time": "090000", "price": 70000, "qty": 4}
    assert list(fill.payload) == sorted(fill.payload) and fill.payload["event"] == "fill"
    assert stored(ledger, claim.id)["event"] == "claim"  # a transition's name is not fixed by its kind
    assert [(h.event, h.status, h.prev_status, h.version) for h in ledger.history(order.id)] == [
        ("created", "NEW", None, 1), ("claim", "SENDING", "NEW", 2), ("broker_accepted", "SENT", "SENDING", 3),
        ("fill", "PART_FILLED", "SENT", 4), ("fill", "FILLED", "PART_FILLED", 5)]
    assert [e.payload for e in ledger.events_since(claim.id, 2)] == [accept.payload, fill.payload]  # a page alone


@pytest.mark.parametrize("column", FILL_COVERED)
def test_every_fills_column_a_fill_event_no_longer_copies_is_guarded(path, clock, column):
    with Ledger(path, now=clock) as ledger:
        filled(ledger)
        assert ledger.verify_audit_chain() == 5
    edit = {"order_id": "order_id + 1", "source": "'inquiry'", "qty": "qty + 1", "price": "price + 1"}
    change = edit.get(column, f"{column} || 'x'")
    raw(path, f"UPDATE fills SET {column} = {change} WHERE id = 1")
    with Ledger(path) as ledger, pytest.raises(AuditChainBroken, match=r"audit row 4\b.*edited"):
        ledger.verify_audit_chain()


def test_a_deleted_or_swapped_fills_row_breaks_its_events_audit_row(path, clock):
    with Ledger(path, now=clock) as ledger:
        filled(ledger, qty=(5, 5))
    raw(path, "UPDATE fills SET id = 9 WHERE id = 2")  # (the same fill, under another id)
    with Ledger(path) as ledger, pytest.raises(AuditChainBroken, match=r"audit row 5\b"):
        ledger.verify_audit_chain()
    raw(path, "UPDATE fills SET id = 2 WHERE id = 9", "DELETE FROM fills WHERE id = 1")
    with Ledger(path) as ledger, pytest.raises(AuditChainBroken, match=r"audit row 4\b"):
        ledger.verify_audit_chain()


def test_an_edited_dense_payload_that_is_no_json_fails_its_row_not_the_walk(path, clock):
    with Ledger(path, now=clock) as ledger:
        filled(ledger)
    raw(path, "UPDATE events SET payload = substr(payload, 2) WHERE id = 4")
    with Ledger(path) as ledger, pytest.raises(AuditChainBroken, match=r"audit row 4\b"):
        ledger.verify_audit_chain()


def test_a_settled_request_shows_the_owner_its_claim_event_names(ledger):
    order, map_id = filled(ledger)
    assert ledger.conn.execute("SELECT owner FROM broker_order_map WHERE id = ?", (map_id,)).fetchone()[0] == ""
    [req] = ledger.broker_numbers(order.id)
    assert req.owner == ledger.owner and req.state == "accepted"
    assert ledger.request_for_broker_number("0000123", DAY)[1] == req


def test_a_released_request_settled_later_still_shows_no_owner(ledger):
    order, _ = ledger.create(make_order(), source="t")
    order, map_id = ledger.claim(order.id, request={"qty": 10}, tr_id="order-cash", source="t")
    assert ledger.release_request(map_id) is True
    ledger.settle(map_id, state="rejected", order_id=order.id, event=OrderEvent.BROKER_REJECTED, source="t")
    [req] = ledger.broker_numbers(order.id)
    assert (req.state, req.owner) == ("rejected", None)


def test_a_version_8_file_migrates_in_place_reading_the_same(path, monkeypatch):
    """v8 -> v9: no row is rewritten; the chain verifies, events, histories and requests read the same, and
    the changes written after it are dense and chain on."""
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:8])
    with Ledger(path) as ledger:
        order, _ = filled(ledger, qty=(4,))
        before = ([e.as_dict() for e in ledger.events_since(0)], ledger.history(order.id),
                  ledger.broker_numbers(order.id))
        rows = [ledger.conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in ("events", "audit_log")]
    monkeypatch.undo()
    with Ledger(path) as ledger:
        assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == schema.latest_version() == 9
        assert ledger.verify_audit_chain() == 4
        assert [ledger.conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for t in ("events", "audit_log")] == rows
        assert ([e.as_dict() for e in ledger.events_since(0)], ledger.history(order.id),
                ledger.broker_numbers(order.id)) == before
        assert before[2][0].owner == ledger.owner  # (a v8 settle kept its copy)
        key = Fill.notice_key(DAY, "0000123", "090001", 6, 70000)
        ledger.record_fill(order.id, Fill(order.id, "0000123", 6, 70000, "090001", "notice", key))
        assert ledger.verify_audit_chain() == 5 and type(stored(ledger, 5)["fill"]) is int
        assert ledger.events_since(4)[0].payload["fill"]["dedupe_key"] == key
        assert [e.as_dict() for e in ledger.events_since(0)][:4] == before[0]
