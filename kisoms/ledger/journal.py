"""What happened, in order: the event feed, the hash-chained audit log, and read-only reports.

Event feed (``kisoms watch --since ID``, integrations): ids grow by one per committed event. Writers
serialise on BEGIN IMMEDIATE and AUTOINCREMENT never reuses an id (a rolled-back insert also rolls back
the counter), so readers see ids in commit order without gaps.

Audit log, append-only: each row's ``hash`` is SHA-256 of ``prev_hash`` + the canonical JSON of the row's
content (id, ts, source, action, order_id, payload text). Triggers refuse UPDATE and DELETE; ``verify``
catches what a trigger cannot (someone dropped the triggers, or edited the file): an edited row breaks its
own hash, an inserted or deleted row breaks the links or the id sequence. Without a secret key a forger who
recomputes every later hash is not caught; the chain proves integrity against edits, not authorship.

``record`` writes one audit row and one event in the caller's transaction; it calls ``append_audit`` and
``append_event`` through this module's globals so tests can make either fail in the middle of a change.

Reports: read-only queries for bookkeeping, fills and orders by KST trading date (YYYYMMDD).
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from kisoms.errors import AuditChainBroken
from kisoms.ledger.db import as_dicts, clean, dumps
from kisoms.ledger.records import LedgerEvent, row_to_event, row_to_order

# events ------------------------------------------------------------------------------------------


def append_event(conn: sqlite3.Connection, *, ts: str, kind: str, order_id: int | None, payload: Any) -> int:
    """Append one event (payload redacted) inside the caller's transaction. Returns its id."""
    cursor = conn.execute("INSERT INTO events (ts, kind, order_id, payload) VALUES (?, ?, ?, ?)",
                          (ts, kind, order_id, dumps(clean(payload) or {})))
    return int(cursor.lastrowid)


def events_since(conn: sqlite3.Connection, event_id: int, limit: int) -> list[LedgerEvent]:
    """Events with id > ``event_id``, oldest first."""
    cursor = conn.execute("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (event_id, limit))
    return [row_to_event(r) for r in as_dicts(cursor)]


def last_event_id(conn: sqlite3.Connection) -> int:
    """The newest event id (0 when there is none)."""
    return conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]


# audit log ---------------------------------------------------------------------------------------


GENESIS = "0" * 64


def row_hash(prev_hash: str, row_id: int, ts: str, source: str, action: str, order_id: int | None,
             payload_text: str) -> str:
    """The chained hash of one row."""
    content = dumps({"id": row_id, "ts": ts, "source": source, "action": action, "order_id": order_id,
                     "payload": payload_text})
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


def _head(conn: sqlite3.Connection) -> tuple[int, str]:
    """(next id, hash of the last row). Ids continue after the highest id ever issued."""
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    last = conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    next_id = max(seq[0] if seq else 0, last[0] if last else 0) + 1
    return next_id, last[1] if last else GENESIS


def append_audit(conn: sqlite3.Connection, *, ts: str, source: str, action: str, order_id: int | None,
           payload: Any) -> int:
    """Append one row (payload redacted) inside the caller's transaction. Returns its id."""
    row_id, prev = _head(conn)
    text = dumps(clean(payload) or {})
    digest = row_hash(prev, row_id, ts, source, action, order_id, text)
    conn.execute("INSERT INTO audit_log (id, ts, source, action, order_id, payload, prev_hash, hash) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (row_id, ts, source, action, order_id, text, prev, digest))
    return row_id


def _check_row(row: tuple, expected_id: int, prev: str) -> None:
    row_id, ts, source, action, order_id, payload, prev_hash, digest = row
    if row_id != expected_id:
        raise AuditChainBroken(f"audit row {row_id}: rows {expected_id}..{row_id - 1} are missing (deleted)")
    if prev_hash != prev:
        raise AuditChainBroken(f"audit row {row_id}: does not link to the row before it (inserted or reordered)")
    if row_hash(prev_hash, row_id, ts, source, action, order_id, payload) != digest:
        raise AuditChainBroken(f"audit row {row_id}: content does not match its hash (edited)")


def verify(conn: sqlite3.Connection) -> int:
    """Walk the whole chain; raise AuditChainBroken naming the first bad row. Returns rows checked."""
    prev, expected = GENESIS, 1
    cursor = conn.execute("SELECT id, ts, source, action, order_id, payload, prev_hash, hash "
                          "FROM audit_log ORDER BY id")
    for row in cursor:
        _check_row(row, expected, prev)
        prev, expected = row[7], expected + 1
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    if seq and seq[0] >= expected:
        raise AuditChainBroken(f"audit row {expected}: rows {expected}..{seq[0]} are missing (deleted at the end)")
    return expected - 1


def record(conn: sqlite3.Connection, *, ts: str, kind: str, source: str, order_id: int | None,
           event_payload: dict[str, Any], audit_payload: dict[str, Any]) -> int:
    """An audit row and an event for something that happened. Returns the event id."""
    append_audit(conn, ts=ts, source=source, action=kind, order_id=order_id, payload=audit_payload)
    return append_event(conn, ts=ts, kind=kind, order_id=order_id, payload=event_payload)


# reports -----------------------------------------------------------------------------------------


_FILL_COLUMNS = ("f.id AS fill_id, f.order_id, f.broker_order_no, f.qty, f.price, f.qty * f.price AS amount, "
                 "f.fill_time, f.source, f.dedupe_key, f.recorded_at, o.account, o.symbol, o.side, "
                 "o.strategy_version, o.order_date")


def fills_between(conn: sqlite3.Connection, first: str, last: str, *, symbol: str | None = None,
                  account: str | None = None) -> list[dict[str, Any]]:
    """Fills of orders booked from ``first`` to ``last`` (YYYYMMDD, inclusive), oldest first, each with its
    order's account, symbol, side and booking date."""
    where, params = ["o.order_date BETWEEN ? AND ?"], [first, last]
    for column, value in (("o.symbol", symbol), ("o.account", account)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    sql = (f"SELECT {_FILL_COLUMNS} FROM fills f JOIN orders o ON o.id = f.order_id "
           f"WHERE {' AND '.join(where)} ORDER BY f.id")
    return as_dicts(conn.execute(sql, params))


def orders_between(conn: sqlite3.Connection, first: str, last: str, created_from: str, created_to: str) -> list:
    """Orders booked from ``first`` to ``last`` (YYYYMMDD, inclusive), and orders never booked (refused
    before the broker) created in [``created_from``, ``created_to``) (UTC ISO texts), oldest first."""
    sql = ("SELECT * FROM orders WHERE order_date BETWEEN ? AND ? "
           "OR (order_date IS NULL AND created_at >= ? AND created_at < ?) ORDER BY id")
    return [row_to_order(r) for r in as_dicts(conn.execute(sql, (first, last, created_from, created_to)))]
