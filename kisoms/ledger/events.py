"""The event feed (``kisoms watch --since ID``, integrations): ids grow by one per committed event.

Writers serialise on BEGIN IMMEDIATE and AUTOINCREMENT never reuses an id (a rolled-back insert also
rolls back the counter), so readers see ids in commit order without gaps.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from kisoms.ledger.records import LedgerEvent
from kisoms.ledger.redaction import clean_text
from kisoms.ledger.rows import as_dicts, row_to_event


def encode(payload: Any) -> str:
    """The stored text of an event payload (redacted, canonical JSON)."""
    return clean_text(payload or {}) or "{}"


def append(conn: sqlite3.Connection, *, ts: str, kind: str, order_id: int | None, payload: Any,
           text: str | None = None) -> int:
    """Append one event (payload redacted; ``text``: its ``encode`` when the caller has it already) inside the
    caller's transaction. Returns its id."""
    cursor = conn.execute("INSERT INTO events (ts, kind, order_id, payload) VALUES (?, ?, ?, ?)",
                          (ts, kind, order_id, encode(payload) if text is None else text))
    return int(cursor.lastrowid)


def since(conn: sqlite3.Connection, event_id: int, limit: int) -> list[LedgerEvent]:
    """Events with id > ``event_id``, oldest first."""
    cursor = conn.execute("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (event_id, limit))
    return [row_to_event(r) for r in as_dicts(cursor)]


def last_id(conn: sqlite3.Connection) -> int:
    """The newest event id (0 when there is none)."""
    return conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
