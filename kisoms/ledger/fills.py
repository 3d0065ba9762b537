"""SQL of the ``fills`` table. ``dedupe_key`` is UNIQUE: one execution is recorded once.

Applying a fill to its order (``record_fill``) is an order change: it lives in ``orders`` with the others.
"""

from __future__ import annotations

import sqlite3

from kisoms.domain.order import Fill
from kisoms.ledger.db import as_dicts
from kisoms.ledger.records import fill_to_row, row_to_fill

_COLUMNS = ("order_id", "broker_order_no", "qty", "price", "fill_time", "source", "dedupe_key", "recorded_at")


_INSERT_SQL = (f"INSERT INTO fills ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)}) "
               "ON CONFLICT (dedupe_key) DO NOTHING")
_ADD_SQL = f"{_INSERT_SQL} RETURNING id, {', '.join(_COLUMNS)}"


def exists(conn: sqlite3.Connection, dedupe_key: str) -> bool:
    """True when a fill with this key was already recorded."""
    return conn.execute("SELECT 1 FROM fills WHERE dedupe_key = ?", (dedupe_key,)).fetchone() is not None


def any_from(conn: sqlite3.Connection, order_id: int, source: str) -> bool:
    """True when the order has a fill recorded from ``source``."""
    return conn.execute("SELECT 1 FROM fills WHERE order_id = ? AND source = ? LIMIT 1",
                        (order_id, source)).fetchone() is not None


def insert(conn: sqlite3.Connection, fill: Fill, recorded_at: str) -> bool:
    """Record a fill; False (nothing written) when its key is already known. Only that conflict is
    ignored: a row the table refuses for any other reason (a CHECK) raises ``sqlite3.IntegrityError``."""
    row = fill_to_row(fill, recorded_at)
    cursor = conn.execute(_INSERT_SQL, [row[c] for c in _COLUMNS])
    return cursor.rowcount == 1


def add(conn: sqlite3.Connection, fill: Fill, recorded_at: str) -> dict | None:
    """``insert`` that hands back the row as stored (its id and columns), or None when the key was known."""
    row = fill_to_row(fill, recorded_at)
    stored = conn.execute(_ADD_SQL, [row[c] for c in _COLUMNS]).fetchone()
    return None if stored is None else dict(zip(("id", *_COLUMNS), stored))


def for_order(conn: sqlite3.Connection, order_id: int) -> list[Fill]:
    """An order's fills, in the order recorded."""
    cursor = conn.execute("SELECT * FROM fills WHERE order_id = ? ORDER BY id", (order_id,))
    return [row_to_fill(r) for r in as_dicts(cursor)]
