"""Corrections built ahead (``prepare_correction``) and written many at once (``write_corrections``) leave
the very rows ``correct`` leaves one by one; the write stops before an order that moved since it was
prepared, or whose inferred fill's key is known, and writes nothing for it."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from ledger_helpers import SIGNAL_TS, FakeClock, make_order

from kisoms.domain.order import Fill
from kisoms.domain.states import OrderEvent, OrderStatus, Quantities
from kisoms.ledger import Ledger

SKIPPED = {"orders": {"updated_at"}, "events": {"ts"}, "audit_log": {"ts", "prev_hash", "hash"},
           "fills": {"recorded_at"}}


def _claimed(ledger, n: int) -> list:
    orders = []
    for i in range(n):
        order, _ = ledger.create(make_order(signal_ts=SIGNAL_TS + timedelta(seconds=i)), source="t")
        orders.append(ledger.transition(order.id, OrderEvent.CLAIM, source="t"))
    return orders


def _corrections(orders) -> list[tuple]:
    """(order, target, arguments) of a correction to ACCEPTED with its number and branch, one to PART_FILLED
    with an inferred fill, one to FILLED with a moved price and an inferred fill, one to CANCELLED."""
    a, b, c, d = orders
    rows = {"rows": [{"odno": "0000000101", "ord_qty": "10", "appkey": "not-to-be-stored"}]}
    return [
        (a, OrderStatus.ACCEPTED, dict(raw_payload=rows, quantities=Quantities(10, 0, 0), filled_amount=0,
                                       broker_order_no="0000000101", krx_orgno="06010", order_date="20261125")),
        (b, OrderStatus.PART_FILLED, dict(raw_payload=rows, quantities=Quantities(10, 4, 0), filled_amount=280000,
                                          inferred_fill=Fill(b.id, "0000000102", 4, 70000, "", "reconcile",
                                                             f"r:20261125:{b.id}:4:280000"),
                                          broker_order_no="0000000102")),
        (c, OrderStatus.FILLED, dict(raw_payload=rows, quantities=Quantities(10, 10, 0), filled_amount=690000,
                                     inferred_fill=Fill(c.id, "0000000103", 10, 69000, "", "reconcile",
                                                        f"r:20261125:{c.id}:10:690000"),
                                     broker_order_no="0000000103", price=69000)),
        (d, OrderStatus.CANCELLED, dict(raw_payload=None, quantities=Quantities(10, 0, 10), filled_amount=0)),
    ]


def _tables(path) -> dict:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = {}
        for table, skip in SKIPPED.items():
            cursor = conn.execute(f"SELECT * FROM {table} ORDER BY rowid")
            names = [d[0] for d in cursor.description]
            out[table] = [{k: v for k, v in zip(names, row) if k not in skip} for row in cursor]
        return out
    finally:
        conn.close()


def test_written_ahead_gives_the_rows_correct_gives(tmp_path):
    one, many = tmp_path / "one.db", tmp_path / "many.db"
    with Ledger(one, now=FakeClock()) as ledger:
        for order, target, args in _corrections(_claimed(ledger, 4)):
            ledger.correct(order.id, target, source="reconcile", expected_version=order.version, known=order, **args)
        assert ledger.verify_audit_chain() > 0
    with Ledger(many, now=FakeClock()) as ledger:
        built = [ledger.prepare_correction(order, target, source="reconcile", **args)
                 for order, target, args in _corrections(_claimed(ledger, 4))]
        with ledger.batch():
            assert ledger.write_corrections(built) == 4
        assert ledger.verify_audit_chain() > 0
        after = ledger.get(built[2].before.id)
        assert (after.status, after.filled_qty, after.price, after.updated_at) == (
            OrderStatus.FILLED, 10, 69000, ledger.history(after.id)[-1].event_ts)
    tables = _tables(many)
    assert tables == _tables(one)
    assert "not-to-be-stored" not in str(tables["audit_log"])  # (redacted when built)


def test_the_write_stops_before_an_order_that_moved_and_before_a_known_fill_key(tmp_path):
    with Ledger(tmp_path / "ledger.db", now=FakeClock()) as ledger:
        corrections = _corrections(_claimed(ledger, 4))
        built = [ledger.prepare_correction(order, target, source="reconcile", **args)
                 for order, target, args in corrections]
        moved = ledger.transition(built[1].before.id, OrderEvent.SEND_AMBIGUOUS, source="t")
        last = ledger.last_event_id()
        assert ledger.write_corrections(built[1:]) == 0  # (the first has moved: nothing written)
        assert ledger.last_event_id() == last and ledger.get(moved.id) == moved
        fill = corrections[2][2]["inferred_fill"]
        ledger.record_fill(fill.order_id, fill, raw_payload={})  # (its key is now known)
        known = ledger.get(fill.order_id)
        assert ledger.write_corrections([built[0], built[2], built[3]]) == 1
        assert ledger.get(built[0].before.id).status is OrderStatus.ACCEPTED
        assert ledger.get(known.id) == known and ledger.get(built[3].before.id) == built[3].before
        assert ledger.write_corrections([built[3]]) == 1
        assert ledger.get(built[3].before.id).status is OrderStatus.CANCELLED
        assert ledger.verify_audit_chain() > 0


def test_a_prepared_update_is_the_one_update_statement_makes_at_the_write_time(tmp_path):
    """``Stamped``: the UPDATE built ahead, the write's time filled in, is ``update_statement``'s for the
    columns the correction moves and ``updated_at``; written, each order carries its event's time."""
    from kisoms.ledger.db import from_iso
    from kisoms.ledger.orders import update_statement
    from kisoms.ledger.records import column_value

    with Ledger(tmp_path / "l.db", now=FakeClock()) as ledger:
        built = [ledger.prepare_correction(order, target, source="reconcile", **args)
                 for order, target, args in _corrections(_claimed(ledger, 4))]
        stamp = "2026-11-25T01:02:03.000004+00:00"
        for p in built:
            was = column_value("updated_at", p.before.updated_at)
            assert p.stamped.was == was
            assert p.stamped.statement(stamp) == update_statement(p.before, p.after,
                                                                  {**p.changed, "updated_at": (was, stamp)})
        with ledger.batch():
            assert ledger.write_corrections(built) == 4
        for p in built:
            (ts,), = ledger.conn.execute("SELECT ts FROM events WHERE order_id = ? AND kind = 'order.corrected'",
                                         (p.before.id,)).fetchall()
            (stored,), = ledger.conn.execute("SELECT updated_at FROM orders WHERE id = ?", (p.before.id,)).fetchall()
            assert stored == column_value("updated_at", ledger.get(p.before.id).updated_at) != p.stamped.was
            assert stored == column_value("updated_at", from_iso(ts))
