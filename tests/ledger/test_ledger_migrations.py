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
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(LedgerVersionError):
        Ledger(path)
    assert path.read_bytes() == before
    assert user_version(path) == 7


def test_not_a_database(path):
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LedgerError):
        Ledger(path)


def test_default_path_is_in_the_user_data_dir():
    p = default_ledger_path()
    assert p.name == "ledger.db" and "kisoms" in str(p.parent)
