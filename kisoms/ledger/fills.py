"""SQL of the ``fills`` table. ``dedupe_key`` is UNIQUE: one execution is recorded once.

Applying a fill to its order (``record_fill``) is an order change: it lives in ``orders`` with the others.
"""

from __future__ import annotations

import sqlite3

from kisoms.domain.order import Fill
from kisoms.ledger.db import as_dicts, chunks, marks
from kisoms.ledger.records import FILL_COLUMNS, fill_values, row_to_fill

_INSERT_SQL = (f"INSERT INTO fills ({', '.join(FILL_COLUMNS)}) VALUES ({', '.join('?' for _ in FILL_COLUMNS)}) "
               "ON CONFLICT (dedupe_key) DO NOTHING")
_ADD_SQL = f"{_INSERT_SQL} RETURNING id, {', '.join(FILL_COLUMNS)}"


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
    return conn.execute(_INSERT_SQL, fill_values(fill, recorded_at)).rowcount == 1


def insert_many(conn: sqlite3.Connection, many: list[Fill], recorded_at: str) -> int:
    """``insert`` each fill, in order, in one ``executemany``; returns how many were written."""
    return conn.executemany(_INSERT_SQL, [fill_values(fill, recorded_at) for fill in many]).rowcount


def known_keys(conn: sqlite3.Connection, keys: list[str]) -> set[str]:
    """Those of ``keys`` already recorded (one query per ``db.CHUNK`` keys)."""
    found: set[str] = set()
    for part in chunks(keys):
        found.update(r[0] for r in conn.execute(
            f"SELECT dedupe_key FROM fills WHERE dedupe_key IN ({marks(part)})", part))
    return found


def orders_with_fills_from(conn: sqlite3.Connection, order_ids: list[int], source: str) -> set[int]:
    """Those of ``order_ids`` with a fill recorded from ``source`` (``any_from`` for many orders)."""
    found: set[int] = set()
    for part in chunks(order_ids):
        found.update(r[0] for r in conn.execute(
            f"SELECT DISTINCT order_id FROM fills WHERE source = ? AND order_id IN ({marks(part)})", [source, *part]))
    return found


def add(conn: sqlite3.Connection, fill: Fill, recorded_at: str) -> dict | None:
    """``insert`` that hands back the row as stored (its id and columns), or None when the key was known."""
    stored = conn.execute(_ADD_SQL, fill_values(fill, recorded_at)).fetchone()
    return None if stored is None else dict(zip(_STORED, stored))


_STORED = ("id", *FILL_COLUMNS)


def rows_by_key(conn: sqlite3.Connection, keys: list[str]) -> dict[str, dict]:
    """The rows as stored (as ``add`` hands them back) of the fills with these keys, by key: what
    ``insert_many`` wrote, which an ``executemany`` cannot return."""
    found: dict[str, dict] = {}
    for part in chunks(keys):
        for values in conn.execute(f"SELECT {', '.join(_STORED)} FROM fills WHERE dedupe_key IN ({marks(part)})", part):
            row = dict(zip(_STORED, values))
            found[row["dedupe_key"]] = row
    return found


def for_order(conn: sqlite3.Connection, order_id: int) -> list[Fill]:
    """An order's fills, in the order recorded."""
    cursor = conn.execute("SELECT * FROM fills WHERE order_id = ? ORDER BY id", (order_id,))
    return [row_to_fill(r) for r in as_dicts(cursor)]
