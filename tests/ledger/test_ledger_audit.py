"""The audit log is append-only and its hash chain shows edits, insertions and deletions."""

from __future__ import annotations

import sqlite3

import pytest
from ledger_helpers import make_order, raw

from kisoms.domain.states import OrderEvent
from kisoms.errors import AuditChainBroken
from kisoms.ledger import Ledger
from kisoms.ledger.records import ORDER_TERMS


@pytest.fixture
def filled_path(path, clock):
    """A ledger with five audit rows."""
    with Ledger(path, now=clock) as ledger:
        order, _ = ledger.create(make_order(), source="t")
        ledger.transition(order.id, OrderEvent.CLAIM, source="t")
        ledger.transition(order.id, OrderEvent.SEND_AMBIGUOUS, source="t")
        ledger.publish("connection.up", {"detail": "x"})
        ledger.set_halt("check", source="t")
        assert ledger.verify_audit_chain() == 5
    return path


def verify(path) -> int:
    with Ledger(path) as ledger:
        return ledger.verify_audit_chain()


def test_triggers_refuse_update_and_delete(filled_path):
    for statement in ("UPDATE audit_log SET action = 'x' WHERE id = 2", "DELETE FROM audit_log WHERE id = 2"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw(filled_path, statement)
    assert verify(filled_path) == 5


DROP = ("DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete")


def test_edited_row_is_named(filled_path):
    raw(filled_path, *DROP, "UPDATE audit_log SET payload = '{\"status\":\"FILLED\"}' WHERE id = 3")
    with pytest.raises(AuditChainBroken, match=r"audit row 3\b.*edited"):
        verify(filled_path)


def test_edited_hash_breaks_the_next_link(filled_path):
    raw(filled_path, *DROP, "UPDATE audit_log SET hash = 'f' || substr(hash, 2) WHERE id = 2")
    with pytest.raises(AuditChainBroken, match=r"audit row 2\b"):
        verify(filled_path)


def test_deleted_row_is_detected(filled_path):
    raw(filled_path, *DROP, "DELETE FROM audit_log WHERE id = 3")
    with pytest.raises(AuditChainBroken, match=r"audit row 4\b.*missing"):
        verify(filled_path)


def test_deleted_last_row_is_detected(filled_path):
    raw(filled_path, *DROP, "DELETE FROM audit_log WHERE id = 5")
    with pytest.raises(AuditChainBroken, match=r"audit row 5\b.*missing"):
        verify(filled_path)


def test_inserted_row_is_detected(filled_path):
    raw(filled_path, *DROP,
        "INSERT INTO audit_log (id, ts, source, action, order_id, payload, prev_hash, hash) "
        "SELECT 6, ts, source, action, order_id, payload, hash, 'forged' FROM audit_log WHERE id = 5")
    with pytest.raises(AuditChainBroken, match=r"audit row 6\b"):
        verify(filled_path)


def test_renumbered_rows_are_detected(filled_path):
    raw(filled_path, *DROP, "DELETE FROM audit_log WHERE id = 2", "UPDATE audit_log SET id = 2 WHERE id = 3")
    with pytest.raises(AuditChainBroken, match=r"audit row 2\b"):
        verify(filled_path)


def test_chain_continues_across_reopen(filled_path):
    with Ledger(filled_path) as ledger:
        ledger.clear_halt(source="t")
        assert ledger.verify_audit_chain() == 6


def test_an_audit_row_covers_its_event_and_keeps_the_raw_payload_once(path, clock):
    """Since v7 the audit row keeps what the event does not, and its hash covers the event row: editing or
    deleting the event breaks the chain at that row; the history reads its raw payload from the audit row
    (since v8 the history is the order's events: the audit row names its event in ``event_id``)."""
    with Ledger(path, now=clock) as ledger:
        order, _ = ledger.create(make_order(), source="t", raw_payload={"intent": {"qty": 10}})
        ledger.transition(order.id, OrderEvent.CLAIM, source="t", raw_payload={"request": {"qty": 10}})
        rows = ledger.conn.execute("SELECT payload, event_id, ts, order_id FROM audit_log ORDER BY id").fetchall()
        texts = [r[0] for r in rows]
        history_rows = ledger.conn.execute("SELECT COUNT(*) FROM order_status_history").fetchone()[0]
        events = [r[0] for r in ledger.conn.execute("SELECT payload FROM events ORDER BY id")]
        assert [h.raw_payload for h in ledger.history(order.id)] == [{"intent": {"qty": 10}}, {"request": {"qty": 10}}]
    assert [r[1:] for r in rows] == [(1, "", None), (2, "", None)]  # the event's ts and order_id are not repeated
    assert '"request":{"qty":10}' in texts[1]
    assert history_rows == 0 and not any('"request"' in e for e in events)  # stored once: in the audit row
    raw(path, "UPDATE events SET payload = replace(payload, 'SENDING', 'FILLED') WHERE id = 2")
    with pytest.raises(AuditChainBroken, match=r"audit row 2\b.*event.*edited"):
        verify(path)
    raw(path, "DELETE FROM events WHERE id = 2")
    with pytest.raises(AuditChainBroken, match=r"audit row 2\b"):
        verify(path)


def test_the_creation_row_covers_the_orders_terms_without_copying_them(path, clock):
    """Since v8 the audit row of an order's creation covers the order's terms in the orders row (its hash
    does) instead of copying them, and keeps 128 bits of its SHA-256: editing a term breaks the chain there."""
    with Ledger(path, now=clock) as ledger:
        order, _ = ledger.create(make_order(), source="t", raw_payload={"intent": {"qty": 10}})
        ledger.transition(order.id, OrderEvent.CLAIM, source="t")
        payload, digest = ledger.conn.execute("SELECT payload, hash FROM audit_log WHERE id = 1").fetchone()
        assert ledger.verify_audit_chain() == 2
    assert order.idempotency_key not in payload and order.account not in payload and len(digest) == 16
    raw(path, "UPDATE orders SET qty = qty + 1, account = account WHERE id = 1")
    with pytest.raises(AuditChainBroken, match=r"audit row 1\b.*edited"):
        verify(path)
    raw(path, "UPDATE orders SET qty = qty - 1 WHERE id = 1")
    assert verify(path) == 2


_EVENT_ROW = ("2026-11-25T00:00:01.001000+00:00", "order.created", 1, '{"status":"NEW"}')


def test_the_v8_hash_reads_its_fields_back_one_way_only():
    """A v8 row's hash writes each field with its type and length: moving characters from one field into the
    next, or a number for its text, None for an empty text, changes the hash."""
    from kisoms.ledger.journal import lean_hash

    def digest(ts="ts", source="src", action="", order_id=None, payload="{}", event=_EVENT_ROW, terms=None):
        return lean_hash("0" * 32, 2, ts, source, action, order_id, payload, event, 1, terms)

    variants = [digest(), digest(ts="tss", source="rc"), digest(source="sr", action="c"), digest(action=None),
                digest(order_id=""), digest(order_id="1"), digest(order_id=1),
                digest(payload="{}", event=(_EVENT_ROW[0], _EVENT_ROW[1], "1", _EVENT_ROW[3])),
                digest(terms=()), digest(terms=("a", "b")), digest(terms=("ab", "")), digest(terms=("a", None)),
                digest(terms=(1.0, "b")), digest(terms=(1, "b"))]
    assert len(set(variants)) == len(variants) and all(len(v) == 32 for v in variants)


@pytest.fixture
def v8_path(path, clock):
    """A v8 ledger: an order's creation (audit row 1, covering its terms) and a transition (row 2)."""
    with Ledger(path, now=clock) as ledger:
        order, _ = ledger.create(make_order(), source="t", raw_payload={"intent": {"qty": 10}})
        ledger.transition(order.id, OrderEvent.CLAIM, source="t", raw_payload={"request": {"qty": 10}})
        assert ledger.verify_audit_chain() == 2
    return path


_CHANGED = ("CASE WHEN typeof({c}) = 'integer' THEN {c} + 1 WHEN {c} IS NULL THEN 'x' "
            "ELSE {c} || 'x' END")


@pytest.mark.parametrize("row", [1, 2])
@pytest.mark.parametrize("table,column", [(t, c) for t in ("audit_log",) for c in
                                          ("ts", "source", "action", "order_id", "payload", "event_id")]
                         + [("events", c) for c in ("ts", "kind", "order_id", "payload")])
def test_every_field_a_v8_row_stores_or_covers_is_guarded(v8_path, row, table, column):
    """Editing any stored column of a v8 audit row, or of the event it covers, breaks the chain at that row."""
    raw(v8_path, *DROP, f"UPDATE {table} SET {column} = {_CHANGED.format(c=column)} WHERE id = {row}")
    with pytest.raises(AuditChainBroken, match=rf"audit row {row}\b"):
        verify(v8_path)


@pytest.mark.parametrize("column", ORDER_TERMS)
def test_every_term_a_creation_row_covers_is_guarded(v8_path, column):
    edit = "CASE side WHEN 'buy' THEN 'sell' ELSE 'buy' END" if column == "side" else _CHANGED.format(c=column)
    raw(v8_path, f"UPDATE orders SET {column} = {edit} WHERE id = 1")
    with pytest.raises(AuditChainBroken, match=r"audit row 1\b.*edited"):
        verify(v8_path)


def test_the_v8_hash_writes_every_field_as_its_part():
    """``lean_hash`` writes the usual fields inline: exactly what ``_part`` writes for each."""
    from kisoms.ledger.journal import _part, _parts

    values = ["", "a:b", "한글", 0, -12, 10**20, None, 1.5, b"\x00\xff", True, [1]]
    assert _parts(values) == "".join(_part(v) for v in values)
    assert len({_part(v) for v in values}) == len(values) and _part(True) != _part(1) and _part("1") != _part(1)
