"""Schema versions: fresh files, reopening, forward migrations, and refusing newer files."""

from __future__ import annotations

import sqlite3

import pytest
from ledger_helpers import make_order

from kisoms.errors import LedgerError, LedgerVersionError
from kisoms.ledger import Ledger, default_ledger_path, schema

TABLES = {"orders", "broker_order_map", "order_status_history", "fills", "events", "audit_log",
          "external_orders", "control"}


def user_version(path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def test_fresh_file_gets_the_latest_schema_and_pragmas(path):
    with Ledger(path) as ledger:
        assert TABLES <= set(ledger.db.table_names())
        conn = ledger.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert user_version(path) == schema.latest_version()


def test_reopen_keeps_data_and_version(path):
    with Ledger(path) as ledger:
        order, _ = ledger.create(make_order(), source="t")
    with Ledger(path) as ledger:
        assert ledger.get(order.id) == order
    assert user_version(path) == schema.latest_version()


def test_migrates_forward_from_the_previous_version(path, monkeypatch):
    with Ledger(path) as ledger:
        order, _ = ledger.create(make_order(), source="t")

    def v2(conn):
        conn.execute("ALTER TABLE orders ADD COLUMN note TEXT DEFAULT 'v2'")

    before = schema.latest_version()
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS + [v2])
    with Ledger(path) as ledger:
        assert ledger.get(order.id) == order
        assert ledger.conn.execute("SELECT note FROM orders").fetchone()[0] == "v2"
    assert user_version(path) == before + 1


def test_a_version_1_file_is_migrated_keeping_its_rows(path, monkeypatch):
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
    with Ledger(path) as ledger:
        order, _ = ledger.create(make_order(), source="t")
        ledger.record_external(order_date="20260105", broker_order_no="0000000042", account="12345678-01",
                               symbol="005930", side="buy", qty=1, price=70000, raw={})
    assert user_version(path) == 1
    monkeypatch.undo()
    with Ledger(path) as ledger:
        assert ledger.get(order.id) == order
        [ext] = ledger.external_orders()
        assert ext["broker_order_no"] == "0000000042" and ext["claimed_by_order_id"] is None
        assert ledger.verify_audit_chain() > 0
    assert user_version(path) == schema.latest_version()


def test_a_version_2_file_keeps_its_open_claims_with_no_owner(path, monkeypatch):
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:2])
    with Ledger(path) as ledger:
        order, _ = ledger.create(make_order(), source="t")
        with ledger.db.conn:
            ledger.db.conn.execute("INSERT INTO broker_order_map (order_id, tr_id, kind, state, sent_at) "
                                   "VALUES (?, 'TTTC0012U', 'new', 'sending', '2026-11-25T00:00:01+00:00')",
                                   (order.id,))
    assert user_version(path) == 2
    monkeypatch.undo()
    with Ledger(path) as ledger:
        [req] = ledger.open_requests()
        assert (req.owner, req.last_attempt_at, req.state) == (None, None, "sending")
        assert req.last_activity == req.sent_at  # recovery judges it by time, as v2 did
        assert ledger.stamp_attempt(req.id)
    assert user_version(path) == schema.latest_version()


def test_a_failing_migration_changes_nothing(path, monkeypatch):
    with Ledger(path):
        pass

    def bad(conn):
        conn.execute("ALTER TABLE orders ADD COLUMN half TEXT")
        conn.execute("THIS IS NOT SQL")

    before = schema.latest_version()
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS + [bad])
    with pytest.raises(LedgerError):
        Ledger(path)
    assert user_version(path) == before
    conn = sqlite3.connect(path)
    assert "half" not in [r[1] for r in conn.execute("PRAGMA table_info(orders)")]
    conn.close()


def test_newer_file_is_refused_and_left_byte_for_byte(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(LedgerVersionError, match="99"):
        Ledger(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_newer_wal_ledger_is_refused_unchanged(path):
    with Ledger(path):
        pass
    newer = schema.latest_version() + 1  # (was the literal 7 while the schema was below it)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {newer}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(LedgerVersionError):
        Ledger(path)
    assert path.read_bytes() == before
    assert user_version(path) == newer


def test_not_a_database(path):
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LedgerError):
        Ledger(path)


def test_default_path_is_in_the_user_data_dir():
    p = default_ledger_path()
    assert p.name == "ledger.db" and "kisoms" in str(p.parent)


def _v6_rows(path, order) -> None:
    """Rows as kisoms wrote them at schema v6: the raw payload in the history row and again in the audit row,
    the audit payload repeating the event's, hashes as hex text."""
    from kisoms.ledger import journal
    from kisoms.ledger.db import dumps
    from kisoms.ledger.records import ORDER_COLUMNS, order_to_row

    row = order_to_row(order)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES ({', '.join('?' for _ in ORDER_COLUMNS)})",
                     [row[c] for c in ORDER_COLUMNS])
        ts = row["created_at"]
        conn.execute("INSERT INTO order_status_history (order_id, status, prev_status, event, event_ts, source,"
                     " raw_payload, version) VALUES (1, 'NEW', NULL, 'created', ?, 't', ?, 1)",
                     (ts, dumps({"intent": {"qty": 10}})))
        event = {"event": "created", "status": "NEW", "version": 1}
        conn.execute("INSERT INTO events (ts, kind, order_id, payload) VALUES (?, 'order.created', 1, ?)",
                     (ts, dumps(event)))
        prev = journal.GENESIS
        for row_id, (action, payload) in enumerate(
                [("order.created", {**event, "raw_payload": {"intent": {"qty": 10}}}),
                 ("halt.set", {"reason": "v6", "set_by": "t", "account": None})], start=1):
            text = dumps(payload)
            digest = journal.row_hash(prev, row_id, ts, "t", action, 1 if row_id == 1 else None, text)
            conn.execute("INSERT INTO audit_log (id, ts, source, action, order_id, payload, prev_hash, hash) "
                         "VALUES (?, ?, 't', ?, ?, ?, ?, ?)",
                         (row_id, ts, action, 1 if row_id == 1 else None, text, prev, digest))
            prev = digest
    finally:
        conn.close()


