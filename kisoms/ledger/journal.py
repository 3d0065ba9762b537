"""What happened, in order: the event feed, the hash-chained audit log, and read-only reports.

Event feed (``kisoms watch --since ID``, integrations): ids grow by one per committed event. Writers
serialise on BEGIN IMMEDIATE and AUTOINCREMENT never reuses an id (a rolled-back insert also rolls back
the counter), so readers see ids in commit order without gaps.

Audit log, append-only: each row's ``hash`` is SHA-256 of ``prev_hash`` + the canonical JSON of the row's
content (id, ts, source, action, order_id, payload text). Triggers refuse UPDATE and DELETE; ``verify``
catches what a trigger cannot (someone dropped the triggers, or edited the file): an edited row breaks its
own hash, an inserted or deleted row breaks the links or the id sequence. Without a secret key a forger who
recomputes every later hash is not caught; the chain proves integrity against edits, not authorship.

Since schema v7 a row written with its event stores each thing once: its payload holds what the event does
not (the diff, the raw payload) and starts with ``{"$event":<event id>`` (keys are sorted, ``$`` first);
its hash covers the event row too (ts, kind, order_id, payload text), so editing or deleting the event
breaks this row. Hashes are stored as 32 raw bytes (older rows keep their 64 hex digits; both verify), and
such a row stores no copy of the previous row's hash (empty ``prev_hash``): its own hash is computed over it.

``record`` writes one event and the audit row that covers it in the caller's transaction; it calls
``append_event`` and ``append_audit`` through this module's globals so tests can make either fail in the
middle of a change.

Reports: read-only queries for bookkeeping, fills and orders by KST trading date (YYYYMMDD).
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from kisoms.errors import AuditChainBroken
from kisoms.ledger.db import as_dicts, clean_text, dumps
from kisoms.ledger.records import LedgerEvent, row_to_event, row_to_order

# events ------------------------------------------------------------------------------------------


def encode(payload: Any) -> str:
    """The stored text of an event payload (redacted, canonical JSON)."""
    return clean_text(payload or {}) or "{}"


def append_event(conn: sqlite3.Connection, *, ts: str, kind: str, order_id: int | None, payload: Any,
                 text: str | None = None) -> int:
    """Append one event (payload redacted; ``text``: its ``encode`` when the caller has it already) inside the
    caller's transaction. Returns its id."""
    cursor = conn.execute("INSERT INTO events (ts, kind, order_id, payload) VALUES (?, ?, ?, ?)",
                          (ts, kind, order_id, encode(payload) if text is None else text))
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
EVENT_KEY = "$event"  # the event a row covers (sorts before every letter: always the payload's first key)
_LINKED = '{"' + EVENT_KEY + '":'

# (ts, kind, order_id, payload) of an event
EventRow = tuple[str, str, "int | None", str]


def row_hash(prev_hash: str, row_id: int, ts: str, source: str, action: str, order_id: int | None,
             payload_text: str, event: EventRow | None = None) -> str:
    """The chained hash of one row (hex); ``event``: the event row it covers (v7 rows)."""
    content = {"id": row_id, "ts": ts, "source": source, "action": action, "order_id": order_id,
               "payload": payload_text}
    if event is not None:
        content["event"] = list(event)
    return hashlib.sha256((prev_hash + dumps(content)).encode("utf-8")).hexdigest()


def _hex(value: Any) -> str:
    """A stored hash as hex: 32 raw bytes since v7, 64 hex digits before (read as bytes: ``CAST(... AS BLOB)``,
    so an edited hash that is no longer text still reads, and fails)."""
    if isinstance(value, bytes):
        return value.hex() if len(value) == 32 else value.decode("utf-8", "replace")
    return value


def _head(conn: sqlite3.Connection) -> tuple[int, str]:
    """(next id, hash of the last row). Ids continue after the highest id ever issued. Inside a batch
    the connection keeps it (``db.Connection.audit_head``) after the first read."""
    cached = getattr(conn, "audit_head", None)
    if cached is not None:
        return cached
    seq, last_id, last_hash = conn.execute(_HEAD_SQL).fetchone()
    return max(seq or 0, last_id or 0) + 1, GENESIS if last_hash is None else _hex(last_hash)


_HEAD_SQL = ("SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'), l.id, CAST(l.hash AS BLOB) "
             "FROM (SELECT 1) LEFT JOIN (SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1) l")


def append_audit(conn: sqlite3.Connection, *, ts: str, source: str, action: str, order_id: int | None,
                 payload: Any, event: tuple[int, str] | None = None) -> int:
    """Append one row (payload redacted) inside the caller's transaction. Returns its id. ``event``:
    (id, stored payload text) of the event written with it, which the row then covers instead of
    repeating (``ts``, ``action`` and ``order_id`` are the event's too)."""
    row_id, prev = _head(conn)
    text = clean_text(payload or {}) or "{}"
    covered = None
    if event is not None:  # the event's id first: what marks (and finds) a row that covers one
        text = f"{_LINKED}{event[0]}" + ("}" if text == "{}" else "," + text[1:])
        covered = (ts, action, order_id, event[1])
    digest = row_hash(prev, row_id, ts, source, action, order_id, text, covered)
    conn.execute("INSERT INTO audit_log (id, ts, source, action, order_id, payload, prev_hash, hash) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (row_id, ts, source, action, order_id, text, b"" if covered else bytes.fromhex(prev),
                  bytes.fromhex(digest)))
    if getattr(conn, "keeps_head", False):
        conn.audit_head = (row_id + 1, digest)
    return row_id


def _covered(payload: str, event: tuple) -> EventRow | None:
    """The event row a v7 row covers, as the hash saw it (a missing event reads as nothing)."""
    if not payload.startswith(_LINKED):
        return None
    ts, kind, order_id, text = event
    return (ts, kind, order_id, text) if text is not None else ("", "", None, "")


def _check_row(row: tuple, expected_id: int, prev: str) -> None:
    row_id, ts, source, action, order_id, payload, prev_hash, digest = row[:8]
    prev_hash, digest = _hex(prev_hash), _hex(digest)
    if row_id != expected_id:
        raise AuditChainBroken(f"audit row {row_id}: rows {expected_id}..{row_id - 1} are missing (deleted)")
    if prev_hash and prev_hash != prev:  # (a v7 row stores no copy of it: its hash covers it)
        raise AuditChainBroken(f"audit row {row_id}: does not link to the row before it (inserted or reordered)")
    event = _covered(payload, row[8:])
    if row_hash(prev, row_id, ts, source, action, order_id, payload, event) != digest:
        what = " or the event it covers" if event is not None else ""
        raise AuditChainBroken(f"audit row {row_id}: content{what} does not match its hash (edited)")


_VERIFY_SQL = (
    "SELECT a.id, a.ts, a.source, a.action, a.order_id, a.payload, CAST(a.prev_hash AS BLOB), CAST(a.hash AS BLOB), "
    "e.ts, e.kind, e.order_id, e.payload FROM audit_log a LEFT JOIN events e "
    f"ON substr(a.payload, 1, {len(_LINKED)}) = '{_LINKED}' "
    f"AND e.id = CAST(substr(a.payload, {len(_LINKED) + 1}) AS INTEGER) ORDER BY a.id")


def verify(conn: sqlite3.Connection) -> int:
    """Walk the whole chain; raise AuditChainBroken naming the first bad row. Returns rows checked."""
    prev, expected = GENESIS, 1
    for row in conn.execute(_VERIFY_SQL):
        _check_row(row, expected, prev)
        prev, expected = _hex(row[7]), expected + 1
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    if seq and seq[0] >= expected:
        raise AuditChainBroken(f"audit row {expected}: rows {expected}..{seq[0]} are missing (deleted at the end)")
    return expected - 1


def record(conn: sqlite3.Connection, *, ts: str, kind: str, source: str, order_id: int | None,
           event_payload: dict[str, Any], audit_payload: dict[str, Any]) -> tuple[int, int]:
    """An event and the audit row that covers it, for something that happened: the audit row keeps only
    what the event does not (its hash covers the event). Returns (event id, audit row id)."""
    text = encode(event_payload)
    event_id = append_event(conn, ts=ts, kind=kind, order_id=order_id, payload=event_payload, text=text)
    extra = {k: v for k, v in audit_payload.items() if k not in event_payload or event_payload[k] is not v}
    audit_id = append_audit(conn, ts=ts, source=source, action=kind, order_id=order_id, payload=extra,
                            event=(event_id, text))
    return event_id, audit_id


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