def test_a_version_6_file_is_converted_keeping_its_chain(path, monkeypatch):
    from datetime import datetime, timezone
    from dataclasses import replace

    from kisoms.domain.states import OrderEvent
    from kisoms.errors import AuditChainBroken

    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:6])
    with Ledger(path):
        pass
    now = datetime(2026, 11, 25, 0, 0, 1, tzinfo=timezone.utc)
    _v6_rows(path, replace(make_order(), id=1, version=1, created_at=now, updated_at=now))
    conn = sqlite3.connect(path)
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'audit_log'")}
    conn.close()
    assert "sqlite_autoindex_audit_log_1" in indexes and user_version(path) == 6
    monkeypatch.undo()
    with Ledger(path) as ledger:
        assert user_version(path) == schema.latest_version()  # (was the literal 7 while the schema was at it)
        assert ledger.verify_audit_chain() == 2  # rows copied byte for byte: the v6 chain still verifies
        [created] = ledger.history(1)
        assert created.raw_payload == {"intent": {"qty": 10}}  # a v6 history row keeps its own payload
        names = {r[0] for r in ledger.conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'audit_log'")}
        assert names == {"audit_log", "audit_log_no_update", "audit_log_no_delete"}  # no hash index
        ledger.transition(1, OrderEvent.CLAIM, source="t", raw_payload={"request": {"qty": 10}})
        assert ledger.verify_audit_chain() == 3  # a v7 row chains onto the v6 rows
        assert ledger.history(1)[-1].raw_payload == {"request": {"qty": 10}}
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            ledger.conn.execute("DELETE FROM audit_log WHERE id = 1")
        for statement in ("DROP TRIGGER audit_log_no_update", "UPDATE audit_log SET payload = '{}' WHERE id = 1"):
            ledger.conn.execute(statement)
        with pytest.raises(AuditChainBroken, match=r"audit row 1\b.*edited"):
            ledger.verify_audit_chain()


def test_a_version_7_file_is_converted_keeping_its_chain_and_history(path, monkeypatch):
    """v7 → v8: the history rows and audit rows written before stay as they are (the chain still verifies,
    the old history still reads); from v8 on a change writes no history row: its event is the entry, and
    its audit row names the event in ``event_id`` instead of repeating its ts and order id."""
    from kisoms.domain.states import OrderEvent
    from kisoms.errors import AuditChainBroken

    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:7])
    with Ledger(path) as ledger:
        order, _ = ledger.create(make_order(), source="t", raw_payload={"intent": {"qty": 10}})
        ledger.transition(order.id, OrderEvent.CLAIM, source="t", raw_payload={"request": {"qty": 10}})
        ledger.set_halt("v7", source="t")
        before = [(h.event, h.status, h.raw_payload) for h in ledger.history(order.id)]
        v7_rows = ledger.conn.execute("SELECT * FROM audit_log ORDER BY id").fetchall()
    assert user_version(path) == 7 and len(before) == 2
    monkeypatch.undo()
    with Ledger(path) as ledger:
        assert user_version(path) == schema.latest_version()
        assert ledger.verify_audit_chain() == 3  # the v7 rows, unchanged, still verify
        assert [r[:8] for r in ledger.conn.execute("SELECT * FROM audit_log ORDER BY id")] == v7_rows
        assert [(h.event, h.status, h.raw_payload) for h in ledger.history(order.id)] == before
        ledger.transition(order.id, OrderEvent.SEND_AMBIGUOUS, source="t", raw_payload={"error": "timeout"})
        ledger.clear_halt(source="t")
        assert ledger.verify_audit_chain() == 5  # v8 rows chain onto the v7 rows
        history = ledger.history(order.id)
        assert [(h.event, h.status, h.prev_status, h.version, h.source) for h in history] == [
            ("created", "NEW", None, 1, "t"), ("claim", "SENDING", "NEW", 2, "t"),
            ("send_ambiguous", "UNKNOWN", "SENDING", 3, "t")]
        assert history[-1].raw_payload == {"error": "timeout"} and history[-1].event_ts == ledger.get(order.id).updated_at
        assert ledger.conn.execute("SELECT COUNT(*) FROM order_status_history").fetchone()[0] == 2  # none added
        event_id, ts, order_id = ledger.conn.execute("SELECT event_id, ts, order_id FROM audit_log WHERE id = 4").fetchone()
        assert (ts, order_id) == ("", None) and event_id == ledger.events_since(0)[-2].id
        ledger.conn.execute("UPDATE history_start SET audit_offset = audit_offset + 1")  # ids no longer in step
        assert ledger.history(order.id)[-1].raw_payload == {"error": "timeout"}  # found by its event id instead
        for statement in ("DROP TRIGGER audit_log_no_update", "UPDATE audit_log SET event_id = NULL WHERE id = 4"):
            ledger.conn.execute(statement)
        with pytest.raises(AuditChainBroken, match=r"audit row 4\b.*edited"):
            ledger.verify_audit_chain()
        ledger.conn.execute(f"UPDATE audit_log SET event_id = {event_id} WHERE id = 4")
        assert ledger.verify_audit_chain() == 5
        ledger.conn.execute(f"UPDATE events SET ts = '2020-01-01' WHERE id = {event_id}")
        with pytest.raises(AuditChainBroken, match=r"audit row 4\b.*event.*edited"):
            ledger.verify_audit_chain()
